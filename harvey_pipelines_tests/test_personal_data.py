"""Personal data (README: Personal data): every canonical field classed, the README's table and
dbt's column tags agreeing with records.PII_CLASSES; the masked analyst tables keep the marts'
rows and keys while pseudonymizing, banding and generalizing (DuckDB and PostgreSQL); and on
PostgreSQL, real login roles: an analyst reads its organizations' masked rows only, HR the
marts, the loader syncs, and the protection survives dbt rebuilding the tables."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from harvey_pipelines.cli import main
from harvey_pipelines.records import (
    ENTITIES,
    ENTITIES_BY_NAME,
    PII_CLASSES,
    Attendance,
    Candidate,
    Department,
    Employee,
    Employment,
    Interview,
    JobRequisition,
    LeaveBalance,
    LeaveRequest,
    Pii,
)
from harvey_pipelines.warehouse import Warehouse, access
from harvey_pipelines_tests.test_dbt_models import dbt, dbt_build, dbt_env
from harvey_pipelines_tests.test_sync import sync_all

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "dbt_project" / "models"

# staging columns named otherwise than their canonical field (besides source_id = id,
# source_updated_at = updated_at and <reference>_ref)
STAGING_RENAMES = {
    "employees": {"employee_id": "id", "employee_number": "employee_id"},
    "leave_balances": {"balance_year": "year"},
    "attendance": {"attendance_date": "date", "check_in_at": "check_in_time", "check_out_at": "check_out_time",
                   "source_worked_hours": "worked_hours", "source_status": "status"},
}
# mart columns that pass a canonical field through
MART_FIELDS = {
    ("employee_timeline", "employee_id"): (Employee, "id"),
    ("employee_timeline", "employee_number"): (Employee, "employee_id"),
    ("attendance_daily", "employee_id"): (Attendance, "employee_id"),
    ("attendance_daily", "leave_type"): (LeaveRequest, "leave_type"),
    ("attendance_daily", "check_in_at"): (Attendance, "check_in_time"),
    ("attendance_daily", "check_out_at"): (Attendance, "check_out_time"),
    ("attendance_monthly", "employee_id"): (Attendance, "employee_id"),
    ("leave_balances", "employee_id"): (LeaveBalance, "employee_id"),
    ("leave_balances", "leave_type"): (LeaveBalance, "leave_type"),
    ("leave_balances", "balance_year"): (LeaveBalance, "year"),
    ("compliance_violations", "employee_id"): (Attendance, "employee_id"),
    ("recruiting_funnel", "job_requisition_id"): (JobRequisition, "id"),
    ("recruiting_funnel", "requisition_number"): (JobRequisition, "requisition_id"),
    ("recruiting_funnel", "title"): (JobRequisition, "title"),
    ("recruiting_funnel", "department"): (JobRequisition, "department"),
    ("recruiting_funnel", "status"): (JobRequisition, "status"),
    ("recruiting_funnel", "headcount"): (JobRequisition, "headcount"),
    ("recruiting_funnel", "filled_positions"): (JobRequisition, "filled_positions"),
    ("interviewer_load", "interviewer_id"): (Interview, "interviewer_id"),
    ("interviewer_load", "interviewer_name"): (Interview, "interviewer_name"),
    ("employee_history", "employee_id"): (Employee, "id"),
    ("employee_history", "first_name"): (Employee, "first_name"),
    ("employee_history", "last_name"): (Employee, "last_name"),
    ("employee_history", "manager_id"): (Employee, "manager_id"),
    ("employment_history", "employee_id"): (Employment, "employee_id"),
    ("employment_history", "salary"): (Employment, "salary"),
    ("employment_history", "department"): (Employment, "department"),
    ("department_history", "head_id"): (Department, "head_id"),
    ("dim_employees", "first_name"): (Employee, "first_name"),
    ("dim_employees", "last_name"): (Employee, "last_name"),
    ("dim_employees", "email"): (Employee, "email"),
    ("dim_employees", "manager_id"): (Employee, "manager_id"),
    ("dim_departments", "head_id"): (Department, "head_id"),
    ("dim_departments", "head_name"): (Department, "head_name"),
    ("candidate_stage_history", "candidate_id"): (Candidate, "id"),
    ("candidate_stage_history", "stage"): (Candidate, "current_stage"),
    ("candidate_stage_history", "applied_for_job_id"): (Candidate, "applied_for_job_id"),
    ("hiring_speed", "job_requisition_id"): (JobRequisition, "id"),
    ("hiring_speed", "requisition_number"): (JobRequisition, "requisition_id"),
    ("leave_liability_monthly", "leave_type"): (LeaveBalance, "leave_type"),
}
# mart columns derived from pay (masked as a band like the salary they come from)
MART_PAY = {("employment_history", "salary"), ("leave_liability_monthly", "liability")}
CLASS_TITLES = {Pii.IDENTIFIER: "identifier", Pii.CONTACT: "contact PII", Pii.SENSITIVE: "sensitive PII",
                Pii.FREE_TEXT: "free text", Pii.NON_PERSONAL: "non-personal"}


def classification_table() -> str:
    """The README's table of records.PII_CLASSES: one row per entity, its fields by class."""
    lines = ["| entity | " + " | ".join(CLASS_TITLES.values()) + " |", "|---" * (len(CLASS_TITLES) + 1) + "|"]
    for spec in ENTITIES:
        classes = PII_CLASSES[spec.model]
        cells = [", ".join(f"`{name}`" for name in spec.model.model_fields if classes[name] is pii) or "-"
                 for pii in CLASS_TITLES]
        lines.append(f"| {spec.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _yml_columns(path: Path):
    for model in yaml.safe_load(path.read_text())["models"]:
        for column in model.get("columns", []):
            yield model["name"], column["name"], column.get("meta", {})


def _mart_columns():
    """(model, column, meta) of every mart, whichever yml of models/marts documents it."""
    for path in sorted((MODELS / "marts").glob("*.yml")):
        yield from _yml_columns(path)


def _staging_field(entity: str, column: str) -> str | None:
    fields = ENTITIES_BY_NAME[entity].model.model_fields
    renames = {"source_id": "id", "source_updated_at": "updated_at"} | STAGING_RENAMES.get(entity, {})
    if column in renames:
        return renames[column]
    if column.endswith("_ref") and column[:-4] in fields:
        return column[:-4]
    return column if column in fields else None


@pytest.mark.fast
def test_every_canonical_field_has_a_class():
    for spec in ENTITIES:
        classes = PII_CLASSES.get(spec.model, {})
        assert set(spec.model.model_fields) - set(classes) == set(), f"{spec.name}: fields without a class"
        assert set(classes) - set(spec.model.model_fields) == set(), f"{spec.name}: classes of no field"


@pytest.mark.fast
def test_the_readme_prints_the_classification():
    assert classification_table() in (ROOT / "README.md").read_text(), \
        "README: Personal data must hold this table:\n" + classification_table()


@pytest.mark.fast
def test_dbt_columns_carry_the_class_of_their_canonical_field():
    documented = set()
    for model, column, meta in _yml_columns(MODELS / "staging" / "_stg_models.yml"):
        entity = model.removeprefix("stg_")
        if entity not in ENTITIES_BY_NAME or not (field := _staging_field(entity, column)):
            continue
        assert meta.get("pii") == PII_CLASSES[ENTITIES_BY_NAME[entity].model][field].value, (model, column)
        documented.add((entity, field))
    # every personal field a staging model passes on is in its yml, so the docs show its class
    for spec in ENTITIES:
        sql = (MODELS / "staging" / f"stg_{spec.name}.sql").read_text()
        for field, pii in PII_CLASSES[spec.model].items():
            if pii not in (Pii.IDENTIFIER, Pii.NON_PERSONAL) and re.search(rf"\b{field}\b", sql):
                assert (spec.name, field) in documented, f"stg_{spec.name}.{field}: not in _stg_models.yml"
    marts = {(model, column): meta for model, column, meta in _mart_columns()}
    for (model, column), (record, field) in MART_FIELDS.items():
        assert marts[(model, column)].get("pii") == PII_CLASSES[record][field].value, (model, column)
    for key in MART_PAY:
        assert marts[key] == {"pii": Pii.SENSITIVE.value, "mask": "pay_band"}, key
    # every mart column has a class (masked_mart refuses to build one without: it would pass
    # unmasked), and a sensitive one says how it is masked (macros/personal_data.sql)
    classes = {pii.value for pii in Pii}
    unclassed = sorted(key for key, meta in marts.items() if meta.get("pii") not in classes)
    assert not unclassed, f"mart columns without a class (meta: {{pii: ...}}): {unclassed}"
    for key, meta in marts.items():
        if meta.get("pii") == Pii.SENSITIVE.value:
            assert meta.get("mask") in {"pseudonym", "pay_band", "leave_category", "remove"}, key


def _masked_name(column: str, meta: dict) -> str | None:
    """The column's name in the masked table (macros/personal_data.sql: masked_mart); None: left out."""
    pii, mask = meta.get("pii"), meta.get("mask")
    if pii == Pii.FREE_TEXT.value or mask == "remove":
        return None
    return {"pay_band": f"{column}_band", "leave_category": "leave_category"}.get(mask, column)


@pytest.mark.fast
def test_the_masked_models_document_the_columns_the_marts_yml_gives_them():
    marts: dict[str, list[str]] = {}
    for model, column, meta in _mart_columns():
        if (name := _masked_name(column, meta)) is not None:
            marts.setdefault(f"masked_{model}", []).append(name)
    masked: dict[str, list[str]] = {}
    for model, column, _ in _yml_columns(MODELS / "marts_masked" / "_marts_masked.yml"):
        masked.setdefault(model, []).append(column)
    assert masked == marts
    assert {f"masked_{p.stem}" for p in (MODELS / "marts").glob("*.sql")} == \
        {p.stem for p in (MODELS / "marts_masked").glob("*.sql")}, "a masked model per mart"


# -- the masked tables ---------------------------------------------------------------------

MASKED = ["interviewer_load", "leave_balances", "employee_timeline", "dim_employees", "employment_history",
          "leave_liability_monthly"]
SELECTION = " ".join(f"+masked_{name}" for name in MASKED)


def _read(url: str, sql: str, **params) -> list[dict]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]
    finally:
        engine.dispose()


@pytest.fixture
def two_organizations(make_org, warehouse):
    """Two organizations with the same people (the mock's same seed), synced."""
    orgs = [make_org(size=12, seed=4242) for _ in range(2)]
    for org in orgs:
        sync_all(org, warehouse)
    return orgs


def test_masked_tables_keep_rows_and_keys_and_hide_the_person(two_organizations, warehouse, tmp_path):
    a, b = two_organizations
    dbt_build(warehouse.url, tmp_path, "--select", SELECTION, "--indirect-selection", "cautious")
    url = warehouse.url
    for name, keys in (("interviewer_load", "organization_id, interviewer_id, week_start"),
                       ("leave_balances", "organization_id, employee_id, balance_year"),
                       ("employee_timeline", "organization_id, employee_id, event_id"),
                       ("dim_employees", "organization_id, employee_id, manager_id"),
                       ("employment_history", "organization_id, source_id, version_number")):
        marts = _read(url, f"SELECT {keys} FROM marts.{name} ORDER BY {keys}")
        masked = _read(url, f"SELECT {keys} FROM marts_masked.{name} ORDER BY {keys}")
        assert marts and masked == marts, name
    # the same join on both sides: same rows
    join = ("SELECT count(*) AS n FROM {s}.employee_timeline t JOIN {s}.leave_balances b "
            "ON b.organization_id = t.organization_id AND b.employee_id = t.employee_id")
    assert _read(url, join.format(s="marts")) == _read(url, join.format(s="marts_masked"))
    assert _read(url, join.format(s="marts"))[0]["n"] > 0

    names = _read(url, "SELECT m.organization_id, m.interviewer_id, m.interviewer_name AS real, "
                       "x.interviewer_name AS pseudonym FROM marts.interviewer_load m "
                       "JOIN marts_masked.interviewer_load x ON x.organization_id = m.organization_id "
                       "AND x.interviewer_id = m.interviewer_id AND x.week_start = m.week_start")
    assert names
    by_person: dict[tuple[str, str], set[str]] = {}
    for row in names:
        assert re.fullmatch(r"p_[0-9a-f]{16}", row["pseudonym"]) and row["real"] not in row["pseudonym"]
        by_person.setdefault((row["organization_id"], row["real"]), set()).add(row["pseudonym"])
    assert all(len(p) == 1 for p in by_person.values()), "one pseudonym per person in an organization"
    shared = {real for org, real in by_person if org == a.id} & {real for org, real in by_person if org == b.id}
    assert shared, "the two organizations have the same interviewers"
    for real in shared:  # the same name in another organization: another pseudonym
        assert by_person[(a.id, real)] != by_person[(b.id, real)]

    masked_columns = {r["column_name"] for r in _read(
        url, "SELECT column_name FROM information_schema.columns WHERE table_schema = 'marts_masked' "
             "AND table_name IN ('employee_timeline', 'leave_balances', 'employment_history', "
             "'leave_liability_monthly')")}
    assert {"amount_band", "leave_category", "salary_band", "liability_band"} <= masked_columns
    assert not {"title", "description", "before_value", "after_value", "percentage", "amount",
                "leave_type", "salary", "liability"} & masked_columns
    # the analyst marts too: a person's name and email as pseudonyms
    people = _read(url, "SELECT m.email AS real, x.email, x.first_name FROM marts.dim_employees m "
                        "JOIN marts_masked.dim_employees x USING (organization_id, employee_id)")
    assert people and all(re.fullmatch(r"p_[0-9a-f]{16}", r["email"]) and r["real"] not in r["email"]
                          and re.fullmatch(r"p_[0-9a-f]{16}", r["first_name"]) for r in people)
    categories = _read(url, "SELECT DISTINCT m.leave_type, x.leave_category FROM marts.leave_balances m "
                            "JOIN marts_masked.leave_balances x USING (organization_id, employee_id, balance_year, "
                            "allocation_days, used_days, pending_days)")
    assert {r["leave_category"] for r in categories} <= {"paid", "unpaid", "protected"}
    assert all(r["leave_category"] == "protected" for r in categories if r["leave_type"] == "sick")
    bands = _read(url, "SELECT amount_band FROM marts_masked.employee_timeline "
                       "WHERE event_type IN ('salary_increase', 'salary_decrease')")
    assert bands and all(r["amount_band"] for r in bands)


@pytest.mark.parametrize("warehouse_url", ["duckdb"], indirect=True)
def test_without_a_pseudonym_key_the_masked_tables_are_not_built(warehouse, tmp_path):
    env = {**dbt_env(warehouse.url, tmp_path), "HARVEY_PSEUDONYM_KEY": ""}
    result = dbt("compile", "--select", "masked_sync_health", env=env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "HARVEY_PSEUDONYM_KEY is not set" in result.stdout


# -- roles on PostgreSQL ---------------------------------------------------------------------

def _as(url: str, login: str) -> str:
    return sa.engine.make_url(url).set(username=login, password=None).render_as_string(hide_password=False)


def _denied(url: str, sql: str) -> bool:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(sql)
        return False
    except sa.exc.ProgrammingError as exc:
        return "permission denied" in str(exc)
    finally:
        engine.dispose()


@pytest.mark.parametrize("warehouse_url", ["postgres"], indirect=True)
def test_roles_on_postgres(make_org, warehouse, tmp_path, monkeypatch, capsys):
    prefix = f"t{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", warehouse.url)
    monkeypatch.setenv("HARVEY_ACCESS_ROLE_PREFIX", prefix)
    roles = access.AccessRoles(prefix)
    analyst, hr, loader = f"{prefix}_ann", f"{prefix}_hal", f"{prefix}_lou"
    url, admin = warehouse.url, warehouse.engine
    try:
        with admin.begin() as conn:
            # the loader builds the models from the first build on (it must own what dbt replaces)
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS " + ", ".join(access.MODEL_SCHEMAS) + " CASCADE")
            for login in (analyst, hr, loader):
                conn.exec_driver_sql(f"CREATE ROLE {login} LOGIN")
        for _ in range(2):  # idempotent
            assert main(["access", "setup", "--loader", loader]) == 0
        a, b = make_org(size=10, seed=77), make_org(size=10, seed=78)
        assert main(["access", "grant", "--role", analyst, "--org", a.id]) == 0
        assert main(["access", "grant", "--role", hr, "--org", a.id, "--hr"]) == 0
        assert main(["access", "grant", "--role", f"{prefix}_nobody", "--org", a.id]) == 2
        assert "create the login first" in capsys.readouterr().err

        # the loader syncs and builds the models
        as_loader = Warehouse(_as(url, loader))
        try:
            for org in (a, b):
                sync_all(org, as_loader)
        finally:
            as_loader.dispose()
        selection = "+masked_interviewer_load +masked_leave_balances"
        env = {**dbt_env(url, tmp_path), "HARVEY_PG_USER": loader}
        result = dbt("build", "--select", selection, "--indirect-selection", "cautious", env=env, tmp_path=tmp_path)
        assert result.returncode == 0, result.stdout[-4000:]

        def check_readers():
            everything = _read(url, "SELECT organization_id, count(*) AS n FROM marts_masked.interviewer_load "
                                    "GROUP BY 1 ORDER BY 1")
            assert {r["organization_id"] for r in everything} == {a.id, b.id}
            of_a = _read(url, "SELECT * FROM marts.leave_balances WHERE organization_id = :o ORDER BY 1, 2, 3, 4",
                         o=a.id)
            ann, hal = _as(url, analyst), _as(url, hr)
            assert {r["organization_id"] for r in _read(ann, "SELECT organization_id FROM "
                                                        "marts_masked.interviewer_load")} == {a.id}
            for name in ("interviewer_load", "leave_balances"):
                assert _read(ann, f"SELECT * FROM marts_masked.{name} WHERE organization_id = :o", o=b.id) == []
                assert _denied(ann, f"SELECT * FROM marts.{name}")
            # HR: the unmasked marts, of its organization only
            assert _read(hal, "SELECT * FROM marts.leave_balances ORDER BY 1, 2, 3, 4") == of_a
            assert _read(hal, "SELECT * FROM marts.leave_balances WHERE organization_id = :o", o=b.id) == []

        check_readers()
        ann = _as(url, analyst)
        for table in ("raw.payload_versions", "core.employees", "sync.sync_runs", "staging.stg_employees",
                      "intermediate.int_employee_versions"):
            assert _denied(ann, f"SELECT * FROM {table}"), table
        assert _denied(ann, "DELETE FROM marts_masked.leave_balances")
        assert _denied(ann, "CREATE TABLE marts_masked.mine (x int)")
        assert _denied(ann, "INSERT INTO access.organization_access VALUES ('x', 'y')")
        assert _read(ann, "SELECT organization_id FROM access.organization_access") == [{"organization_id": a.id}]

        # dbt builds the tables anew: the policies and grants come with them
        result = dbt("build", "--select", "masked_interviewer_load leave_balances masked_leave_balances",
                     "--indirect-selection", "cautious", env=env, tmp_path=tmp_path)
        assert result.returncode == 0, result.stdout[-4000:]
        check_readers()

        assert main(["access", "revoke", "--role", analyst, "--org", a.id]) == 0
        assert _denied(ann, "SELECT * FROM marts_masked.interviewer_load")
        capsys.readouterr()
        assert main(["access", "list"]) == 0
        assert capsys.readouterr().out.split() == [hr, a.id, "hr"]
        with admin.connect() as conn:  # every change of access is in the audit trail (the refused grant is not)
            trail = conn.exec_driver_sql("SELECT target, organization_id FROM sync.audit_log "
                                         "WHERE action = 'role_grant' ORDER BY recorded_at").all()
        assert [tuple(r) for r in trail] == [("setup", None), ("setup", None), (analyst, a.id), (hr, a.id),
                                             (analyst, a.id)]
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA IF EXISTS access CASCADE")
            for role in (analyst, hr, loader, roles.analyst, roles.hr, roles.loader):
                if conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first():
                    conn.exec_driver_sql(f"DROP OWNED BY {role} CASCADE")
                    conn.exec_driver_sql(f"DROP ROLE {role}")


def test_access_needs_postgres(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'cli.duckdb'}")
    assert main(["access", "setup"]) == 2
    assert "a DuckDB warehouse is one file" in capsys.readouterr().err
    warehouse = Warehouse(f"duckdb:///{tmp_path / 'w.duckdb'}")
    try:
        with pytest.raises(access.AccessError, match="PostgreSQL"):
            access.setup(warehouse.engine, access.AccessRoles())
    finally:
        warehouse.dispose()
