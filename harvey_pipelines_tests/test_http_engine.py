"""The HTTP engine against the mock HRMS on loopback: what it retries, waits for and refuses."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from harvey_pipelines.organizations import Organization
from harvey_pipelines.sources import FetchContext, PagingState
from harvey_pipelines.sources.custom import CustomHrmsAdapter
from harvey_pipelines.sources.errors import CircuitOpenError, ConfigurationError, TransientError
from harvey_pipelines.sources.http import BearerAuth, CircuitBreaker, HttpEngine, RetryPolicy, Secret
from harvey_pipelines_tests.conftest import DEMO_TOKEN
from harvey_pipelines_tests.processes import ScriptedHttpServer, free_port

pytestmark = pytest.mark.fast


def engine_for(url, sleeps, **kw):
    return HttpEngine(url, BearerAuth(Secret(DEMO_TOKEN)), name="test", sleep=sleeps.append,
                      rate_limit_per_second=1000, **kw)


def test_429_waits_as_long_as_retry_after_says(make_org, control):
    org = make_org(size=10)
    control.set_faults(org.id, rate_limit_every=2, retry_after_seconds=3)
    sleeps = []
    with engine_for(org.base_url, sleeps) as engine:
        for _ in range(3):
            assert engine.get_json("/api/v1/departments").status == 200
    # requests 2 and 4 are answered 429 (every 2nd request); each retry waits Retry-After
    assert sleeps == [3.0, 3.0]
    assert engine.api_calls == 5


def test_5xx_and_truncated_bodies_are_retried_with_growing_jittered_backoff(make_org, control):
    org = make_org(size=10)
    control.set_faults(org.id, error_5xx_every=2, truncate_every=3)
    sleeps = []
    policy = RetryPolicy(backoff_base=0.5, backoff_max=8)
    with engine_for(org.base_url, sleeps, retry=policy) as engine:
        for _ in range(6):
            assert isinstance(engine.get_json("/api/v1/employees").body["data"], list)
    assert engine.retries == len(sleeps) >= 3
    assert all(0 <= s <= 0.5 for s in sleeps), "first retries wait at most backoff_base"
    assert [policy.delay(5) <= 8 for _ in range(20)] == [True] * 20


def test_a_wrong_path_fails_once_with_a_configuration_message(make_org):
    org = make_org(size=10)
    sleeps = []
    with engine_for(org.base_url, sleeps) as engine:
        with pytest.raises(ConfigurationError, match="HTTP 404") as error:
            engine.get_json("/api/v1/no-such-list")
    assert error.value.status == 404 and engine.api_calls == 1 and sleeps == []


class LocalServer(ScriptedHttpServer):
    """A real HTTP server on loopback whose answers a test decides: ``answer(path) -> status``
    (200 answers ``{"data": []}``; anything else a JSON error)."""

    def __init__(self, answer):
        def respond(request):
            status = answer(request.path)
            return status, {}, {"data": []} if status == 200 else {"detail": "service unavailable"}

        super().__init__(respond)
        self.url = self.origin


def test_a_dead_host_fails_naming_the_host_and_the_refusal():
    sleeps = []
    port = free_port()  # nothing listens on it: connecting is refused at once
    # credentials in the base URL must not show; the host and path must
    engine = engine_for(f"http://svc:hunter2@127.0.0.1:{port}/orgs/acme", sleeps, retry=RetryPolicy(max_attempts=3))
    with engine:
        with pytest.raises(TransientError) as gave_up:
            engine.get_json("/api/v1/employees")
        message = str(gave_up.value)
        assert f"test at http://127.0.0.1:{port}/orgs/acme" in message, message
        assert "ConnectError" in message and "refused" in message and "GET /api/v1/employees" in message, message
        assert "gave up after 3 attempts" in message and "hunter2" not in message and "svc" not in message
        assert len(sleeps) == 2 and engine.api_calls == 3

        calls = engine.api_calls
        with pytest.raises(CircuitOpenError) as open_:
            engine.get_json("/api/v1/departments")
        message = str(open_.value)
        assert engine.api_calls == calls, "an open circuit makes no call"
        assert f"test at http://127.0.0.1:{port}/orgs/acme" in message, message
        assert "refused" in message and "GET /api/v1/employees" in message and "hunter2" not in message, message


def test_a_request_may_spend_its_whole_retry_budget_before_the_breaker_opens():
    answers = iter([503] * 5)
    with LocalServer(lambda path: next(answers, 200)) as server:
        sleeps = []
        engine = engine_for(server.url, sleeps, retry=RetryPolicy(max_attempts=6))
        with engine:
            assert engine.get_json("/api/v1/employees").body == {"data": []}
        assert engine.api_calls == len(server.requests) == 6 and len(sleeps) == 5
        assert engine.breaker.times_opened == 0


def test_a_blip_failing_every_concurrent_request_at_once_opens_nothing():
    """8 concurrent requests all get a 503 before any retries (the sleep is a barrier that
    releases them once all 8 have failed): 8 failures in a row, none a request's last."""
    seen: set[str] = set()
    lock = threading.Lock()

    def first_attempt_of_each_path_fails(path):
        with lock:
            first = path not in seen
            seen.add(path)
        return 503 if first else 200

    barrier = threading.Barrier(8)
    with LocalServer(first_attempt_of_each_path_fails) as server:
        engine = HttpEngine(server.url, BearerAuth(Secret(DEMO_TOKEN)), name="test", rate_limit_per_second=1000,
                            sleep=lambda seconds: barrier.wait(timeout=60))
        with engine, ThreadPoolExecutor(8) as pool:
            bodies = list(pool.map(lambda i: engine.get_json(f"/api/v1/employees/emp-{i}/leave-balance").body,
                                   range(8)))
        assert bodies == [{"data": []}] * 8
        assert len(server.requests) == engine.api_calls == 16 and engine.retries == 8
        assert engine.breaker.times_opened == 0


def test_every_third_request_failing_under_eight_fan_out_workers_completes(make_org, control):
    org = make_org(size=120)
    control.set_faults(org.id, error_5xx_every=3)
    control.reset_stats(org.id)
    employees = [r["id"] for r in control.records(org.id, "employees")]
    adapter = CustomHrmsAdapter(org, Secret(DEMO_TOKEN))
    sleeps = []
    # which request is every third arrival is up to the 8 workers' interleaving: with 6 attempts one
    # of the 120 requests drew the fault every time in about 1 run of 5 (120 x (1/3)^6); 12 make it
    # about 1 in 4,000
    with engine_for(org.base_url, sleeps, retry=RetryPolicy(max_attempts=12)) as engine:
        rows = [row for page in adapter.fetch(engine, "leave_balances", None, PagingState(),
                                              FetchContext(parent_ids=lambda parent: employees))
                for row in page]
    assert adapter.fan_out_workers == 8
    assert len(rows) == len(control.records(org.id, "leave_balances"))
    stats = control.stats(org.id)
    assert stats["faults_fired"]["error_5xx"] >= len(employees) // 3 - 1, stats
    assert engine.retries == len(sleeps) == stats["faults_fired"]["error_5xx"]
    assert engine.breaker.times_opened == 0


def test_an_outage_opens_the_breaker_and_fails_fast_with_the_cause():
    healthy = threading.Event()
    with LocalServer(lambda path: 200 if healthy.is_set() else 503) as server:
        now = [0.0]
        breaker = CircuitBreaker(cooldown=30, clock=lambda: now[0])
        org = Organization(id="acme", name="Acme", base_url=server.url, credential_env="UNUSED")
        adapter = CustomHrmsAdapter(org, Secret(DEMO_TOKEN))
        parents = [f"emp-{i:06d}" for i in range(200)]
        policy = RetryPolicy(max_attempts=4)
        sleeps = []
        with engine_for(server.url, sleeps, retry=policy, breaker=breaker) as engine:
            with pytest.raises((TransientError, CircuitOpenError)) as failed:
                for _ in adapter.fetch(engine, "leave_balances", None, PagingState(),
                                       FetchContext(parent_ids=lambda parent: parents)):
                    pass
            message = str(failed.value)
            assert f"test at {server.url}" in message and "HTTP 503 on GET /api/v1/employees/" in message, message
            assert breaker.times_opened == 1
            # only the requests under way when the first gave up called at all: not 200 x 4
            assert len(server.requests) == engine.api_calls <= adapter.fan_out_workers * policy.max_attempts

            calls = engine.api_calls
            with pytest.raises(CircuitOpenError, match="HTTP 503"):
                engine.get_json("/api/v1/employees")
            assert engine.api_calls == calls

            # after the cooldown one trial request goes through; an answer closes the breaker
            healthy.set()
            now[0] += 30
            assert engine.get_json("/api/v1/employees").body == {"data": []}
            assert engine.get_json("/api/v1/departments").status == 200
            assert breaker.opened_at is None and engine.api_calls == calls + 2


def test_secret_does_not_show_in_repr():
    auth = BearerAuth(Secret("super-secret-value"))
    assert "super-secret-value" not in repr(auth) and "super-secret-value" not in str(auth.token)
