"""Compare what the warehouse holds with what the mock HRMS holds, field by field."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from harvey_pipelines.records import ENTITIES
from harvey_pipelines.records import entity as entity_spec
from harvey_pipelines.warehouse import schema
from harvey_pipelines.warehouse.schema import CORE_TABLES, record_columns


def _expected(value, column: sa.Column):
    if value is None:
        return None
    if isinstance(column.type, sa.DateTime):
        return dt.datetime.fromisoformat(value).astimezone(dt.timezone.utc)
    if isinstance(column.type, sa.Date):
        return dt.date.fromisoformat(value)
    if isinstance(column.type, sa.Float):
        return float(value)
    if isinstance(column.type, sa.BigInteger):
        return int(value)
    return str(value)


def _actual(value):
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc) if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    return value


def mock_rows(control, org_id: str, entity_name: str) -> dict[str, dict]:
    rows = control.records(org_id, entity_name)
    if entity_name == "leave_balances":
        rows = [{**r, "id": f"{r['employee_id']}:{r['year']}:{r['leave_type']}"} for r in rows]
    columns = record_columns(entity_spec(entity_name))
    out = {}
    for row in rows:
        out[str(row["id"])] = {
            c.name: _expected(row.get("id" if c.name == "source_id" else c.name), c) for c in columns
        }
    return out


def warehouse_rows(warehouse, org_id: str, entity_name: str, *, include_deleted: bool = False) -> dict[str, dict]:
    table = CORE_TABLES[entity_name]
    columns = record_columns(entity_spec(entity_name))
    query = sa.select(*[table.c[c.name] for c in columns]).where(table.c.organization_id == org_id)
    if not include_deleted:
        query = query.where(table.c.is_deleted.is_(False))
    with warehouse.writer() as conn:
        result = conn.execute(query).mappings().all()
    return {row["source_id"]: {k: _actual(v) for k, v in row.items()} for row in result}


def truth_differences(expected: dict[str, dict[str, dict]], warehouse, org_id: str, source: str,
                      keep=lambda row: True) -> dict[str, list[str]]:
    """Per entity of ``expected`` (entity -> id -> fields a vendor mock's truth gives), what the
    warehouse's live rows of the organization (those ``keep`` keeps) hold otherwise; at most ten."""
    found: dict[str, list[str]] = {}
    for name, rows in expected.items():
        actual = {i: row for i, row in warehouse_rows(warehouse, org_id, name).items() if keep(row)}
        problems = [f"{i}: missing" for i in rows if i not in actual]
        problems += [f"{i}: not at the source" for i in actual if i not in rows]
        problems += [f"{i}.{field}: warehouse {actual[i][field]!r} != {source} {value!r}"
                     for i, fields in rows.items() if i in actual
                     for field, value in fields.items() if actual[i][field] != value]
        if problems:
            found[name] = problems[:10]
    return found


def sync_run_rows(warehouse, org_id: str) -> str:
    """The organization's sync runs as text (a secret must not be in them)."""
    runs = schema.sync_runs
    with warehouse.writer() as conn:
        return repr(conn.execute(sa.select(runs).where(runs.c.organization_id == org_id)).all())


def differences(control, warehouse, org_id: str, entities=None, ignore_ids: set | None = None) -> dict:
    """{entity: [problem, ...]} for every record and field that differs; empty when equal."""
    problems: dict[str, list[str]] = {}
    for spec in ENTITIES:
        if entities and spec.name not in entities:
            continue
        expected = mock_rows(control, org_id, spec.name)
        actual = warehouse_rows(warehouse, org_id, spec.name)
        found = []
        for sid in sorted(set(expected) | set(actual)):
            if ignore_ids and (spec.name, sid) in ignore_ids:
                continue
            if sid not in actual:
                found.append(f"{sid}: missing from the warehouse")
            elif sid not in expected:
                found.append(f"{sid}: in the warehouse, not in the HRMS")
            else:
                for name, value in expected[sid].items():
                    if actual[sid][name] != value and not _close(actual[sid][name], value):
                        found.append(f"{sid}.{name}: warehouse {actual[sid][name]!r} != HRMS {value!r}")
        if found:
            problems[spec.name] = found[:20] + ([f"... {len(found) - 20} more"] if len(found) > 20 else [])
    return problems


def _close(a, b) -> bool:
    return isinstance(a, float) and isinstance(b, float) and abs(a - b) <= 1e-9 * max(1.0, abs(b))


# which key the mock HRMS puts in references (tenant option reference_style): the record's id,
# or its business key (EMP-000001) as another implementation of the contract does
REFERENCE_STYLES = ["id", "business_key"]


def tenant_options(reference_style: str) -> dict:
    """make_org keyword arguments for a tenant whose references hold ``reference_style`` keys."""
    return {"reference_style": reference_style}
