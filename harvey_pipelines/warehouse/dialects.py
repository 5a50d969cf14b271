"""Everything that differs between DuckDB and PostgreSQL lives here.

The one difference that matters for speed is how a batch gets into the database:
PostgreSQL takes it through ``COPY`` into a temporary table, DuckDB scans an Arrow
table registered in the connection. Both hand back a relation name, and the SQL that
merges it into the core tables is shared (``store.py``).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import io
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import pyarrow as pa
import sqlalchemy as sa


class Dialect:
    name: str

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    @contextmanager
    def writer(self) -> Iterator[sa.Connection]:
        with self.engine.begin() as conn:
            yield conn

    def stage(self, conn: sa.Connection, name: str, columns: Sequence[sa.Column], rows: list[tuple]) -> str:
        raise NotImplementedError

    def unstage(self, conn: sa.Connection, name: str) -> None:
        pass

    def create_schemas(self, conn: sa.Connection, schemas: Sequence[str]) -> None:
        for schema in schemas:
            conn.exec_driver_sql(f"CREATE SCHEMA IF NOT EXISTS {schema}")


class PostgresDialect(Dialect):
    name = "postgresql"

    def stage(self, conn, name, columns, rows):
        ddl = ", ".join(f"{c.name} {c.type.compile(dialect=conn.dialect)}" for c in columns)
        conn.exec_driver_sql(f"CREATE TEMP TABLE {name} ({ddl}) ON COMMIT DROP")
        buffer = io.StringIO()
        buffer.writelines("\t".join(map(_copy_text, row)) + "\n" for row in rows)
        buffer.seek(0)
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.copy_expert(f"COPY {name} FROM STDIN", buffer)
        return name


def _copy_text(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    text = value if isinstance(value, str) else str(value)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


_ARROW_TYPES = {
    sa.Text: pa.string(),
    sa.BigInteger: pa.int64(),
    sa.Float: pa.float64(),
    sa.Boolean: pa.bool_(),
    sa.Date: pa.date32(),
}


def _arrow_type(column: sa.Column) -> pa.DataType:
    if isinstance(column.type, sa.DateTime):
        return pa.timestamp("us", tz="UTC")
    for sa_type, arrow in _ARROW_TYPES.items():
        if isinstance(column.type, sa_type):
            return arrow
    raise TypeError(f"no Arrow type for {column.name} {column.type}")


class DuckDBDialect(Dialect):
    """DuckDB lets one process write a file at a time: writers take a file lock, short."""

    name = "duckdb"
    _thread_lock = threading.RLock()

    def __init__(self, engine: sa.Engine):
        super().__init__(engine)
        database = engine.url.database
        self.lock_path = Path(f"{database}.lock") if database and database != ":memory:" else None

    @contextmanager
    def writer(self):
        with self._thread_lock:
            if self.lock_path is None:
                with self.engine.begin() as conn:
                    yield conn
                return
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.lock_path, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    with self.engine.begin() as conn:
                        yield conn
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)

    def stage(self, conn, name, columns, rows):
        schema = pa.schema([(c.name, _arrow_type(c)) for c in columns])
        arrays = list(zip(*rows)) if rows else [[] for _ in columns]
        table = pa.Table.from_arrays([pa.array(list(a), type=t) for a, t in zip(arrays, schema.types)], schema=schema)
        conn.connection.driver_connection.register(name, table)
        return name

    def unstage(self, conn, name):
        conn.connection.driver_connection.unregister(name)


def dialect_for(engine: sa.Engine) -> Dialect:
    if engine.dialect.name == "postgresql":
        return PostgresDialect(engine)
    if engine.dialect.name == "duckdb":
        return DuckDBDialect(engine)
    raise ValueError(f"unsupported warehouse dialect {engine.dialect.name!r} (use duckdb or postgresql)")


def create_engine(url: str) -> sa.Engine:
    if url.startswith("duckdb"):
        database = sa.engine.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # no pool: a DuckDB file must be released between writers of different processes
        return sa.create_engine(url, poolclass=sa.pool.NullPool)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://"):]
    return sa.create_engine(url, pool_pre_ping=True)
