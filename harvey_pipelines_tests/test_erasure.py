"""GDPR erasure against the mock HRMS (which keeps the person), on DuckDB and PostgreSQL: after
`harvey erase` no value of the person is left in any table or column of the warehouse (raw, core,
sync, dbt's staging, intermediate and marts), a full sync does not bring them back, the tombstone
and the audit rows exist, and `harvey erase --lift` lets the next sync load them again."""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
import sqlalchemy as sa

from harvey_pipelines.cli import main
from harvey_pipelines.warehouse import schema
from harvey_pipelines_tests.helpers import differences, warehouse_rows
from harvey_pipelines_tests.test_dbt_models import dbt_build
from harvey_pipelines_tests.test_sync import sync_all

# the marts (and what they read) that name people: employees, their attendance, interviewers
DBT_SELECTION = ("+employee_timeline", "+attendance_daily", "+interviewer_load")
SYSTEM_SCHEMAS = ("information_schema", "pg_catalog", "pg_toast")


def scan(url: str, values: set[str]) -> dict[str, int]:
    """"schema.table.column" -> rows whose text equals or contains one of ``values``, over every
    table and view of every schema of the warehouse."""
    engine = sa.create_engine(url)
    found: dict[str, int] = {}
    try:
        with engine.connect() as conn:
            columns = conn.execute(sa.text(
                "SELECT table_schema, table_name, column_name FROM information_schema.columns "
                "WHERE table_schema NOT IN :system ORDER BY 1, 2, 3").bindparams(
                sa.bindparam("system", list(SYSTEM_SCHEMAS), expanding=True))).all()
            by_table = collections.defaultdict(list)
            for table_schema, table, column in columns:
                by_table[(table_schema, table)].append(column)
            for (table_schema, table), names in by_table.items():
                counts = ", ".join(
                    "count(*) FILTER (WHERE " + " OR ".join(
                        f"strpos(CAST(\"{c}\" AS VARCHAR), :v{i}) > 0" for i in range(len(values))) + ")"
                    for c in names)
                row = conn.execute(sa.text(f'SELECT {counts} FROM "{table_schema}"."{table}"'),
                                   {f"v{i}": v for i, v in enumerate(sorted(values))}).one()
                found |= {f"{table_schema}.{table}.{c}": n for c, n in zip(names, row) if n}
    finally:
        engine.dispose()
    return found


def pick_person(control, org_id: str) -> str:
    """The source id of an employee with attendance and leave requests who manages others and is
    named in other records (an interviewer, an approver, a department head) the most, whose name
    is theirs alone."""
    employees = control.records(org_id, "employees")
    candidates = control.records(org_id, "candidates")
    names = collections.Counter(f"{p['first_name']} {p['last_name']}" for p in employees + candidates)
    roles: collections.Counter = collections.Counter()
    for e in employees:
        roles[e["manager_id"]] += 1
    for i in control.records(org_id, "interviews"):
        roles[i["interviewer_id"]] += 5
    for r in control.records(org_id, "leave_requests"):
        roles[r["approved_by"]] += 1
    for d in control.records(org_id, "departments"):
        roles[d["head_id"]] += 5
    attending = {a["employee_id"] for a in control.records(org_id, "attendance")}
    requesting = {r["employee_id"] for r in control.records(org_id, "leave_requests")}
    unique = [e for e in employees if names[f"{e['first_name']} {e['last_name']}"] == 1
              and e["id"] in attending and e["id"] in requesting]
    return max(unique, key=lambda e: (roles[e["id"]], e["id"]))["id"]


def cli(*args: str) -> int:
    return main(list(args))


@pytest.fixture
def erasure_env(warehouse, monkeypatch, tmp_path):
    monkeypatch.setenv("HARVEY_ERASURE_KEY", "test-erasure-key")
    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", warehouse.url)
    monkeypatch.setenv("HARVEY_DATA_DIR", str(tmp_path / "data"))
    return warehouse


def _audit(warehouse, action: str) -> list[dict]:
    a = schema.audit_log
    with warehouse.writer() as conn:
        return [dict(r) for r in conn.execute(sa.select(a).where(a.c.action == action)).mappings()]


def test_an_erased_employee_leaves_no_value_behind_and_stays_out_until_lifted(
        make_org, control, erasure_env, tmp_path, capsys):
    warehouse = erasure_env
    org = make_org(size=60, seed=7)  # a person who is also an interviewer, whatever ran before
    sync_all(org, warehouse)
    with warehouse.for_other_process():
        dbt_build(warehouse.url, tmp_path, "--select", *DBT_SELECTION, "--indirect-selection", "cautious")
    person_id = pick_person(control, org.id)
    person = warehouse_rows(warehouse, org.id, "employees")[person_id]
    values = {person_id, person["employee_id"], person["email"], person["phone"],
              f"{person['first_name']} {person['last_name']}"}
    before = scan(warehouse.url, values)
    # the scan sees the person everywhere they live: it can fail
    for where in ("raw.payload_versions.payload", "core.employees.email", "core.attendance.employee_id",
                  "core.interviews.interviewer_email", "marts.employee_timeline.employee_id",
                  "marts.attendance_daily.employee_id", "staging.stg_employees.email"):
        assert before.get(where), (where, before)

    warehouse.release()  # the command opens the warehouse itself
    assert cli("erase", "--org", org.id, "--employee", person["employee_id"]) == 0
    out = capsys.readouterr().out
    assert "employee erased" in out and "removed: core.attendance" in out, out
    assert scan(warehouse.url, values) == {}
    if warehouse.dialect.name == "duckdb":  # rewritten: no bytes of theirs in the file or its published copy
        database = Path(sa.engine.make_url(warehouse.url).database)
        for path in (database, database.with_name("analytics.duckdb")):
            data = path.read_bytes()
            assert [v for v in values if v.encode() in data] == [], path

    e = schema.erasures
    with warehouse.writer() as conn:
        [tombstone] = conn.execute(sa.select(e).where(e.c.organization_id == org.id)).mappings().all()
    assert tombstone["subject"] == "employee" and len(tombstone["subject_hash"]) == 64
    assert '"core.employees":1' in tombstone["removed"] and '"core.attendance":' in tombstone["removed"]
    [erasure] = _audit(warehouse, "erasure")
    assert erasure["organization_id"] == org.id and erasure["actor"].startswith("cli:")
    assert tombstone["subject_hash"] in erasure["details"]

    # re-runnable: a second erasure finds them gone and says so
    assert cli("erase", "--org", org.id, "--employee", person_id) == 0
    assert "erased already" in capsys.readouterr().out

    # the HRMS still holds them: a full sync drops their records and blanks their values
    again = sync_all(org, warehouse, mode="full")
    assert again["employees"].suppressed == 1 and again["attendance"].suppressed > 0, again
    for name, r in again.items():
        assert r.fetched == r.inserted + r.updated + r.unchanged + r.quarantined + r.suppressed, (name, r)
    runs = schema.sync_runs
    with warehouse.writer() as conn:
        assert conn.execute(sa.select(runs.c.suppressed).where(
            runs.c.id == again["employees"].sync_run_id)).scalar_one() == 1
    assert scan(warehouse.url, values) == {}
    with warehouse.writer() as conn:
        run_count = conn.execute(sa.select(sa.func.count()).select_from(runs)).scalar_one()
    assert run_count == len(_audit(warehouse, "sync"))  # one audit row per sync run

    warehouse.release()
    assert cli("erase", "--org", org.id, "--employee", person_id, "--lift") == 0
    assert _audit(warehouse, "suppression_lifted")
    back = sync_all(org, warehouse)  # incremental: the lift reset the cursors
    assert back["employees"].suppressed == 0 and back["employees"].inserted == 1, back["employees"]
    assert person_id in warehouse_rows(warehouse, org.id, "employees")
    assert differences(control, warehouse, org.id) == {}


def test_the_audit_trail_is_append_only_on_postgresql(erasure_env, make_org):
    warehouse = erasure_env
    org = make_org(size=5)
    sync_all(org, warehouse)
    rows = _audit(warehouse, "sync")
    assert {r["target"] for r in rows} >= {"employees", "attendance"} and all(r["actor"] == "manual" for r in rows)
    assert all(r["organization_id"] == org.id for r in rows)
    if warehouse.dialect.name != "postgresql":
        pytest.skip("DuckDB has no triggers: only the code appends there (README)")
    for statement in ("UPDATE sync.audit_log SET actor = 'x'", "DELETE FROM sync.audit_log",
                      "TRUNCATE sync.audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            with warehouse.writer() as conn:
                conn.exec_driver_sql(statement)


def test_a_sync_of_an_organization_with_suppressed_people_needs_the_key(erasure_env, make_org, control, monkeypatch):
    warehouse = erasure_env
    org = make_org(size=5)
    sync_all(org, warehouse)
    warehouse.release()
    candidate = control.records(org.id, "candidates")[0]["id"]
    assert cli("erase", "--org", org.id, "--candidate", candidate) == 0
    monkeypatch.delenv("HARVEY_ERASURE_KEY")
    from harvey_pipelines.sync import SyncFailed, sync_entity

    with pytest.raises(SyncFailed, match="HARVEY_ERASURE_KEY") as failed:
        sync_entity(org, "candidates", warehouse)
    assert failed.value.result.failure_kind == "configuration"


def test_registry_changes_by_command_are_in_the_audit_trail(erasure_env, tmp_path):
    warehouse = erasure_env
    path = str(tmp_path / "orgs.yaml")
    assert cli("--registry", path, "orgs", "add", "acme", "--base-url", "http://127.0.0.1:1/orgs/acme",
               "--credential-env", "HARVEY_ACME_SECRET_NAME") == 0
    assert cli("--registry", path, "orgs", "disable", "acme") == 0
    assert cli("--registry", path, "orgs", "list") == 0  # reads: no row
    rows = sorted(_audit(warehouse, "registry_change"), key=lambda r: r["recorded_at"])
    assert [(r["organization_id"], r["target"]) for r in rows] == [("acme", "orgs add"), ("acme", "orgs disable")]
    assert all(r["actor"].startswith("cli:") for r in rows)
    assert "credential_env" in rows[0]["details"] and "HARVEY_ACME_SECRET_NAME" not in rows[0]["details"]


def _erased_without_compaction(warehouse, make_org, control) -> tuple[dict, Path]:
    """An employee of a new organization erased with --no-compact: their record, and the DuckDB file
    that still holds their bytes (deleted, yet DuckDB keeps them in its blocks)."""
    org = make_org(size=8)
    sync_all(org, warehouse)
    person = control.records(org.id, "employees")[3]
    warehouse.release()
    assert cli("erase", "--org", org.id, "--employee", person["id"], "--no-compact") == 0
    assert scan(warehouse.url, {person["email"]}) == {}
    database = Path(sa.engine.make_url(warehouse.url).database or "")
    if warehouse.dialect.name == "duckdb":
        assert person["email"].encode() in database.read_bytes()
    return person | {"organization_id": org.id}, database


def test_an_erasure_without_compaction_leaves_bytes_until_harvey_compact(erasure_env, make_org, control, capsys,
                                                                          monkeypatch):
    warehouse = erasure_env
    person, database = _erased_without_compaction(warehouse, make_org, control)
    # a rewrite of the whole file is not held to a sync's small memory (the demo's file overran 40 MB)
    monkeypatch.setenv("HARVEY_DUCKDB_MEMORY_LIMIT", "1MB")
    assert cli("compact") == 0
    assert "rewritten: " in capsys.readouterr().out
    if warehouse.dialect.name == "duckdb":
        assert person["email"].encode() not in database.read_bytes()
    assert scan(warehouse.url, {person["email"]}) == {}


def test_several_people_are_erased_by_one_command_and_an_unknown_one_is_named(erasure_env, make_org, control,
                                                                              capsys):
    warehouse = erasure_env
    org = make_org(size=8)
    sync_all(org, warehouse)
    rows = warehouse_rows(warehouse, org.id, "employees")
    first, second = (rows[p["id"]] for p in control.records(org.id, "employees")[2:4])
    warehouse.release()
    # by source id and by employee number, with a reference nobody has between them
    assert cli("erase", "--org", org.id, "--no-compact", "--employee", first["source_id"],
               "--employee", "EMP-NOBODY", "--employee", second["employee_id"]) == 2
    out, err = capsys.readouterr()
    assert out.count("employee erased") == 2 and "'EMP-NOBODY'" in err, (out, err)
    emails = {first["email"], second["email"]}
    assert scan(warehouse.url, emails) == {}
    if warehouse.dialect.name == "duckdb":  # the analysts' copy, published once after both
        import duckdb

        published = Path(sa.engine.make_url(warehouse.url).database).with_name("analytics.duckdb")
        with duckdb.connect(str(published), read_only=True) as conn:
            assert conn.execute("SELECT count(*) FROM core.employees WHERE email IN (?, ?)",
                                sorted(emails)).fetchone() == (0,)
            assert conn.execute("SELECT count(*) FROM sync.erasures").fetchone() == (2,)
    with warehouse.writer() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.erasures)).scalar_one() == 2
    assert len(_audit(warehouse, "erasure")) == 2


def test_erasing_again_completes_the_rewrite_an_interrupted_erasure_left(erasure_env, make_org, control, capsys):
    warehouse = erasure_env
    # committed, not yet rewritten: where a crash between the two leaves it
    person, database = _erased_without_compaction(warehouse, make_org, control)
    assert cli("erase", "--org", person["organization_id"], "--employee", person["id"]) == 0
    assert "erased already" in capsys.readouterr().out
    if warehouse.dialect.name == "duckdb":
        for path in (database, database.with_name("analytics.duckdb")):
            assert person["email"].encode() not in path.read_bytes(), path
    assert scan(warehouse.url, {person["email"]}) == {}


def test_an_erasure_waits_for_a_running_sync_that_would_store_the_person_again(erasure_env, make_org, control):
    """A sync loads the suppression list when it starts: one already running when the erasure
    commits would store the person again from the pages it has still to fetch."""
    import threading

    from harvey_pipelines.sync import sync_entity
    from harvey_pipelines.warehouse.erasure import erase

    warehouse = erasure_env
    org = make_org(size=400)
    sync_all(org, warehouse)
    # the employee a full sync fetches last (pages of 100, ordered by updated_at and id)
    person = max(control.records(org.id, "employees"), key=lambda r: (r["updated_at"], r["id"]))
    control.set_faults(org.id, slow_every=1, slow_seconds=1.0)
    started, outcome = threading.Event(), {}

    def full_sync():
        outcome["sync"] = sync_entity(org, "employees", warehouse, mode="full", batch_size=50,
                                      on_batch=lambda r: started.set())

    thread = threading.Thread(target=full_sync)
    thread.start()
    try:
        assert started.wait(60)
        result = erase(warehouse, org.id, "employee", person["id"], actor="test", compact=False)
    finally:
        thread.join(120)
    control.reset_faults(org.id)
    assert result.removed["core.employees"] == 1
    assert outcome["sync"].status == "success"
    assert scan(warehouse.url, {person["email"]}) == {}


def test_an_erasure_behind_a_sync_that_does_not_end_is_refused_clearly(erasure_env, make_org, control):
    from harvey_pipelines.warehouse.erasure import ErasureError, erase_many

    warehouse = erasure_env
    org = make_org(size=5)
    sync_all(org, warehouse)
    person = control.records(org.id, "employees")[0]["id"]
    with warehouse.sync_lock(org.id, "attendance"):  # a sync of their attendance, running
        [refused] = erase_many(warehouse, org.id, "employee", [person], actor="test", lock_timeout=1)
    assert isinstance(refused, ErasureError), refused
    assert f"'{person}' not erased: a sync of {org.id} is still running" in str(refused), refused
    assert person in warehouse_rows(warehouse, org.id, "employees")
