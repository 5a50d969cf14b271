"""The schedule fan-out: one tick of the 30-minute interview schedule for N organizations,
with the webserver and the daemon running, against the mock HRMS.

    python -m harvey_pipelines_tests.bench.fanout_benchmark --orgs 10,50,200

For each N: N small tenants in the mock, N organizations in a registry, a fresh
production-style instance (the project's dagster.yaml on PostgreSQL), webserver and
daemon started; the interviews schedule is evaluated at a tick and its run requests are
launched through the webserver exactly as the daemon would; the clock stops when the
last run has ended. Each N is measured with the schedule's batching (at most
HARVEY_MAX_RUNS_PER_TICK runs) and, up to --per-org-up-to organizations, with one run per
organization, side by side. Reported: wall time of the tick, time per organization, and the
fixed cost per run: from its launch to its end, minus the syncs inside it (process start,
imports, code location load, event log writes).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from harvey_pipelines_tests.processes import free_port, start_server, stop, wait_http

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
PG = os.environ.get("HARVEY_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TOKEN_ENV = "HARVEY_FANOUT_TOKEN"


def production_like(workdir: Path, name: str, registry_path: Path, token_env: str) -> tuple[dict[str, str], list[str]]:
    """A production-like set-up for processes started by a benchmark: PostgreSQL databases for
    the Dagster instance and the warehouse (made here), a DAGSTER_HOME with the production
    dagster.yaml; (the environment pointing at them, the databases to drop after)."""
    dbs = {kind: f"harvey_{name}_{kind}" for kind in ("dagster", "warehouse")}
    admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for database in dbs.values():
            conn.exec_driver_sql(f"CREATE DATABASE {database}")
    admin.dispose()
    home = workdir / f"home-{name}"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    base = sa.engine.make_url(PG)
    env = {**os.environ, "DAGSTER_HOME": str(home), token_env: "mock-hrms-token-12345",
           "HARVEY_DAGSTER_PG_URL": base.set(database=dbs["dagster"]).render_as_string(False),
           "HARVEY_WAREHOUSE_URL": base.set(drivername="postgresql+psycopg2",
                                            database=dbs["warehouse"]).render_as_string(False),
           "HARVEY_ORGANIZATIONS_FILE": str(registry_path), "HARVEY_DATA_DIR": str(workdir / "data")}
    return env, list(dbs.values())


def drop_databases(databases: list[str]) -> None:
    admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for database in databases:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    admin.dispose()


def one_tick(n: int, max_runs: int, mock_url: str, workdir: Path) -> dict:
    from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter

    from harvey_pipelines.assets.partitions import sync_partitions
    from harvey_pipelines.mock_hrms import MockHrmsControl
    from harvey_pipelines.organizations import Organization, OrganizationRegistry

    control = MockHrmsControl(mock_url)
    tag = uuid.uuid4().hex[:6]
    registry = OrganizationRegistry(workdir / f"orgs-{n}-{tag}.yaml")
    orgs = []
    for i in range(n):
        org_id = f"fan{n}-{tag}-{i:03d}"
        control.create_tenant(org_id, seed=i, size=5, attendance_days=1)
        orgs.append(Organization(id=org_id, name=org_id, base_url=f"{mock_url}/orgs/{org_id}",
                                 credential_env=TOKEN_ENV, rate_limit_per_second=1000))
    registry.add_all(orgs)
    env, dbs = production_like(workdir, f"fanout_{n}_{tag}", registry.path, TOKEN_ENV)
    env["HARVEY_MAX_RUNS_PER_TICK"] = str(max_runs)
    os.environ.update(env)
    port = free_port()
    procs = [start_server([str(BIN / "dagster-webserver"), "-w", str(ROOT / "workspace.yaml"), "-h", "127.0.0.1",
                           "-p", str(port)], cwd=ROOT, env=env)]
    try:
        wait_http(f"http://127.0.0.1:{port}/server_info")
        procs.append(start_server([str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")],
                                  cwd=ROOT, env=env))
        from dagster import build_schedule_context, partition_loading_context
        from dagster_graphql import DagsterGraphQLClient

        from harvey_pipelines.assets.resources import OrganizationsResource
        from harvey_pipelines.automation.schedules import schedules
        from harvey_pipelines.definitions import defs

        schedule = next(s for s in schedules if s.name == "interviews_every_30_minutes")
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        with DagsterInstance.get() as instance:
            sync_partitions(instance, registry)
            tick_time = dt.datetime.now(dt.timezone.utc).replace(second=0, microsecond=0)
            organizations = OrganizationsResource(path=str(registry.path))
            context = build_schedule_context(instance=instance, scheduled_execution_time=tick_time,
                                             repository_def=defs.get_repository_def(),
                                             resources={"organizations": organizations})
            with partition_loading_context(dynamic_partitions_store=instance):
                requests = schedule.evaluate_tick(context).run_requests
            assert sum(len(r.run_config["ops"]["sync_batch"]["config"]["organizations"]) for r in requests) == n
            started = time.monotonic()
            run_ids = [
                client.submit_job_execution("sync_organizations", run_config=dict(r.run_config), tags=dict(r.tags))
                for r in requests
            ]
            submitted = time.monotonic() - started
            done = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
            while True:
                runs = instance.get_runs(filters=RunsFilter(run_ids=run_ids))
                if all(r.status in done for r in runs):
                    break
                if time.monotonic() - started > 1800:
                    raise SystemExit("the tick did not finish in 30 minutes")
                time.sleep(1)
            wall = time.monotonic() - started
            records = instance.get_run_records(filters=RunsFilter(run_ids=run_ids))
            launched = {rid: instance.all_logs(rid, of_type=DagsterEventType.RUN_STARTING)[0].timestamp
                        for rid in run_ids}
            failed = sum(r.dagster_run.status != DagsterRunStatus.SUCCESS for r in records)
            for r in records:
                if r.dagster_run.status != DagsterRunStatus.SUCCESS:
                    logs = instance.all_logs(r.dagster_run.run_id)
                    errors = [e.dagster_event.message or "" for e in logs
                              if e.is_dagster_event and "FAILURE" in e.dagster_event.event_type_value]
                    print(f"run {r.dagster_run.run_id} failed: {errors[-1] if errors else '?'}"[:1500], flush=True)
                    break
        wh = sa.create_engine(env["HARVEY_WAREHOUSE_URL"])
        with wh.connect() as conn:
            syncs = conn.exec_driver_sql("SELECT dagster_run_id, duration_seconds FROM sync.sync_runs").all()
        wh.dispose()
        sync_seconds = [s for _, s in syncs]
        in_run = {r.dagster_run.run_id: sum(s for rid, s in syncs if rid == r.dagster_run.run_id) for r in records}
        # a run's own cost: from its launch (process start, imports, code location load) to its
        # end (event writes), beyond its syncs
        overheads = [r.end_time - launched[r.dagster_run.run_id] - in_run[r.dagster_run.run_id] for r in records
                     if r.end_time]
        run_seconds = [r.end_time - r.start_time for r in records if r.start_time and r.end_time]
    finally:
        stop(procs)
        drop_databases(dbs)
        for i in range(n):
            try:
                control.delete_tenant(f"fan{n}-{tag}-{i:03d}")
            except Exception:  # noqa: BLE001 - best effort cleanup
                pass
    run_median = statistics.median(run_seconds)
    sync_median = statistics.median(sync_seconds) if sync_seconds else 0.0
    return {
        "organizations": n, "runs": len(run_ids), "runs_failed": failed, "tick_wall_seconds": round(wall, 1),
        "submit_seconds": round(submitted, 1), "seconds_per_organization": round(wall / n, 2),
        "run_duration_median_s": round(run_median, 2), "sync_duration_median_s": round(sync_median, 3),
        "fixed_cost_per_run_s": round(statistics.median(overheads), 2),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orgs", default="10,50,200")
    parser.add_argument("--max-runs", default="8,0", help="runs per tick to compare (HARVEY_MAX_RUNS_PER_TICK); "
                        "0 means one run per organization")
    parser.add_argument("--per-org-up-to", type=int, default=50,
                        help="measure one run per organization only up to this many organizations")
    args = parser.parse_args(argv)
    port = free_port()
    mock = subprocess.Popen([sys.executable, "-m", "harvey_pipelines.mock_hrms", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = []
    try:
        wait_http(f"http://127.0.0.1:{port}/_control/health")
        with tempfile.TemporaryDirectory() as tmp:
            for n in (int(x) for x in args.orgs.split(",")):
                for max_runs in (int(x) for x in args.max_runs.split(",")):
                    if max_runs == 0 and n > args.per_org_up_to:
                        continue
                    result = one_tick(n, max_runs or n, f"http://127.0.0.1:{port}", Path(tmp))
                    print(json.dumps(result), flush=True)
                    results.append(result)
    finally:
        mock.terminate()
    print("\n| organizations | runs | tick wall time | per organization | run duration (median) | sync (median) "
          "| fixed cost per run (median) | failed |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['organizations']} | {r['runs']} | {r['tick_wall_seconds']} s | "
              f"{r['seconds_per_organization']} s | "
              f"{r['run_duration_median_s']} s | {r['sync_duration_median_s']} s | {r['fixed_cost_per_run_s']} s | "
              f"{r['runs_failed']} |")
    out = ROOT / ".bench" / f"fanout-{dt.datetime.now():%Y-%m-%dT%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
