"""History comes from the canonical versions, whatever the vendor's field names.

Each stored version keeps, beside the payload as sent, the canonical record its adapter mapped
(``raw.payload_versions.canonical``); dbt reads only that. Here: no dbt model extracts a field
from a payload; a vendor that names every field its own way (an adapter declared in this module,
registered through ``vendors.VENDORS``) gives the same employee timeline as the custom HRMS;
a warehouse at the previous revision gains the canonical records of its stored versions.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from harvey_pipelines import organizations
from harvey_pipelines.organizations import Organization
from harvey_pipelines.records import entity as entity_spec
from harvey_pipelines.sources.custom import CustomHrmsAdapter
from harvey_pipelines.sync import sync_entity
from harvey_pipelines.vendors import HRMS_TYPES, VENDORS, Vendor
from harvey_pipelines.warehouse import Warehouse, migrations, schema
from harvey_pipelines.warehouse.dialects import create_engine
from harvey_pipelines_tests.test_dbt_models import DBT_PROJECT, dbt_build

TIMELINE_ENTITIES = ("employees", "employments")


# -- no dbt model reads a vendor's payload ----------------------------------------------------

def _sql_without_comments(path: Path) -> str:
    text = re.sub(r"\{#.*?#\}", " ", path.read_text(), flags=re.S)  # jinja comments
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"--[^\n]*", " ", text)


@pytest.mark.fast
def test_no_dbt_model_extracts_json_from_the_payload_only_from_the_canonical_record():
    models = sorted((DBT_PROJECT / "models").rglob("*.sql")) + sorted((DBT_PROJECT / "tests").rglob("*.sql"))
    assert any(p.name == "int_employee_versions.sql" for p in models)
    extractions, direct, reads_payload = [], [], []
    for path in models:
        sql = _sql_without_comments(path)
        extractions += [(path.name, arg) for arg in re.findall(r"json_text\(\s*'([^']+)'", sql)]
        # JSON read other than through the macro (DuckDB's and PostgreSQL's operators and functions)
        if re.search(r"->>|->|json_extract|json_value|#>>|::jsonb?\b|json_query", sql, flags=re.I):
            direct.append(path.name)
        if re.search(r"\bpayload\b", sql) and path.name != "stg_payload_versions.sql":
            reads_payload.append(path.name)
    assert extractions, "int_employee_versions reads manager_id and employment_status with json_text"
    assert [e for e in extractions if not re.fullmatch(r"(\w+\.)?canonical", e[1])] == []
    assert direct == [], "JSON is read with the json_text macro, from the canonical column"
    assert reads_payload == [], "only stg_payload_versions names the vendor's payload column"


# -- a vendor with field names of its own -------------------------------------------------------

# every employee and employment field under another name, the way a vendor (BambooHR's
# "supervisorEId", "status") names them; ``id`` stays, it is what the sync keys on
def _vendor_name(field: str) -> str:
    return "v_" + "".join(part.title() for part in field.split("_"))


class RenamedFieldsAdapter(CustomHrmsAdapter):
    """The custom HRMS's records with every field renamed in the payload (what the sync stores
    as sent), and the mapping back in ``to_canonical``: the adapter owns the mapping."""

    hrms_type = "renamed_fields"

    def fetch(self, engine, entity, since, state, context=None):
        for page in super().fetch(engine, entity, since, state, context):
            yield [self._renamed(r) for r in page] if entity in TIMELINE_ENTITIES else page

    @staticmethod
    def _renamed(record: dict) -> dict:
        return {key if key == "id" else _vendor_name(key): value for key, value in record.items()}

    def to_canonical(self, entity: str, payload: dict) -> dict:
        if entity not in TIMELINE_ENTITIES:
            return payload
        back = {_vendor_name(field): field for field in entity_spec(entity).model.model_fields}
        return {back.get(key, key): value for key, value in payload.items()}


@pytest.fixture
def renamed_fields_vendor(monkeypatch):
    """The adapter above registered as a vendor, as a row of vendors.VENDORS is."""
    monkeypatch.setitem(VENDORS, RenamedFieldsAdapter.hrms_type, Vendor(f"{__name__}:RenamedFieldsAdapter"))
    monkeypatch.setattr(organizations, "HRMS_TYPES", (*HRMS_TYPES, RenamedFieldsAdapter.hrms_type))
    return RenamedFieldsAdapter.hrms_type


TIMELINE_COLUMNS = ["employee_id", "event_type", "effective_date", "date_source", "title", "description",
                    "before_value", "after_value", "amount", "percentage", "currency", "source_entity", "source_id"]


def _timeline(url: str, org_id: str) -> list[tuple]:
    """The organization's timeline events, comparable across organizations: a manager or status
    change is shown by a version, whose key is the payload's hash (the vendors' payloads differ),
    and dated when it was fetched (the two organizations are synced moments apart)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                f"select {', '.join(TIMELINE_COLUMNS)} from marts.employee_timeline where organization_id = :org"),
                {"org": org_id}).mappings().all()
    finally:
        engine.dispose()
    events = []
    for row in rows:
        event = dict(row)
        if event["source_entity"] == "payload_versions":
            event.update(source_id=None, effective_date=None)
        events.append(tuple(str(event[c]) for c in TIMELINE_COLUMNS))
    return sorted(events)


def _versions(warehouse: Warehouse, org_id: str, entity_name: str) -> list[tuple[dict, dict]]:
    table = schema.payload_versions
    with warehouse.writer() as conn:
        rows = conn.execute(sa.select(table.c.payload, table.c.canonical).where(
            table.c.organization_id == org_id, table.c.entity == entity_name)).all()
    return [(json.loads(payload), json.loads(canonical)) for payload, canonical in rows]


def test_a_vendor_naming_every_field_its_own_way_gives_the_same_timeline(
        make_org, control, warehouse, renamed_fields_vendor, tmp_path):
    custom = make_org(size=15)
    # the same HR data, read through the renaming adapter, as another organization
    renamed = Organization(**{**custom.model_dump(), "id": f"{custom.id}-renamed", "hrms_type": renamed_fields_vendor})

    def sync_both() -> None:
        for org in (custom, renamed):
            for name in TIMELINE_ENTITIES:
                result = sync_entity(org, name, warehouse)
                assert result.status == "success" and result.quarantined == 0, (org.id, name, result.error)

    sync_both()
    employees = sorted(control.records(custom.id, "employees"), key=lambda e: e["id"])
    first, second, third = employees[:3]
    control.update_record(custom.id, "employees", first["id"], {"manager_id": third["id"]})
    control.update_record(custom.id, "employees", second["id"], {
        "employment_status": "on_leave" if second["employment_status"] != "on_leave" else "active"})
    sync_both()

    payload, canonical = _versions(warehouse, renamed.id, "employees")[0]
    assert "manager_id" not in payload and "v_ManagerId" in payload and "v_EmploymentStatus" in payload
    assert {"manager_id", "employment_status", "employee_id"} <= set(canonical) and not any(
        key.startswith("v_") for key in canonical)

    warehouse.engine.dispose()
    with warehouse.for_other_process():
        dbt_build(warehouse.url, tmp_path, "--select", "+employee_timeline", "--indirect-selection", "cautious")
    expected, actual = _timeline(warehouse.url, custom.id), _timeline(warehouse.url, renamed.id)
    kinds = {event[1] for event in expected}
    assert {"hired", "manager_change", "status_change"} <= kinds, kinds
    assert actual == expected


# -- a warehouse at the previous revision -------------------------------------------------------

def test_the_versions_of_a_warehouse_at_the_previous_revision_get_their_canonical_records(warehouse_url):
    """Rows of the custom HRMS stored before revision 0002: their payload is their canonical record."""
    engine = create_engine(warehouse_url)
    payload = json.dumps({"id": "emp-1", "employee_id": "EMP-1", "manager_id": "emp-2", "employment_status": "active",
                          "updated_at": "2026-10-01T10:00:00+05:30"}, sort_keys=True)
    fetched = dt.datetime(2026, 10, 1, 5, 0, tzinfo=dt.timezone.utc)
    try:
        with engine.begin() as conn:
            migrations.upgrade(conn, target="0001", derive=False)
            conn.execute(sa.text(
                "INSERT INTO raw.payload_versions (organization_id, entity, source_id, payload_sha256, payload, "
                "source_updated_at, fetched_at, sync_run_id) VALUES ('acme', 'employees', 'emp-1', 'sha-1', "
                ":payload, :fetched, :fetched, 'run-1')"), dict(payload=payload, fetched=fetched))
    finally:
        engine.dispose()

    warehouse = Warehouse(warehouse_url)
    try:
        done = warehouse.migrate()
        assert [s.revision for s in done.applied] == [s.revision for s in migrations.pending_revisions("0001")]
        assert "0002" in [s.revision for s in done.applied]
        with warehouse.writer() as conn:
            rows = conn.execute(sa.select(schema.payload_versions.c.payload, schema.payload_versions.c.canonical)).all()
        assert rows == [(payload, payload)]
    finally:
        warehouse.dispose()
