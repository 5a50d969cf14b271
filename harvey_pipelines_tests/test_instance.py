"""A production-style instance (dagster.yaml, PostgreSQL storage) with webserver and daemon:
the CLI backfill queues one run per organization and entity, the daemon launches them."""

from __future__ import annotations

import os
import shutil
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from harvey_pipelines.cli import main
from harvey_pipelines.assets.partitions import ORGANIZATIONS_PARTITION
from harvey_pipelines.organizations import OrganizationRegistry
from harvey_pipelines.warehouse import Warehouse, schema
from harvey_pipelines_tests.helpers import differences
from harvey_pipelines_tests.processes import free_port, start_server, stop, wait_http

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.fixture
def dagster_pg_url(postgres_server_url):
    admin = sa.create_engine(postgres_server_url, isolation_level="AUTOCOMMIT")
    name = f"harvey_dagster_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    yield sa.engine.make_url(postgres_server_url).set(drivername="postgresql", database=name).render_as_string(
        hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


def test_backfill_queues_runs_and_the_daemon_launches_them(make_org, control, dagster_pg_url, tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    registry = OrganizationRegistry(tmp_path / "orgs.yaml")
    orgs = [make_org(size=40), make_org(size=40)]
    for org in orgs:
        registry.add(org)
    warehouse_url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    for key, value in {"DAGSTER_HOME": str(home), "HARVEY_DAGSTER_PG_URL": dagster_pg_url,
                       "HARVEY_ORGANIZATIONS_FILE": str(registry.path), "HARVEY_WAREHOUSE_URL": warehouse_url,
                       "HARVEY_DATA_DIR": str(tmp_path / "data")}.items():
        monkeypatch.setenv(key, value)
    port = free_port()
    processes = [start_server(
        [str(BIN / "dagster-webserver"), "-w", str(ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env=os.environ.copy(),
    )]
    try:
        wait_http(f"http://127.0.0.1:{port}/server_info", process=processes[0])

        with DagsterInstance.get() as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert main(["--registry", str(registry.path), "orgs", "sync-partitions"]) == 0
            assert sorted(instance.get_dynamic_partitions(ORGANIZATIONS_PARTITION)) == sorted(o.id for o in orgs)
            assert main(["--registry", str(registry.path), "backfill", "--entity", "employees,departments",
                         "--all-orgs", "--full", "--url", f"http://127.0.0.1:{port}"]) == 0
            runs = instance.get_runs(filters=RunsFilter(tags={"harvey/trigger": "backfill"}))
            assert len(runs) == 4, "one run per organization and entity"
            assert {(r.tags["dagster/partition"], r.tags["harvey/entities"]) for r in runs} == {
                (o.id, e) for o in orgs for e in ("employees", "departments")}
            assert {r.status for r in runs} == {DagsterRunStatus.QUEUED}

            processes.append(start_server(
                [str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
                cwd=ROOT, env=os.environ.copy(),
            ))
            deadline = time.monotonic() + 300
            while True:
                statuses = [instance.get_run_by_id(r.run_id).status for r in runs]
                if all(s in (DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE) for s in statuses):
                    break
                assert time.monotonic() < deadline, f"runs did not finish: {statuses}"
                time.sleep(1)
            assert statuses == [DagsterRunStatus.SUCCESS] * 4
    finally:
        stop(processes)

    warehouse = Warehouse(warehouse_url)
    for org in orgs:
        assert differences(control, warehouse, org.id, entities={"employees", "departments"}) == {}
    with warehouse.writer() as conn:
        rows = conn.execute(sa.select(schema.sync_runs.c.trigger, schema.sync_runs.c.mode)).all()
    assert sorted(set(rows)) == [("backfill", "full")] and len(rows) == 4
    warehouse.dispose()
