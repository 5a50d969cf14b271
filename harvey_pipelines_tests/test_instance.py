"""A production-style instance (dagster.yaml, PostgreSQL storage) with webserver and
daemon: `harvey backfill` launches one Dagster backfill whose daemon makes one run per
organization; runs of any Dagster backfill, `dagster job backfill` too, are recorded as such."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, RunsFilter

from harvey_pipelines.assets.partitions import ORGANIZATIONS_PARTITION
from harvey_pipelines.cli import main
from harvey_pipelines.organizations import OrganizationRegistry
from harvey_pipelines.records import ENTITIES
from harvey_pipelines.warehouse import Warehouse, schema
from harvey_pipelines_tests.helpers import differences
from harvey_pipelines_tests.processes import free_port, start_server, stop, wait_http

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
BACKFILL_ENDED = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"}


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


def test_a_backfill_is_one_dagster_backfill_with_one_run_per_organization(
        make_org, control, dagster_pg_url, tmp_path, monkeypatch, capsys):
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
    url = f"http://127.0.0.1:{port}"
    synced = ("departments", "employees", "leave_balances")  # leave_balances is fetched over employees
    entities = {AssetKey(["core", name]) for name in synced}
    processes = [start_server(
        [str(BIN / "dagster-webserver"), "-w", str(ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env=os.environ.copy(),
    )]
    try:
        wait_http(f"{url}/server_info", process=processes[0])

        with DagsterInstance.get() as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            # not a partition yet: Dagster's error in one line, with what to do
            assert main(["--registry", str(registry.path), "backfill", "--entity", "employees",
                         "--orgs", orgs[0].id, "--url", url]) == 1
            err = capsys.readouterr().err
            assert err.startswith(f"error: backfill not launched: Partition keys `['{orgs[0].id}']` could not be "
                                  "found: ") and err.endswith("`harvey orgs sync-partitions`\n"), err
            assert err.count("\n") == 1 and "mutation" not in err
            assert main(["--registry", str(registry.path), "orgs", "sync-partitions"]) == 0
            assert sorted(instance.get_dynamic_partitions(ORGANIZATIONS_PARTITION)) == sorted(o.id for o in orgs)
            capsys.readouterr()
            assert main(["--registry", str(registry.path), "backfill", "--entity", ",".join(synced),
                         "--orgs", ",".join(o.id for o in orgs), "--full", "--url", url]) == 0
            out = capsys.readouterr().out
            [backfill] = instance.get_backfills()
            assert out.startswith(f"backfill {backfill.backfill_id} (full)") and f"{url}/runs/b/" in out, out
            assert set(backfill.asset_selection) == entities
            assert backfill.tags["harvey/mode"] == "full" and backfill.title.startswith("harvey backfill (full)")
            assert instance.get_runs() == [], "the daemon makes the runs, not the CLI"

            # `dagster job backfill` as the README has it, with the tag that asks for full syncs
            job_backfill = subprocess.run(
                [str(BIN / "dagster"), "job", "backfill", "-w", str(ROOT / "workspace.yaml"), "-j", "sync_organization",
                 "--partitions", orgs[0].id, "--tags", json.dumps({"harvey/mode": "full"}), "--noprompt"],
                cwd=ROOT, env=os.environ.copy(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=300)
            assert job_backfill.returncode == 0, job_backfill.stderr[-2000:]
            [job_backfill_id] = {b.backfill_id for b in instance.get_backfills()} - {backfill.backfill_id}

            processes.append(start_server(
                [str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
                cwd=ROOT, env=os.environ.copy(),
            ))
            deadline = time.monotonic() + 600
            while True:  # a job backfill is complete once it has launched its runs
                statuses = {b.backfill_id: b.status.value for b in instance.get_backfills()}
                running = [r.run_id for r in instance.get_runs() if not r.is_finished]
                if set(statuses.values()) <= BACKFILL_ENDED and not running:
                    break
                assert time.monotonic() < deadline, f"backfills did not finish: {statuses}, runs {running}"
                time.sleep(1)
            assert statuses[backfill.backfill_id] == "COMPLETED_SUCCESS", statuses
            assert {r.status for r in instance.get_runs()} == {DagsterRunStatus.SUCCESS}
            runs = instance.get_runs(filters=RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))
            assert sorted(r.tags["dagster/partition"] for r in runs) == sorted(o.id for o in orgs), \
                "one run per organization"
            assert all(r.asset_selection == entities for r in runs), "every entity in each organization's run"
    finally:
        stop(processes)

    warehouse = Warehouse(warehouse_url)
    for org in orgs:
        assert differences(control, warehouse, org.id, entities=set(synced)) == {}
    runs = schema.sync_runs
    with warehouse.writer() as conn:
        rows = conn.execute(sa.select(runs.c.organization_id, runs.c.entity, runs.c.trigger, runs.c.triggered_by,
                                      runs.c.mode, runs.c.dagster_run_id, runs.c.started_at,
                                      runs.c.finished_at)).all()
    warehouse.dispose()
    by_cli = [r for r in rows if r.triggered_by == f"backfill:{backfill.backfill_id} (cli:{getpass.getuser()})"]
    assert sorted((r.organization_id, r.entity) for r in by_cli) == sorted((o.id, e) for o in orgs for e in synced)
    for org in orgs:  # in one run, leave_balances after the employees it is fetched over
        done = {r.entity: r for r in by_cli if r.organization_id == org.id}
        assert len({r.dagster_run_id for r in done.values()}) == 1
        assert done["leave_balances"].started_at >= done["employees"].finished_at
    by_job = [r for r in rows if r.triggered_by == f"backfill:{job_backfill_id}"]
    assert sorted(r.entity for r in by_job) == sorted(s.name for s in ENTITIES)
    assert {r.organization_id for r in by_job} == {orgs[0].id}
    assert len(by_cli) + len(by_job) == len(rows)
    assert {(r.trigger, r.mode) for r in rows} == {("backfill", "full")}
