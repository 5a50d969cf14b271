"""Running the mock HRMS: blocking ``serve()``, the ``MockHrmsThread`` for tests, and ``main()``
for ``python -m harvey_pipelines.mock_hrms`` / ``harvey mock-hrms serve``, e.g.
``--tenant acme:1:40 --tenant globex:2:400 --reference-style globex=business_key
--timezone globex=Europe/Amsterdam``."""

from __future__ import annotations

import argparse
import dataclasses
import socket
import sys
import threading
import time
from typing import Iterable

import httpx
import uvicorn

from .app import create_app
from .tenant import DEFAULT_TIMEZONE, DEFAULT_TOKEN, REFERENCE_STYLES, TenantSpec, TenantStore

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def _store_with(tenants: Iterable[TenantSpec] | None, store: TenantStore | None = None,
                verbose: bool = False) -> TenantStore:
    store = store if store is not None else TenantStore()
    for spec in tenants or ():
        started = time.perf_counter()
        tenant, _ = store.create(spec)
        if verbose:
            print(f"tenant {spec.org_id}: seed={spec.seed} size={spec.size} timezone={spec.timezone} "
                  f"reference_style={spec.reference_style} clock_start={tenant.iso(tenant.t0)} "
                  f"generated in {time.perf_counter() - started:.1f}s {tenant.counts()}", flush=True)
    return store


def serve(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, tenants: list[TenantSpec] | None = None) -> None:
    """Generate ``tenants`` and serve them until interrupted (blocking)."""
    store = _store_with(tenants, verbose=True)
    for t in store:
        print(f"  {t.spec.org_id}: http://{host}:{port}/orgs/{t.spec.org_id}  (API under /api/v1)", flush=True)
    print(f"mock HRMS listening on http://{host}:{port}  (control API: /_control)", flush=True)
    uvicorn.run(create_app(store), host=host, port=port, log_level="warning")


class MockHrmsThread:
    """The mock HRMS on a background thread (for tests and the demo).

    ``port=0`` picks a free port. ``start()`` returns once the server answers; ``stop()`` shuts it
    down. Usable as a context manager. ``store`` is the live ``TenantStore``."""

    def __init__(self, host: str = DEFAULT_HOST, port: int = 0, tenants: list[TenantSpec] | None = None,
                 store: TenantStore | None = None) -> None:
        self.host = host
        self.port = port
        self.store = _store_with(tenants, store)
        self.app = create_app(self.store)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def tenant_url(self, org_id: str) -> str:
        return f"{self.base_url}/orgs/{org_id}"

    def start(self, timeout: float = 30.0) -> "MockHrmsThread":
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(512)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        self._sock = sock
        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"mock-hrms-{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while True:
            if not self._thread.is_alive():
                raise RuntimeError("mock HRMS server thread died during start-up")
            try:
                if self._server.started and httpx.get(f"{self.base_url}/_control/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mock HRMS did not start within {timeout}s")
            time.sleep(0.02)

    def stop(self, timeout: float = 10.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> "MockHrmsThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m harvey_pipelines.mock_hrms",
                                description="Serve the multi-tenant mock HRMS (the 'custom' HR system).")
    p.add_argument("--host", default=DEFAULT_HOST)
    p.add_argument("--port", type=int, default=DEFAULT_PORT)
    p.add_argument("--tenant", action="append", default=[], metavar="ORG:SEED:SIZE",
                   help="create a tenant at start-up (repeatable), e.g. acme:1:50")
    p.add_argument("--token", default=DEFAULT_TOKEN, help="bearer token of the tenants given with --tenant")
    p.add_argument("--timezone", action="append", default=[], metavar="[ORG=]TZ",
                   help=f"timezone of every tenant (TZ) or of one (ORG=TZ), repeatable; default {DEFAULT_TIMEZONE}")
    p.add_argument("--reference-style", action="append", default=[], metavar="[ORG=]STYLE",
                   help=f"what references hold, for every tenant (STYLE) or one (ORG=STYLE), repeatable: "
                        f"{' | '.join(REFERENCE_STYLES)}; default id")
    p.add_argument("--attendance-days", type=int, default=5,
                   help="attendance for this many working days before the clock start; default 5")
    p.add_argument("--attendance-months", type=int, default=None, metavar="N",
                   help="attendance for every working day since the first of the month N months before the "
                        "clock start's month instead (the demo's 2: two full months and this one)")
    p.add_argument("--clock-start", default=None, metavar="DATE|today",
                   help="the date the tenant clocks start on at 09:00 local time, e.g. 2026-11-02 (the default) "
                        "or today (each tenant's local date: the data end yesterday)")
    return p


def per_tenant(values: list[str], default: str, option: str, orgs: list[str]) -> dict[str, str]:
    """``[ORG=]VALUE`` options -> value per org: ``VALUE`` sets every tenant's, ``ORG=VALUE`` one
    tenant's (which wins)."""
    every, one = default, {}
    for value in values:
        org, sep, rest = value.partition("=")
        if not sep:
            every = value
        elif org not in orgs:
            raise ValueError(f"{option} {value!r}: no --tenant {org}:SEED:SIZE")
        else:
            one[org] = rest
    return {org: one.get(org, every) for org in orgs}


def specs_from_args(args: argparse.Namespace) -> list[TenantSpec]:
    specs = [TenantSpec.parse(t, token=args.token, attendance_days=args.attendance_days,
                              attendance_months=args.attendance_months) for t in args.tenant]
    orgs = [s.org_id for s in specs]
    if len(set(orgs)) != len(orgs):
        raise ValueError("each --tenant needs its own org")
    zones = per_tenant(args.timezone, DEFAULT_TIMEZONE, "--timezone", orgs)
    styles = per_tenant(args.reference_style, "id", "--reference-style", orgs)
    # the clock start with the timezone: "today" is the tenant's local date
    specs = [dataclasses.replace(s, timezone=zones[s.org_id], reference_style=styles[s.org_id],
                                 clock_start=args.clock_start) for s in specs]
    for spec in specs:
        spec.validate()
    return specs


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        specs = specs_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    serve(args.host, args.port, specs)
    return 0
