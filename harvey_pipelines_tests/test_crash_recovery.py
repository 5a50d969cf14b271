"""A sync killed in the middle, then run again, ends as an uninterrupted one would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import sqlalchemy as sa

from harvey_pipelines.sync import sync_entity
from harvey_pipelines.warehouse import schema
from harvey_pipelines_tests.helpers import differences
from harvey_pipelines_tests.test_sync import FAST_RETRY, assert_counts_add_up, raw_version_count

WORKER = """
import sys
from harvey_pipelines.organizations import Organization
from harvey_pipelines.sync import sync_entity
from harvey_pipelines.warehouse import Warehouse
org = Organization.model_validate_json(sys.argv[1])
sync_entity(org, "employees", Warehouse(sys.argv[2]), batch_size=100)
"""


COUNTS = ("fetched", "inserted", "updated", "unchanged", "quarantined", "raw_versions")


def _progress(warehouse, org_id):
    runs = schema.sync_runs
    with warehouse.writer() as conn:
        return conn.execute(
            sa.select(runs.c.status, *[runs.c[name] for name in COUNTS]).where(runs.c.organization_id == org_id)
            .order_by(runs.c.started_at)
        ).all()


def test_killed_sync_resumes_without_duplicates(make_org, control, warehouse):
    org = make_org(size=1500)
    control.set_faults(org.id, slow_every=1, slow_seconds=0.3)  # slow enough to be killed mid-way
    # release DuckDB's writer lock after every batch so this test can watch the progress
    env = {**os.environ, "HARVEY_DUCKDB_LEASE_SECONDS": "0"}
    worker = subprocess.Popen([sys.executable, "-c", WORKER, org.model_dump_json(), warehouse.url], env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            runs = _progress(warehouse, org.id)
            if runs and runs[-1].fetched >= 300:
                break
            assert worker.poll() is None, "the worker ended before it could be killed"
            time.sleep(0.1)
        else:
            raise AssertionError("the worker made no progress")
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            worker.kill()
    runs = _progress(warehouse, org.id)
    assert runs[-1].status == "running" and 0 < runs[-1].fetched < 1500

    control.reset_faults(org.id)
    result = sync_entity(org, "employees", warehouse, retry=FAST_RETRY)
    assert result.status == "success"
    assert result.cursor_before is not None, "the killed run's committed cursor is where the re-run starts"
    assert [r.status for r in _progress(warehouse, org.id)] == ["interrupted", "success"]
    assert differences(control, warehouse, org.id, entities={"employees"}) == {}
    employees = len(control.records(org.id, "employees"))
    assert raw_version_count(warehouse, org.id) == employees, "each payload version stored once"

    # the killed run's counts were saved with each of its batches: with its resumption's they
    # add up to what was loaded
    killed, resumed = _progress(warehouse, org.id)
    assert killed.inserted > 0 and killed.raw_versions == killed.inserted
    for run in (killed, resumed):
        assert_counts_add_up(run)
    assert killed.inserted + resumed.inserted == employees
    assert killed.updated + resumed.updated == 0
    assert killed.raw_versions + resumed.raw_versions == employees
    assert resumed.fetched == result.fetched and resumed.inserted == result.inserted
