"""Syncs on a cluster of Celery workers (HARVEY_EXECUTOR=celery): two worker processes take the
batch job's per-organization steps from RabbitMQ. A schedule tick syncs each organization once
across both workers, as one process would; two runs of one organization at once, on both workers,
never sync one organization and entity at the same time; a worker killed mid-step hands its
step back to the broker, and the other worker syncs the organization again with no duplicate rows.

Skips when the broker is not reachable, unless HARVEY_REQUIRE_BROKER=1 (CI)."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from dagster import DagsterEventType, DagsterInstance, build_schedule_context

from harvey_pipelines.assets.batches import batch_job, batch_run_requests
from harvey_pipelines.assets.cluster import harvey_celery_executor, mapping_key, organization_of
from harvey_pipelines.assets.partitions import ORGANIZATIONS_PARTITION
from harvey_pipelines.assets.resources import OrganizationsResource
from harvey_pipelines.automation.cadences import CADENCES
from harvey_pipelines.organizations import OrganizationRegistry
from harvey_pipelines.sync import sync_entity
from harvey_pipelines.warehouse import Warehouse, schema
from harvey_pipelines_tests.conftest import throwaway_database
from harvey_pipelines_tests.helpers import differences, warehouse_rows
from harvey_pipelines_tests.processes import start_server, stop
from harvey_pipelines_tests.test_instance import dagster_pg_url  # noqa: F401 - a fixture

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CADENCE = next(c for c in CADENCES if c.name == "employees_every_2_hours")
ORGANIZATIONS = 20


@pytest.fixture(scope="module")
def broker_url():
    from kombu import Connection

    url = os.environ.get("HARVEY_TEST_BROKER_URL", "pyamqp://guest:guest@127.0.0.1:5672//")
    try:
        with Connection(url, connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - whatever the transport raises, the broker is not there
        reason = f"no Celery broker at {url}: {exc}"
        if os.environ.get("HARVEY_REQUIRE_BROKER") == "1":
            pytest.fail(reason + " (HARVEY_REQUIRE_BROKER=1: the cluster test must run)")
        pytest.skip(reason)
    return url


@pytest.fixture
def cluster(broker_url, dagster_pg_url, postgres_server_url, make_org, monkeypatch, tmp_path):  # noqa: F811
    """20 small organizations, a PostgreSQL warehouse and instance, and start_worker(name)."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    orgs = [make_org(size=6) for _ in range(ORGANIZATIONS)]
    registry = OrganizationRegistry(tmp_path / "orgs.yaml")
    for org in orgs:
        registry.add(org)
    with throwaway_database(postgres_server_url, "harvey_cluster") as warehouse_url:
        for key, value in {
            "DAGSTER_HOME": str(home), "HARVEY_DAGSTER_PG_URL": dagster_pg_url, "HARVEY_EXECUTOR": "celery",
            "HARVEY_CELERY_BROKER_URL": broker_url, "HARVEY_WAREHOUSE_URL": warehouse_url,
            "HARVEY_ORGANIZATIONS_FILE": str(registry.path), "HARVEY_DATA_DIR": str(tmp_path / "data"),
            "HARVEY_MAX_RUNS_PER_TICK": "2",
        }.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("HARVEY_RATE_LIMIT_URL", raising=False)  # the warehouse holds the buckets
        # a test run killed earlier may have left steps in the queue: they are not ours
        from harvey_pipelines.celery_worker import app

        app.control.purge()
        workers: dict[str, subprocess.Popen] = {}

        def start_worker(name: str) -> None:
            # solo pool: the step runs in the worker's process, so killing it kills the step
            workers[name] = start_server(
                [str(BIN / "celery"), "-A", "harvey_pipelines.celery_worker", "worker", "-Q", "dagster", "-P", "solo",
                 "-n", f"{name}@%h", "--without-gossip", "--without-mingle", "-l", "WARNING"],
                cwd=ROOT, env=os.environ.copy(), stderr=open(tmp_path / f"{name}.log", "w"))

        instance = DagsterInstance.get()
        instance.add_dynamic_partitions(ORGANIZATIONS_PARTITION, [o.id for o in orgs])
        warehouse = Warehouse(warehouse_url)
        warehouse.migrate()
        try:
            yield orgs, instance, warehouse, start_worker, workers
        finally:
            stop(list(workers.values()))
            warehouse.dispose()
            instance.dispose()


def _tick(instance, at: dt.datetime):
    schedule_def = next(s for s in _schedules() if s.name == CADENCE.name)
    context = build_schedule_context(instance=instance, scheduled_execution_time=at,
                                     resources={"organizations": OrganizationsResource()})
    return schedule_def.evaluate_tick(context).run_requests


def _schedules():
    from harvey_pipelines.automation.schedules import schedules

    return schedules


def _launch(requests, tmp_path) -> list[subprocess.Popen]:
    """The runs of ``requests`` as the daemon starts them: each in a process of its own, whose
    steps go to the broker."""
    launched = []
    for i, request in enumerate(requests):
        config = tmp_path / f"run-{time.monotonic_ns()}-{i}.json"
        config.write_text(json.dumps(request.run_config))
        launched.append(subprocess.Popen(
            [str(BIN / "dagster"), "job", "execute", "-m", "harvey_pipelines.definitions", "-a", "defs",
             "-j", "sync_organizations", "-c", str(config), "--tags", json.dumps(request.tags)],
            cwd=ROOT, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    return launched


def _wait(launched: list[subprocess.Popen]) -> None:
    for process in launched:
        out, _ = process.communicate(timeout=600)
        assert process.returncode == 0, out[-5000:]


def _until(condition, launched: list[subprocess.Popen], what: str) -> None:
    """Wait for ``condition`` while the runs go on (no timing: a deadline only against a hang)."""
    deadline = time.monotonic() + 300
    while not condition():
        assert all(p.poll() is None for p in launched), f"a run ended before {what} began"
        assert time.monotonic() < deadline, f"{what} did not begin"
        time.sleep(0.2)


def _workers_by_step(instance, but: frozenset = frozenset()) -> dict[str, list[str]]:
    """{run id:organization step key: [celery worker that took it, ...]} from dagster-celery's
    engine events, of the runs but those whose ids are in ``but``."""
    taken: dict[str, list[str]] = {}
    for run in instance.get_runs():
        if run.run_id in but:
            continue
        for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT):
            metadata = entry.dagster_event.engine_event_data.metadata
            if "Celery worker" in metadata and entry.step_key.startswith("sync_batch_organization"):
                taken.setdefault(f"{run.run_id}:{entry.step_key}", []).append(metadata["Celery worker"].value)
    return taken


def _run_ids(instance) -> list[str]:
    return [run.run_id for run in instance.get_runs()]


def _sync_runs(warehouse) -> list:
    runs = schema.sync_runs
    with warehouse.writer() as conn:
        return conn.execute(sa.select(runs.c.organization_id, runs.c.entity, runs.c.status, runs.c.started_at,
                                      runs.c.finished_at).order_by(runs.c.started_at)).all()


@pytest.mark.fast
def test_the_celery_executor_is_refused_without_postgresql(monkeypatch, tmp_path):
    from dagster import Failure
    from dagster._core.definitions.job_base import InMemoryJob
    from dagster._core.executor.init import InitExecutorContext

    monkeypatch.setenv("HARVEY_EXECUTOR", "celery")
    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    with pytest.raises(ValueError, match="HARVEY_EXECUTOR=celery needs the PostgreSQL warehouse"):
        batch_job()  # the code location does not load
    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", "postgresql://harvey@127.0.0.1:9/warehouse")
    job = batch_job()
    with DagsterInstance.ephemeral() as instance, pytest.raises(Failure, match="needs PostgreSQL instance storage"):
        harvey_celery_executor.executor_creation_fn(InitExecutorContext(  # type: ignore[misc]
            job=InMemoryJob(job), executor_def=harvey_celery_executor, executor_config={}, instance=instance))
    monkeypatch.delenv("HARVEY_EXECUTOR")
    # the default: one op looping over the organizations, the code location's in-process executor
    assert [node.name for node in batch_job().nodes] == ["sync_batch"]


@pytest.mark.fast
def test_an_organization_id_is_its_steps_mapping_key_and_back():
    for org_id in ("acme", "acme-corp", "org_7-b2", "a-b_c-d"):
        key = mapping_key(org_id)
        assert re.fullmatch(r"[A-Za-z0-9_]+", key) and organization_of(key) == org_id


def test_a_tick_spreads_over_two_workers_and_survives_a_killed_one(cluster, control, tmp_path, postgres_server_url):
    orgs, instance, warehouse, start_worker, workers = cluster
    start_worker("w1")
    start_worker("w2")

    # one tick: every organization synced exactly once, the steps spread over both workers
    noon = dt.datetime(2026, 12, 7, 12, tzinfo=dt.timezone.utc)
    requests = _tick(instance, noon)
    assert len(requests) == 2
    _wait(_launch(requests, tmp_path))
    runs = _sync_runs(warehouse)
    assert sorted((r.organization_id, r.entity, r.status) for r in runs) == sorted(
        (o.id, e, "success") for o in orgs for e in CADENCE.entities)
    org_steps = _workers_by_step(instance)
    assert len(org_steps) == ORGANIZATIONS and all(len(v) == 1 for v in org_steps.values()), org_steps
    assert {v[0].split("@")[0] for v in org_steps.values()} == {"w1", "w2"}, org_steps
    # both workers counted every organization's requests in the one store (here the warehouse),
    # whose sharing across processes test_rate_limit.py proves
    with warehouse.writer() as conn:
        buckets = set(conn.exec_driver_sql("SELECT key FROM rate_limits.buckets").scalars())
    assert {f"{o.id}/custom" for o in orgs} <= buckets, buckets

    # the same data as one process syncing them in turn
    with throwaway_database(postgres_server_url, "harvey_single") as single_url:
        single = Warehouse(single_url)
        single.migrate()
        for org in orgs:
            for entity in CADENCE.entities:
                sync_entity(org, entity, single)
            for entity in CADENCE.entities:
                assert warehouse_rows(warehouse, org.id, entity) == warehouse_rows(single, org.id, entity)
            assert differences(control, warehouse, org.id, CADENCE.entities) == {}
        single.dispose()

    # two runs of one organization at once (a tick overran into the next): while the test holds the
    # lock of its first entity, both workers take a step of it; then its syncs run one after the other
    contended = orgs[1]
    control.advance(contended.id, hours=2, change_fraction=0.3)
    before, earlier_runs = len(_sync_runs(warehouse)), frozenset(_run_ids(instance))
    with warehouse.sync_lock(contended.id, CADENCE.entities[0]):
        launched = _launch([request for prefix in ("a", "b") for request in batch_run_requests(
            [contended.id], CADENCE.entities, mode="full", trigger="schedule", triggered_by="test",
            run_key_prefix=prefix)], tmp_path)
        _until(lambda: len(_workers_by_step(instance, but=earlier_runs)) == 2, launched, "both steps")
    _wait(launched)
    contended_steps = _workers_by_step(instance, but=earlier_runs)
    assert sorted(v[0].split("@")[0] for v in contended_steps.values()) == ["w1", "w2"], contended_steps
    for entity in CADENCE.entities:
        key_runs = [r for r in _sync_runs(warehouse)[before:] if r.entity == entity]
        assert [r.status for r in key_runs] == ["success"] * 2, key_runs
        assert key_runs[0].finished_at <= key_runs[1].started_at, f"{entity}: two syncs at once"
    assert differences(control, warehouse, contended.id, CADENCE.entities) == {}

    # a worker killed mid-step: the broker hands the step to the other worker, which syncs the
    # organization again (the killed sync is marked interrupted); no duplicate rows
    victim = orgs[0]
    control.advance(victim.id, hours=2, change_fraction=0.3)
    control.set_faults(victim.id, slow_every=1, slow_seconds=5)
    before, earlier_runs = len(_sync_runs(warehouse)), frozenset(_run_ids(instance))
    [request] = batch_run_requests([victim.id], CADENCE.entities, mode="full", trigger="schedule",
                                   triggered_by="test", run_key_prefix="killed")
    [run] = _launch([request], tmp_path)
    _until(lambda: any(r.status == "running" for r in _sync_runs(warehouse)[before:]), [run], "the victim's sync")
    [taken] = _workers_by_step(instance, but=earlier_runs).values()
    killed = taken[0].split("@")[0]
    os.killpg(workers[killed].pid, signal.SIGKILL)
    workers[killed].wait()
    control.reset_faults(victim.id)
    _wait([run])
    statuses = [(r.entity, r.status) for r in _sync_runs(warehouse)[before:]]
    assert any(s == "interrupted" for _, s in statuses), statuses
    assert all(s in ("success", "interrupted") for _, s in statuses), statuses
    assert {e for e, s in statuses if s == "success"} == set(CADENCE.entities), statuses
    assert warehouse.failure_chains() == []
    assert differences(control, warehouse, victim.id, CADENCE.entities) == {}
    [taken] = _workers_by_step(instance, but=earlier_runs).values()
    assert [t.split("@")[0] for t in taken] == [killed, ({"w1", "w2"} - {killed}).pop()], taken
