"""The sync benchmark: harvey's sync against a row-by-row loader and dlt, over HTTP on loopback.

    python -m harvey_pipelines_tests.bench.sync_benchmark [--employees 100000] [--runs 3]
        [--warehouses duckdb,postgres] [--phases full,incremental,memory,entities] [--quick]

One mock HRMS subprocess serves every tenant. Each measured load runs in its own fresh
subprocess (``harvey_pipelines_tests.bench.loaders``) into a fresh DuckDB file or a fresh
PostgreSQL database, so its peak RSS is its own. Phases:

- ``full``: full sync of ``employees`` by harvey, the row-by-row ``update_or_create`` loader
  of the design documents and dlt's ``rest_api`` merge load (``dlt``: parquet load files,
  ``dlt_default``: dlt's default insert_values), plus ``fetch``, the HTTP floor (harvey's
  client walking the endpoint, no database); runs interleaved (run 1 of every loader, then
  run 2...) so that drifting machine noise hits all loaders alike.
- ``incremental``: on a separate tenant, per run: fresh warehouse, harvey full sync,
  ``advance(24 h, change_fraction=0.01)``, harvey incremental sync; each run advances the same
  tenant once more (so each run's incremental sees one fresh 1 % batch of changes).
- ``memory``: peak RSS of harvey's full sync at several organization sizes (the size of the
  ``full`` phase is taken from it).
- ``entities``: harvey full sync of every entity, in dependency order, into one warehouse.

Prints a markdown summary and writes the raw results to ``.bench/results-<timestamp>.json``.
``--summarize FILE`` prints the summary of an earlier results file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import httpx
import sqlalchemy as sa

from harvey_pipelines.mock_hrms import DEFAULT_TOKEN, MockHrmsControl
from harvey_pipelines.records import ENTITIES

ROOT = Path(__file__).resolve().parents[2]
PG_SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"
LOADER_NAMES = {"fetch": "fetch only (HTTP floor: harvey's client, no validation, no database)",
                "harvey": "harvey sync_entity (full)", "rbr": "row-by-row update_or_create",
                "dlt": "dlt rest_api merge, parquet", "dlt_default": "dlt rest_api merge, default (insert_values)"}
# dlt's loader_file_format per dlt loader: parquet is one documented option (pyarrow is installed);
# dlt's default for DuckDB and PostgreSQL is insert_values (SQL INSERT text)
DLT_FORMATS = {"dlt": "parquet", "dlt_default": None}
TARGETS = {"rbr": 10.0, "dlt": 2.0, "dlt_default": 2.0, "incr_calls": 0.02, "incr_time": 0.05, "memory_growth": 0.20}


def log(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------- mock HRMS
class MockServer:
    def __init__(self, workdir: Path):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / "mock-hrms.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "harvey_pipelines.mock_hrms", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/_control/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the mock HRMS did not start (see {self.log.name})")
            time.sleep(0.2)
        self.control = MockHrmsControl(self.url, timeout=1800)

    def tenant(self, org: str, seed: int, size: int) -> dict:
        started = time.perf_counter()
        info = self.control.create_tenant(org, seed=seed, size=size)
        info["generation_seconds"] = time.perf_counter() - started
        log(f"tenant {org}: {size} employees generated in {info['generation_seconds']:.1f}s {info['counts']}")
        return info

    def base_url(self, org: str) -> str:
        return f"{self.url}/orgs/{org}"

    def rss_mb(self) -> float | None:
        try:
            with open(f"/proc/{self.proc.pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def stop(self) -> None:
        self.control.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


# ------------------------------------------------------------------------------ warehouses
class Warehouses:
    """Fresh, throw-away warehouses: a DuckDB file in the work dir or a PostgreSQL database."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.count = 0
        self.prefix = f"harvey_bench_{os.getpid()}"
        self.admin = None
        self.created: list[str] = []

    def _admin(self) -> sa.Engine:
        if self.admin is None:
            self.admin = sa.create_engine(f"{PG_SERVER}/postgres", isolation_level="AUTOCOMMIT")
        return self.admin

    def fresh(self, kind: str) -> str:
        self.count += 1
        if kind == "duckdb":
            path = self.workdir / f"wh-{self.count}.duckdb"
            return f"duckdb:///{path}"
        name = f"{self.prefix}_{self.count}"
        with self._admin().connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        self.created.append(name)
        return f"{PG_SERVER}/{name}"

    def drop(self, url: str) -> None:
        if url.startswith("duckdb"):
            path = url.removeprefix("duckdb:///")
            for suffix in ("", ".wal", ".lock"):
                try:
                    os.remove(path + suffix)
                except FileNotFoundError:
                    pass
            return
        name = url.rsplit("/", 1)[1]
        with self._admin().connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if name in self.created:
            self.created.remove(name)

    def close(self) -> None:
        for name in list(self.created):
            try:
                self.drop(f"{PG_SERVER}/{name}")
            except Exception as exc:  # noqa: BLE001 - clean up what can be
                log(f"could not drop {name}: {exc}")
        if self.admin is not None:
            self.admin.dispose()

    def server_version(self) -> str | None:
        try:
            with self._admin().connect() as conn:
                return conn.exec_driver_sql("SHOW server_version").scalar()
        except Exception:  # noqa: BLE001
            return None


# ----------------------------------------------------------------------------------- bench
class Bench:
    def __init__(self, args):
        self.args = args
        self.workdir = Path(tempfile.mkdtemp(prefix="harvey-bench-"))
        self.mock = MockServer(self.workdir)
        self.warehouses = Warehouses(self.workdir)
        self.results: dict = {"meta": machine(self.warehouses), "tenants": {}, "full": [], "incremental": [],
                              "memory": [], "entities": []}
        self.results["meta"]["args"] = vars(args)
        self.results["meta"]["started"] = dt.datetime.now().isoformat(timespec="seconds")

    def close(self) -> None:
        self.mock.stop()
        self.warehouses.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def tenant(self, org: str, seed: int, size: int) -> None:
        info = self.mock.tenant(org, seed, size)
        info["mock_rss_mb"] = self.mock.rss_mb()
        self.results["tenants"][org] = info

    def child(self, spec: dict) -> dict:
        """Run one load in a fresh process; adds the server-side request count."""
        spec = {"token": DEFAULT_TOKEN, "base_url": self.mock.base_url(spec["org"]), **spec}
        if spec["loader"] in DLT_FORMATS:
            spec["workdir"] = tempfile.mkdtemp(prefix="dlt-", dir=self.workdir)
        self.mock.control.reset_stats(spec["org"])
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "harvey_pipelines_tests.bench.loaders", json.dumps(spec)],
                              cwd=ROOT, capture_output=True, text=True, timeout=3600)
        wall = time.perf_counter() - started
        if spec["loader"] in DLT_FORMATS:
            shutil.rmtree(spec["workdir"], ignore_errors=True)
        lines = [line for line in proc.stdout.splitlines() if line.startswith("BENCH_RESULT ")]
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"{spec['loader']} failed ({proc.returncode}):\n"
                               f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
        out = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
        out["api_calls_server"] = self.mock.control.stats(spec["org"])["requests"]
        if out.get("api_calls") is None:
            out["api_calls"] = out["api_calls_server"]
        out["rate"] = out["records"] / out["seconds"] if out["seconds"] else None
        out["process_wall_seconds"] = wall
        out.update({k: spec[k] for k in ("loader", "warehouse", "org") if k in spec})
        for k in ("entity", "mode", "limit"):
            if k in spec:
                out[k] = spec[k]
        return out

    def save(self) -> Path:
        folder = ROOT / ".bench"
        folder.mkdir(exist_ok=True)
        path = folder / f"results-{self.results['meta']['started'].replace(':', '')}.json"
        self.results["meta"]["finished"] = dt.datetime.now().isoformat(timespec="seconds")
        path.write_text(json.dumps(self.results, indent=1, default=str))
        return path

    # -- phases ----------------------------------------------------------------------
    def phase_full(self) -> None:
        a = self.args
        org = "bench-full"
        for run in range(1, a.runs + 1):
            for kind in a.warehouses:
                for loader in a.loaders:
                    if loader == "dlt_default" and kind not in a.dlt_default_warehouses:
                        continue
                    url = self.warehouses.fresh(kind)
                    spec = {"loader": loader, "warehouse": kind, "url": url, "org": org}
                    if loader in ("harvey", "fetch"):
                        spec.update(entity="employees", mode="full")
                    if loader in DLT_FORMATS:
                        spec["file_format"] = DLT_FORMATS[loader]
                    if loader == "rbr":
                        spec["limit"] = a.rbr_limit_duckdb if kind == "duckdb" else a.rbr_limit_postgres
                    try:
                        out = self.child(spec)
                    finally:
                        self.warehouses.drop(url)
                    out["run"] = run
                    self.results["full"].append(out)
                    log(f"full run {run} {kind:8} {loader:6}: {out['records']} records in {out['seconds']:.1f}s "
                        f"= {out['rate']:.0f} rec/s, {out['api_calls']} calls, peak RSS {out['maxrss_mb']:.0f} MB")
                    self.save()

    def phase_incremental(self) -> None:
        """Per run, on a fresh warehouse: process 1 runs the full sync, an advance of the mock
        (1 %, untimed) and a "warm" incremental sync; then the parent advances the mock again
        and process 2 runs a "cold" incremental sync (a fresh process, as a Dagster run is)."""
        a = self.args
        org = "bench-incr"
        self.tenant(org, seed=2, size=a.employees)
        for run in range(1, a.runs + 1):
            for kind in a.warehouses:
                url = self.warehouses.fresh(kind)
                try:
                    base = {"loader": "harvey", "warehouse": kind, "url": url, "org": org, "entity": "employees"}
                    first = self.child({**base, "steps": ["full", "advance", "incremental"]})
                    changes = self.mock.control.advance(org, hours=24, change_fraction=0.01)
                    cold = self.child({**base, "mode": "incremental"})
                finally:
                    self.warehouses.drop(url)
                full, warm = first["steps"][0], first["steps"][2]
                changed = len({i for ids in changes.values() for i in ids.get("employees", [])})
                row = {"run": run, "warehouse": kind, "full": full, "warm": warm, "incremental": cold,
                       "advance_warm": first["steps"][1]["advance"], "changed_employees": changed,
                       "changes": {k: len(v.get("employees", [])) for k, v in changes.items()},
                       "calls_ratio": cold["api_calls"] / full["api_calls"],
                       "time_ratio": cold["seconds"] / full["seconds"],
                       "warm_calls_ratio": warm["api_calls"] / full["api_calls"],
                       "warm_time_ratio": warm["seconds"] / full["seconds"],
                       "full_process": {k: first[k] for k in ("maxrss_mb", "rss_after_imports_mb")}}
                self.results["incremental"].append(row)
                log(f"incremental run {run} {kind:8}: full {full['api_calls']} calls {full['seconds']:.1f}s; "
                    f"warm {warm['records']} rec {warm['api_calls']} calls {warm['seconds']:.2f}s; "
                    f"{changed} employees changed; cold {cold['records']} rec {cold['api_calls']} calls "
                    f"{cold['seconds']:.2f}s (calls {row['calls_ratio']:.2%}, time {row['time_ratio']:.2%}; "
                    f"warm {row['warm_time_ratio']:.2%})")
                self.save()
        self.mock.control.delete_tenant(org)

    def phase_memory(self) -> None:
        a = self.args
        for size in a.memory_sizes:
            if size == a.employees and "full" in a.phases:
                continue  # measured by the full phase
            org = f"bench-m{size}"
            self.tenant(org, seed=3, size=size)
            runs = a.memory_runs if size <= a.employees else a.memory_runs_large
            for run in range(1, runs + 1):
                for kind in a.warehouses:
                    url = self.warehouses.fresh(kind)
                    try:
                        out = self.child({"loader": "harvey", "warehouse": kind, "url": url, "org": org,
                                          "entity": "employees", "mode": "full"})
                    finally:
                        self.warehouses.drop(url)
                    out.update(run=run, size=size)
                    self.results["memory"].append(out)
                    log(f"memory {size} run {run} {kind:8}: peak RSS {out['maxrss_mb']:.0f} MB "
                        f"(after imports {out['rss_after_imports_mb']:.0f} MB), {out['rate']:.0f} rec/s")
                    self.save()
            self.mock.control.delete_tenant(org)

    def phase_entities(self) -> None:
        a = self.args
        org = "bench-full"
        for run in range(1, a.entity_runs + 1):
            for kind in a.warehouses:
                url = self.warehouses.fresh(kind)
                try:
                    for spec in ENTITIES:
                        out = self.child({"loader": "harvey", "warehouse": kind, "url": url, "org": org,
                                          "entity": spec.name, "mode": "full"})
                        out["run"] = run
                        self.results["entities"].append(out)
                        log(f"entities run {run} {kind:8} {spec.name:17}: {out['records']} records in "
                            f"{out['seconds']:.1f}s = {out['rate']:.0f} rec/s, {out['api_calls']} calls, "
                            f"peak RSS {out['maxrss_mb']:.0f} MB")
                        self.save()
                finally:
                    self.warehouses.drop(url)

    def run(self) -> Path:
        a = self.args
        if {"full", "entities"} & set(a.phases):
            self.tenant("bench-full", seed=1, size=a.employees)
        if "full" in a.phases:
            self.phase_full()
        if "incremental" in a.phases:
            self.phase_incremental()
        if "memory" in a.phases:
            self.phase_memory()
        if "entities" in a.phases:
            self.phase_entities()
        return self.save()


# ------------------------------------------------------------------------------- machine
def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def machine(warehouses: Warehouses) -> dict:
    cpu = None
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True).stdout.splitlines() if line.startswith("Model name"))
    except (StopIteration, OSError):
        pass
    mem_gib = None
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    os_name = platform.platform()
    try:
        with open("/etc/os-release") as fh:
            os_name = next(line.split("=", 1)[1].strip().strip('"') for line in fh if line.startswith("PRETTY_NAME"))
    except (OSError, StopIteration):
        pass
    return {
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem_gib, "os": os_name, "kernel": platform.release(),
        "python": platform.python_version(), "duckdb": _version("duckdb"), "dlt": _version("dlt"),
        "sqlalchemy": _version("sqlalchemy"), "psycopg2": _version("psycopg2-binary") or _version("psycopg2"),
        "postgresql": warehouses.server_version(),
    }


# ------------------------------------------------------------------------------- summary
def _med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _fmt(v, spec=",.0f"):
    return "–" if v is None else format(v, spec)


def _range(values, spec=",.0f"):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    return f"{format(min(values), spec)}–{format(max(values), spec)}"


def _ok(passed):
    return "–" if passed is None else ("**pass**" if passed else "**FAIL**")


def summary(results: dict) -> str:
    meta = results["meta"]
    args = meta.get("args", {})
    out = [f"# Sync benchmark {meta.get('started')}", "",
           f"{meta.get('cpu')}, {meta.get('cores')} cores, {meta.get('memory_gib')} GiB, {meta.get('os')}; "
           f"Python {meta.get('python')}, DuckDB {meta.get('duckdb')}, PostgreSQL {meta.get('postgresql')}, "
           f"dlt {meta.get('dlt')}. Employees: {args.get('employees')}, runs: {args.get('runs')}.", ""]
    kinds = [k for k in ("duckdb", "postgres") if any(r["warehouse"] == k for r in
             results["full"] + results["memory"] + results["entities"] + results["incremental"])]

    if results["full"]:
        out += ["## Full sync of employees (records/s, median of runs)", "",
                "| warehouse | loader | records | runs | rec/s median | rec/s min–max | seconds median | API calls "
                "| peak RSS MB |",
                "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
        rates = {}
        for kind in kinds:
            for loader in LOADER_NAMES:
                rows = [r for r in results["full"] if r["warehouse"] == kind and r["loader"] == loader]
                if not rows:
                    continue
                rates[kind, loader] = _med([r["rate"] for r in rows])
                label = LOADER_NAMES[loader]
                used = sorted({f for r in rows for f in r.get("formats_used") or [] if f != "sql"})
                if used:
                    default = "default, " if loader == "dlt_default" else ""
                    label = f"dlt rest_api merge, {default}files: {'+'.join(used)}"
                out.append(f"| {kind} | {label} | {_fmt(_med([r['records'] for r in rows]))} | "
                           f"{len(rows)} | {_fmt(rates[kind, loader])} | {_range([r['rate'] for r in rows])} | "
                           f"{_fmt(_med([r['seconds'] for r in rows]), '.1f')} | "
                           f"{_fmt(_med([r['api_calls'] for r in rows]))} | "
                           f"{_fmt(_med([r['maxrss_mb'] for r in rows]))} |")
        out += ["", "| warehouse | harvey / row-by-row | target | | harvey / dlt (parquet) | target | | "
                "harvey / dlt (default) | target | |",
                "|---|---:|---:|---|---:|---:|---|---:|---:|---|"]
        for kind in kinds:
            h = rates.get((kind, "harvey"))
            cells = []
            for base in ("rbr", "dlt", "dlt_default"):
                b = rates.get((kind, base))
                ratio = h / b if h and b else None
                cells += [_fmt(ratio, ".1f") + "x" if ratio else "–", f"≥ {TARGETS[base]:.0f}x",
                          _ok(None if ratio is None else ratio >= TARGETS[base])]
            out.append(f"| {kind} | " + " | ".join(cells) + " |")
        out.append("")

    if results["incremental"]:
        out += ["## Incremental sync after 1 % of employees changed (median of runs)", "",
                "Cold: the incremental sync in a fresh process (as a Dagster run); warm: in the process "
                "that ran the full sync just before.", "",
                "| warehouse | runs | employees changed | full: calls / s | incremental: records / calls / s | "
                "calls ratio (≤ 2 %) | | time ratio (≤ 5 %) | | warm: s / time ratio |",
                "|---|---:|---:|---:|---:|---:|---|---:|---|---:|"]
        for kind in kinds:
            rows = [r for r in results["incremental"] if r["warehouse"] == kind]
            if not rows:
                continue
            cr, tr = _med([r["calls_ratio"] for r in rows]), _med([r["time_ratio"] for r in rows])
            wt = _med([r.get("warm_time_ratio") for r in rows])
            out.append(
                f"| {kind} | {len(rows)} | {_fmt(_med([r['changed_employees'] for r in rows]))} | "
                f"{_fmt(_med([r['full']['api_calls'] for r in rows]))} / "
                f"{_fmt(_med([r['full']['seconds'] for r in rows]), '.1f')} | "
                f"{_fmt(_med([r['incremental']['records'] for r in rows]))} / "
                f"{_fmt(_med([r['incremental']['api_calls'] for r in rows]))} / "
                f"{_fmt(_med([r['incremental']['seconds'] for r in rows]), '.2f')} | "
                f"{cr:.2%} ({_range([r['calls_ratio'] * 100 for r in rows], '.2f')}) | "
                f"{_ok(cr <= TARGETS['incr_calls'])} | "
                f"{tr:.2%} ({_range([r['time_ratio'] * 100 for r in rows], '.2f')}) | "
                f"{_ok(tr <= TARGETS['incr_time'])} | "
                + (f"{_fmt(_med([r['warm']['seconds'] for r in rows]), '.2f')} / {wt:.2%} |"
                   if wt is not None else "– |"))
        out.append("")

    mem_rows = list(results["memory"]) + [
        {**r, "size": args.get("employees")} for r in results["full"] if r["loader"] == "harvey"]
    if mem_rows:
        out += ["## Peak memory of the harvey full sync process (employees)", "",
                "| warehouse | employees | runs | RSS after imports MB | peak RSS MB median (min–max) "
                "| added by the sync MB | rec/s |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        growth = []
        for kind in kinds:
            sizes = sorted({r["size"] for r in mem_rows if r["warehouse"] == kind})
            peaks = {}
            for size in sizes:
                rows = [r for r in mem_rows if r["warehouse"] == kind and r["size"] == size]
                base, peak = _med([r["rss_after_imports_mb"] for r in rows]), _med([r["maxrss_mb"] for r in rows])
                peaks[size] = peak
                out.append(f"| {kind} | {size:,} | {len(rows)} | {_fmt(base)} | {_fmt(peak)} "
                           f"({_range([r['maxrss_mb'] for r in rows])}) | {_fmt(peak - base)} | "
                           f"{_fmt(_med([r['rate'] for r in rows]))} |")
            if len(sizes) > 1:
                small, large = sizes[0], sizes[-1]
                g = peaks[large] / peaks[small] - 1
                growth.append(f"{kind}: {small:,} → {large:,} employees: "
                              f"peak {peaks[small]:.0f} → {peaks[large]:.0f} MB "
                              f"({g:+.0%}) {_ok(g <= TARGETS['memory_growth'])} (flat: within +20 %)")
        out += [""] + [f"- {g}" for g in growth] + [""]

    if results["entities"]:
        runs = sorted({r["run"] for r in results["entities"]})
        out += [f"## All entities, harvey full sync ({len(runs)} run{'s' if len(runs) > 1 else ''}, median)", "",
                "| entity | "
                + " | ".join(f"{k} records | {k} s | {k} rec/s | {k} calls | {k} peak RSS MB" for k in kinds) + " |",
                "|---|" + "---:|" * (5 * len(kinds))]
        totals = {k: {"records": 0, "seconds": 0.0, "calls": 0} for k in kinds}
        totals_lb = {k: {"records": 0, "seconds": 0.0, "calls": 0} for k in kinds}
        for spec in ENTITIES:
            cells = []
            for kind in kinds:
                rows = [r for r in results["entities"] if r["warehouse"] == kind and r["entity"] == spec.name]
                if not rows:
                    cells += ["–"] * 5
                    continue
                rec, sec = _med([r["records"] for r in rows]), _med([r["seconds"] for r in rows])
                calls = _med([r["api_calls"] for r in rows])
                t = totals_lb[kind] if spec.name == "leave_balances" else totals[kind]
                t["records"] += rec
                t["seconds"] += sec
                t["calls"] += calls
                cells += [_fmt(rec), _fmt(sec, ".1f"), _fmt(_med([r["rate"] for r in rows])), _fmt(calls),
                          _fmt(_med([r["maxrss_mb"] for r in rows]))]
            out.append(f"| {spec.name} | " + " | ".join(cells) + " |")
        for label, parts in (("total without leave_balances", [totals]),
                             ("total with leave_balances", [totals, totals_lb])):
            cells = []
            for kind in kinds:
                rec = sum(p[kind]["records"] for p in parts)
                sec = sum(p[kind]["seconds"] for p in parts)
                calls = sum(p[kind]["calls"] for p in parts)
                cells += [f"**{_fmt(rec)}**", f"**{sec:.1f}**", f"**{_fmt(rec / sec if sec else None)}**",
                          _fmt(calls), ""]
            out.append(f"| {label} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


# ---------------------------------------------------------------------------------- main
def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m harvey_pipelines_tests.bench.sync_benchmark",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--employees", type=int, default=100_000, help="organization size (default 100000)")
    p.add_argument("--runs", type=int, default=3, help="runs per measurement (default 3; medians are quoted)")
    p.add_argument("--warehouses", default="duckdb,postgres", help="duckdb,postgres")
    p.add_argument("--phases", default="full,incremental,memory,entities")
    p.add_argument("--loaders", default="harvey,rbr,dlt,dlt_default,fetch",
                   help="loaders of the full phase: harvey, rbr (row-by-row), dlt (parquet), dlt_default "
                        "(insert_values), fetch (the HTTP floor, no database)")
    p.add_argument("--dlt-default-warehouses", default="duckdb",
                   help="where dlt_default runs (default duckdb: on PostgreSQL dlt's parquet needs an ADBC "
                        "driver that is not installed, so the 'dlt' run already loads with insert_values)")
    p.add_argument("--rbr-limit-duckdb", type=int, default=20_000,
                   help="records the row-by-row loader loads on DuckDB "
                        "(0: all; default 20000: it loads ~110 rec/s there)")
    p.add_argument("--rbr-limit-postgres", type=int, default=0, help="same on PostgreSQL (default 0: all)")
    p.add_argument("--memory-sizes", default="10000,100000,200000", help="organization sizes of the memory phase")
    p.add_argument("--memory-runs", type=int, default=None, help="runs per size up to --employees (default --runs)")
    p.add_argument("--memory-runs-large", type=int, default=1, help="runs per size above --employees (default 1)")
    p.add_argument("--entity-runs", type=int, default=1, help="runs of the all-entities phase (default 1)")
    p.add_argument("--quick", action="store_true", help="smoke run: 2000 employees, 1 run, small memory sizes")
    p.add_argument("--summarize", metavar="RESULTS_JSON", help="print the summary of an earlier results file")
    a = p.parse_args(argv)
    if a.quick:
        a.employees, a.runs, a.memory_sizes = 2000, 1, "500,2000,4000"
        a.rbr_limit_duckdb = a.rbr_limit_postgres = 0
    a.warehouses = [w.strip() for w in a.warehouses.split(",") if w.strip()]
    a.phases = [x.strip() for x in a.phases.split(",") if x.strip()]
    a.loaders = [x.strip() for x in a.loaders.split(",") if x.strip()]
    a.memory_sizes = _ints(a.memory_sizes)
    a.dlt_default_warehouses = [w.strip() for w in a.dlt_default_warehouses.split(",") if w.strip()]
    a.memory_runs = a.memory_runs or a.runs
    bad = set(a.warehouses) - {"duckdb", "postgres"} or set(a.phases) - {"full", "incremental", "memory", "entities"} \
        or set(a.loaders) - set(LOADER_NAMES)
    if bad:
        p.error(f"unknown {sorted(bad)}")
    return a


def main(argv=None) -> int:
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if a.summarize:
        print(summary(json.loads(Path(a.summarize).read_text())))
        return 0
    if "full" in a.phases and _version("dlt") is None:
        log("dlt is not installed (pip install -e '.[bench]'): the dlt baselines are skipped")
        a.loaders = [x for x in a.loaders if x not in DLT_FORMATS]
    started = time.monotonic()
    bench = Bench(a)
    try:
        path = bench.run()
    finally:
        try:
            bench.save()
        finally:
            bench.close()
    log(f"done in {(time.monotonic() - started) / 60:.1f} min; raw results: {path}")
    print(summary(bench.results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
