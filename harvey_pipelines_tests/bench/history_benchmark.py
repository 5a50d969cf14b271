"""The effective-dated vendors' benchmark (issue 12): Employes.nl, Workday and SAP
SuccessFactors, each a full sync of a company with up to five years of job, pay and contract
history and an incremental after ``--change`` of the workers changed. Run through
``vendor_benchmark`` (``--vendors employes,workday,successfactors``), which lends it its
warehouses, results file and summary.

Each size of ``--sizes`` runs in a fresh Python process of its own (the sync), so the peaks of
the resident set (``ru_maxrss``) compare across sizes; the mock answers from another process
(started by that one), so its memory, its JSON rendering and its share of the GIL are not the
sync's. Every rate limit is lifted (the mock's, and the adapter's through the Organization's
``rate_limit_per_second``): the numbers are our code's; the time a vendor's limit implies is
its calls / the limit, reported beside them.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import random
import resource
import subprocess
import sys
import time
import tracemalloc
from multiprocessing.connection import Connection
from pathlib import Path

from harvey_pipelines_tests.bench.dbt_benchmark import log

UNLIMITED = 1_000_000  # requests per second: no limiter, the mock's or the adapter's, holds a sync up
ENTITIES = {"employes": ("employees", "employments"), "workday": ("employees", "employments", "leave_requests"),
            "successfactors": ("employees", "employments")}
# the ceiling that bounds a sync at the vendor: (requests per second, where the number comes from)
CEILINGS = {"employes": (5.0, "Employes.nl's published 5 requests/s per token"),
            "workday": (10.0, "none published; the adapter's own 10/s"),
            "successfactors": (50.0, "none published (SAP throttles dynamically); the adapter's default 50/s")}
# ids in the change plan: how the 1 % is split over the kinds of change each vendor can make
PLANS = {
    "employes": {"raise_past": 0.25, "raise_future_dated": 0.15, "backdated_correction": 0.15, "hours_change": 0.15,
                 "termination": 0.15, "hire": 0.15},
    "workday": {"raise_past": 0.2, "raise_future_dated": 0.15, "backdated_correction": 0.15,
                "title_department": 0.15, "termination": 0.1, "hire": 0.1, "leave": 0.15},
    "successfactors": {"raise_past": 0.2, "raise_future_dated": 0.15, "backdated_correction": 0.15,
                       "title_change": 0.15, "termination": 0.1, "hire": 0.1, "rename": 0.15},
}


# ------------------------------------------------------------------------ the mock's process
def _mock_process(vendor: str, size: int, seed: int, conn: Connection) -> None:
    """Builds the vendor's mock company and serves it until told to stop; answers commands:
    ("calls",) -> requests received so far; ("change", share, seed) -> {kind: count}."""
    started = time.perf_counter()
    if vendor == "employes":
        from harvey_pipelines.mock_hrms.employes import EmployesMock

        mock = EmployesMock(rate_limit=UNLIMITED).__enter__()
        company = mock.company("be0c4a11-0000-4000-8000-000000010000", "bench-employes-token-5e1f", size=size,
                               seed=seed)
        secrets = {"HARVEY_BENCH_EMPLOYES_TOKEN": company.token}
        setup = {"base_url": company.url, "timezone": "Europe/Amsterdam",
                 "credential_env": "HARVEY_BENCH_EMPLOYES_TOKEN"}
        rows = sum(len(w.periods) for w in company.workers.values())
    elif vendor == "workday":
        from harvey_pipelines.mock_hrms.workday import CHANGED_SINCE_PROMPT, REPORT_OWNER, ZONE, WorkdayMock

        mock = WorkdayMock().__enter__()
        company = mock.tenant("benchco", size=size, seed=seed)
        names = ("client_id", "client_secret", "refresh_token", "report_user", "report_password")
        env = {name: f"HARVEY_BENCH_WORKDAY_{name.upper()}" for name in names}
        secrets = {env[name]: getattr(company, name) for name in names}
        setup = {"base_url": company.url, "timezone": ZONE, "credential_env": env,
                 "options": {"tenant": company.name, "report_owner": REPORT_OWNER,
                             "changed_since_prompt": CHANGED_SINCE_PROMPT}}
        rows = sum(len(w.jobs) for w in company.workers.values())
    else:
        from harvey_pipelines.mock_hrms.successfactors import SuccessFactorsMock

        mock = SuccessFactorsMock(rate_limit=UNLIMITED).__enter__()
        company = mock.company("BENCHCO", "harveyapi", "bench-sf-password-9a7c", size=size, seed=seed)
        secrets = {"HARVEY_BENCH_SF_PASSWORD": company.password}
        setup = {"base_url": company.url, "timezone": "Europe/Berlin", "credential_env": "HARVEY_BENCH_SF_PASSWORD",
                 "options": {"username": company.user, "company_id": company.id}}
        rows = sum(len(w.jobs) + len(w.pays) for w in company.workers.values())
    conn.send({"setup": setup, "secrets": secrets, "workers": len(company.workers), "history_rows": rows,
               "generated_seconds": round(time.perf_counter() - started, 2)})
    try:
        while True:
            command = conn.recv()
            if command[0] == "stop":
                break
            with mock.lock:
                if command[0] == "calls":
                    conn.send(len(mock.calls))
                else:
                    conn.send(CHANGES[vendor](company, command[1], random.Random(command[2])))
    finally:
        mock.__exit__(None, None, None)


def _plan(vendor: str, workers: int, share: float) -> dict[str, int]:
    total = max(len(PLANS[vendor]), round(workers * share))
    return {kind: max(1, round(total * part)) for kind, part in PLANS[vendor].items()}


def change_employes(company, share: float, rng: random.Random) -> dict[str, int]:
    """About ``share`` of the workers changed as a payroll changes them: {kind: count}."""
    counts = _plan("employes", len(company.workers), share)
    today = company.today
    staying = sorted((w for w in company.workers.values() if w.end is None), key=lambda w: w.number)
    it = iter(rng.sample(staying, min(len(staying), sum(counts.values()))))
    for _ in range(counts["raise_past"]):
        w = next(it)
        day = max(today - dt.timedelta(5), w.periods[-1].start + dt.timedelta(1))
        company.change(w.id, day, month_wage=company.wage_at(w, day) + 125)
    for _ in range(counts["raise_future_dated"]):
        w = next(it)
        day = max(today + dt.timedelta(14), w.periods[-1].start + dt.timedelta(1))
        company.change(w.id, day, month_wage=company.wage_at(w, day) + 200)
    for _ in range(counts["backdated_correction"]):
        w = next(it)  # the first period's wage was entered wrong
        company.change(w.id, w.periods[0].start, month_wage=w.periods[0].month_wage + 50)
    for _ in range(counts["hours_change"]):
        w = next(it)
        day = max(today - dt.timedelta(3), w.periods[-1].start + dt.timedelta(1))
        company.change(w.id, day, hours=20.0 if w.holding(day).hours != 20.0 else 36.0)
    for _ in range(counts["termination"]):
        w = next(it)
        company.terminate(w.id, max(today - dt.timedelta(1), w.periods[-1].start))
    for _ in range(counts["hire"]):
        company.hire(today - dt.timedelta(2))
    return counts


def change_workday(tenant, share: float, rng: random.Random) -> dict[str, int]:
    counts = _plan("workday", len(tenant.workers), share)
    today = tenant.today
    staying = sorted((w for w in tenant.workers.values() if w.end is None), key=lambda w: w.number)
    it = iter(rng.sample(staying, min(len(staying), sum(counts.values()))))
    for _ in range(counts["raise_past"]):
        w = next(it)
        day = max(today - dt.timedelta(5), w.jobs[-1].start + dt.timedelta(1))
        tenant.change(w.id, day, pay=w.holding(day).pay + 2500)
    for _ in range(counts["raise_future_dated"]):
        w = next(it)
        day = max(today + dt.timedelta(14), w.jobs[-1].start + dt.timedelta(1))
        tenant.change(w.id, day, pay=w.holding(day).pay + 4000)
    for _ in range(counts["backdated_correction"]):
        w = next(it)
        tenant.change(w.id, w.jobs[0].start, pay=w.jobs[0].pay + 1000)
    for _ in range(counts["title_department"]):
        w = next(it)
        day = max(today - dt.timedelta(7), w.jobs[-1].start + dt.timedelta(1))
        tenant.change(w.id, day, title="Team Lead", department="Support")
    for _ in range(counts["termination"]):
        w = next(it)
        tenant.terminate(w.id, max(today - dt.timedelta(1), w.jobs[-1].start))
    for _ in range(counts["hire"]):
        tenant.hire(today - dt.timedelta(2))
    for _ in range(counts["leave"]):
        tenant.take_leave(next(it).id, today - dt.timedelta(3), 2)
    return counts


def change_successfactors(company, share: float, rng: random.Random) -> dict[str, int]:
    counts = _plan("successfactors", len(company.workers), share)
    today = company.today
    staying = sorted((w for w in company.workers.values() if w.end is None), key=lambda w: w.user_id)
    it = iter(rng.sample(staying, min(len(staying), sum(counts.values()))))
    for _ in range(counts["raise_past"]):
        w = next(it)
        day = max(today - dt.timedelta(5), w.pays[-1].start + dt.timedelta(1), w.jobs[-1].start + dt.timedelta(1))
        company.raise_pay(w.user_id, day, w.pays[-1].amount + 2500)
    for _ in range(counts["raise_future_dated"]):
        w = next(it)
        day = max(today + dt.timedelta(14), w.pays[-1].start + dt.timedelta(1))
        company.raise_pay(w.user_id, day, w.pays[-1].amount + 4000)
    for _ in range(counts["backdated_correction"]):
        w = next(it)
        company.raise_pay(w.user_id, w.pays[0].start, w.pays[0].amount + 1000)
    for _ in range(counts["title_change"]):
        w = next(it)
        day = max(today - dt.timedelta(7), w.jobs[-1].start + dt.timedelta(1))
        company.change_job(w.user_id, day, title="Team Lead")
    for _ in range(counts["termination"]):
        w = next(it)
        company.terminate(w.user_id, max(today - dt.timedelta(1), w.jobs[-1].start, w.pays[-1].start))
    for _ in range(counts["hire"]):
        company.hire(today - dt.timedelta(2))
    for _ in range(counts["rename"]):
        w = next(it)
        company.rename(w.user_id, today - dt.timedelta(1), w.last_name + "-Neu")
    return counts


CHANGES = {"employes": change_employes, "workday": change_workday, "successfactors": change_successfactors}


# ------------------------------------------------------------------------- the sync's process
def _rss_mib() -> float:
    """The peak resident set of this process so far (Linux reports KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _sync(org, entities, warehouse, mode: str, mock: Connection) -> dict:
    from harvey_pipelines.sync import SyncFailed, sync_entity

    runs = {}
    for entity in entities:
        mock.send(("calls",))
        before, started = mock.recv(), time.perf_counter()
        try:
            result = sync_entity(org, entity, warehouse, mode=mode)
        except SyncFailed as exc:
            result = exc.result
        wall = time.perf_counter() - started
        mock.send(("calls",))
        calls = mock.recv() - before
        runs[entity] = {"status": result.status, "wall_seconds": round(wall, 2), "fetched": result.fetched,
                        "inserted": result.inserted, "updated": result.updated, "unchanged": result.unchanged,
                        "deleted": result.deleted, "quarantined": result.quarantined, "calls": calls,
                        "engine_api_calls": result.api_calls, "rows_per_second": round(result.fetched / wall, 1),
                        "peak_rss_mib": _rss_mib(), "error": result.error}
        if tracemalloc.is_tracing():  # the peak of Python's own allocations in this entity's sync
            runs[entity]["python_peak_mib"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
            tracemalloc.reset_peak()
        r = runs[entity]
        log(f"  {mode} {entity}: {r['status']}, {r['fetched']:,} rows in {r['wall_seconds']} s, "
            f"{r['inserted'] + r['updated']:,} written, {calls:,} calls, peak RSS {r['peak_rss_mib']} MiB")
    wall = sum(r["wall_seconds"] for r in runs.values())
    fetched = sum(r["fetched"] for r in runs.values())
    runs["total"] = {"status": "success" if all(r["status"] == "success" for r in runs.values()) else "failed",
                     "wall_seconds": round(wall, 2), "fetched": fetched,
                     "written": sum(r["inserted"] + r["updated"] + r["deleted"] for r in runs.values()),
                     "calls": sum(r["calls"] for r in runs.values()),
                     "rows_per_second": round(fetched / wall, 1) if wall else None, "peak_rss_mib": _rss_mib()}
    return runs


def run_size(vendor: str, size: int, url: str, workdir: Path, share: float, trace: bool = False) -> dict:
    """One size of one vendor, in this (fresh) process: the mock in a process of its own.
    ``trace``: tracemalloc on during the syncs (slower), for the peak of Python's allocations."""
    from harvey_pipelines.organizations import Organization
    from harvey_pipelines.warehouse import Warehouse

    os.environ["HARVEY_DATA_DIR"] = str(workdir / "data")  # the rate limiter's buckets
    ours, theirs = multiprocessing.Pipe()
    process = multiprocessing.get_context("spawn").Process(target=_mock_process, args=(vendor, size, 7, theirs),
                                                           daemon=True)
    process.start()
    try:
        made = ours.recv()
        os.environ.update(made["secrets"])
        setup = made["setup"]
        org = Organization(id=f"bench-{vendor}-{size}", name=f"bench-{vendor}", hrms_type=vendor,
                           rate_limit_per_second=UNLIMITED, **setup)
        warehouse = Warehouse(url)
        warehouse.migrate()
        baseline = _rss_mib()
        if trace:
            tracemalloc.start()
        log(f"{vendor} {size:,}: {made['workers']:,} workers, {made['history_rows']:,} history rows (generated in "
            f"{made['generated_seconds']} s); baseline RSS {baseline} MiB; full sync")
        full = _sync(org, ENTITIES[vendor], warehouse, "full", ours)
        ours.send(("change", share, 11))
        changes = ours.recv()
        log(f"{vendor} {size:,}: {sum(changes.values())} changed workers {changes}; incremental sync")
        incremental = _sync(org, ENTITIES[vendor], warehouse, "incremental", ours)
        warehouse.dispose()
        ours.send(("stop",))
        process.join(30)
    finally:
        if process.is_alive():
            process.kill()
    ceiling, limit = CEILINGS[vendor]
    changed = sum(changes.values())
    return {"vendor": vendor, "workers": size, "mock": {k: made[k] for k in ("workers", "history_rows",
                                                                              "generated_seconds")},
            "baseline_rss_mib": baseline, "full": full, "changes": changes, "changed_records": changed,
            "incremental": incremental, "ceiling_per_second": ceiling, "rate_limit": limit,
            "full_seconds_at_ceiling": round(full["total"]["calls"] / ceiling, 1),
            "incremental_seconds_at_ceiling": round(incremental["total"]["calls"] / ceiling, 1),
            "incremental_calls_per_change": round(incremental["total"]["calls"] / changed, 2)}


def run_effective_dated(vendor: str, args, url: str, workdir: Path) -> dict:
    """Every size of ``--sizes`` (largest last) in a fresh process; the largest's numbers are the
    vendor's, the others' peaks stand beside its peak."""
    sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()} | {args.workers})
    per_size = []
    for size in sizes:
        place = workdir / f"{vendor}-{size}"
        place.mkdir(exist_ok=True)
        # DuckDB: a file per size; PostgreSQL: the sizes share the database, an organization each
        target = url.replace("warehouse.duckdb", f"warehouse-{size}.duckdb")
        command = [sys.executable, "-m", __name__, vendor, str(size), target, str(place), str(args.change)]
        done = subprocess.run(command + ["trace"] * args.tracemalloc, stdout=subprocess.PIPE, check=True)
        per_size.append(json.loads(done.stdout.decode().strip().splitlines()[-1]))
    largest = per_size[-1]
    return {**largest, "size": {"workers": largest["workers"], **largest["mock"]},
            "peaks_by_size": [{"workers": r["workers"], "history_rows": r["mock"]["history_rows"],
                               "baseline_rss_mib": r["baseline_rss_mib"],
                               "full_peak_rss_mib": r["full"]["total"]["peak_rss_mib"],
                               "incremental_peak_rss_mib": r["incremental"]["total"]["peak_rss_mib"],
                               "full_wall_seconds": r["full"]["total"]["wall_seconds"],
                               "python_peak_mib": max((e.get("python_peak_mib", 0) for mode in ("full", "incremental")
                                                       for e in r[mode].values()), default=0) or None}
                              for r in per_size]}


def summary(run: dict) -> list[str]:
    lines = [f"### {run['vendor']} on {run['warehouse']}: {run['size']}",
             f"rate limits lifted (mock and adapter); the vendor's ceiling: {run['rate_limit']}, so a full sync's "
             f"calls take {run['full_seconds_at_ceiling']:,} s there, the incremental's "
             f"{run['incremental_seconds_at_ceiling']:,} s; changed workers: {run['changed_records']} "
             f"{run['changes']}; incremental calls per changed worker: {run['incremental_calls_per_change']}", "",
             "| sync | entity | wall s | rows fetched | rows/s | written | API calls | peak RSS MiB |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for mode in ("full", "incremental"):
        for entity, r in run[mode].items():
            written = r.get("written", r.get("inserted", 0) + r.get("updated", 0) + r.get("deleted", 0))
            failed = " (failed)" if r.get("status", "success") != "success" else ""
            lines.append(f"| {mode} | {entity}{failed} | {r['wall_seconds']:,.1f} | {r['fetched']:,} | "
                         f"{r['rows_per_second'] or 0:,.0f} | {written:,} | {r['calls']:,} | {r['peak_rss_mib']} |")
    lines += ["", "| workers | history rows | RSS before sync MiB | peak full MiB | peak after incremental MiB | "
              "Python's peak MiB (tracemalloc) | full wall s |", "|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {p['workers']:,} | {p['history_rows']:,} | {p['baseline_rss_mib']} | {p['full_peak_rss_mib']} | "
              f"{p['incremental_peak_rss_mib']} | {p.get('python_peak_mib') or '-'} | {p['full_wall_seconds']:,.1f} |"
              for p in run["peaks_by_size"]]
    return [*lines, ""]


if __name__ == "__main__":
    vendor, size, url, place, share = sys.argv[1:6]
    print(json.dumps(run_size(vendor, int(size), url, Path(place), float(share), "trace" in sys.argv[6:]),
                     default=str))
