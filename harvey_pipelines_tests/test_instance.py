"""A production-style instance (dagster.yaml, PostgreSQL storage) with webserver and
daemon: `harvey backfill` launches one Dagster backfill whose daemon makes one run per
HARVEY_BACKFILL_ORGS_PER_RUN organizations, an organization that fails failing alone; runs of any
Dagster backfill, `dagster job backfill` too, are recorded as such."""

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

import httpx
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


def _production_like_instance(tmp_path, monkeypatch, dagster_pg_url, registry, orgs_per_run: int) -> str:
    """The environment of a production-like instance (this repo's dagster.yaml on PostgreSQL, a
    DuckDB warehouse) for this process and the servers it starts; returns the warehouse's URL."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    warehouse_url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    for key, value in {"DAGSTER_HOME": str(home), "HARVEY_DAGSTER_PG_URL": dagster_pg_url,
                       "HARVEY_ORGANIZATIONS_FILE": str(registry.path), "HARVEY_WAREHOUSE_URL": warehouse_url,
                       "HARVEY_DATA_DIR": str(tmp_path / "data"),
                       "HARVEY_BACKFILL_ORGS_PER_RUN": str(orgs_per_run)}.items():
        monkeypatch.setenv(key, value)
    return warehouse_url


def _webserver() -> tuple[str, list]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_server(
        [str(BIN / "dagster-webserver"), "-w", str(ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT, env=os.environ.copy(),
    )
    try:
        wait_http(f"{url}/server_info", process=process)
    except BaseException:
        stop([process])
        raise
    return url, [process]


def _daemon():
    return start_server([str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
                        cwd=ROOT, env=os.environ.copy())


def _backfills_ended(instance) -> dict[str, str]:
    """{backfill id: status} once every backfill and run has ended (a job backfill ends once it
    has launched its runs)."""
    deadline = time.monotonic() + 600
    while True:
        statuses = {b.backfill_id: b.status.value for b in instance.get_backfills()}
        running = [r.run_id for r in instance.get_runs() if not r.is_finished]
        if set(statuses.values()) <= BACKFILL_ENDED and not running:
            return statuses
        assert time.monotonic() < deadline, f"backfills did not finish: {statuses}, runs {running}"
        time.sleep(1)


def _graphql(url: str, query: str, **variables) -> dict:
    answer = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=60).json()
    assert not answer.get("errors"), answer
    return answer["data"]


def _registered(make_org, tmp_path, count: int):
    """``count`` small organizations of the mock HRMS, in a registry of their own."""
    # in id order: the order of the organizations' partitions, which batches backfill runs
    orgs = sorted((make_org(size=20) for _ in range(count)), key=lambda o: o.id)
    registry = OrganizationRegistry(tmp_path / "orgs.yaml")
    for org in orgs:
        registry.add(org)
    return orgs, registry


BACKFILL_STATUS_QUERY = """
query BackfillStatus($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill {
      assetBackfillData { assetBackfillStatuses { ... on AssetPartitionsStatusCounts {
        assetKey { path } numPartitionsTargeted numPartitionsMaterialized numPartitionsFailed } } }
    }
  }
}"""


def test_a_backfill_is_one_dagster_backfill_batching_organizations_and_failing_only_the_one_that_failed(
        make_org, control, dagster_pg_url, tmp_path, monkeypatch, capsys):
    orgs, registry = _registered(make_org, tmp_path, 5)
    failing = orgs[2]  # in the second run, with orgs[3]
    monkeypatch.setenv(failing.credential_env, "not-the-token")  # 401 on every entity of it
    warehouse_url = _production_like_instance(tmp_path, monkeypatch, dagster_pg_url, registry, orgs_per_run=2)
    synced = [spec.name for spec in ENTITIES]
    entities = {AssetKey(["core", name]) for name in synced}
    url, processes = _webserver()
    try:
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
            assert instance.get_dynamic_partitions(ORGANIZATIONS_PARTITION) == [o.id for o in orgs]
            capsys.readouterr()
            assert main(["--registry", str(registry.path), "backfill", "--all-entities", "--all-orgs", "--full",
                         "--url", url]) == 0
            out = capsys.readouterr().out
            [backfill] = instance.get_backfills()
            assert out.startswith(f"backfill {backfill.backfill_id} (full)") and f"{url}/runs/b/" in out, out
            assert "about 3 run(s) of up to 2 organizations" in out, out
            assert set(backfill.asset_selection) == entities
            assert backfill.tags["harvey/mode"] == "full" and backfill.title.startswith("harvey backfill (full)")
            assert instance.get_runs() == [], "the daemon makes the runs, not the CLI"

            # `dagster job backfill` as the README has it (one run per partition), asking for full syncs
            job_backfill = subprocess.run(
                [str(BIN / "dagster"), "job", "backfill", "-w", str(ROOT / "workspace.yaml"), "-j", "sync_organization",
                 "--partitions", orgs[0].id, "--tags", json.dumps({"harvey/mode": "full"}), "--noprompt"],
                cwd=ROOT, env=os.environ.copy(), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                timeout=300)
            assert job_backfill.returncode == 0, job_backfill.stderr[-2000:]
            [job_backfill_id] = {b.backfill_id for b in instance.get_backfills()} - {backfill.backfill_id}

            processes.append(_daemon())
            statuses = _backfills_ended(instance)
            assert statuses == {backfill.backfill_id: "COMPLETED_FAILED", job_backfill_id: "COMPLETED"}, statuses
            runs = instance.get_runs(filters=RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))
            ranges = sorted((r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"],
                             r.status) for r in runs)
            ok, failed = DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE
            assert ranges == sorted([(orgs[0].id, orgs[1].id, ok), (orgs[2].id, orgs[3].id, failed),
                                     (orgs[4].id, orgs[4].id, ok)]), "5 organizations, 2 a run: 3 runs"
            assert all(r.asset_selection == entities for r in runs), "every entity in each run"
            # what the UI's Backfills tab shows, and exactly which partitions failed
            status = _graphql(url, BACKFILL_STATUS_QUERY, id=backfill.backfill_id)
            counts = {tuple(a["assetKey"]["path"]): (a["numPartitionsTargeted"], a["numPartitionsMaterialized"],
                                                     a["numPartitionsFailed"])
                      for a in status["partitionBackfillOrError"]["assetBackfillData"]["assetBackfillStatuses"]}
            assert counts == {("core", name): (5, 4, 1) for name in synced}, counts
            data = instance.get_backfill(backfill.backfill_id).asset_backfill_data
            for key in entities:
                assert set(data.failed_and_downstream_subset.get_partitions_subset(key).get_partition_keys()) \
                    == {failing.id}, key
                assert set(instance.get_materialized_partitions(key)) == {o.id for o in orgs if o is not failing}
    finally:
        stop(processes)

    warehouse = Warehouse(warehouse_url)
    for org in orgs:
        if org is not failing:
            assert differences(control, warehouse, org.id) == {}
    runs = schema.sync_runs
    with warehouse.writer() as conn:
        rows = conn.execute(sa.select(runs.c.organization_id, runs.c.entity, runs.c.trigger, runs.c.triggered_by,
                                      runs.c.mode, runs.c.status, runs.c.dagster_run_id, runs.c.started_at,
                                      runs.c.finished_at)).all()
    warehouse.dispose()
    by_cli = [r for r in rows if r.triggered_by == f"backfill:{backfill.backfill_id} (cli:{getpass.getuser()})"]
    fetched_over = {spec.name for spec in ENTITIES if spec.upstream}  # not synced once employees failed
    assert sorted((r.organization_id, r.entity, r.status) for r in by_cli) == sorted(
        [(o.id, e, "success") for o in orgs if o is not failing for e in synced]
        + [(failing.id, e, "failed") for e in synced if e not in fetched_over])
    for org in orgs:  # in one run, leave_balances after the employees it is fetched over
        done = {r.entity: r for r in by_cli if r.organization_id == org.id}
        assert len({r.dagster_run_id for r in done.values()}) == 1
        if org is not failing:
            assert done["leave_balances"].started_at >= done["employees"].finished_at
    by_job = [r for r in rows if r.triggered_by == f"backfill:{job_backfill_id}"]
    assert sorted(r.entity for r in by_job) == sorted(synced)
    assert {r.organization_id for r in by_job} == {orgs[0].id}
    assert len(by_cli) + len(by_job) == len(rows)
    assert {(r.trigger, r.mode) for r in rows} == {("backfill", "full")}


CANCEL_BACKFILL = """
mutation Cancel($id: String!) {
  cancelPartitionBackfill(backfillId: $id) { __typename ... on PythonError { message } }
}"""


def test_a_backfill_cancelled_in_the_ui_stops_its_runs(
        make_org, control, dagster_pg_url, tmp_path, monkeypatch, capsys):
    orgs, registry = _registered(make_org, tmp_path, 3)
    for org in orgs:
        control.set_faults(org.id, slow_every=1, slow_seconds=2)  # every request slow: the run is still going
    _production_like_instance(tmp_path, monkeypatch, dagster_pg_url, registry, orgs_per_run=1)
    url, processes = _webserver()
    try:
        with DagsterInstance.get() as instance:
            assert main(["--registry", str(registry.path), "orgs", "sync-partitions"]) == 0
            assert main(["--registry", str(registry.path), "backfill", "--all-entities", "--all-orgs",
                         "--url", url]) == 0
            [backfill] = instance.get_backfills()
            processes.append(_daemon())
            deadline = time.monotonic() + 300
            while not instance.get_runs(filters=RunsFilter(statuses=[DagsterRunStatus.STARTED])):
                assert time.monotonic() < deadline, "no run of the backfill started"
                time.sleep(0.5)
            # what the UI's Cancel button sends
            assert _graphql(url, CANCEL_BACKFILL, id=backfill.backfill_id)["cancelPartitionBackfill"][
                "__typename"] == "CancelBackfillSuccess"
            assert _backfills_ended(instance) == {backfill.backfill_id: "CANCELED"}
            runs = instance.get_runs(filters=RunsFilter(tags={"dagster/backfill": backfill.backfill_id}))
            # the daemon requested a run per organization at once; those still going when the daemon
            # took the cancel up were terminated in their syncs (the next sync of such an entity
            # closes its row in sync_runs, as after a crash)
            statuses = [r.status for r in runs]
            assert len(runs) == len(orgs) and DagsterRunStatus.CANCELED in statuses, statuses
            assert set(statuses) <= {DagsterRunStatus.CANCELED, DagsterRunStatus.SUCCESS}, statuses
    finally:
        stop(processes)
        for org in orgs:
            control.reset_faults(org.id)
