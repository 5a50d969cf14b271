"""Unit tests of the rate limit's arithmetic (``refill_and_take``), its leases, and how a store is
chosen and named. (That two processes together keep the limit: test_rate_limit.py.)"""

from __future__ import annotations

import sqlite3

import pytest

from harvey_pipelines.sources import rate_limit
from harvey_pipelines.sources.rate_limit import (
    SharedRateLimiter,
    SqliteTokenStore,
    open_store,
    rate_limiter_for,
    refill_and_take,
    shown_store,
)

pytestmark = pytest.mark.fast


def test_a_bucket_never_used_is_full():
    assert refill_and_take(None, None, now=100.0, per_second=5, burst=10, want=3) == (7.0, 100.0, 3)
    assert refill_and_take(None, None, now=100.0, per_second=5, burst=10, want=50) == (0.0, 100.0, 10)


def test_it_refills_at_the_rate_up_to_the_burst():
    # 2 tokens left at t=100; 0.5 s at 5/s adds 2.5
    assert refill_and_take(2.0, 100.0, now=100.5, per_second=5, burst=10, want=4) == (0.5, 100.5, 4)
    # a long idle time fills it to the burst, not beyond
    assert refill_and_take(0.0, 100.0, now=1000.0, per_second=5, burst=10, want=0) == (10.0, 1000.0, 0)


def test_only_whole_tokens_are_taken():
    left, stamp, taken = refill_and_take(0.0, 100.0, now=100.3, per_second=5, burst=10, want=3)
    assert (taken, stamp) == (1, 100.3) and left == pytest.approx(0.5)
    left, _, taken = refill_and_take(0.2, 100.0, now=100.1, per_second=5, burst=10, want=1)
    assert taken == 0 and left == pytest.approx(0.7), "less than one token: none taken, the fraction kept"


def test_a_clock_behind_the_stored_stamp_refills_nothing_and_keeps_the_stamp():
    # another process wrote stamp 101 after this one read its clock at 100.5
    assert refill_and_take(3.0, 101.0, now=100.5, per_second=5, burst=10, want=1) == (2.0, 101.0, 1)


def test_a_sqlite_store_is_one_bucket_for_every_connection(tmp_path):
    path = str(tmp_path / "limits" / "rate_limits.sqlite")
    first, second = SqliteTokenStore(path), SqliteTokenStore(path)  # as two processes would
    assert first.take("acme/custom", per_second=0.001, burst=10, want=4) == (4, 6.0)
    taken, left = second.take("acme/custom", per_second=0.001, burst=10, want=10)
    assert taken == 6 and left == pytest.approx(0.0, abs=0.01)
    assert second.take("globex/custom", per_second=0.001, burst=10, want=1)[0] == 1, "one bucket per key"
    with sqlite3.connect(path) as conn:
        assert sorted(k for k, in conn.execute("SELECT key FROM buckets")) == ["acme/custom", "globex/custom"]


@pytest.mark.parametrize("per_second, burst, lease", [(100, 100, 5), (2, 2, 1), (0.5, 1, 1), (1000, 1000, 50)])
def test_a_lease_holds_a_twentieth_of_a_second_of_the_rate_at_least_one_token(per_second, burst, lease, tmp_path):
    limiter = SharedRateLimiter("acme/custom", per_second, SqliteTokenStore(str(tmp_path / "b.sqlite")), "sqlite")
    assert (limiter.burst, limiter.lease_size) == (burst, lease)


def test_a_lease_is_spent_in_this_process_before_the_store_is_asked_again(tmp_path):
    calls = []

    class CountingStore(SqliteTokenStore):
        def take(self, *args):
            calls.append(args)
            return super().take(*args)

    limiter = SharedRateLimiter("acme/custom", 100, CountingStore(str(tmp_path / "b.sqlite")), "sqlite")
    for _ in range(5):
        limiter.acquire()
    assert calls == [("acme/custom", 100, 100.0, 5)]  # one round trip for a lease of 5
    limiter.acquire()
    assert len(calls) == 2


def test_an_unknown_store_url_is_refused_naming_the_variable_without_the_password():
    with pytest.raises(ValueError) as refused:
        open_store("mysql://harvey:pw-31@db/limits")
    assert str(refused.value) == ("HARVEY_RATE_LIMIT_URL 'mysql://harvey:***@db/limits' must be sqlite:///path, "
                                  "postgresql://... or redis://...")
    assert shown_store("redis://:pw-31@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"


def test_one_limiter_per_organization_and_rate_in_a_process(tmp_path, monkeypatch):
    monkeypatch.setenv("HARVEY_RATE_LIMIT_URL", f"sqlite:///{tmp_path / 'limits.sqlite'}")
    monkeypatch.setattr(rate_limit, "_limiters", {})
    monkeypatch.setattr(rate_limit, "_stores", {})
    acme = rate_limiter_for("acme/custom", 10)
    assert rate_limiter_for("acme/custom", 10) is acme
    assert rate_limiter_for("acme/custom", 20) is not acme  # the registry changed its rate
    other = rate_limiter_for("globex/custom", 10)
    assert other is not acme and other.store is acme.store, "one connection to the store per process"
    assert acme.store_name == f"sqlite:///{tmp_path / 'limits.sqlite'}"
