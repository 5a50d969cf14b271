"""Versioned, forward-only migrations of the warehouse's raw, core and sync schemas (Alembic).

``versions/`` holds one file per revision, oldest first (``0001_baseline`` is the schema that
``Warehouse.create_all`` made before migrations existed, and adopts such a warehouse). A process
that opens the warehouse (``Warehouse.migrate``) asks one small query whether it is at this
release's head and its derived objects are current; only when not does it take the migration
lock and ``upgrade``. ``harvey migrate`` does the same on demand, prints the SQL (``--sql``) or
writes the revision a change of records.py/schema.py needs (``--generate``).

Derived objects are not migrated but made from the code after every upgrade: the view
``core.record_keys`` and the comment of every table and column (records.py's field
descriptions, schema.py's comments). Their statements' fingerprint, kept in
``sync.derived_objects``, tells when the code changed them.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import render_python_code
from alembic.config import Config
from alembic.ddl.impl import DefaultImpl
from alembic.operations import ops
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory

from harvey_pipelines.warehouse import schema
from harvey_pipelines.warehouse.dialects import DIALECTS, create_engine

SCHEMAS = (schema.RAW, schema.CORE, schema.SYNC)
CREATE_SCHEMAS = [f"CREATE SCHEMA IF NOT EXISTS {name}" for name in SCHEMAS]
# in schema sync: Dagster keeps its own alembic_version (public) when it shares the database
VERSION_TABLE = "alembic_version"
_SCRIPTS = Path(__file__).parent


class DuckDBImpl(DefaultImpl):
    """Alembic on DuckDB. duckdb_engine 0.17 ships no Alembic implementation (its README has
    users declare this class); DuckDB's DDL is transactional, so a failed upgrade leaves nothing."""

    __dialect__ = "duckdb"
    transactional_ddl = True


class WarehouseAhead(RuntimeError):
    """The warehouse is at a revision this release does not know: a newer release migrated it."""


@dataclass
class Upgrade:
    before: str | None  # None: no version yet (an empty warehouse, or one create_all made)
    after: str
    applied: list[Script]  # revisions run, oldest first
    derived: bool  # the derived objects were (re)made

    @classmethod
    def nothing(cls, revision: str) -> "Upgrade":
        return cls(revision, revision, [], derived=False)


def _config(**attributes) -> Config:
    config = Config(output_buffer=attributes.pop("output", None))
    config.set_main_option("script_location", str(_SCRIPTS))
    config.set_main_option("path_separator", "os")
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes.update(attributes)
    return config


@cache
def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_config())


def head() -> str:
    return scripts().get_current_head()


def _options() -> dict:
    return dict(target_metadata=schema.metadata, version_table=VERSION_TABLE, version_table_schema=schema.SYNC)


def run(context: EnvironmentContext) -> None:
    """What ``env.py`` does: on the caller's connection (in its transaction), or as SQL text."""
    config = context.config
    connection = config.attributes.get("connection")
    if connection is None:
        name = config.attributes["dialect_name"]
        context.configure(dialect_name=name, literal_binds=True, **_options())
    else:
        context.configure(connection=connection, **_options())
    with context.begin_transaction():
        for statement in CREATE_SCHEMAS:  # before the version table, which lives in sync
            context.execute(statement)
        context.run_migrations()
        if config.attributes.get("derive"):
            for statement in derived_statements(context.get_context().dialect):
                context.execute(statement)


def derived_statements(dialect: sa.Dialect) -> list[str]:
    """The view ``core.record_keys``, every table's and column's comment as the code has it,
    and the row in ``sync.derived_objects`` that remembers their fingerprint."""
    return [*_derived(dialect)[0], f"DELETE FROM {schema.derived_objects.fullname}",
            f"INSERT INTO {schema.derived_objects.fullname} (fingerprint, applied_at) "
            f"VALUES ('{fingerprint(dialect)}', CURRENT_TIMESTAMP)"]


def fingerprint(dialect: sa.Dialect) -> str:
    return _derived(dialect)[1]


_derived_by_dialect: dict[str, tuple[list[str], str]] = {}


def _derived(dialect: sa.Dialect) -> tuple[list[str], str]:
    if dialect.name not in _derived_by_dialect:
        statements = [schema.record_keys_view()]
        for table in schema.metadata.sorted_tables:
            # "IS NULL" where the code has none (SQLAlchemy's DropColumnComment leaves out the schema)
            elements = [sa.schema.SetTableComment(table), *map(sa.schema.SetColumnComment, table.columns)]
            statements += [str(element.compile(dialect=dialect)) for element in elements]
        _derived_by_dialect[dialect.name] = (
            statements, hashlib.sha256("\n".join(statements).encode()).hexdigest())
    return _derived_by_dialect[dialect.name]


def is_current(conn: sa.Connection) -> bool:
    """Whether the warehouse is at this release's head with current derived objects: the one
    query a process asks when it opens the warehouse. Raises ``sa.exc.DBAPIError`` where the
    tables it reads do not exist yet (no migration ever ran)."""
    rows = conn.execute(sa.text(
        f"SELECT v.version_num, d.fingerprint FROM {schema.SYNC}.{VERSION_TABLE} AS v "
        f"LEFT JOIN {schema.derived_objects.fullname} AS d ON TRUE")).all()
    return [tuple(row) for row in rows] == [(head(), fingerprint(conn.dialect))]


def revision(conn: sa.Connection) -> str | None:
    """The warehouse's revision; None before the first migration."""
    return MigrationContext.configure(conn, opts=_options()).get_current_revision()


def known(current: str | None) -> str | None:
    """``current``, unless it is a revision this release does not have (``WarehouseAhead``)."""
    if current is not None and current not in {s.revision for s in scripts().walk_revisions()}:
        raise WarehouseAhead(
            f"the warehouse is at revision {current}, which this release of Harvey does not know "
            f"(its newest is {head()}): a newer release migrated it; run that release")
    return current


def upgrade(conn: sa.Connection, target: str = "head", derive: bool = True) -> Upgrade:
    """Run the revisions up to ``target`` that the warehouse lacks and make the derived
    objects, in the caller's transaction (the caller holds the migration lock)."""
    before = known(revision(conn))
    after = scripts().get_revision(target).revision
    if before == after == head() and is_current(conn):
        return Upgrade.nothing(before)
    pending = pending_revisions(before, after)
    command.upgrade(_config(connection=conn, derive=derive), after)
    return Upgrade(before, after, pending, derived=derive)


def pending_revisions(current: str | None, target: str = "head") -> list[Script]:
    """The revisions after ``current`` up to ``target``, oldest first."""
    return list(reversed(list(scripts().iterate_revisions(target, current))))


def upgrade_sql(dialect_name: str, current: str | None) -> str:
    """The SQL an upgrade from ``current`` would run (nothing is applied)."""
    output = io.StringIO()
    command.upgrade(_config(output=output, dialect_name=dialect_name, derive=True),
                    f"{current}:head" if current else "head", sql=True)
    return output.getvalue()


# -- comparing what the migrations make with what the code declares -------------------------
# From the database's own catalog rather than SQLAlchemy's reflection (and hence Alembic's
# autogenerate): on DuckDB, duckdb_engine 0.17 reflects schemas database-qualified, no keys,
# indexes or column comments, and its pg_catalog emulation outgrows the sync's memory limit.

@dataclass
class Catalog:
    """The raw, core and sync schemas as a database's catalog has them."""

    columns: dict[tuple[str, str, str], tuple]  # (schema, table, column) -> (type, nullable, default)
    keys: dict[tuple[str, str, str], tuple]  # (schema, table, kind) -> key columns, per kind and table
    indexes: dict[tuple[str, str, str], str]  # (schema, table, index) -> its definition
    comments: dict[tuple[str, str, str], str | None]  # (schema, table, column; '': the table's)


def catalog(conn: sa.Connection) -> Catalog:
    def rows(sql: str) -> list:
        return conn.execute(sa.text(sql).bindparams(
            sa.bindparam("schemas", list(SCHEMAS), expanding=True))).all()

    def kept(key: tuple) -> bool:
        return key[:2] != (schema.SYNC, VERSION_TABLE)  # Alembic's, in migrated warehouses only

    keys: dict[tuple, list] = {}
    for table_schema, table, kind, _name, column in rows(
            "SELECT tc.table_schema, tc.table_name, tc.constraint_type, tc.constraint_name, kcu.column_name "
            "FROM information_schema.table_constraints AS tc JOIN information_schema.key_column_usage AS kcu "
            "ON kcu.constraint_schema = tc.constraint_schema AND kcu.constraint_name = tc.constraint_name "
            "AND kcu.table_name = tc.table_name WHERE tc.table_schema IN :schemas "
            "AND tc.constraint_type IN ('PRIMARY KEY', 'UNIQUE', 'FOREIGN KEY') "
            "ORDER BY tc.constraint_name, kcu.ordinal_position"):
        keys.setdefault((table_schema, table, kind), []).append(column)
    dialect = DIALECTS[conn.dialect.name]
    return Catalog(
        columns={tuple(r[:3]): tuple(r[3:]) for r in rows(
            "SELECT table_schema, table_name, column_name, data_type, is_nullable, column_default "
            "FROM information_schema.columns WHERE table_schema IN :schemas") if kept(r)},
        keys={k: tuple(v) for k, v in keys.items() if kept(k)},
        indexes={tuple(r[:3]): r[3] for r in rows(dialect.INDEXES_SQL) if kept(r)},
        comments={tuple(r[:3]): r[3] for r in rows(dialect.COMMENTS_SQL) if kept(r)},
    )


@dataclass(frozen=True)
class Difference:
    kind: str  # column | key | index | comment
    where: tuple[str, str, str]
    migrated: object  # None: the migrations do not make it
    declared: object  # None: the code does not declare it

    def __str__(self) -> str:
        return (f"{'.'.join(p for p in self.where if p)} ({self.kind}): the migrations make "
                f"{self.migrated!r}, the code declares {self.declared!r}")


def differences(migrated: Catalog, declared: Catalog) -> list[Difference]:
    found = []
    for field, kind in (("columns", "column"), ("keys", "key"), ("indexes", "index"), ("comments", "comment")):
        ours, theirs = getattr(migrated, field), getattr(declared, field)
        for where in sorted(ours.keys() | theirs.keys()):
            if ours.get(where) != theirs.get(where):
                found.append(Difference(kind, where, ours.get(where), theirs.get(where)))
    return found


def declare(conn: sa.Connection, derive: bool = True) -> None:
    """Make what the code declares without migrations (``schema.metadata`` and the derived
    objects): what a migrated warehouse is compared with."""
    for statement in CREATE_SCHEMAS:
        conn.exec_driver_sql(statement)
    schema.metadata.create_all(conn)
    for statement in derived_statements(conn.dialect) if derive else ():
        conn.exec_driver_sql(statement)


def compare_on_duckdb() -> tuple[Catalog, Catalog]:
    """The catalogs of a warehouse migrated to head and of one made from the code, both
    scratch DuckDB files, without the derived objects (the comments of columns the
    migrations do not add yet cannot be made)."""
    with tempfile.TemporaryDirectory() as scratch:
        made = []
        for make in (upgrade, declare):
            engine = create_engine(f"duckdb:///{scratch}/{make.__name__}.duckdb")
            try:
                with engine.begin() as conn:
                    make(conn, derive=False)
                    made.append(catalog(conn))
            finally:
                engine.dispose()
    return made[0], made[1]


def missing_operations() -> tuple[list[ops.MigrateOperation], list[Difference]]:
    """The operations that add what the code declares and the migrations do not make yet
    (tables, columns, indexes), compared on DuckDB, and the differences left to write by hand
    (a changed type, a dropped column, an index only PostgreSQL keeps...). Comments are
    derived objects, never migrated."""
    migrated, declared = compare_on_duckdb()
    existing = {key[:2] for key in migrated.columns}
    operations, by_hand, new_tables = [], [], set()
    for difference in differences(migrated, declared):
        table_schema, table_name, name = difference.where
        table = schema.metadata.tables.get(f"{table_schema}.{table_name}")
        if difference.kind == "comment":
            continue
        if difference.migrated is not None or difference.declared is None or table is None:
            by_hand.append(difference)
        elif difference.kind == "index":
            operations.append(ops.CreateIndexOp.from_index(
                next(i for i in _without_comments(table).indexes if i.name == name)))
        elif (table_schema, table_name) not in existing:  # a new table: its columns and key at once
            if table.fullname not in new_tables:
                new_tables.add(table.fullname)
                operations.append(ops.CreateTableOp.from_table(_without_comments(table)))
        elif difference.kind == "column":
            operations.append(ops.AddColumnOp(table_name, _without_comments(table).c[name], schema=table_schema))
        else:
            by_hand.append(difference)
    return operations, by_hand


def generate(message: str) -> tuple[Path | None, list[Difference]]:
    """Write the next revision of ``missing_operations`` (None: nothing to add); returns its
    path and the differences left to write by hand."""
    operations, by_hand = missing_operations()
    if not operations:
        return None, by_hand
    number = len(list(scripts().walk_revisions())) + 1
    written = scripts().generate_revision(
        f"{number:04d}", message, head="head", upgrades=render_python_code(ops.UpgradeOps(operations)), imports="")
    scripts.cache_clear()
    return Path(written.path), by_hand


def _without_comments(table: sa.Table) -> sa.Table:
    """A copy of ``table`` for a generated revision: comments are derived objects."""
    copy = table.to_metadata(sa.MetaData())
    copy.comment = None
    for column in copy.columns:
        column.comment = None
    return copy
