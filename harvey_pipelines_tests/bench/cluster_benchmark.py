"""One schedule tick on Celery workers (HARVEY_EXECUTOR=celery), against a mock HRMS that takes
--latency-ms per request (so the work waits on the network as real syncs do).

    python -m harvey_pipelines_tests.bench.cluster_benchmark --orgs 200 --workers 0,1,2,4 [--runs-per-tick 2]
        [--pool solo|threads:N|prefork:N] [--worker-app MODULE]

For each worker count: N small tenants, a fresh PostgreSQL warehouse and Dagster instance (the
project's dagster.yaml), W Celery worker processes (--pool, by default solo: one step each at a
time; 0 = the in-process executor, for comparison), started and answering a ping before the clock
starts (production workers run for days); the employees schedule is evaluated at a tick and its
run requests are executed as processes of their own (as the default run launcher does). The clock
stops when the last run has ended. Reported: wall time, organizations per minute, speed-up over
one worker, a step's fixed cost (from a worker taking it to its end, minus its syncs; the
worker's work before it reports the step taken, loading the run and its plan, is not in it), the
workers' CPU seconds per organization (their processes and children, during the tick) and the
machine's busy CPU seconds during the tick (every process, other users' too).
Needs RabbitMQ (HARVEY_CELERY_BROKER_URL, default pyamqp://guest@localhost//) and PostgreSQL.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import sqlalchemy as sa

from harvey_pipelines_tests.bench.fanout_benchmark import drop_databases, production_like
from harvey_pipelines_tests.processes import free_port, start_server, stop, wait_http

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TOKEN_ENV = "HARVEY_CLUSTER_BENCH_TOKEN"
SCHEDULE = "employees_every_2_hours"


def busy_cpu_seconds() -> float:
    """CPU seconds the machine has spent busy (all processes, also other users'), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process, its ended children and its living ones (a prefork pool's)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    seconds = sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    for child in (children.read_text().split() if children.exists() else []):
        seconds += process_cpu_seconds(int(child))
    return seconds


def wait_ready(app, workers: int, timeout: float = 120) -> None:
    """Until every worker answers (a worker loads the code location when it starts; in
    production workers run for days, so the tick's clock starts with them ready)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(app.control.ping(timeout=1.0) or []) >= workers:
            return
    raise RuntimeError(f"{workers} Celery workers did not answer within {timeout} s")


def one_tick(n: int, workers: int, runs_per_tick: int, latency: float, mock_url: str, workdir: Path,
             pool: str = "solo", worker_app: str = "harvey_pipelines.celery_worker") -> dict:
    from dagster import DagsterEventType, DagsterInstance, build_schedule_context

    from harvey_pipelines.assets.partitions import sync_partitions
    from harvey_pipelines.mock_hrms import MockHrmsControl
    from harvey_pipelines.organizations import Organization, OrganizationRegistry

    control = MockHrmsControl(mock_url)
    tag = uuid.uuid4().hex[:6]
    registry = OrganizationRegistry(workdir / f"orgs-{tag}.yaml")
    orgs = []
    for i in range(n):
        org_id = f"cl{tag}-{i:04d}"
        control.create_tenant(org_id, seed=i, size=5)
        control.set_faults(org_id, slow_every=1, slow_seconds=latency)
        orgs.append(Organization(id=org_id, name=org_id, base_url=f"{mock_url}/orgs/{org_id}",
                                 credential_env=TOKEN_ENV, rate_limit_per_second=1000))
    registry.add_all(orgs)
    env, dbs = production_like(workdir, f"cluster_{tag}", registry.path, TOKEN_ENV)
    env |= {"HARVEY_MAX_RUNS_PER_TICK": str(runs_per_tick), "HARVEY_EXECUTOR": "celery" if workers else "in_process"}
    os.environ.update(env)
    procs = []
    try:
        if workers:
            from harvey_pipelines.celery_worker import app

            app.control.purge()
            kind, _, concurrency = pool.partition(":")
            procs = [start_server([str(BIN / "celery"), "-A", worker_app, "worker", "-Q",
                                   "dagster", "-P", kind, *(["-c", concurrency] if concurrency else []),
                                   "-n", f"w{i}-{tag}@%h", "--without-gossip", "--without-mingle", "-l", "WARNING"],
                                  cwd=ROOT, env=env)
                     for i in range(workers)]
            wait_ready(app, workers)
        from harvey_pipelines.assets.resources import OrganizationsResource
        from harvey_pipelines.automation.schedules import schedules

        schedule = next(s for s in schedules if s.name == SCHEDULE)
        with DagsterInstance.get() as instance:
            sync_partitions(instance, registry)
            context = build_schedule_context(instance=instance, resources={"organizations": OrganizationsResource()},
                                             scheduled_execution_time=dt.datetime.now(dt.timezone.utc))
            requests = schedule.evaluate_tick(context).run_requests
            started, busy = time.monotonic(), busy_cpu_seconds()
            worker_cpu = sum(process_cpu_seconds(p.pid) for p in procs)  # the code location's load
            runs = []
            for i, request in enumerate(requests):
                config = workdir / f"run-{tag}-{i}.json"
                config.write_text(json.dumps(request.run_config))
                runs.append(subprocess.Popen(
                    [str(BIN / "dagster"), "job", "execute", "-m", "harvey_pipelines.definitions", "-a", "defs",
                     "-j", "sync_organizations", "-c", str(config), "--tags", json.dumps(request.tags)],
                    cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            failed = sum(run.wait() != 0 for run in runs)
            wall, busy = time.monotonic() - started, busy_cpu_seconds() - busy
            worker_cpu = sum(process_cpu_seconds(p.pid) for p in procs) - worker_cpu
            step_seconds = []
            for run in instance.get_runs():
                begun: dict[str, float] = {}
                for entry in instance.all_logs(run.run_id):
                    event = entry.dagster_event
                    if not event or not (entry.step_key or "").startswith("sync_batch_organization"):
                        continue
                    if (event.event_type == DagsterEventType.ENGINE_EVENT
                            and "Celery worker" in event.engine_event_data.metadata):
                        begun[entry.step_key] = entry.timestamp  # a worker has taken it
                    elif event.event_type == DagsterEventType.STEP_SUCCESS:
                        step_seconds.append(entry.timestamp - begun.get(entry.step_key, entry.timestamp))
        wh = sa.create_engine(env["HARVEY_WAREHOUSE_URL"])
        with wh.connect() as conn:
            syncs = conn.exec_driver_sql("SELECT organization_id, status, duration_seconds FROM sync.sync_runs").all()
        wh.dispose()
    finally:
        stop(procs)
        drop_databases(dbs)
    per_org = {}
    for org_id, _, seconds in syncs:
        per_org[org_id] = per_org.get(org_id, 0.0) + (seconds or 0.0)
    sync_median = statistics.median(per_org.values()) if per_org else 0.0
    return {
        "organizations": n, "workers": workers, "pool": pool if workers else None, "runs": len(requests),
        "latency_ms": latency * 1000,
        "wall_seconds": round(wall, 1), "organizations_per_minute": round(60 * n / wall, 1),
        "syncs_ok": sum(status == "success" for _, status, _ in syncs), "syncs": len(syncs), "runs_failed": failed,
        "organization_sync_median_s": round(sync_median, 2),
        "step_median_s": round(statistics.median(step_seconds), 2) if step_seconds else None,
        "step_fixed_cost_s": round(statistics.median(step_seconds) - sync_median, 2) if step_seconds else None,
        "worker_cpu_s_per_organization": round(worker_cpu / n, 3) if workers else None,
        "machine_busy_cpu_s": round(busy, 1),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orgs", type=int, default=200)
    parser.add_argument("--workers", default="0,1,2,4", help="Celery worker processes per tick; 0: in-process")
    parser.add_argument("--runs-per-tick", type=int, default=2, help="HARVEY_MAX_RUNS_PER_TICK")
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--worker-app", default="harvey_pipelines.celery_worker",
                        help="the workers' Celery app module (another one to compare with)")
    parser.add_argument("--pool", default="solo", help="each worker's Celery pool: solo (one step at a time), "
                        "threads:N or prefork:N (N steps at a time)")
    args = parser.parse_args(argv)
    port = free_port()
    mock = subprocess.Popen([sys.executable, "-m", "harvey_pipelines.mock_hrms", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = []
    try:
        wait_http(f"http://127.0.0.1:{port}/_control/health")
        with tempfile.TemporaryDirectory() as tmp:
            for workers in (int(x) for x in args.workers.split(",")):
                result = one_tick(args.orgs, workers, args.runs_per_tick, args.latency_ms / 1000,
                                  f"http://127.0.0.1:{port}", Path(tmp), args.pool, args.worker_app)
                print(json.dumps(result), flush=True)
                results.append(result)
    finally:
        mock.terminate()
    one = next((r["wall_seconds"] for r in results if r["workers"] == 1), None)
    print("\n| workers | runs | tick wall time | organizations / min | speed-up over 1 worker | step (median) "
          "| organization's syncs (median) | step fixed cost | worker CPU per organization | machine busy | syncs ok |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        speedup = f"{one / r['wall_seconds']:.2f}x" if one and r["workers"] else ""
        print(f"| {r['workers'] or 'in-process'} | {r['runs']} | {r['wall_seconds']} s | "
              f"{r['organizations_per_minute']} | {speedup} | {r['step_median_s'] or ''} s | "
              f"{r['organization_sync_median_s']} s | {r['step_fixed_cost_s'] or ''} s | "
              f"{r['worker_cpu_s_per_organization'] or ''} s | {r['machine_busy_cpu_s']} s | "
              f"{r['syncs_ok']}/{r['syncs']} |")
    out = ROOT / ".bench" / f"cluster-{dt.datetime.now():%Y-%m-%dT%H%M%S}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
