"""The main job of the README (``make demo``): everything on the embedded default.

Starts the mock HRMS on loopback, registers three demo organizations of different
sizes, reference styles and time zones, syncs every entity of each through Dagster (one
run per organization, recorded in the local Dagster instance), and prints what landed in
the DuckDB warehouse.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from harvey_pipelines import settings
from harvey_pipelines.organizations import Organization, OrganizationRegistry

# id, name, seed, employees, what the HRMS's references hold (the contract leaves it open), time zone
DEMO_ORGS = (
    ("acme", "Acme Corporation", 1, 40, "id", "Asia/Kolkata"),
    ("globex", "Globex", 2, 400, "business_key", "Europe/Amsterdam"),
    ("initech", "Initech", 3, 4000, "mixed", "Asia/Kolkata"),
)


def mock_args() -> list[str]:
    """The mock HRMS command-line options that start the demo's tenants."""
    args = []
    for org_id, _, seed, size, style, tz in DEMO_ORGS:
        args += ["--tenant", f"{org_id}:{seed}:{size}", "--reference-style", f"{org_id}={style}",
                 "--timezone", f"{org_id}={tz}"]
    return args


def _start_mock(port: int) -> subprocess.Popen:
    url = f"http://127.0.0.1:{port}"
    try:
        httpx.get(f"{url}/_control/tenants", timeout=1)
    except httpx.TransportError:
        pass
    else:
        raise SystemExit(f"port {port} is taken (a mock HRMS still running?); use `harvey demo --port N`")
    args = [sys.executable, "-m", "harvey_pipelines.mock_hrms", "--host", "127.0.0.1", "--port", str(port),
            *mock_args()]
    process = subprocess.Popen(args)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the mock HRMS did not start")
        try:
            if httpx.get(f"{url}/_control/tenants", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the mock HRMS did not answer within 120 s")


def run_demo(port: int = 8765, keep_mock: bool = False) -> int:
    from harvey_pipelines.mock_hrms import DEFAULT_TOKEN  # first: says which extra is missing, if one is

    os.environ["DAGSTER_HOME"] = str(settings.prepare_dagster_home())
    from dagster import DagsterInstance

    from harvey_pipelines.assets.partitions import sync_partitions
    from harvey_pipelines.definitions import defs
    from harvey_pipelines.warehouse import Warehouse

    print(f"warehouse: {settings.warehouse_url()}")
    print(f"registry:  {settings.organizations_file()}")
    print(f"dagster:   {settings.dagster_home()}")
    started = time.monotonic()
    mock = _start_mock(port)
    print(f"mock HRMS on http://127.0.0.1:{port} ({time.monotonic() - started:.1f}s)")
    try:
        registry = OrganizationRegistry()
        for org_id, name, _, _, _, tz in DEMO_ORGS:
            env = f"HARVEY_{org_id.upper()}_HRMS_TOKEN"
            # the mock's public demo token (the environment wins), kept in data/local.env so that
            # syncs from the CLI, the UI and the daemon work after the demo too
            settings.remember_local_env(env, DEFAULT_TOKEN)
            registry.add(Organization(id=org_id, name=name, base_url=f"http://127.0.0.1:{port}/orgs/{org_id}",
                                      credential_env=env, timezone=tz, rate_limit_per_second=1000), replace=True)
        instance = DagsterInstance.get()
        sync_partitions(instance, registry)
        job = defs.resolve_job_def("sync_organization")
        failed = []
        for org_id, *_ in DEMO_ORGS:
            t0 = time.monotonic()
            outcome = job.execute_in_process(
                partition_key=org_id, instance=instance, raise_on_error=False,
                tags={"harvey/trigger": "manual", "harvey/triggered_by": "demo"},
                run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
            )
            state = "ok" if outcome.success else "FAILED"
            print(f"synced {org_id:<8} {state} in {time.monotonic() - t0:5.1f}s  (run {outcome.run_id})")
            if not outcome.success:
                failed.append(org_id)
        t0 = time.monotonic()
        marts = defs.resolve_job_def("build_marts").execute_in_process(
            instance=instance, raise_on_error=False, tags={"harvey/triggered_by": "demo"},
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        print(f"dbt build {'ok' if marts.success else 'FAILED'} in {time.monotonic() - t0:5.1f}s  (run {marts.run_id})")
        if not marts.success:
            failed.append("dbt")
        counts = Warehouse().row_counts()
    finally:
        if keep_mock:
            print(f"the mock HRMS keeps running (pid {mock.pid})")
        else:
            mock.terminate()
            mock.wait(10)
    _print_table(counts)
    print(f"\ndone in {time.monotonic() - started:.0f}s.")
    print("Open the Dagster UI on what this made:  make dev   (then http://127.0.0.1:3000)")
    print("Query the analysts' copy (published by every dbt build):  .venv/bin/python -c \"import duckdb; "
          f"print(duckdb.connect('{settings.published_copy()}', read_only=True)"
          ".sql('select * from core.employees limit 5'))\"")
    return 1 if failed else 0


def _print_table(counts: dict[tuple[str, str], int]) -> None:
    from harvey_pipelines.records import ENTITIES

    orgs = [o for o, *_ in DEMO_ORGS]
    print("\nrows in the warehouse (core tables, live records)")
    print(f"{'entity':<18}" + "".join(f"{o:>10}" for o in orgs))
    for spec in ENTITIES:
        print(f"{spec.name:<18}" + "".join(f"{counts.get((o, spec.name), 0):>10}" for o in orgs))
