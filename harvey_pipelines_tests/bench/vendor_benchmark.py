"""The vendor sync benchmark (issue 11): full and incremental sync of a BambooHR company and a
Greenhouse organization against their mocks, at the rate limit the adapter keeps; and (issue 12)
of the effective-dated vendors, Employes.nl, Workday and SAP SuccessFactors
(``history_benchmark``: rate limits lifted, each size in a process of its own).

    python -m harvey_pipelines_tests.bench.vendor_benchmark [--vendors bamboohr,greenhouse]
        [--employees 10000] [--candidates 20000] [--jobs 100] [--change 0.01] [--warehouses duckdb]
    python -m harvey_pipelines_tests.bench.vendor_benchmark --vendors employes,workday,successfactors
        [--workers 10000] [--sizes 2500,5000] [--change 0.01] [--warehouses duckdb]

Per vendor and warehouse: a fresh warehouse, the mock at the given size on loopback (in this
process, as the tests run it), a full sync of every entity the vendor serves, then a change of
``--change`` of the records (Greenhouse: candidate-only, application-only (the candidate's
``updated_at`` does not move), interview and job changes, new candidates; BambooHR: employee
fields, raises in the past and future-dated ones, terminations, hires, leave status changes)
and an incremental sync. Per entity: wall time, rows/s, API calls as the mock saw them (429s
apart), calls per change, and the request rate against the ceiling:

- Greenhouse: 50 requests per 10 s per credential, enforced by the mock (429 + Retry-After);
- BambooHR: publishes no number and its mock enforces none; the ceiling is the adapter's own
  ``rate_limit_per_second`` (10/s).

``ratio`` is the mean rate over the entity's wall time / the ceiling; ``peak`` the most calls
admitted in any 10 s window / the ceiling's 10 s allowance. Prints a markdown summary and
writes .bench/vendors-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import sys
import threading
import time
from bisect import bisect_right
from functools import partial
from pathlib import Path

from harvey_pipelines_tests.bench.dbt_benchmark import fresh_warehouse, log, new_results
from harvey_pipelines_tests.bench.history_benchmark import ENTITIES as ENTITIES_OF_HISTORY_VENDORS
from harvey_pipelines_tests.bench.history_benchmark import run_effective_dated

WINDOW = 10.0  # seconds of the peak window (Greenhouse counts its limit over 10 s)
ZONE = "America/Denver"
BAMBOOHR_ENTITIES = ("employees", "departments", "employments", "leave_requests", "leave_balances")
GREENHOUSE_ENTITIES = ("job_requisitions", "candidates", "interviews")


class Calls:
    """Every request the mock received: (monotonic time, admitted) in arrival order."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, bool]] = []
        self.lock = threading.Lock()

    def add(self, admitted: bool) -> None:
        with self.lock:
            self.seen.append((time.monotonic(), admitted))

    def between(self, start: int, end: int) -> dict:
        span = self.seen[start:end]
        admitted = [t for t, ok in span if ok]
        peak = max((bisect_right(admitted, t + WINDOW) - i for i, t in enumerate(admitted)), default=0)
        return {"calls": len(span), "admitted": len(admitted), "rejected_429": len(span) - len(admitted),
                "peak_calls_10s": peak}


def _entity_run(result, calls: Calls, mark: int, started: float, ceiling: float) -> dict:
    wall = time.perf_counter() - started
    seen = calls.between(mark, len(calls.seen))
    written = result.inserted + result.updated
    return {
        "status": result.status, "wall_seconds": round(wall, 2), "fetched": result.fetched,
        "inserted": result.inserted, "updated": result.updated, "unchanged": result.unchanged,
        "deleted": result.deleted, "quarantined": result.quarantined, "engine_api_calls": result.api_calls,
        "engine_retries": result.retries, **seen,
        "rows_per_second": round(result.fetched / wall, 1) if wall else None,
        "written_per_second": round(written / wall, 1) if wall else None,
        "rate_per_second": round(seen["admitted"] / wall, 2) if wall else None,
        "ratio": round(seen["admitted"] / wall / ceiling, 3) if wall else None,
        "peak_ratio": round(seen["peak_calls_10s"] / (ceiling * WINDOW), 3),
        "error": result.error,
    }


def _sync_all(org, entities, warehouse, mode: str, calls: Calls, ceiling: float) -> dict:
    from harvey_pipelines.sync import SyncFailed, sync_entity

    runs = {}
    for entity in entities:
        mark, started = len(calls.seen), time.perf_counter()
        try:
            result = sync_entity(org, entity, warehouse, mode=mode)
        except SyncFailed as exc:
            result = exc.result
        runs[entity] = _entity_run(result, calls, mark, started, ceiling)
        r = runs[entity]
        log(f"  {mode} {entity}: {r['status']}, {r['fetched']:,} rows in {r['wall_seconds']} s, "
            f"{r['admitted']} calls ({r['rejected_429']} x 429), {r['rate_per_second']}/s = {r['ratio']} of the "
            f"ceiling, peak {r['peak_ratio']}")
    marks = [(r["wall_seconds"], r["admitted"], r["calls"], r["fetched"]) for r in runs.values()]
    wall, admitted = sum(m[0] for m in marks), sum(m[1] for m in marks)
    runs["total"] = {"wall_seconds": round(wall, 2), "admitted": admitted, "calls": sum(m[2] for m in marks),
                     "rejected_429": sum(r["rejected_429"] for r in runs.values()),
                     "fetched": sum(m[3] for m in marks),
                     "written": sum(r["inserted"] + r["updated"] for r in runs.values()),
                     "rows_per_second": round(sum(m[3] for m in marks) / wall, 1) if wall else None,
                     "rate_per_second": round(admitted / wall, 2) if wall else None,
                     "ratio": round(admitted / wall / ceiling, 3) if wall else None,
                     "peak_ratio": max(r["peak_ratio"] for r in runs.values())}
    return runs


# ---------------------------------------------------------------------------------- BambooHR
def change_bamboohr(company, share: float, rng: random.Random) -> dict[str, int]:
    """About ``share`` of the employees changed, in the ways BambooHR changes: {kind: count}."""
    from harvey_pipelines.mock_hrms.bamboohr import Version

    total = max(10, round(len(company.employees) * share))
    active = sorted((e for e in company.employees.values() if e.termination is None), key=lambda e: int(e.id))
    picked = rng.sample(active, min(len(active), total))
    plan = {"employee_fields": 0.3, "raise_past": 0.2, "raise_future_dated": 0.15, "termination": 0.1,
            "hire": 0.1, "leave_status": 0.15}
    counts = {kind: max(1, round(total * part)) for kind, part in plan.items()}
    today = company.today
    it = iter(picked)
    for _ in range(counts["employee_fields"]):
        e = next(it)
        company.update_employee(e.id, last_name=e.last_name + "-Moved", email="moved." + e.email)
    for _ in range(counts["raise_past"]):
        e = next(it)
        company.add_version(e.id, max(today - dt.timedelta(5), e.versions[-1].start + dt.timedelta(1)),
                            salary=e.versions[-1].salary + 2500)
    for _ in range(counts["raise_future_dated"]):
        e = next(it)
        company.add_version(e.id, max(today + dt.timedelta(14), e.versions[-1].start + dt.timedelta(1)),
                            salary=e.versions[-1].salary + 4000)
    for _ in range(counts["termination"]):
        company.terminate(next(it).id, today - dt.timedelta(1))
    for n in range(counts["hire"]):
        company.hire(f"New{n}", f"Hire{n}", Version(today - dt.timedelta(2), "Engineer", "Engineering", "Remote",
                                                     90_000.0, "USD", "Year", "Full-Time"))
    # a status change of leave in the lookback window: no feed names it
    recent = sorted((r for r in company.requests.values() if r.status == "requested"
                     and r.start >= today - dt.timedelta(60)), key=lambda r: int(r.id))
    for request in rng.sample(recent, min(len(recent), counts["leave_status"])):
        company.set_leave_status(request.id, "approved")
    return counts


def run_bamboohr(args, url: str, workdir: Path) -> dict:
    from harvey_pipelines.mock_hrms.bamboohr import BambooHrMock
    from harvey_pipelines.organizations import Organization
    from harvey_pipelines.sources.bamboohr import BambooHrAdapter
    from harvey_pipelines.warehouse import Warehouse

    ceiling = BambooHrAdapter.rate_limit_per_second
    calls = Calls()
    os.environ["HARVEY_BENCH_BAMBOOHR_KEY"] = key = "bench-bamboohr-key-0c1d"
    with BambooHrMock() as mock:
        started = time.perf_counter()
        company = mock.company("benchco", key, size=args.employees, seed=7, timezone=ZONE)
        generated = round(time.perf_counter() - started, 1)
        handle = mock.handle

        def counted(method, path, query, headers, body):
            answer = handle(method, path, query, headers, body)
            calls.add(answer[0] != 429)
            return answer

        mock.handle = counted  # type: ignore[method-assign]
        org = Organization(id=f"bench-bamboohr-{os.getpid()}", name="benchco", hrms_type="bamboohr",
                           base_url=mock.base_url("benchco"), credential_env="HARVEY_BENCH_BAMBOOHR_KEY",
                           timezone=ZONE)
        warehouse = Warehouse(url)
        warehouse.migrate()
        size = {"employees": len(company.employees), "leave_requests": len(company.requests),
                "generated_seconds": generated}
        log(f"bamboohr: {size['employees']:,} employees, {size['leave_requests']:,} leave requests; full sync")
        full = _sync_all(org, BAMBOOHR_ENTITIES, warehouse, "full", calls, ceiling)
        changes = change_bamboohr(company, args.change, random.Random(11))
        log(f"bamboohr: {sum(changes.values())} changes {changes}; incremental sync")
        incremental = _sync_all(org, BAMBOOHR_ENTITIES, warehouse, "incremental", calls, ceiling)
        warehouse.dispose()
    return _vendor_result("bamboohr", size, ceiling, "none published; the mock enforces none: the adapter's own "
                          f"{ceiling:g}/s", full, changes, incremental)


# -------------------------------------------------------------------------------- Greenhouse
def change_greenhouse(gh, share: float, rng: random.Random) -> dict[str, int]:
    """About ``share`` of the candidates changed, in the ways Greenhouse changes: {kind: count}."""
    total = max(10, round(len(gh.data["candidates"]) * share))
    plan = {"candidate_only": 0.3, "application_only": 0.35, "interview": 0.15, "interviewer": 0.05,
            "new_candidate": 0.1, "job": 0.05}
    counts = {kind: max(1, round(total * part)) for kind, part in plan.items()}
    for cid in rng.sample(sorted(gh.data["candidates"]), counts["candidate_only"]):
        gh.change("candidates", cid, last_name=gh.data["candidates"][cid]["last_name"] + "-Changed")
    for app_id in rng.sample(sorted(gh.data["applications"]), counts["application_only"]):
        app = gh.data["applications"][app_id]
        stages = [s["id"] for s in gh.stages_of(app["job_id"]) if s["id"] != app["stage_id"]]
        gh.change("applications", app_id, stage_id=rng.choice(stages))
    for iid in rng.sample(sorted(gh.data["interviews"]), counts["interview"]):
        gh.change("interviews", iid, status="complete")
    for rid in rng.sample(sorted(gh.data["interviewers"]), counts["interviewer"]):
        gh.change("interviewers", rid, response_status="accepted")
    for _ in range(counts["new_candidate"]):
        gh.add_candidate()
    for jid in rng.sample(sorted(gh.data["jobs"]), min(counts["job"], len(gh.data["jobs"]))):
        gh.change("jobs", jid, status="closed")
    return counts


def run_greenhouse(args, url: str, workdir: Path) -> dict:
    from harvey_pipelines.mock_hrms.greenhouse import GreenhouseMock
    from harvey_pipelines.organizations import Organization
    from harvey_pipelines.sources.greenhouse import GreenhouseHarvestAdapter
    from harvey_pipelines.warehouse import Warehouse

    ceiling = GreenhouseHarvestAdapter.rate_limit_per_second
    calls = Calls()
    os.environ["HARVEY_BENCH_GH_CLIENT_ID"] = client_id = "bench-gh-client"
    os.environ["HARVEY_BENCH_GH_CLIENT_SECRET"] = secret = "bench-gh-s3cret-77"
    started = time.perf_counter()
    mock = GreenhouseMock(candidates=args.candidates, jobs=args.jobs, seed=5, client_id=client_id,
                          client_secret=secret, rate_limit=50, rate_window=10.0)
    generated = round(time.perf_counter() - started, 1)
    admit = mock._admit

    def counted(authorization):
        try:
            admit(authorization)
        except Exception as exc:
            calls.add(getattr(exc, "status", None) != 429)
            raise
        calls.add(True)

    mock._admit = counted  # type: ignore[method-assign]
    with mock as gh:
        org = Organization(id=f"bench-greenhouse-{os.getpid()}", name="bench", hrms_type="greenhouse",
                           base_url=gh.url, credential_env={"client_id": "HARVEY_BENCH_GH_CLIENT_ID",
                                                            "client_secret": "HARVEY_BENCH_GH_CLIENT_SECRET"})
        warehouse = Warehouse(url)
        warehouse.migrate()
        size = {resource: len(records) for resource, records in gh.data.items()} | {"generated_seconds": generated}
        log(f"greenhouse: {size}; full sync")
        full = _sync_all(org, GREENHOUSE_ENTITIES, warehouse, "full", calls, ceiling)
        changes = change_greenhouse(gh, args.change, random.Random(13))
        log(f"greenhouse: {sum(changes.values())} changes {changes}; incremental sync")
        incremental = _sync_all(org, GREENHOUSE_ENTITIES, warehouse, "incremental", calls, ceiling)
        size["token_requests"] = gh.token_requests
        warehouse.dispose()
    return _vendor_result("greenhouse", size, ceiling, "50 requests per 10 s per credential, enforced by the mock",
                          full, changes, incremental)


def _vendor_result(vendor, size, ceiling, limit, full, changes, incremental) -> dict:
    changed = sum(changes.values())
    return {"vendor": vendor, "size": size, "ceiling_per_second": ceiling, "rate_limit": limit, "full": full,
            "changes": changes, "changed_records": changed, "incremental": incremental,
            "incremental_calls_per_change": round(incremental["total"]["admitted"] / changed, 2)}


# ---------------------------------------------------------------------------------- summary
def summary(results: dict) -> str:
    from harvey_pipelines_tests.bench import history_benchmark

    lines = []
    for run in results["runs"]:
        if "peaks_by_size" in run:
            lines += history_benchmark.summary(run)
            continue
        lines += [f"### {run['vendor']} on {run['warehouse']}: {run['size']}",
                  f"rate limit: {run['rate_limit']}; ceiling {run['ceiling_per_second']:g} requests/s; "
                  f"changes: {run['changed_records']} {run['changes']}; incremental calls per change: "
                  f"{run['incremental_calls_per_change']}", "",
                  "| sync | entity | wall s | rows fetched | rows/s | written | API calls | 429s | calls/s "
                  "| ratio | peak 10 s ratio |", "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for mode in ("full", "incremental"):
            for entity, r in run[mode].items():
                written = r.get("written", r.get("inserted", 0) + r.get("updated", 0))
                failed = " (failed)" if r.get("status", "success") != "success" else ""
                lines.append(f"| {mode} | {entity}{failed} | {r['wall_seconds']:,.1f} | {r['fetched']:,} | "
                             f"{r['rows_per_second'] or 0:,.0f} | {written:,} | {r['admitted']:,} | "
                             f"{r['rejected_429']} | {r['rate_per_second']} | {r['ratio']} | {r['peak_ratio']} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m harvey_pipelines_tests.bench.vendor_benchmark",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--vendors", default="bamboohr,greenhouse")
    p.add_argument("--employees", type=int, default=10_000, help="BambooHR company size (default 10000)")
    p.add_argument("--candidates", type=int, default=20_000, help="Greenhouse candidates (default 20000)")
    p.add_argument("--jobs", type=int, default=100, help="Greenhouse jobs (default 100)")
    p.add_argument("--workers", type=int, default=10_000, help="Employes/Workday/SuccessFactors company size "
                   "(default 10000)")
    p.add_argument("--sizes", default="2500,5000", help="smaller sizes whose peak memory stands beside --workers' "
                   "(default 2500,5000)")
    p.add_argument("--tracemalloc", action="store_true", help="Employes/Workday/SuccessFactors: trace Python's "
                   "allocations for their peak (slower)")
    p.add_argument("--change", type=float, default=0.01, help="share of records changed before the incremental")
    p.add_argument("--warehouses", default="duckdb", help="duckdb,postgres (default duckdb)")
    a = p.parse_args(sys.argv[1:] if argv is None else argv)
    warehouses = [w.strip() for w in a.warehouses.split(",") if w.strip()]
    results, path, workdir = new_results("vendors", a, warehouses)
    # the rate limiter's buckets (a SQLite file by default) in a place of their own
    os.environ["HARVEY_DATA_DIR"] = str(workdir / "data")
    runners = {"bamboohr": run_bamboohr, "greenhouse": run_greenhouse,
               **{vendor: partial(run_effective_dated, vendor) for vendor in ENTITIES_OF_HISTORY_VENDORS}}
    try:
        for kind in warehouses:
            for vendor in [v.strip() for v in a.vendors.split(",") if v.strip()]:
                place = workdir / f"{kind}-{vendor}"
                place.mkdir()
                with fresh_warehouse(kind, place) as url:
                    results["runs"].append({"warehouse": kind, **runners[vendor](a, url, place)})
                path.write_text(json_dump(results))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        path.write_text(json_dump(results))
    print(summary(results))
    log(f"raw results: {path}")
    failed = [r for run in results["runs"] for mode in ("full", "incremental") for e, r in run[mode].items()
              if e != "total" and r["status"] != "success"]
    return 1 if failed else 0


def json_dump(value) -> str:
    import json

    return json.dumps(value, indent=1, default=str)


if __name__ == "__main__":
    sys.exit(main())
