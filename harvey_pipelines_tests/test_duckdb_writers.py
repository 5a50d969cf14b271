"""Parallel syncs into one DuckDB file queue for its lock instead of failing on it."""

from __future__ import annotations

import os
import subprocess
import sys

from harvey_pipelines.warehouse import Warehouse
from harvey_pipelines_tests.helpers import differences

WORKER = """
import sys
from harvey_pipelines.organizations import Organization
from harvey_pipelines.sync import sync_entity
from harvey_pipelines.warehouse import Warehouse
org = Organization.model_validate_json(sys.argv[1])
wh = Warehouse(sys.argv[2])
for name in ("employees", "employments", "leave_requests", "attendance"):
    sync_entity(org, name, wh, batch_size=200)
"""


def test_parallel_processes_share_the_duckdb_file(make_org, control, tmp_path):
    url = f"duckdb:///{tmp_path / 'shared.duckdb'}"
    Warehouse(url).migrate()
    orgs = [make_org(size=300) for _ in range(3)]
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, org.model_dump_json(), url], env=os.environ.copy(),
                         stderr=subprocess.PIPE, text=True)
        for org in orgs
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
    warehouse = Warehouse(url)
    for org in orgs:
        assert differences(control, warehouse, org.id,
                           entities={"employees", "employments", "leave_requests", "attendance"}) == {}
    warehouse.dispose()


def test_two_syncs_of_one_organization_and_entity_never_overlap(make_org, warehouse, control):
    """The second waits for the first; with a short wait it fails clearly instead."""
    import threading

    from harvey_pipelines.sync import SyncFailed, sync_entity

    org = make_org(size=400)
    control.set_faults(org.id, slow_every=1, slow_seconds=0.2)
    first_started = threading.Event()
    outcome = {}

    def first():
        outcome["first"] = sync_entity(org, "employees", warehouse, on_batch=lambda r: first_started.set(),
                                       batch_size=50)

    thread = threading.Thread(target=first)
    thread.start()
    assert first_started.wait(60)
    try:
        sync_entity(org, "employees", warehouse, lock_timeout=0.5)
    except SyncFailed as failed:
        assert "another sync of it is still running" in str(failed)
    else:
        raise AssertionError("a second sync ran while the first was running")
    thread.join(120)
    assert outcome["first"].status == "success"
    control.reset_faults(org.id)
    second = sync_entity(org, "employees", warehouse)
    assert second.status == "success" and second.inserted == 0


def test_a_large_block_in_a_turn_is_not_failed_when_duckdb_keeps_its_memory(tmp_path, monkeypatch):
    """After a block with more memory (an erasure, the quality checks) DuckDB may refuse to go back
    to a sync's small limit: it holds a large table's segments. The block's work is committed and
    the turn goes on with the larger limit, rather than fail after the fact."""
    monkeypatch.setenv("HARVEY_DUCKDB_MEMORY_LIMIT", "8MB")
    warehouse = Warehouse(f"duckdb:///{tmp_path / 'large.duckdb'}")
    try:
        with warehouse.turn(wait=None):
            with warehouse.roomy_writer("1GB") as conn:
                conn.exec_driver_sql("CREATE TABLE big AS SELECT i, 'row ' || i || repeat('y', 100) AS a "
                                     "FROM range(2000000) r(i)")
            with warehouse.roomy_writer("1GB") as conn:
                conn.exec_driver_sql("DELETE FROM big WHERE i % 1000 = 7")
            with warehouse.writer() as conn:
                assert conn.exec_driver_sql("SELECT count(*) FROM big").scalar_one() == 1_998_000
    finally:
        warehouse.dispose()
