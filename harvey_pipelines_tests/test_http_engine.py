"""The HTTP engine against the mock HRMS on loopback: what it retries, waits for and refuses."""

from __future__ import annotations

import pytest

from harvey_pipelines.sources.errors import CircuitOpenError, ConfigurationError, TransientError
from harvey_pipelines.sources.http import BearerAuth, CircuitBreaker, HttpEngine, RetryPolicy, Secret
from harvey_pipelines_tests.conftest import DEMO_TOKEN


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


def test_circuit_breaker_stops_calling_a_dead_server():
    sleeps = []
    dead = "http://127.0.0.1:9"  # discard port: connection refused
    engine = engine_for(dead, sleeps, retry=RetryPolicy(max_attempts=3, backoff_base=0.01),
                        breaker=CircuitBreaker(threshold=3, cooldown=60))
    with engine:
        with pytest.raises(TransientError, match="gave up after 3 attempts"):
            engine.get_json("/api/v1/employees")
        calls = engine.api_calls
        with pytest.raises(CircuitOpenError):
            engine.get_json("/api/v1/employees")
        assert engine.api_calls == calls, "an open circuit makes no call"


def test_secret_does_not_show_in_repr():
    auth = BearerAuth(Secret("super-secret-value"))
    assert "super-secret-value" not in repr(auth) and "super-secret-value" not in str(auth.token)
