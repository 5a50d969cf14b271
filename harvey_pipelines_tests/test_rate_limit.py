"""An organization's rate limit holds across processes: measured where the requests land.

Two real processes sync one organization's leave balances (a fan-out of 8 threads each, one
request per employee) from the mock HRMS over HTTP at the same time. The mock records when
each request arrived; no window of its clock may hold more than the bucket allows (burst +
rate x window), with slack that still catches twice the rate (two buckets of one process
each: the limit before it was shared). Each process writes its own DuckDB file only so that
both can run the same sync at once (syncs of one warehouse take turns per entity); the
limit is counted in the store under test: the default SQLite file, PostgreSQL, Redis.
"""

from __future__ import annotations

import bisect
import os
import sqlite3
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from harvey_pipelines import settings
from harvey_pipelines.sources.errors import TransientError
from harvey_pipelines.sources.http import BearerAuth, HttpEngine, Secret
from harvey_pipelines.sync import sync_entity
from harvey_pipelines.warehouse import Warehouse
from harvey_pipelines_tests.conftest import DEMO_TOKEN
from harvey_pipelines_tests.processes import free_port

RATE = 10  # requests per second; the burst is as many
EMPLOYEES = 30  # leave balance requests per process
WINDOW = 2.0  # seconds

WORKER = """
import pathlib, sys, time
from harvey_pipelines.organizations import Organization
from harvey_pipelines.sync import sync_entity
from harvey_pipelines.warehouse import Warehouse
org = Organization.model_validate_json(sys.argv[1])
warehouse, here, me = Warehouse(sys.argv[2]), pathlib.Path(sys.argv[3]), sys.argv[4]
assert sync_entity(org, "employees", warehouse).status == "success"
(here / f"ready-{me}").touch()
while not (here / "go").exists():  # both fan-outs start together
    time.sleep(0.02)
result = sync_entity(org, "leave_balances", warehouse)
assert result.status == "success", result.error
print(result.api_calls)
"""


def _redis_url() -> str:
    import redis

    url = os.environ.get("HARVEY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        reason = f"Redis not reachable at {url}: {exc}"
        if os.environ.get("HARVEY_REQUIRE_REDIS") == "1":
            pytest.fail(reason + " (HARVEY_REQUIRE_REDIS=1: the Redis rate limit test must run)")
        pytest.skip(reason)
    return url


def _most_in_any_window(arrivals: list[float], window: float) -> int:
    arrivals = sorted(arrivals)
    return max(bisect.bisect_left(arrivals, t + window) - i for i, t in enumerate(arrivals))


@pytest.mark.parametrize("store", ["sqlite", "postgres", "redis"])
def test_two_processes_share_one_organizations_rate_limit(store, make_org, control, tmp_path, request):
    env = {k: v for k, v in os.environ.items() if k != "HARVEY_RATE_LIMIT_URL"}
    env["HARVEY_DATA_DIR"] = str(tmp_path / "data")
    if store == "postgres":
        env["HARVEY_RATE_LIMIT_URL"] = request.getfixturevalue("postgres_server_url")
    elif store == "redis":
        env["HARVEY_RATE_LIMIT_URL"] = _redis_url()
    org = make_org(size=EMPLOYEES).model_copy(update={"rate_limit_per_second": RATE})
    env.update({org.credential_env: os.environ[org.credential_env]})

    workers = []
    for me in ("a", "b"):
        url = f"duckdb:///{tmp_path / f'{me}.duckdb'}"
        # the default store follows the warehouse setting: a DuckDB warehouse -> SQLite in the data dir
        workers.append(subprocess.Popen(
            [sys.executable, "-c", WORKER, org.model_dump_json(), url, str(tmp_path), me],
            env=env | {"HARVEY_WAREHOUSE_URL": url}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    deadline = time.monotonic() + 180
    while not all((tmp_path / f"ready-{me}").exists() for me in ("a", "b")):
        assert all(w.poll() is None for w in workers), [w.communicate() for w in workers]
        assert time.monotonic() < deadline, "the workers did not get ready"
        time.sleep(0.05)
    control.reset_stats(org.id)
    (tmp_path / "go").touch()
    for worker in workers:
        out, err = worker.communicate(timeout=180)
        assert worker.returncode == 0, err
        assert int(out.split()[-1]) == EMPLOYEES  # no retries: every request counted below was needed

    arrivals = control.arrivals(org.id)
    assert len(arrivals) == 2 * EMPLOYEES
    allowed = RATE + RATE * WINDOW  # a full bucket, then the refill
    most = _most_in_any_window(arrivals, WINDOW)
    # one bucket per process would let 2 x allowed through; the slack is for the arrival jitter
    assert most <= allowed * 1.2, f"{most} requests within {WINDOW}s, the limit allows {allowed}"
    # and the limit is used, not starved: the whole fan-out took about (requests - burst) / rate
    span = max(arrivals) - min(arrivals)
    assert span >= (2 * EMPLOYEES - 2 * RATE) / RATE, span
    assert span <= 3 * (2 * EMPLOYEES - RATE) / RATE, span
    if store == "sqlite":
        assert (tmp_path / "data" / "rate_limits.sqlite").exists()


def test_the_limit_is_counted_where_the_warehouse_is(warehouse_url, make_org, monkeypatch, tmp_path):
    """Without HARVEY_RATE_LIMIT_URL: a PostgreSQL warehouse holds the buckets (every host that
    syncs reaches it), a DuckDB one leaves them in a SQLite file in the data dir."""
    monkeypatch.delenv("HARVEY_RATE_LIMIT_URL", raising=False)
    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("HARVEY_DATA_DIR", str(tmp_path / "data"))
    org = make_org(size=5).model_copy(update={"rate_limit_per_second": 7})
    warehouse = Warehouse(settings.warehouse_url())
    warehouse.migrate()
    assert sync_entity(org, "employees", warehouse).status == "success"
    warehouse.dispose()
    key = f"{org.id}/custom"
    if warehouse_url.startswith("postgresql"):
        assert settings.rate_limit_url() == warehouse_url
        engine = sa.create_engine(warehouse_url)
        with engine.connect() as conn:
            tokens = conn.execute(sa.text("SELECT tokens FROM rate_limits.buckets WHERE key = :key"),
                                  {"key": key}).scalar_one()
        engine.dispose()
    else:
        path = tmp_path / "data" / "rate_limits.sqlite"
        assert settings.rate_limit_url() == f"sqlite:///{path}"
        with sqlite3.connect(path) as conn:
            (tokens,), = conn.execute("SELECT tokens FROM buckets WHERE key = ?", (key,)).fetchall()
    assert 0 <= tokens < 7  # the sync's requests were taken from the organization's bucket


def test_an_unreachable_store_fails_the_request_naming_it_without_its_password(make_org, monkeypatch):
    port = free_port()
    monkeypatch.setenv("HARVEY_RATE_LIMIT_URL", f"redis://:store-secret@127.0.0.1:{port}/0")
    org = make_org(size=5)
    with HttpEngine(org.base_url, BearerAuth(Secret(DEMO_TOKEN)), name="unreachable-store") as engine:
        with pytest.raises(TransientError) as failed:
            engine.get_json("/api/v1/departments")
    message = str(failed.value)
    assert f"the rate limit store redis://:***@127.0.0.1:{port}/0 failed: ConnectionError" in message
    assert "store-secret" not in message
    assert engine.api_calls == 0
