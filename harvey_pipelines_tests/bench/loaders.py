"""One measured load, in its own process: ``python -m harvey_pipelines_tests.bench.loaders '<spec JSON>'``.

The benchmark (``sync_benchmark``) starts one such process per measurement so that the peak
RSS (``ru_maxrss``) it reports is that loader's alone and no import or cache carries over
from one run to the next. The process prints one line ``BENCH_RESULT {json}`` at its end.

Spec keys: ``loader`` (harvey | rbr | dlt), ``warehouse`` (duckdb | postgres), ``url`` (a
SQLAlchemy URL: ``duckdb:////abs.duckdb`` or ``postgresql+psycopg2://...``), ``base_url``
(the tenant, ``http://127.0.0.1:P/orgs/<org>``), ``org``, ``token``; harvey: ``entity``,
``mode`` or ``steps``; rbr: ``limit`` (records, 0 = all); dlt: ``workdir``, ``file_format``.

Only the load itself is timed: imports, engine creation, ``Warehouse.migrate()`` (harvey),
the baseline's ``CREATE TABLE`` (rbr) and the pipeline object (dlt) are set-up.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time


def _rss_mb() -> float:
    """Current resident set size of this process (MB)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _maxrss_mb(who=resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


# ---------------------------------------------------------------------------------- harvey
def run_harvey(spec: dict) -> dict:
    from harvey_pipelines.organizations import Organization
    from harvey_pipelines.sync import sync_entity
    from harvey_pipelines.warehouse import Warehouse
    from harvey_pipelines.warehouse.dialects import wait_for_imports

    wait_for_imports()  # pyarrow's lazy pandas import is an import: set-up, as for the baselines
    imports = {"rss_after_imports_mb": _rss_mb(), "maxrss_after_imports_mb": _maxrss_mb()}
    os.environ["HARVEY_BENCH_TOKEN"] = spec["token"]
    org = Organization(id=spec["org"], name=spec["org"], base_url=spec["base_url"],
                       credential_env="HARVEY_BENCH_TOKEN", rate_limit_per_second=100000)
    warehouse = Warehouse(spec["url"])
    warehouse.migrate()  # set-up, not timed
    imports["rss_before_sync_mb"] = _rss_mb()
    # ``steps``: syncs (modes) run one after the other in this process, with ``"advance"``
    # (the mock HRMS moves 24 h on, 1 % of employees changed; not timed) between them
    steps = []
    for step in spec.get("steps") or [spec.get("mode", "full")]:
        if step == "advance":
            from harvey_pipelines.mock_hrms import MockHrmsControl

            with MockHrmsControl(spec["base_url"].rsplit("/orgs/", 1)[0]) as control:
                changes = control.advance(spec["org"], hours=24, change_fraction=0.01)
            steps.append({"advance": {k: len(v.get("employees", [])) for k, v in changes.items()}})
            continue
        started = time.perf_counter()
        result = sync_entity(org, spec["entity"], warehouse, mode=step)
        seconds = time.perf_counter() - started
        steps.append({
            "mode": step,
            "records": result.fetched,
            "seconds": seconds,
            "api_calls": result.api_calls,
            "inserted": result.inserted,
            "updated": result.updated,
            "unchanged": result.unchanged,
            "quarantined": result.quarantined,
            "raw_versions": result.raw_versions,
            "status": result.status,
            "sync_duration_seconds": result.duration_seconds,
        })
    warehouse.dispose()
    return {**imports, **steps[0], "steps": steps}


# -------------------------------------------------------------------- row-by-row baseline
def run_rbr(spec: dict) -> dict:
    """The design documents' loop: offset pages of 100, then per record one transaction of
    SELECT by (org, id), then UPDATE or INSERT (Django's ``update_or_create``)."""
    import datetime as dt

    import httpx
    import sqlalchemy as sa

    from harvey_pipelines.records import entity as entity_spec
    from harvey_pipelines.warehouse.schema import record_columns

    imports = {"rss_after_imports_mb": _rss_mb(), "maxrss_after_imports_mb": _maxrss_mb()}
    # the canonical employee fields, typed as in core.employees, plus the JSON payload
    columns = record_columns(entity_spec("employees"))
    fields = [c.name for c in columns if c.name != "source_id"]
    parse = {}
    for c in columns:
        if isinstance(c.type, sa.DateTime):
            parse[c.name] = dt.datetime.fromisoformat
        elif isinstance(c.type, sa.Date):
            parse[c.name] = dt.date.fromisoformat
        elif isinstance(c.type, sa.Float):
            parse[c.name] = float
    table = sa.Table(
        "rbr_employees", sa.MetaData(),
        sa.Column("organization_id", sa.Text, primary_key=True),
        sa.Column("source_id", sa.Text, primary_key=True),
        *[sa.Column(c.name, c.type) for c in columns if c.name != "source_id"],
        sa.Column("payload", sa.Text),
    )
    engine = sa.create_engine(spec["url"])
    table.metadata.create_all(engine)  # set-up, not timed

    sets = ", ".join(f"{f} = :{f}" for f in fields)
    select = sa.text("SELECT 1 FROM rbr_employees WHERE organization_id = :org AND source_id = :sid")
    update = sa.text(f"UPDATE rbr_employees SET {sets}, payload = :payload "
                     "WHERE organization_id = :org AND source_id = :sid")
    insert = sa.text(f"INSERT INTO rbr_employees (organization_id, source_id, {', '.join(fields)}, payload) "
                     f"VALUES (:org, :sid, {', '.join(':' + f for f in fields)}, :payload)")
    limit = int(spec.get("limit") or 0)
    client = httpx.Client(base_url=spec["base_url"] + "/api/v1",
                          headers={"Authorization": f"Bearer {spec['token']}"}, timeout=60)
    n = calls = inserted = updated = 0
    page = 1
    started = time.perf_counter()
    with engine.connect() as conn:
        while True:
            resp = client.get("/employees", params={"page": page, "page_size": 100})
            calls += 1
            resp.raise_for_status()
            rows = resp.json().get("data") or []
            if not rows:
                break
            for raw in rows:
                values = {"org": spec["org"], "sid": str(raw["id"]), "payload": json.dumps(raw)}
                for f in fields:
                    v = raw.get(f)
                    values[f] = parse[f](v) if v is not None and f in parse else v
                with conn.begin():
                    if conn.execute(select, values).first():
                        conn.execute(update, values)
                        updated += 1
                    else:
                        conn.execute(insert, values)
                        inserted += 1
                n += 1
                if limit and n >= limit:
                    break
            if (limit and n >= limit) or len(rows) < 100:
                break
            page += 1
    seconds = time.perf_counter() - started
    client.close()
    engine.dispose()
    return {**imports, "records": n, "seconds": seconds, "api_calls": calls,
            "inserted": inserted, "updated": updated, "limit": limit}


# ------------------------------------------------------------------------------ dlt baseline
def run_dlt(spec: dict) -> dict:
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    import dlt
    from dlt.sources.rest_api import rest_api_source

    imports = {"rss_after_imports_mb": _rss_mb(), "maxrss_after_imports_mb": _maxrss_mb()}
    source = rest_api_source({
        "client": {
            "base_url": spec["base_url"] + "/api/v1/",
            "auth": {"type": "bearer", "token": spec["token"]},
            "paginator": {"type": "page_number", "base_page": 1, "page_param": "page", "total_path": None},
        },
        "resources": [{
            "name": "employees", "primary_key": "id", "write_disposition": "merge",
            "endpoint": {"path": "employees", "params": {"page_size": 100}, "data_selector": "data"},
        }],
    })
    if spec["warehouse"] == "duckdb":
        destination = dlt.destinations.duckdb(spec["url"].removeprefix("duckdb:///"))
    else:
        # dlt insists on a password; the benchmark server trusts local connections and ignores it
        url = spec["url"].replace("postgresql+psycopg2://", "postgresql://").replace("postgres@", "postgres:bench@")
        destination = dlt.destinations.postgres(url)
    pipeline = dlt.pipeline(pipeline_name="harvey_bench", destination=destination, dataset_name="dlt_bench",
                            pipelines_dir=spec["workdir"])
    started = time.perf_counter()
    # ``file_format``: dlt's loader file format (None: the destination's default, insert_values)
    pipeline.run(source, loader_file_format=spec.get("file_format") or None)
    seconds = time.perf_counter() - started
    trace = pipeline.last_trace
    steps = {}
    for step in trace.steps:
        if step.started_at and step.finished_at:
            steps[step.step] = (step.finished_at - step.started_at).total_seconds()
    formats = set()
    try:  # the file formats the load really used (dlt falls back when one is unsupported)
        for package in trace.last_load_info.load_packages:
            for job in package.jobs.get("completed_jobs", []):
                formats.add(job.job_file_info.file_format)
    except Exception:  # noqa: BLE001
        pass
    records = None
    try:
        records = trace.last_normalize_info.row_counts.get("employees")
    except Exception:  # noqa: BLE001 - fall back to counting in the destination
        pass
    if records is None:
        with pipeline.sql_client() as client:
            records = client.execute_sql("SELECT count(*) FROM employees")[0][0]
    return {**imports, "records": records, "seconds": seconds, "api_calls": None, "steps": steps,
            "file_format": spec.get("file_format") or "default", "formats_used": sorted(formats)}


# ------------------------------------------------------------------------- fetch only
def run_fetch(spec: dict) -> dict:
    """The HTTP floor: harvey's adapter walks the endpoint (same client, same keyset paging)
    and drops the pages: no validation, no hashing, no database. No loader can beat it."""
    from harvey_pipelines.organizations import Organization
    from harvey_pipelines.sources import PagingState, adapter_for

    imports = {"rss_after_imports_mb": _rss_mb(), "maxrss_after_imports_mb": _maxrss_mb()}
    os.environ["HARVEY_BENCH_TOKEN"] = spec["token"]
    org = Organization(id=spec["org"], name=spec["org"], base_url=spec["base_url"],
                       credential_env="HARVEY_BENCH_TOKEN", rate_limit_per_second=100000)
    adapter = adapter_for(org)
    engine = adapter.engine()
    n = 0
    started = time.perf_counter()
    for page in adapter.fetch(engine, spec.get("entity", "employees"), None, PagingState()):
        n += len(page)
    seconds = time.perf_counter() - started
    calls = engine.api_calls
    engine.close()
    return {**imports, "records": n, "seconds": seconds, "api_calls": calls}


LOADERS = {"fetch": run_fetch, "harvey": run_harvey, "rbr": run_rbr, "dlt": run_dlt, "dlt_default": run_dlt}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(argv[0])
    out = LOADERS[spec["loader"]](spec)
    out["maxrss_mb"] = _maxrss_mb()
    out["children_maxrss_mb"] = _maxrss_mb(resource.RUSAGE_CHILDREN)
    out["rss_end_mb"] = _rss_mb()
    sys.stdout.flush()
    print("BENCH_RESULT " + json.dumps(out, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
