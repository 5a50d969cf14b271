"""Everything that differs between DuckDB and PostgreSQL lives here.

The one difference that matters for speed is how a batch gets into the database:
PostgreSQL takes it through ``COPY`` into a temporary table, DuckDB scans an Arrow
table registered in the connection. Both hand back a relation name, and the SQL that
merges it into the core tables is shared (``store.py``).
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import logging
import os
import re
import shutil
import threading
import time
import typing
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator, Sequence

import pyarrow as pa
import pyarrow.csv as pa_csv
import sqlalchemy as sa

from harvey_pipelines import settings

log = logging.getLogger("harvey.warehouse")


def _warm_arrow() -> None:
    pa.array([""])


# pyarrow imports pandas on its first conversion of Python objects (about 0.5 s): done in
# the background when this module loads, it overlaps process start-up (a Dagster run loads
# the code location for seconds) instead of holding up a sync's first batch
_arrow_warmup = threading.Thread(target=_warm_arrow, name="harvey-arrow-warmup", daemon=True)
_arrow_warmup.start()


def wait_for_imports() -> None:
    """Block until the background imports are done (for measurements that leave imports out)."""
    _arrow_warmup.join()


class LockTimeout(TimeoutError):
    pass


class Dialect:
    name: str
    # the catalog beyond information_schema, as rows (schema, table, name, definition) of the
    # schemas :schemas (migrations.catalog compares warehouses by them); a comment row's name
    # is the column's, '' for the table's own
    INDEXES_SQL: str
    COMMENTS_SQL: str

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    @contextmanager
    def writer(self, hold: bool = False) -> Iterator[sa.Connection]:
        """A transaction. ``hold`` lets a dialect keep its connection for the next batch."""
        with self.engine.begin() as conn:
            yield conn

    def roomy_writer(self, memory_limit: str) -> typing.ContextManager[sa.Connection]:
        """A transaction with ``memory_limit`` of the database's memory for the block where the
        dialect has one to set (DuckDB: a sync process's is small); for one large change."""
        return self.writer()

    def release(self) -> None:
        """Give up anything ``writer(hold=True)`` kept."""

    @contextmanager
    def turn(self, wait: float | None) -> Iterator[None]:
        """Keep the writers' turn (if the dialect has one) for the block, taken within ``wait``
        seconds (else ``LockTimeout``); the ``writer()`` transactions inside share it."""
        yield

    def publish(self, target: Path) -> None:
        """Copy the warehouse to ``target`` for readers that must not stand in the writers' way."""
        raise NotImplementedError(f"{self.name} publishes no copy: its readers never block its writers")

    @contextmanager
    def exclusive(self, key: str, timeout: float) -> Iterator[None]:
        """Hold a named lock across processes (one sync per organization and entity)."""
        raise NotImplementedError

    def compact(self, tables: Sequence[str]) -> None:
        """Rewrite ``tables`` ("schema.table") so that rows deleted or changed in them leave no
        bytes behind in the database's files (erasure). PostgreSQL: ``VACUUM FULL`` of each (an
        exclusive lock on it meanwhile); a plain delete leaves dead tuples until a vacuum reuses
        their space."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in tables:
                conn.exec_driver_sql(f"VACUUM FULL {table}")

    @contextmanager
    def index_scans(self, conn: sa.Connection) -> Iterator[None]:
        """The block's queries read by index where one serves, even where the planner expects
        a scan of the whole table to cost less (a rare search of a few kinds of rows that the
        statistics cannot tell apart from the rest of a large table)."""
        yield

    def lock_migrations(self, conn: sa.Connection) -> None:
        """Make other processes' migrations wait until this transaction ends."""

    @contextmanager
    def for_other_process(self) -> Iterator[None]:
        """Let another program (dbt) use the database meanwhile, without our writers in the way."""
        yield

    def stage(self, conn: sa.Connection, name: str, columns: Sequence[sa.Column], batch: pa.Table) -> str:
        """Make ``batch`` (``to_arrow`` of ``columns``) readable as relation ``name`` in this
        transaction; returns the name."""
        raise NotImplementedError

    def unstage(self, conn: sa.Connection, name: str) -> None:
        pass

    @contextmanager
    def snapshot(self, memory_limit: str | None = None) -> Iterator[sa.Connection]:
        """A read-only transaction in which every query sees the same state (REPEATABLE READ:
        a writer committing meanwhile neither blocks it nor shows in it). ``memory_limit``:
        the database's memory for the block where the dialect has one to set (DuckDB)."""
        with self.engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn, conn.begin():
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            yield conn

    def merge(self, target: str, columns: list[str], changed: str) -> list[str]:
        """Statements that merge the staged rows (``{stage}``, alias ``excluded``) into
        ``target`` keyed by (organization_id, source_id), updating a row only where
        ``changed`` (over ``t`` and ``excluded``) holds. The last statement returns one row:
        (rows inserted, rows inserted or updated)."""
        updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in ("organization_id", "source_id"))
        return [
            f"WITH merged AS (INSERT INTO {target} AS t ({', '.join(columns)}, first_synced_at, is_deleted) "
            f"SELECT {', '.join(columns)}, synced_at, FALSE FROM {{stage}} "
            f"ON CONFLICT (organization_id, source_id) DO UPDATE SET {updates}, is_deleted = FALSE, "
            f"deleted_at = NULL WHERE {changed} "
            # an inserted row keeps first_synced_at = synced_at
            "RETURNING (first_synced_at = synced_at) AS inserted) "
            "SELECT count(*) FILTER (WHERE inserted), count(*) FROM merged"
        ]

class PostgresDialect(Dialect):
    name = "postgresql"
    INDEXES_SQL = "SELECT schemaname, tablename, indexname, indexdef FROM pg_indexes WHERE schemaname IN :schemas"
    COMMENTS_SQL = (
        "SELECT n.nspname, c.relname, a.attname, col_description(c.oid, a.attnum) "
        "FROM pg_attribute AS a JOIN pg_class AS c ON c.oid = a.attrelid JOIN pg_namespace AS n "
        "ON n.oid = c.relnamespace WHERE n.nspname IN :schemas AND c.relkind IN ('r', 'v') AND a.attnum > 0 "
        "AND NOT a.attisdropped "
        "UNION ALL SELECT n.nspname, c.relname, '', obj_description(c.oid, 'pg_class') "
        "FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
        "WHERE n.nspname IN :schemas AND c.relkind IN ('r', 'v')")

    @contextmanager
    def index_scans(self, conn):
        # For the rest of the transaction only (SET LOCAL); not reset when the block fails, which
        # aborts the transaction and the settings with it. JIT: half a second of compiling for a
        # query that reads by index.
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        conn.exec_driver_sql("SET LOCAL jit = off")
        yield
        conn.exec_driver_sql("SET LOCAL enable_seqscan TO DEFAULT")
        conn.exec_driver_sql("SET LOCAL jit TO DEFAULT")

    def lock_migrations(self, conn):
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_advisory_key('harvey-migrations')})")

    @contextmanager
    def exclusive(self, key, timeout):
        number = _advisory_key(key)
        with self.engine.connect() as conn:
            deadline = time.monotonic() + timeout
            while not conn.exec_driver_sql(f"SELECT pg_try_advisory_lock({number})").scalar():
                conn.rollback()
                if time.monotonic() > deadline:
                    raise LockTimeout(f"{key} is still held after {timeout:.0f}s")
                time.sleep(0.5)
            conn.commit()
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({number})")
                conn.commit()

    def stage(self, conn, name, columns, batch):
        ddl = ", ".join(f"{c.name} {c.type.compile(dialect=conn.dialect)}" for c in columns)
        conn.exec_driver_sql(f"CREATE TEMP TABLE {name} ({ddl}) ON COMMIT DROP")
        buffer = io.BytesIO()
        # Arrow writes the CSV in C++: values quoted, NULL as an unquoted empty field
        pa_csv.write_csv(batch, buffer,
                         pa_csv.WriteOptions(include_header=False, quoting_style="all_valid"))
        buffer.seek(0)
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.copy_expert(f"COPY {name} FROM STDIN WITH (FORMAT csv)", buffer)
        return name


def _advisory_key(name: str) -> int:
    """PostgreSQL's advisory locks take a bigint: the name's hash."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


_ARROW_TYPES = {
    sa.Text: pa.string(),
    sa.BigInteger: pa.int64(),
    sa.Float: pa.float64(),
    sa.Boolean: pa.bool_(),
    sa.Date: pa.date32(),
}


def to_arrow(columns: Sequence[sa.Column], rows: list[tuple]) -> pa.Table:
    # the tuples become one struct array in a single C++ pass (no column lists in Python)
    struct = pa.struct([pa.field(c.name, _arrow_type(c)) for c in columns])
    return pa.Table.from_struct_array(pa.array(rows, type=struct))


def _arrow_type(column: sa.Column) -> pa.DataType:
    if isinstance(column.type, sa.DateTime):
        return pa.timestamp("us", tz="UTC")
    for sa_type, arrow in _ARROW_TYPES.items():
        if isinstance(column.type, sa_type):
            return arrow
    raise TypeError(f"no Arrow type for {column.name} {column.type}")


class DuckDBDialect(Dialect):
    """DuckDB lets one process write a file at a time: writers take a file lock.

    Closing a DuckDB connection checkpoints the file, which costs more than a batch. A
    sync therefore keeps its connection (and the lock) across batches (``hold=True``) and
    gives it up when the sync finishes, when another process waits for the lock (waiters
    say so with a shared lock on a queue file), or at the latest after a lease; other
    processes wait at most about one batch.
    """

    name = "duckdb"
    INDEXES_SQL = ("SELECT schema_name, table_name, index_name, sql FROM duckdb_indexes() "
                   "WHERE database_name = current_database() AND schema_name IN :schemas")
    COMMENTS_SQL = (
        "SELECT schema_name, table_name, '', comment FROM duckdb_tables() "
        "WHERE database_name = current_database() AND schema_name IN :schemas "
        "UNION ALL SELECT schema_name, view_name, '', comment FROM duckdb_views() "
        "WHERE database_name = current_database() AND schema_name IN :schemas "
        "UNION ALL SELECT schema_name, table_name, column_name, comment FROM duckdb_columns() "
        "WHERE database_name = current_database() AND schema_name IN :schemas")
    _thread_lock = threading.RLock()

    def __init__(self, engine: sa.Engine):
        super().__init__(engine)
        database = engine.url.database
        self.lock_path = Path(f"{database}.lock")
        self.queue_path = Path(f"{database}.queue")
        self._conn: sa.Connection | None = None
        self._lock_file: IO[str] | None = None
        self._leased_at = 0.0
        self._kept = 0  # turn() blocks under way: the connection stays until the last ends

    @contextmanager
    def writer(self, hold: bool = False):
        with self._thread_lock:
            conn = self._conn if self._conn is not None else self._connect()
            try:
                with conn.begin():
                    yield conn
            finally:
                if not self._kept and (not hold or time.monotonic() - self._leased_at
                                       > settings.current().duckdb_lease_seconds or self._others_waiting()):
                    self.release()

    def _connect(self, wait: float | None = None) -> sa.Connection:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.lock_path, "a")
        try:
            self._wait_for_lock(handle, wait)
            self._conn = self.engine.connect()
        except BaseException:
            handle.close()  # and with it the lock
            raise
        self._lock_file = handle
        self._leased_at = time.monotonic()
        return self._conn

    @contextmanager
    def turn(self, wait):
        with self._thread_lock:
            if self._conn is None:
                self._connect(wait)
            self._kept += 1
        try:
            yield
        finally:
            with self._thread_lock:
                self._kept -= 1
                if not self._kept:
                    self.release()

    def _wait_for_lock(self, handle, wait: float | None = None) -> None:
        """Until this process holds the lock file; ``wait``: at most that long (``LockTimeout``)."""
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        with open(self.queue_path, "a") as queue:
            fcntl.flock(queue, fcntl.LOCK_SH)  # "waiting": the holder lets go after its batch
            if wait is None:
                fcntl.flock(handle, fcntl.LOCK_EX)
                return
            deadline = time.monotonic() + wait
            while True:
                time.sleep(0.1)
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LockTimeout(f"another process has held the DuckDB file {self.engine.url.database} "
                                          f"for over {wait:g}s (a sync's batch, or a dbt build)") from None

    def _others_waiting(self) -> bool:
        with open(self.queue_path, "a") as queue:
            try:
                fcntl.flock(queue, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(queue, fcntl.LOCK_UN)
            return False

    @contextmanager
    def for_other_process(self):
        # our writers queue on the lock file; DuckDB itself then lets the other process in
        with self._thread_lock:
            self.release()
            with open(self.lock_path, "a") as lock:
                self._wait_for_lock(lock)
                try:
                    yield
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    def lock_migrations(self, conn):
        pass  # writers take turns on the file (``writer``): a migration runs alone

    def release(self) -> None:
        with self._thread_lock:
            if self._conn is not None:
                try:
                    self._conn.close()
                finally:
                    self._conn = None
                    if self._lock_file is not None:
                        fcntl.flock(self._lock_file, fcntl.LOCK_UN)
                        self._lock_file.close()
                        self._lock_file = None

    def publish(self, target):
        """A byte copy of the checkpointed file, in the writers' turn, renamed onto ``target``.

        Readers of ``target`` never touch the warehouse file, so they never block a writer;
        one holding the old copy open keeps reading it (the rename leaves its inode alone),
        a new connection opens the new one. The copy is made read-only (mode 0444): a reader
        that opened it for writing would leave a WAL that the next copy does not own. A byte
        copy, because it costs a fraction of re-writing the data (``COPY FROM DATABASE``),
        see BENCHMARKS.md.
        """
        database = Path(self.engine.url.database)
        partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.partial")
        with self.for_other_process():  # the writers' turn, with no connection of ours open
            with self.engine.connect() as conn:
                conn.exec_driver_sql("CHECKPOINT")  # the WAL a killed writer may have left
                conn.commit()
            wal = Path(f"{database}.wal")
            if wal.exists() and wal.stat().st_size:
                raise RuntimeError(f"{wal} is still there after a checkpoint: the copy would miss its commits")
            try:
                shutil.copyfile(database, partial)
                _views_without_catalog(partial, database.stem)
                partial.chmod(0o444)
                with open(partial, "rb") as copy:
                    os.fsync(copy.fileno())
                os.replace(partial, target)  # in the turn: publishers replace in the order they copied
            finally:
                partial.unlink(missing_ok=True)

    def compact(self, tables):
        """The whole file written again (``COPY FROM DATABASE`` into a new file, renamed onto
        it), in the writers' turn: DuckDB marks deleted rows but keeps their bytes in the file's
        blocks (and a byte-copied published copy would keep them too)."""
        database = Path(self.engine.url.database)
        fresh = database.with_name(f".{database.name}.{os.getpid()}.compact")
        with self.for_other_process():  # no connection of ours open, other writers waiting
            fresh.unlink(missing_ok=True)
            try:
                with self.engine.connect() as conn:
                    raw = conn.connection.driver_connection  # ATTACH runs outside a transaction
                    # a copy of every table: not held to a sync's cache (the demo's file overran 40 MB);
                    # the connection closes after it (no pool), and the limit with it
                    _set_memory_limit(raw, settings.current().duckdb_checks_memory_limit)
                    raw.execute("CHECKPOINT")
                    name = raw.execute("SELECT current_database()").fetchone()[0]
                    raw.execute(f"ATTACH '{fresh}' AS harvey_compact")
                    raw.execute(f'COPY FROM DATABASE "{name}" TO harvey_compact')
                    raw.execute("DETACH harvey_compact")
                os.replace(fresh, database)
            finally:
                fresh.unlink(missing_ok=True)

    @contextmanager
    def exclusive(self, key, timeout):
        path = Path(f"{self.engine.url.database}.{hashlib.sha256(key.encode()).hexdigest()[:16]}.lock")
        with open(path, "a") as handle:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise LockTimeout(f"{key} is still held after {timeout:.0f}s") from None
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def stage(self, conn, name, columns, batch):
        conn.connection.driver_connection.register(name, batch)
        return name

    def snapshot(self, memory_limit=None):
        # a transaction (DuckDB's are snapshots) in the writers' turn: a reader holds the file too
        return self.roomy_writer(memory_limit)

    @contextmanager
    def roomy_writer(self, memory_limit):
        with self.turn(wait=None):
            raw = self._conn.connection.driver_connection  # SET outside the transaction, which may abort
            if memory_limit is not None:  # the limit is the process's (a sync's is small): set back after
                _set_memory_limit(raw, memory_limit)
            try:
                with self.writer() as conn:
                    yield conn
            finally:
                if memory_limit is not None and self._kept > 1:  # else the turn's end closes the connection
                    self._lower_memory_limit(raw)

    @staticmethod
    def _lower_memory_limit(raw) -> None:
        """Back to what create_engine set. DuckDB refuses a limit below what it holds (after a
        delete in a large table, that table's segments: more than a sync's limit after an erasure
        in a large warehouse); a checkpoint may free some, so it is tried once more after one.
        Refused all the same, the connection keeps the larger limit until its turn ends: the
        block's work is committed, it is not failed for that."""
        import duckdb

        limit = settings.current().duckdb_memory_limit
        try:
            _set_memory_limit(raw, limit)
        except duckdb.OutOfMemoryException:
            try:
                raw.execute("CHECKPOINT")
                _set_memory_limit(raw, limit)
            except duckdb.Error as exc:
                log.warning("DuckDB's memory limit stays raised until the writers' turn ends: %s", exc)

    # The big tables carry no index here (``keeps_indexes``): merges go by joins, and keys
    # stay unique because DuckDB writers take turns.
    def merge(self, target, columns, changed):
        # a changed row is rewritten (deleted, then inserted): cheaper than DuckDB's UPDATE
        # of every column, at the statement and at the next checkpoint
        key = "t.organization_id = c.organization_id AND t.source_id = c.source_id"
        return [
            "CREATE OR REPLACE TEMP TABLE harvey_changed AS SELECT excluded.organization_id, "
            f"excluded.source_id, t.first_synced_at FROM {{stage}} AS excluded LEFT JOIN {target} AS t "
            "ON t.organization_id = excluded.organization_id AND t.source_id = excluded.source_id "
            f"WHERE t.source_id IS NULL OR ({changed})",
            f"DELETE FROM {target} AS t USING harvey_changed AS c WHERE c.first_synced_at IS NOT NULL AND {key}",
            f"INSERT INTO {target} ({', '.join(columns)}, first_synced_at, is_deleted) "
            f"SELECT {', '.join(f't.{c}' for c in columns)}, coalesce(c.first_synced_at, t.synced_at), FALSE "
            f"FROM {{stage}} AS t JOIN harvey_changed AS c ON {key}",
            "SELECT count(*) FILTER (WHERE first_synced_at IS NULL), count(*) FROM harvey_changed",
        ]

    def unstage(self, conn, name):
        conn.connection.driver_connection.unregister(name)


def keeps_indexes(dialect_name: str) -> bool:
    """Whether the core tables and raw versions get their keys and indexes (DDL).

    Not on DuckDB: it keeps an index (ART) of a table in memory and rewrites it at
    checkpoints, so memory and load time would grow with the warehouse; its scans skip by
    zonemaps instead, and its merges go by joins (``DuckDBDialect.merge``)."""
    return dialect_name != "duckdb"


class _ZstdText(sa.types.UserDefinedType):
    cache_ok = True

    def get_col_spec(self, **kw) -> str:
        return "VARCHAR USING COMPRESSION zstd"


# Raw payloads (JSON text) are most of a sync's bytes: on DuckDB zstd keeps them small and
# costs less at each checkpoint than DuckDB's own choice among its string compressions.
PAYLOAD_TEXT = sa.Text().with_variant(_ZstdText(), "duckdb")


DIALECTS: dict[str, type[Dialect]] = {"postgresql": PostgresDialect, "duckdb": DuckDBDialect}


def dialect_for(engine: sa.Engine) -> Dialect:
    if engine.dialect.name not in DIALECTS:
        raise ValueError(f"unsupported warehouse dialect {engine.dialect.name!r} (use duckdb or postgresql)")
    return DIALECTS[engine.dialect.name](engine)


def _size(value: str) -> str:
    """A memory size as DuckDB's settings take it ('40MB', '1.5 GiB'), checked before it goes into SQL."""
    if not re.fullmatch(r"\s*\d+(\.\d+)?\s*[KMGT]?i?B\s*", value, flags=re.I):
        raise ValueError(f"not a memory size: {value!r} (e.g. 512MB, 2GB)")
    return value.strip()


def _set_memory_limit(raw, value: str) -> None:
    """DuckDB's memory limit for the database ``raw`` (a DuckDB connection) is open on."""
    raw.execute(f"SET memory_limit = '{_size(value)}'")


def create_engine(url: str) -> sa.Engine:
    if url.startswith("duckdb"):
        database = sa.engine.make_url(url).database
        if not database or database == ":memory:":
            raise ValueError("the DuckDB warehouse must be a file (duckdb:////path/to/warehouse.duckdb)")
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        # no pool: a DuckDB file must be released between writers of different processes;
        # DuckDB caches data blocks up to its memory limit, bounded so a sync stays small.
        # DuckDB's own checkpoint threshold (16MB of WAL) is kept on purpose: a big sync's
        # checkpoints then run in the loader thread while pages are still being fetched,
        # instead of all at the end (BENCHMARKS.md, "Two hosts, and what changed between them")
        config = {"memory_limit": settings.current().duckdb_memory_limit}
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool, connect_args={"config": config})
        _count_changes_before_duckdb_2(engine)
        key = settings.current().duckdb_encryption_key
        if key is not None:
            _attach_encrypted(engine, Path(database), key)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    return sa.create_engine(url, pool_pre_ping=True)


def _views_without_catalog(copy: Path, catalog: str) -> None:
    """dbt's views name the warehouse's catalog (``"warehouse"."core"."employees"``), and DuckDB
    1.5 keeps that name in the view: opened as ``analytics.duckdb`` (catalog ``analytics``) the
    copy's views would find no catalog ``warehouse``. Each view that names it is made again in
    the copy without it, so it reads the copy's own tables."""
    import duckdb

    naming = re.compile(rf'(?<![\w."])"?{re.escape(catalog)}"?\.(?="?\w+"?\.)')
    key = settings.current().duckdb_encryption_key
    with duckdb.connect(":memory:") as instance:
        options = ""
        if key is not None:
            instance.execute(f"LOAD '{httpfs_extension()}'")
            options = " (ENCRYPTION_KEY ?)"
        instance.execute(f"ATTACH '{copy}' AS \"{catalog}\"{options}", [key.get_secret_value()] if key else [])
        instance.execute(f'USE "{catalog}"')
        views = instance.execute("SELECT sql FROM duckdb_views() WHERE NOT internal AND database_name = ?",
                                 [catalog]).fetchall()
        for (sql,) in views:
            if naming.search(sql):
                instance.execute(re.sub(r"^CREATE VIEW", "CREATE OR REPLACE VIEW", naming.sub("", sql)))
        instance.execute("CHECKPOINT")
        instance.execute(f'USE memory; DETACH "{catalog}"')


def _count_changes_before_duckdb_2(engine: sa.Engine) -> None:
    """DuckDB's Python client before 2.0 reports -1 as the rowcount of UPDATE, DELETE and
    INSERT; the statement's result row holds the count: it becomes the rowcount."""
    import duckdb

    if int(duckdb.__version__.split(".")[0]) >= 2:
        return

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _rowcount(conn, cursor, statement, parameters, context, executemany):
        head = statement.lstrip()[:6].upper()
        if head in ("UPDATE", "DELETE", "INSERT") and " RETURNING " not in statement.upper() \
                and cursor.rowcount == -1 and context is not None:
            row = cursor.fetchone()
            context._rowcount = row[0] if row else 0


def httpfs_extension() -> Path:
    """The httpfs extension of the DuckDB installed (PyPI's duckdb-extension-httpfs): its crypto
    writes encrypted files, DuckDB's own refuses to. Loaded by path: ``LOAD httpfs`` looks in
    ~/.duckdb/extensions, and nothing may be downloaded."""
    import duckdb

    try:
        import duckdb_extension_httpfs
    except ModuleNotFoundError:
        raise RuntimeError("HARVEY_DUCKDB_ENCRYPTION_KEY is set but the package duckdb-extension-httpfs "
                           f"(=={duckdb.__version__}) is not installed") from None
    path = Path(duckdb_extension_httpfs.__file__).parent / "extensions" / f"v{duckdb.__version__}" \
        / "httpfs.duckdb_extension"
    if not path.exists():
        raise RuntimeError(f"duckdb-extension-httpfs has no extension for DuckDB {duckdb.__version__}: "
                           "install the release of the same version")
    return path


def _attach_encrypted(engine: sa.Engine, database: Path, key) -> None:
    """Every connection of ``engine`` opens the file encrypted with ``key`` (a SecretStr, read
    only here). One in-memory DuckDB per engine loads the extension and attaches the file under
    its stem's name (the catalog name it has when opened directly); each connection is a cursor
    of it, as connections to one file share one DuckDB in a process (a second ATTACH of the file
    is refused). The last connection to close detaches it: the file's lock goes, as when a
    directly opened file's last connection closes (other processes take turns on it)."""
    import duckdb
    from duckdb_engine import ConnectionWrapper

    extension = httpfs_extension()
    lock = threading.Lock()
    shared: dict[str, typing.Any] = {"instance": None, "users": 0}

    class _Connection(ConnectionWrapper):
        def close(self) -> None:
            super().close()
            with lock:
                shared["users"] -= 1
                if shared["users"] == 0:
                    shared["instance"].close()
                    shared["instance"] = None

    @sa.event.listens_for(engine, "do_connect")
    def _connect(dialect, record, cargs, cparams):
        with lock:
            if shared["instance"] is None:
                instance = duckdb.connect(":memory:", config=cparams.get("config", {}))
                try:
                    instance.execute(f"LOAD '{extension}'")
                    instance.execute(f"ATTACH '{database}' AS \"{database.stem}\" (ENCRYPTION_KEY ?)",
                                     [key.get_secret_value()])
                except BaseException:
                    instance.close()
                    raise
                shared["instance"] = instance
            connection = shared["instance"].cursor()
            connection.execute(f'USE "{database.stem}"')
            shared["users"] += 1
        return _Connection(connection)
