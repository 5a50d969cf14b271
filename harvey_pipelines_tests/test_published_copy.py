"""Readers never block writers. On DuckDB analysts read a published copy of the warehouse
file: a reader process holding it open through a sync and a publish sees no error and keeps
its snapshot, the sync does not wait on it, and the next connection sees the new data; the
build of the marts publishes. On PostgreSQL nothing is published, and a reader's open
transaction does not hold up a sync either. Our own read-only sensor (sync_retries) takes
its turn on the DuckDB file: it waits for a sync to hand over, and skips a tick rather than
outwait a long holder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import duckdb
import pytest
import sqlalchemy as sa
from dagster import build_sensor_context, instance_for_test

from harvey_pipelines import settings
from harvey_pipelines.assets.partitions import ORGANIZATIONS_PARTITION
from harvey_pipelines.assets.resources import WarehouseResource
from harvey_pipelines.automation import retries
from harvey_pipelines.automation.marts import marts_request
from harvey_pipelines.definitions import defs
from harvey_pipelines.sync import SyncFailed, sync_entity
from harvey_pipelines.warehouse import Warehouse, store
from harvey_pipelines_tests.test_automation import QUICK_RETRY, _backdate, _down, _evaluate, _unavailable
from harvey_pipelines_tests.test_http_engine import LocalServer

# Answers each line of stdin with its answers to QUESTIONS (JSON), read on the one connection
# it opened at the start; "stop" ends it. PostgreSQL: one REPEATABLE READ transaction, opened
# by the first read and never ended, which keeps its locks on the tables and views it read.
READER = r"""
import json, sys
kind, target, questions = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
if kind == "duckdb":
    import duckdb
    conn = duckdb.connect(target, read_only=True)
    def read(sql):
        return conn.execute(sql).fetchall()
else:
    import psycopg2
    conn = psycopg2.connect(target)
    conn.set_session(isolation_level="REPEATABLE READ")
    cursor = conn.cursor()
    def read(sql):
        cursor.execute(sql)
        return cursor.fetchall()
for line in sys.stdin:
    if line.strip() == "stop":
        break
    try:
        answer = {name: read(sql)[0][0] for name, sql in questions.items()}
    except Exception as exc:
        answer = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(answer), flush=True)
"""

ENTITIES = ("employees", "attendance")
NEW_TITLE = "Chief Snapshot Officer"


def questions(org_id: str, employee_id: str) -> dict[str, str]:
    """What the reader asks: the organization's sync runs, one employee's job title, and the
    keys of core.record_keys (a view: on PostgreSQL the sync used to replace it)."""
    return {
        "runs": f"select count(*) from sync.sync_runs where organization_id = '{org_id}'",
        "title": f"select job_title from core.employees where organization_id = '{org_id}' "
                 f"and source_id = '{employee_id}'",
        "resolvable": f"select count(*) from core.record_keys where organization_id = '{org_id}'",
    }


class Reader:
    """The reader process; ``ask()`` has it read once more on its one connection."""

    def __init__(self, kind: str, target: str, asked: dict[str, str]):
        self.process = subprocess.Popen([sys.executable, "-c", READER, kind, target, json.dumps(asked)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True, env=os.environ.copy())

    def ask(self) -> dict:
        self.process.stdin.write("read\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"the reader died: {self.process.stderr.read()}"
        return json.loads(line)

    def stop(self) -> None:
        _, err = self.process.communicate("stop\n", timeout=60)
        assert self.process.returncode == 0, err


def _read_now(warehouse_or_copy, asked: dict[str, str]) -> dict:
    """The answers of a new connection."""
    if isinstance(warehouse_or_copy, Warehouse):
        with warehouse_or_copy.writer() as conn:
            return {name: conn.exec_driver_sql(sql).scalar() for name, sql in asked.items()}
    with duckdb.connect(str(warehouse_or_copy), read_only=True) as conn:
        return {name: conn.execute(sql).fetchone()[0] for name, sql in asked.items()}


def test_a_reader_holding_its_connection_through_a_sync_and_a_publish(make_org, control, warehouse, monkeypatch):
    org = make_org(size=40)
    for name in ENTITIES:
        assert sync_entity(org, name, warehouse).status == "success"
    employee_id = control.records(org.id, "employees")[0]["id"]
    asked = questions(org.id, employee_id)
    published = warehouse.publish()
    if warehouse.dialect.name == "duckdb":
        assert published == settings.published_copy(warehouse.url) and published.exists()
        reader = Reader("duckdb", str(published), asked)
    else:
        assert published is None, "PostgreSQL publishes nothing"
        # a lock the sync waited for would fail it instead of hanging the test
        monkeypatch.setenv("PGOPTIONS", "-c lock_timeout=30s")
        warehouse.engine.dispose()  # the pool's connections were opened without it
        url = sa.engine.make_url(warehouse.url).set(drivername="postgresql")
        reader = Reader("postgres", url.render_as_string(hide_password=False), asked)
    try:
        before = reader.ask()
        assert "error" not in before and before["runs"] == len(ENTITIES), before
        control.update_record(org.id, "employees", employee_id, {"job_title": NEW_TITLE})
        store._migrated.discard(warehouse.url)  # the sync checks the schema, as in a new run's process
        during = []
        for name in ENTITIES:  # the reader reads after every batch, while the sync holds the warehouse
            result = sync_entity(org, name, warehouse, mode="full", batch_size=10,
                                 on_batch=lambda r: during.append(reader.ask()))
            assert result.status == "success"
        assert len(during) >= len(ENTITIES) * 2, "the syncs had several batches"
        assert warehouse.publish() == published
        after_publish = reader.ask()
    finally:
        reader.stop()
    assert all(answer == before for answer in [*during, after_publish]), [*during, after_publish]
    assert before["title"] != NEW_TITLE
    now = _read_now(published or warehouse, asked)  # a new connection: the new data
    assert now == {**before, "runs": len(ENTITIES) * 2, "title": NEW_TITLE}


def test_the_build_of_the_marts_publishes(make_org, tmp_path, monkeypatch):
    url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", url)
    warehouse = Warehouse(url)
    org = make_org(size=12)
    assert sync_entity(org, "employees", warehouse).status == "success"
    warehouse.dispose()
    published = settings.published_copy(url)
    assert not published.exists()
    # the build marts_after_syncs asks for after any sync: sync_health and what it reads
    request = marts_request(set(), run_key="test")
    build = defs.resolve_job_def("build_marts").get_subset(asset_selection=set(request.asset_selection),
                                                           asset_check_selection=set(request.asset_check_keys))
    with instance_for_test() as instance:
        assert build.execute_in_process(instance=instance).success
    with duckdb.connect(str(published), read_only=True) as copy:
        assert copy.execute("select organization_id, entity from marts.sync_health").fetchall() == [
            (org.id, "employees")]
        assert copy.execute("select count(*) from core.employees").fetchone() == (12,)
        # a view of dbt's, resolved inside the copy
        assert copy.execute("select count(*) from staging.stg_sync_runs").fetchone() == (1,)
    assert published.stat().st_mode & 0o222 == 0, "the copy is read-only"


HOLDER = r"""
import sys, time
from harvey_pipelines.organizations import Organization
from harvey_pipelines.sync import sync_entity
from harvey_pipelines.warehouse import Warehouse
org, warehouse = Organization.model_validate_json(sys.argv[1]), Warehouse(sys.argv[2])
if sys.argv[3] == "sync":
    # after its first batch the sync still holds the file; it goes on once a reader waits for it
    def on_batch(result, seen=[]):
        if seen:
            return
        seen.append(result)
        print("holding", flush=True)
        deadline = time.monotonic() + 300  # a guard: the test's reader comes at once
        while not warehouse.dialect._others_waiting():
            if time.monotonic() > deadline:
                sys.exit("nobody waited for the file")
            time.sleep(0.05)
        print("a reader waited", flush=True)
    assert sync_entity(org, "employees", warehouse, batch_size=10, on_batch=on_batch).status == "success"
else:
    with warehouse.for_other_process():  # the turn, as a dbt build holds it, until told
        print("holding", flush=True)
        sys.stdin.readline()
"""


def _holder(org, url: str, how: str) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-c", HOLDER, org.model_dump_json(), url, how],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=os.environ.copy())
    assert process.stdout.readline() == "holding\n", process.stderr.read()
    return process


@pytest.fixture
def failed_sync(make_org, tmp_path):
    """A DuckDB warehouse with a failed sync whose retry is due, the organization of the
    failure and a Dagster instance; the warehouse holds no connection."""
    warehouse = Warehouse(f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    org = make_org(size=5)
    with LocalServer(_unavailable) as server, instance_for_test() as instance:
        with pytest.raises(SyncFailed):
            sync_entity(_down(org, server), "employees", warehouse, retry=QUICK_RETRY)
        _backdate(warehouse, org.id, 6)  # past the first delay (5 minutes)
        instance.add_dynamic_partitions(ORGANIZATIONS_PARTITION, [org.id])
        warehouse.release()
        yield warehouse, org, instance
    warehouse.dispose()


def test_the_retry_sensor_waits_for_a_sync_to_hand_over_the_duckdb_file(failed_sync, make_org):
    warehouse, failed_org, instance = failed_sync
    holder = _holder(make_org(size=40), warehouse.url, "sync")
    (request,) = _evaluate(warehouse, instance)  # in the queue until the sync's next batch
    out, err = holder.communicate(timeout=300)
    assert holder.returncode == 0 and out == "a reader waited\n", err
    assert request.partition_key == failed_org.id and request.tags["harvey/trigger"] == "retry"


def test_the_retry_sensor_skips_a_tick_while_the_file_is_held_longer_than_it_waits(failed_sync, make_org,
                                                                                      monkeypatch):
    warehouse, failed_org, instance = failed_sync
    monkeypatch.setattr(retries, "TURN_WAIT_SECONDS", 0.5)
    holder = _holder(failed_org, warehouse.url, "turn")
    try:
        context = build_sensor_context(instance=instance, definitions=defs,
                                       resources={"warehouse": WarehouseResource(url=warehouse.url)})
        tick = retries.sync_retry_sensor.evaluate_tick(context)
        assert not tick.run_requests
        assert "for over 0.5s" in tick.skip_message and "read at the next tick" in tick.skip_message, tick.skip_message
    finally:
        holder.communicate("go\n", timeout=60)
    assert holder.returncode == 0
    (request,) = _evaluate(warehouse, instance)  # the next tick, the file free again
    assert request.partition_key == failed_org.id
