"""Schema migrations, on DuckDB and PostgreSQL: a warehouse of an earlier release, with data
from a real sync, upgrades without loss and syncs on; the migrations make exactly what the
code declares; a new field reaches a warehouse by the README's procedure; processes that open
the warehouse at once take turns; `harvey migrate`."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from harvey_pipelines.cli import main
from harvey_pipelines.records import ENTITIES_BY_NAME, Employee
from harvey_pipelines.warehouse import Warehouse, migrations, schema, store
from harvey_pipelines.warehouse.dialects import create_engine
from harvey_pipelines.warehouse.migrations import Catalog
from harvey_pipelines_tests.conftest import throwaway_database
from harvey_pipelines_tests.helpers import differences, warehouse_rows
from harvey_pipelines_tests.test_readme_commands import readme_commands
from harvey_pipelines_tests.test_sync import ALL, assert_counts_add_up, raw_version_count, sync_all


@pytest.fixture
def declared_url(warehouse_url, tmp_path):
    """A second, empty warehouse of the same dialect, for what the code declares."""
    if warehouse_url.startswith("duckdb"):
        yield f"duckdb:///{tmp_path / 'declared.duckdb'}"
        return
    with throwaway_database(warehouse_url, "harvey_declared") as url:
        yield url


def catalog_of(warehouse: Warehouse) -> Catalog:
    with warehouse.writer() as conn:
        return migrations.catalog(conn)


def declared_catalog(url: str) -> Catalog:
    declared = Warehouse(url)
    try:
        with declared.writer() as conn:
            migrations.declare(conn)
            return migrations.catalog(conn)
    finally:
        declared.dispose()


def reopen(warehouse: Warehouse) -> Warehouse:
    """The warehouse as the next process opens it."""
    warehouse.dispose()
    store._migrated.discard(warehouse.url)
    return Warehouse(warehouse.url)


def assert_agree(warehouse: Warehouse, declared_url: str) -> None:
    found = migrations.differences(catalog_of(warehouse), declared_catalog(declared_url))
    assert found == [], "the migrations and the code disagree (README, Adding a field):\n" + "\n".join(map(str, found))


def test_the_migrations_make_what_the_code_declares(warehouse_url, declared_url):
    warehouse = Warehouse(warehouse_url)
    try:
        done = warehouse.migrate()
        assert (done.before, done.after, done.derived) == (None, migrations.head(), True)
        assert [s.revision for s in done.applied] == [s.revision for s in migrations.pending_revisions(None)]
        assert_agree(warehouse, declared_url)
        # the derived objects: records.py's descriptions as comments, and the view
        comments = catalog_of(warehouse).comments
        assert comments[("core", "employees", "hire_date")] == Employee.model_fields["hire_date"].description
        assert comments[("core", "employees", "")] == ENTITIES_BY_NAME["employees"].description
        with warehouse.writer() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(schema.record_keys)).scalar_one() == 0
    finally:
        warehouse.dispose()


def _baseline_columns(tmp_path) -> set[tuple[str, str, str]]:
    """(schema, table, column) of a warehouse migrated to the baseline revision only, with the
    view core.record_keys (a derived object; the comments of later revisions' columns cannot be made)."""
    engine = create_engine(f"duckdb:///{tmp_path / 'baseline.duckdb'}")
    try:
        with engine.begin() as conn:
            migrations.upgrade(conn, target="0001", derive=False)
            conn.exec_driver_sql(schema.record_keys_view())
            return set(migrations.catalog(conn).columns)
    finally:
        engine.dispose()


OLDER_TABLES = ("alerts", "organization_settings", "organization_holidays", "organization_leave_policies",
                schema.RECORD_KEYS)


def make_earlier_release(warehouse: Warehouse, release: str, tmp_path) -> None:
    """Turn a warehouse at head into what create_all of an earlier release left behind: no
    version, nothing a later revision added (``last``: the release before migrations); an
    ``older`` one also lacked the columns create_all added later (its ADDED_COLUMNS), the
    alerts and organization settings tables, the view core.record_keys and the comments."""
    keep = {key for key in _baseline_columns(tmp_path) if key[1] != "derived_objects"}  # the migrations' own
    if release == "older":
        added = migrations.scripts().get_revision("0001").module.ADDED_SINCE_FIRST_RELEASE
        keep = {key for key in keep if key[1] not in OLDER_TABLES and key[2] not in added.get(key[1], ())}
    now = catalog_of(warehouse)
    tables = {key[:2] for key in keep}
    with warehouse.writer() as conn:
        conn.exec_driver_sql(f"DROP TABLE {schema.SYNC}.{migrations.VERSION_TABLE}")
        if release == "older":
            conn.exec_driver_sql(f"DROP VIEW {schema.CORE}.{schema.RECORD_KEYS}")
        for table in sorted({key[:2] for key in now.columns} - tables - {(schema.CORE, schema.RECORD_KEYS)}):
            conn.exec_driver_sql(f"DROP TABLE {'.'.join(table)}")
        for table in sorted(tables):
            dropped = [key[2] for key in now.columns if key[:2] == table and key not in keep]
            # DuckDB alters no column of a table with an index (README, What DuckDB can ALTER)
            indexes = {key: d for key, d in now.indexes.items() if key[:2] == table and not key[2].endswith("_pkey")}
            for key in indexes if dropped else ():
                conn.exec_driver_sql(f"DROP INDEX {key[0]}.{key[2]}")
            for column in dropped:
                conn.exec_driver_sql(f"ALTER TABLE {'.'.join(table)} DROP COLUMN {column}")
            for definition in indexes.values() if dropped else ():
                conn.exec_driver_sql(definition)
        for table in schema.metadata.sorted_tables if release == "older" else ():  # made without comments
            if (table.schema, table.name) in tables:
                conn.exec_driver_sql(f"COMMENT ON TABLE {table.fullname} IS NULL")
                for column in [c for c in table.columns if (table.schema, table.name, c.name) in keep]:
                    conn.exec_driver_sql(f"COMMENT ON COLUMN {table.fullname}.{column.name} IS NULL")
    assert set(catalog_of(warehouse).columns) == keep


def _count(warehouse: Warehouse, table: sa.Table) -> int:
    with warehouse.writer() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


@pytest.mark.parametrize("release", ["last", "older"])
def test_a_warehouse_of_an_earlier_release_upgrades_and_syncs_on(
        release, make_org, control, warehouse, declared_url, tmp_path):
    org = make_org(size=60)
    for name, result in sync_all(org, warehouse).items():
        assert result.status == "success" and result.inserted > 0, name
    counts, runs = warehouse.row_counts(), _count(warehouse, schema.sync_runs)
    versions, employees = raw_version_count(warehouse, org.id), warehouse_rows(warehouse, org.id, "employees")
    make_earlier_release(warehouse, release, tmp_path)

    warehouse = reopen(warehouse)
    try:
        done = warehouse.migrate()
        assert (done.before, done.after) == (None, migrations.head())
        assert [s.revision for s in done.applied] == [s.revision for s in migrations.pending_revisions(None)]
        # nothing lost, and every table, column, index, comment and the view the code declares
        assert warehouse.row_counts() == counts
        assert (_count(warehouse, schema.sync_runs), raw_version_count(warehouse, org.id)) == (runs, versions)
        assert warehouse_rows(warehouse, org.id, "employees") == employees
        assert_agree(warehouse, declared_url)
        with warehouse.writer() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(schema.record_keys)).scalar_one() > 0

        changes = control.advance(org.id, hours=24, change_fraction=0.05)
        again = sync_all(org, warehouse, overlap=dt.timedelta(0))
        for name, result in again.items():
            assert result.status == "success", (name, result.error)
            assert_counts_add_up(result)
        assert again["employees"].inserted == len(set(changes["created"].get("employees", [])))
        deleted = {(e, i) for e, ids in changes["deleted"].items() for i in ids}
        assert differences(control, warehouse, org.id, ignore_ids=deleted) == {}
        assert _count(warehouse, schema.sync_runs) == runs + len(ALL)
    finally:
        warehouse.dispose()


@pytest.fixture
def scripts_copy(tmp_path, monkeypatch):
    """The migrations as a copy, so that a generated revision does not land in the source tree."""
    copy = tmp_path / "migrations"
    shutil.copytree(migrations._SCRIPTS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrations, "_SCRIPTS", copy)
    migrations.scripts.cache_clear()
    yield copy
    migrations.scripts.cache_clear()


@pytest.fixture
def a_new_field(warehouse):
    """records.py gains a field: the core table gains its column (what schema.record_columns
    makes of a new Field), after the warehouse was made."""
    table = schema.CORE_TABLES["employees"]
    column = sa.Column("preferred_name", sa.Text, comment="The name the employee goes by.")
    table.append_column(column)
    migrations._derived_by_dialect.clear()
    yield column
    table._columns.remove(column)
    migrations._derived_by_dialect.clear()


def test_a_new_field_reaches_a_warehouse_by_a_generated_revision(
        make_org, control, warehouse, a_new_field, scripts_copy, declared_url, capsys):
    org = make_org(size=30)
    assert sync_all(org, warehouse)["employees"].status == "success"
    counts = warehouse.row_counts()
    found = migrations.differences(catalog_of(warehouse), declared_catalog(declared_url))
    assert {(d.kind, d.where) for d in found} >= {("column", ("core", "employees", "preferred_name"))}

    assert main(["migrate", "--generate", "employees preferred name"]) == 0
    written = scripts_copy / "versions" / f"{int(migrations.head()):04d}_employees_preferred_name.py"
    assert f"wrote {written}" in capsys.readouterr().out
    source = written.read_text()
    assert "op.add_column('employees', sa.Column('preferred_name', sa.Text(), nullable=True), schema='core')" \
        in source and "comment" not in source.split("def upgrade")[1]
    assert migrations.head() != "0001"

    warehouse = reopen(warehouse)
    try:
        done = warehouse.migrate()
        assert [s.revision for s in done.applied] == [migrations.head()]
        assert_agree(warehouse, declared_url)
        assert catalog_of(warehouse).comments[("core", "employees", "preferred_name")] == a_new_field.comment
        assert warehouse.row_counts() == counts
        control.advance(org.id, hours=24, change_fraction=0.05)
        assert sync_all(org, warehouse, overlap=dt.timedelta(0))["employees"].status == "success"
    finally:
        warehouse.dispose()
    assert main(["migrate", "--generate", "nothing"]) == 0
    assert "nothing to generate" in capsys.readouterr().out


def test_changed_descriptions_reach_the_comments_at_the_next_start(warehouse, monkeypatch):
    monkeypatch.setattr(schema.CORE_TABLES["employees"].c.hire_date, "comment", "The first day at work.")
    migrations._derived_by_dialect.clear()
    warehouse = reopen(warehouse)
    try:
        done = warehouse.migrate()
        assert (done.applied, done.derived) == ([], True)
        assert catalog_of(warehouse).comments[("core", "employees", "hire_date")] == "The first day at work."
        warehouse = reopen(warehouse)
        assert warehouse.migrate().derived is False  # current now: one query, nothing made
    finally:
        warehouse.dispose()
        migrations._derived_by_dialect.clear()


def test_a_warehouse_migrated_by_a_newer_release_is_left_alone(warehouse, monkeypatch, capsys):
    with warehouse.writer() as conn:
        conn.exec_driver_sql(f"UPDATE {schema.SYNC}.{migrations.VERSION_TABLE} SET version_num = 'ffff'")
    warehouse = reopen(warehouse)
    try:
        with pytest.raises(migrations.WarehouseAhead, match="at revision ffff, which this release of Harvey"):
            warehouse.migrate()
    finally:
        warehouse.dispose()
    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", warehouse.url)
    for argv in (["migrate"], ["migrate", "--sql"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("error: Warehouse(") and "run that release" in err, err
    with warehouse.writer() as conn:
        assert migrations.revision(conn) == "ffff"
    warehouse.dispose()


def _wait_for(condition, what: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 300
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"never saw {what}: {process.communicate()}")
        time.sleep(0.2)


def test_processes_that_open_the_warehouse_at_once_take_turns(warehouse_url):
    """`harvey migrate` starts while another process migrates: it waits for the lock (DuckDB:
    the writer lock, PostgreSQL: an advisory lock), then finds the work done."""
    first = Warehouse(warehouse_url)
    env = {**os.environ, "HARVEY_WAREHOUSE_URL": warehouse_url}
    command = [sys.executable, "-m", "harvey_pipelines.cli", "migrate"]
    try:
        if first.dialect.name == "duckdb":
            with first.writer() as conn:
                other = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                _wait_for(first.dialect._others_waiting, "it wait for the DuckDB file", other)
                done = migrations.upgrade(conn)
        else:
            def waiting() -> bool:
                with first.engine.connect() as conn:
                    return bool(conn.exec_driver_sql(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted").scalar())

            with first.writer() as conn:
                first.dialect.lock_migrations(conn)
                other = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                _wait_for(waiting, "it wait for the migration lock", other)
                done = migrations.upgrade(conn)
        out, err = other.communicate(timeout=300)
        assert other.returncode == 0, err
        assert done.before is None and done.applied
        head = migrations.head()
        assert f": {head} -> {head} (head): up to date" in out, out
        with first.writer() as conn:
            assert conn.exec_driver_sql(f"SELECT version_num FROM {schema.SYNC}.{migrations.VERSION_TABLE}").all() \
                == [(head,)]
    finally:
        first.dispose()


def test_harvey_migrate_prints_the_sql_then_migrates(warehouse_url, monkeypatch, capsys):
    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", warehouse_url)
    head = migrations.head()
    assert main(["migrate", "--sql"]) == 0
    sql = capsys.readouterr().out
    assert sql.startswith("-- Warehouse(") and f": no revision -> {head} (head); nothing is applied" in sql
    assert "CREATE TABLE IF NOT EXISTS core.employees (" in sql
    assert "COMMENT ON COLUMN core.employees.hire_date IS 'First working day.'" in sql
    warehouse = Warehouse(warehouse_url)
    try:
        with warehouse.writer() as conn:
            assert migrations.revision(conn) is None, "--sql applies nothing"
    finally:
        warehouse.dispose()

    assert main(["migrate"]) == 0
    out = capsys.readouterr().out
    assert f": no revision -> {head} (head)\n  applied 0001: Baseline" in out, out
    assert "made the view core.record_keys and the table and column comments" in out
    store._migrated.discard(warehouse_url)  # the next process
    assert main(["migrate"]) == 0
    assert capsys.readouterr().out.endswith(f": {head} -> {head} (head): up to date\n")
    assert main(["migrate", "--sql"]) == 0
    assert capsys.readouterr().out.endswith("-- nothing to do\n")


def test_the_readme_migrate_commands_run_as_written(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HARVEY_WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("HARVEY_DATA_DIR", str(tmp_path))
    commands = readme_commands(".venv/bin/harvey migrate")
    assert [c[1:2] for c in commands] == [[], ["--sql"], ["--generate"]], commands
    for argv in commands:
        assert main(argv) == 0, (argv, capsys.readouterr())
    out = capsys.readouterr().out
    assert "applied 0001" in out and "nothing to generate" in out, out
