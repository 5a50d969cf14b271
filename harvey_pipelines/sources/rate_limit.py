"""Each organization's rate limit, held across every process and host that syncs it.

A token bucket (``per_second`` calls per second on average, bursts of ``burst``) whose state
lives where all those processes see it (``settings.rate_limit_url()``): a SQLite file in the
data dir (the embedded default: the processes of one machine), the PostgreSQL warehouse, or
Redis (both: every host). A store only keeps ``(tokens, stamp)`` per organization and changes
it atomically on its own clock; the bucket's arithmetic is ``refill_and_take``, here once.

A process takes a few tokens per round trip (a *lease* of at most ``LEASE_SECONDS`` of the
rate, one token at low rates), so a fast limit costs one round trip per lease rather than per
request, and the combined rate can exceed the limit by at most one unspent lease per process.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Protocol

from harvey_pipelines import settings
from harvey_pipelines.sources.errors import TransientError

LEASE_SECONDS = 0.05  # a lease holds at most this much of the rate
LEASE_LIFETIME = 1.0  # leased tokens unspent this long are dropped: an idle process keeps no burst of its own
SQLITE_BUSY_TIMEOUT = 30.0


def refill_and_take(tokens: float | None, stamp: float | None, now: float, per_second: float, burst: float,
                    want: int) -> tuple[float, float, int]:
    """The token bucket: refill since ``stamp`` at ``per_second`` up to ``burst`` (a bucket never
    used is full), then take up to ``want`` whole tokens. Returns (tokens left, stamp, taken).
    A clock read just before another process wrote a later stamp refills nothing."""
    if tokens is None or stamp is None:
        tokens, stamp = burst, now
    tokens = min(burst, tokens + max(0.0, now - stamp) * per_second)
    taken = min(want, int(tokens))
    return tokens - taken, max(stamp, now), taken


class TokenStore(Protocol):
    errors: tuple[type[Exception], ...]  # what its client raises when the store cannot be reached

    def take(self, key: str, per_second: float, burst: float, want: int) -> tuple[int, float]:
        """``refill_and_take`` on the shared bucket ``key``, atomically: (taken, tokens left)."""


class SqliteTokenStore:
    """A SQLite file: one machine's processes take turns on it (SQLite's write lock), on this
    machine's clock. WAL without fsync per commit: a lost bucket after a power cut is a full one."""

    errors: tuple[type[Exception], ...] = (sqlite3.Error,)

    def __init__(self, path: str):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT, isolation_level=None,
                                     check_same_thread=False)
        self._lock = threading.Lock()  # the connection is shared by this process's limiters
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("CREATE TABLE IF NOT EXISTS buckets "
                           "(key TEXT PRIMARY KEY, tokens REAL NOT NULL, stamp REAL NOT NULL)")

    def take(self, key: str, per_second: float, burst: float, want: int) -> tuple[int, float]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                row = self._conn.execute("SELECT tokens, stamp FROM buckets WHERE key = ?", (key,)).fetchone()
                tokens, stamp = row or (None, None)
                left, stamp, taken = refill_and_take(tokens, stamp, time.time(), per_second, burst, want)
                self._conn.execute("INSERT INTO buckets VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE "
                                   "SET tokens = excluded.tokens, stamp = excluded.stamp", (key, left, stamp))
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            return taken, left


class PostgresTokenStore:
    """A row per organization in ``rate_limits.buckets`` (unlogged: the state of the last second
    needs no WAL), locked for the take, on the server's clock, so hosts' clocks do not matter."""

    def __init__(self, url: str):
        import sqlalchemy as sa

        self._sa = sa
        self.errors: tuple[type[Exception], ...] = (sa.exc.DBAPIError,)
        # postgresql:// is psycopg2, SQLAlchemy's default driver; no pre-ping (a round trip per
        # take): a dropped connection is retried once in take
        self.engine = sa.create_engine(url, pool_size=2, max_overflow=8)
        self._table_ready = False
        self._select = sa.text("SELECT tokens, stamp, extract(epoch FROM clock_timestamp())::float8 "
                               "FROM rate_limits.buckets WHERE key = :key FOR UPDATE")
        self._create = sa.text("INSERT INTO rate_limits.buckets VALUES (:key, :burst, 0) ON CONFLICT (key) DO NOTHING")
        self._update = sa.text("UPDATE rate_limits.buckets SET tokens = :tokens, stamp = :stamp WHERE key = :key")

    def take(self, key: str, per_second: float, burst: float, want: int) -> tuple[int, float]:
        try:
            return self._take(key, per_second, burst, want)
        except self._sa.exc.DBAPIError as exc:
            if not exc.connection_invalidated:  # the server restarted since: once more, anew
                raise
            return self._take(key, per_second, burst, want)

    def _create_table(self) -> None:
        sa = self._sa
        with self.engine.begin() as conn:
            # CREATE ... IF NOT EXISTS races itself in PostgreSQL: one creator at a time
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('rate_limits.buckets'))"))
            conn.execute(sa.text("CREATE SCHEMA IF NOT EXISTS rate_limits"))
            conn.execute(sa.text(
                "CREATE UNLOGGED TABLE IF NOT EXISTS rate_limits.buckets "
                "(key TEXT PRIMARY KEY, tokens DOUBLE PRECISION NOT NULL, stamp DOUBLE PRECISION NOT NULL)"))
        self._table_ready = True

    def _take(self, key: str, per_second: float, burst: float, want: int) -> tuple[int, float]:
        if not self._table_ready:  # on first use, so that an unreachable server fails a request, not the set-up
            self._create_table()
        with self.engine.begin() as conn:
            row = conn.execute(self._select, {"key": key}).first()
            if row is None:  # a full bucket, stamped long ago
                conn.execute(self._create, {"key": key, "burst": burst})
                row = conn.execute(self._select, {"key": key}).one()
            left, stamp, taken = refill_and_take(row[0], row[1], row[2], per_second, burst, want)
            conn.execute(self._update, {"key": key, "tokens": left, "stamp": stamp})
        return taken, left


class RedisTokenStore:
    """A hash per organization, changed in a WATCH/MULTI transaction (redis-py retries it when
    another process changed the bucket in between), on the Redis server's clock."""

    PREFIX = "harvey:rate_limit:"

    def __init__(self, url: str):
        import redis

        self.errors: tuple[type[Exception], ...] = (redis.RedisError,)
        self.client = redis.Redis.from_url(url)

    def take(self, key: str, per_second: float, burst: float, want: int) -> tuple[int, float]:
        name = self.PREFIX + key

        def attempt(pipe) -> tuple[int, float]:
            tokens, stamp = pipe.hmget(name, "tokens", "stamp")
            seconds, micros = pipe.time()
            left, stamp, taken = refill_and_take(
                None if tokens is None else float(tokens), None if stamp is None else float(stamp),
                seconds + micros / 1e6, per_second, burst, want)
            pipe.multi()
            pipe.hset(name, mapping={"tokens": repr(left), "stamp": repr(stamp)})
            # a bucket idle until it is full again is the same as none
            pipe.expire(name, int(burst / per_second) + 60)
            return taken, left

        # redis-py's stubs type the callback as returning None; value_from_callable returns its value
        return self.client.transaction(attempt, name, value_from_callable=True)  # type: ignore[arg-type,return-value]


def shown_store(url: str) -> str:
    """The store's URL as errors name it: without a password."""
    import sqlalchemy as sa

    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url.split("@")[-1]


def open_store(url: str) -> TokenStore:
    if url.startswith("sqlite:///"):
        return SqliteTokenStore(url[len("sqlite:///"):])
    if url.startswith("postgresql"):
        return PostgresTokenStore(url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisTokenStore(url)
    raise ValueError(f"HARVEY_RATE_LIMIT_URL {shown_store(url)!r} must be sqlite:///path, postgresql://... or "
                     "redis://...")


class SharedRateLimiter:
    """One organization's limit in this process: at most ``per_second`` calls per second on
    average, bursts of ``burst``, counted in ``store`` together with every other process."""

    def __init__(self, key: str, per_second: float, store: TokenStore, store_name: str, burst: int | None = None):
        self.key = key
        self.per_second = per_second
        self.burst = float(burst if burst is not None else max(1, int(per_second)))
        self.lease_size = max(1, min(int(self.burst), int(per_second * LEASE_SECONDS)))
        self.store = store
        self.store_name = store_name
        self._leased = 0
        self._leased_at = 0.0
        # held while waiting for tokens too: the other threads queue here instead of asking the store
        self._lock = threading.Lock()

    def acquire(self) -> None:
        with self._lock:
            while True:
                if self._leased and time.monotonic() - self._leased_at < LEASE_LIFETIME:
                    self._leased -= 1
                    return
                try:
                    taken, left = self.store.take(self.key, self.per_second, self.burst, self.lease_size)
                except self.store.errors as exc:
                    cause = " ".join(str(exc).split())[:200]
                    raise TransientError(f"{self.key}: the rate limit store {self.store_name} failed: "
                                         f"{type(exc).__name__}: {cause}") from None
                if taken:
                    self._leased, self._leased_at = taken - 1, time.monotonic()
                    return
                time.sleep((1 - left) / self.per_second)


_stores: dict[tuple[int, str], TokenStore] = {}
_limiters: dict[tuple[int, str, str, float], SharedRateLimiter] = {}
_registry_lock = threading.Lock()


def rate_limiter_for(key: str, per_second: float) -> SharedRateLimiter:
    """The limiter of ``key`` (an organization's engine name) in this process, counted in the
    store of ``settings.rate_limit_url()``; shared by all its syncs here. Per process id: a
    forked child opens its own connection."""
    url = settings.rate_limit_url()
    pid = os.getpid()
    with _registry_lock:
        limiter = _limiters.get((pid, url, key, per_second))
        if limiter is None:
            store = _stores.get((pid, url))
            if store is None:
                store = _stores[(pid, url)] = open_store(url)
            limiter = SharedRateLimiter(key, per_second, store, shown_store(url))
            _limiters[(pid, url, key, per_second)] = limiter
        return limiter
