"""The main job of the README (``make demo``): everything on the embedded default.

Starts the mock HRMS on loopback, registers three demo organizations of different
sizes, reference styles and time zones, and a fourth on vendor systems (HR from BambooHR,
recruiting from Greenhouse, each vendor's mock on loopback), syncs every entity each one's
systems serve through Dagster (one run per organization, recorded in the local Dagster
instance), builds the marts, and prints a summary: rows per organization and entity, the
marts' rows, the checks. The
syncs', dbt's and Dagster's own output goes to ``data/demo.log`` (``--verbose``: to the
console, as before).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx

from harvey_pipelines import settings
from harvey_pipelines.org_settings import LeaveRule
from harvey_pipelines.organizations import Organization, OrganizationRegistry, System

# id, name, seed, employees, what the HRMS's references hold (the contract leaves it open), time zone
DEMO_ORGS = (
    ("acme", "Acme Corporation", 1, 40, "id", "Asia/Kolkata"),
    ("globex", "Globex", 2, 400, "business_key", "Europe/Amsterdam"),
    ("initech", "Initech", 3, 4000, "mixed", "Asia/Kolkata"),
)
# the mock's clocks start today, with attendance from the first of the month two months back to
# yesterday: "last month" has data whatever the day
CLOCK_START = "today"
ATTENDANCE_MONTHS = 2
# the fourth organization, on vendor systems: HR from BambooHR, recruiting from Greenhouse. Their
# mocks run in this process, as the syncs do (execute_in_process), and stop with the demo; its
# secrets are made up per run and live only in this process's environment
VENDOR_ORG_ID, VENDOR_ORG_NAME, VENDOR_TIMEZONE = "hooli", "Hooli", "America/Denver"
VENDOR_HR = {"size": 100, "seed": 4, "timezone": VENDOR_TIMEZONE}  # bamboohr.Company: 2 leave requests each
VENDOR_RECRUITING = {"seed": 4, "candidates": 100, "jobs": 8}  # GreenhouseMock
VENDOR_SECRET_ENV = {"api_key": "HARVEY_HOOLI_BAMBOOHR_API_KEY", "client_id": "HARVEY_HOOLI_GREENHOUSE_CLIENT_ID",
                     "client_secret": "HARVEY_HOOLI_GREENHOUSE_CLIENT_SECRET"}


def mock_args() -> list[str]:
    """The mock HRMS command-line options that start the demo's tenants."""
    args = []
    for org_id, _, seed, size, style, tz in DEMO_ORGS:
        args += ["--tenant", f"{org_id}:{seed}:{size}", "--reference-style", f"{org_id}={style}",
                 "--timezone", f"{org_id}={tz}"]
    return args + ["--clock-start", CLOCK_START, "--attendance-months", str(ATTENDANCE_MONTHS)]


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
    return subprocess.Popen(args)


def _wait_for_mock(process: subprocess.Popen, port: int) -> None:
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the mock HRMS did not start")
        try:
            if httpx.get(f"{url}/_control/tenants", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the mock HRMS did not answer within 120 s")


def vendor_recruiting(company, client_id: str = "gh-client", client_secret: str = "gh-client-s3cret"):
    """The vendor organization's Greenhouse (a ``GreenhouseMock``, not started): its interviewers
    are employees of ``company``, its BambooHR company, by employee number."""
    from harvey_pipelines.mock_hrms.greenhouse import GreenhouseMock

    return GreenhouseMock(client_id=client_id, client_secret=client_secret,
                          employee_numbers=[e.number for e in company.employees.values()], **VENDOR_RECRUITING)


@contextmanager
def _vendor_systems():
    """The vendor organization's BambooHR and Greenhouse mocks on loopback, its secrets in this
    process's environment for its syncs (never written or printed); yields its registry entry."""
    from harvey_pipelines.mock_hrms.bamboohr import BambooHrMock

    secret = {name: secrets.token_urlsafe(24) for name in VENDOR_SECRET_ENV}
    os.environ.update({variable: secret[name] for name, variable in VENDOR_SECRET_ENV.items()})
    with BambooHrMock() as hr:
        company = hr.company(VENDOR_ORG_ID, secret["api_key"], **VENDOR_HR)
        with vendor_recruiting(company, secret["client_id"], secret["client_secret"]) as greenhouse:
            yield Organization(
                id=VENDOR_ORG_ID, name=VENDOR_ORG_NAME, hrms_type="bamboohr", base_url=hr.base_url(VENDOR_ORG_ID),
                credential_env=VENDOR_SECRET_ENV["api_key"], timezone=VENDOR_TIMEZONE,
                # its BambooHR company's yearly allocations (mock_hrms.bamboohr.TIME_OFF_TYPES): BambooHR
                # reports no allocation, so the leave balances mart takes the registry's
                leave_policy={"annual": LeaveRule(allocation_days=20), "sick": LeaveRule(allocation_days=10),
                              "casual": LeaveRule(allocation_days=5)},
                rate_limit_per_second=1000,  # the BambooHR mock sets no limit; Greenhouse's below is its own
                systems={"recruiting": System(hrms_type="greenhouse", base_url=greenhouse.url, credential_env={
                    name: VENDOR_SECRET_ENV[name] for name in ("client_id", "client_secret")})})


@contextmanager
def _console(log_path, verbose: bool):
    """Where the demo's own lines go. Unless verbose, everything else written to this
    process's stdout and stderr (dbt's log, which dagster-dbt writes to stdout; Dagster's log;
    warnings; the mock's output) goes to ``log_path``, swapped in at the file descriptors so
    that the run's compute logs, which tee those descriptors, still get it all."""
    if verbose:
        yield sys.stdout
        return
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    console = os.fdopen(os.dup(1), "w", buffering=1)
    with open(log_path, "w") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    try:
        yield console
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, original in zip((1, 2), saved):
            os.dup2(original, fd)
            os.close(original)
        console.close()


def run_demo(port: int = 8765, keep_mock: bool = False, verbose: bool = False) -> int:
    from harvey_pipelines.mock_hrms import DEFAULT_TOKEN  # first: says which extra is missing, if one is

    os.environ["DAGSTER_HOME"] = str(settings.prepare_dagster_home())
    if not (verbose and sys.stdout.isatty()):
        os.environ.setdefault("DBT_USE_COLORS", "false")  # colour codes in a log file or a pipe are noise
    log_path = settings.ensure_local_state() / "demo.log"

    print(f"warehouse: {settings.warehouse_url()}")
    print(f"registry:  {settings.organizations_file()}")
    print(f"dagster:   {settings.dagster_home()}")
    if not verbose:
        print(f"log:       {log_path} (syncs, dbt, Dagster; `harvey demo --verbose` prints it here)")
    started = time.monotonic()
    with _console(log_path, verbose) as out, _vendor_systems() as vendor_org:
        registry = OrganizationRegistry()
        mock = _start_mock(port)
        try:
            # imported while the mock generates its data
            from dagster import DagsterInstance

            from harvey_pipelines.assets.entities import entity_key
            from harvey_pipelines.assets.partitions import sync_partitions
            from harvey_pipelines.definitions import defs
            from harvey_pipelines.records import ENTITIES
            from harvey_pipelines.sources.base import serves

            _wait_for_mock(mock, port)
            print(f"mock HRMS on http://127.0.0.1:{port} ({time.monotonic() - started:.1f}s); "
                  f"{VENDOR_ORG_ID}'s BambooHR and Greenhouse mocks in this process", file=out)
            orgs = []
            for org_id, name, _, _, _, tz in DEMO_ORGS:
                env = f"HARVEY_{org_id.upper()}_HRMS_TOKEN"
                # the mock's public demo token (the environment wins), kept in data/local.env so that
                # syncs from the CLI, the UI and the daemon work after the demo too
                settings.remember_local_env(env, DEFAULT_TOKEN)
                orgs.append(Organization(id=org_id, name=name, base_url=f"http://127.0.0.1:{port}/orgs/{org_id}",
                                         credential_env=env, timezone=tz, rate_limit_per_second=1000))
            orgs.append(vendor_org)
            if not settings.current().pseudonym_key and "HARVEY_PSEUDONYM_KEY" not in settings.local_env():
                # the masked analyst tables need a key; one of this machine's own, kept like the tokens
                settings.remember_local_env("HARVEY_PSEUDONYM_KEY", secrets.token_hex(32))
            for org in orgs:
                registry.add(org, replace=True)
            instance = DagsterInstance.get()
            sync_partitions(instance, registry)
            job = defs.resolve_job_def("sync_organization")
            failed = []
            # entities an organization's systems do not have (BambooHR: attendance) are not asked for
            unserved = {org.id: [s.name for s in ENTITIES if not serves(org, s.name)] for org in orgs}
            for org in orgs:
                t0 = time.monotonic()
                # the quality checks run before the marts, not on every sync (as sync_run_request asks)
                selection = {entity_key(s.name) for s in ENTITIES if s.name not in unserved[org.id]}
                served = job.get_subset(asset_selection=selection, asset_check_selection=set())
                outcome = served.execute_in_process(
                    partition_key=org.id, instance=instance, raise_on_error=False,
                    tags={"harvey/trigger": "manual", "harvey/triggered_by": "demo"},
                    run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
                )
                state = "ok" if outcome.success else "FAILED"
                print(f"synced {org.id:<8} {state} in {time.monotonic() - t0:5.1f}s  (run {outcome.run_id})", file=out)
                if not outcome.success:
                    failed.append(org.id)
            t0 = time.monotonic()
            marts = defs.resolve_job_def("build_marts").execute_in_process(
                instance=instance, raise_on_error=False, tags={"harvey/triggered_by": "demo"},
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
            print(f"dbt build {'ok' if marts.success else 'FAILED'} in {time.monotonic() - t0:5.1f}s  "
                  f"(run {marts.run_id})", file=out)
            if not marts.success:
                failed.append("dbt")
        finally:
            if keep_mock:
                print(f"the mock HRMS keeps running (pid {mock.pid})", file=out)
            else:
                mock.terminate()
                mock.wait(10)
            # its mocks stop with this process and its secrets were never stored: the schedules of
            # `make dev` would fail on it (the next demo enables it again)
            if any(o.id == VENDOR_ORG_ID for o in registry.load()):
                registry.set_enabled(VENDOR_ORG_ID, False)
    _print_summary(marts, orgs, unserved)
    if failed and not verbose:
        print(f"\n{', '.join(failed)} FAILED: the errors are in {log_path} and in the run in the Dagster UI")
    print(f"\n{VENDOR_ORG_ID} is disabled in the registry now: its mocks stopped with the demo and its secrets "
          "were never stored")
    print(f"\ndone in {time.monotonic() - started:.0f}s.")
    print("Open the Dagster UI on what this made:  make dev   (then http://127.0.0.1:3000)")
    print("Query the analysts' copy (published by every dbt build):  .venv/bin/python -c \"import duckdb; "
          f"print(duckdb.connect('{settings.published_copy()}', read_only=True)"
          ".sql('select * from core.employees limit 5'))\"")
    return 1 if failed else 0


def _print_summary(marts, orgs: list[Organization], unserved: dict[str, list[str]]) -> None:
    """What landed: rows per organization and entity, the marts' rows, the checks of the build."""
    from dagster import AssetCheckSeverity

    from harvey_pipelines.assets.dbt import dbt_models
    from harvey_pipelines.assets.quality import quality_checks
    from harvey_pipelines.records import ENTITIES
    from harvey_pipelines.warehouse import Warehouse

    warehouse = Warehouse()
    try:
        counts = warehouse.row_counts()
        attendance = warehouse.date_ranges("attendance", "date")
        built = {e.asset_key for e in marts.get_asset_materialization_events()}
        mart_rows = {}
        for key, group in sorted(dbt_models.group_names_by_key.items()):
            if group == "marts" and key in built:
                spec = dbt_models.specs_by_key[key]
                schema_name, name = spec.metadata["dagster/table_name"].split(".")[-2:]
                columns = {c.name for c in spec.metadata["dagster/column_schema"].columns}
                by_org = "organization_id" in columns
                rows = warehouse.model_row_counts(schema_name, name, by_org)
                mart_rows[name] = {o.id: rows.get(o.id, 0) for o in orgs} if by_org else rows
    finally:
        warehouse.dispose()

    ids = [o.id for o in orgs]
    _print_table("rows per organization (core tables, live records)", "entity",
                 {spec.name: {o: counts.get((o, spec.name), 0) for o in ids} for spec in ENTITIES}, ids)
    print()
    for org in orgs:
        systems = sorted({(org.system_for(g).hrms_type, g) for g in ("people", "recruiting")})
        if len({t for t, _ in systems}) > 1:
            print(f"{org.id}: " + ", ".join(f"{g} from {t}" for t, g in systems))
    for first, last in sorted(set(attendance.values())):
        having = [o for o in ids if attendance.get(o) == (first, last)]
        print(f"attendance dates: {first} to {last} ({', '.join(having)})")
    for org_id, entities in unserved.items():
        if entities:
            print(f"{org_id}: no {', '.join(entities)} synced (its systems have none), no rows in the marts on it")
    unsplit = any(None in rows for rows in mart_rows.values())  # a mart without organization_id: "all"
    _print_table("marts built (rows per organization)", "mart", mart_rows, ids + ["all"] if unsplit else ids)
    not_built = [k.path[-1] for k, g in dbt_models.group_names_by_key.items() if g == "marts" and k not in built]
    if not_built:
        print(f"not built: {', '.join(sorted(not_built))}")

    quality = {k for c in quality_checks for k in c.check_keys}
    evaluations = marts.get_asset_check_evaluations()
    print("\nchecks of the build")
    for label, ours in (("quality checks (core tables)", True), ("dbt tests", False)):
        results = [e for e in evaluations if (e.asset_check_key in quality) == ours]
        failed = [e for e in results if not e.passed and e.severity == AssetCheckSeverity.ERROR]
        warned = [e for e in results if not e.passed and e.severity != AssetCheckSeverity.ERROR]
        print(f"{label + ':':<30} {len(results) - len(failed) - len(warned)} passed, {len(warned)} warned, "
              f"{len(failed)} failed")
        for kind, which in (("failed", failed), ("warned", warned)):
            for e in sorted(which, key=lambda e: (e.asset_key.to_user_string(), e.check_name)):
                print(f"  {kind}: {e.asset_key.to_user_string()} {e.check_name}")


def _print_table(title: str, label: str, rows: dict[str, dict], columns: list[str]) -> None:
    print(f"\n{title}")
    print(f"{label:<22}" + "".join(f"{c:>10}" for c in columns))
    for name, values in rows.items():
        cells = [values.get(None if c == "all" else c, "") for c in columns]
        print(f"{name:<22}" + "".join(f"{v:>10}" for v in cells))
