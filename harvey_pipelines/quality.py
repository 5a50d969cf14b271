"""Data quality rules of the core tables, run in the warehouse.

Blocking rules make the marts wrong when they fail, so dbt waits for them: source ids and
business keys unique per organization (GX), and references that resolve to no record in the
organization beyond a tolerance (``Warehouse.unresolved_references``, checked beside these).

Warnings keep only what the sync's validation cannot see. It quarantines a record with a
missing required field, a value outside an enumeration, an invalid email or dates out of
order (records.py), so re-checking those could never fail. What is left spans rows or
columns (an email, a day of attendance or a department name used twice; a manager who is the
employee; contract versions that overlap; a terminated employee without a termination date;
more days of leave than the period has) or is implausible though valid (negative salaries,
more than 24 hours worked in a day, hires more than a year ahead).

Great Expectations runs its expectations through its SQL execution engine on the warehouse's
connection (gx_warehouse.py); a rule GX cannot express (overlaps, a column against an expression
of others) is a ``SqlRule``. Either way the warehouse returns counts and at most
``EXAMPLES`` ids per rule, never the rows: memory stays flat however large the table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from harvey_pipelines import settings
from harvey_pipelines.records import EntitySpec
from harvey_pipelines.warehouse import Warehouse
from harvey_pipelines.warehouse.schema import CORE_TABLES

EXAMPLES = 5
IDS = ["organization_id", "source_id"]
# columns GX never needs: large, or bookkeeping of the sync
UNCHECKED = ("payload", "record_hash", "sync_run_id")


@dataclass
class Finding:
    """One rule's result: live rows that break it, and a few of them by id (never the record)."""

    unexpected: int
    examples: list[str] = field(default_factory=list)
    error: str | None = None  # the rule could not be evaluated (it fails)

    @property
    def success(self) -> bool:
        return self.unexpected == 0 and self.error is None


@dataclass(frozen=True)
class SqlRule:
    """A rule as SQL: ``offenders`` selects (organization_id, source_id) of the live rows that
    break it, from the live rows of the entity's table (a subquery)."""

    name: str
    offenders: Callable[[sa.Subquery], sa.Select]


def _overlaps(name: str, start: str, end: str):
    """Rows of one employee whose [start, end] (an empty end: open) begins before an earlier
    row of the same employee has ended: a window, one sort, no self-join."""

    def offenders(scope: sa.Subquery) -> sa.Select:
        latest_end = sa.func.max(sa.func.coalesce(scope.c[end], sa.cast(sa.literal("9999-12-31"), sa.Date))).over(
            partition_by=[scope.c.organization_id, scope.c.employee_id],
            order_by=[scope.c[start], scope.c.source_id], rows=(None, -1))
        ordered = sa.select(scope.c.organization_id, scope.c.source_id, scope.c[start],
                            latest_end.label("earlier_end")).subquery()
        return sa.select(ordered.c.organization_id, ordered.c.source_id).where(
            ordered.c[start] <= ordered.c.earlier_end)

    return SqlRule(name, offenders)


SQL_RULES: dict[str, list[SqlRule]] = {
    "employees": [SqlRule("manager_is_not_the_employee", lambda r: sa.select(r.c.organization_id, r.c.source_id)
                          .where(r.c.manager_id.in_([r.c.source_id, r.c.employee_id])))],
    "employments": [_overlaps("contract_versions_do_not_overlap", "start_date", "end_date")],
    # overlapping leave is no rule: two half days on one day are legitimate
    "leave_requests": [SqlRule("total_days_within_the_period", lambda r: sa.select(r.c.organization_id, r.c.source_id)
                               .where(r.c.total_days > r.c.end_date - r.c.start_date + 1))],
}


def expectations(spec: EntitySpec, blocking: bool, today: dt.date) -> list:
    """The GX expectations of ``spec``'s blocking or warning rules."""
    import great_expectations as gx
    from great_expectations.expectations.row_conditions import Column

    e = gx.expectations

    def unique(*columns: str):
        return e.ExpectCompoundColumnsToBeUnique(column_list=["organization_id", *columns],
                                                 ignore_row_if="any_value_is_missing")

    def between(column: str, low=None, high=None):
        return e.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high)

    if blocking:
        rules = [unique("source_id"), *([unique(spec.business_key)] if spec.business_key else [])]
    else:
        ahead = today + dt.timedelta(days=366)
        rules = {
            "employees": [
                unique("email"), between("hire_date", high=ahead), between("salary", low=0),
                e.ExpectColumnValuesToNotBeNull(column="termination_date",
                                                row_condition=Column("employment_status") == "terminated"),
            ],
            "departments": [unique("name"), between("employee_count", low=0)],
            "employments": [between("salary", low=0), between("hours_per_week", low=0, high=80)],
            "job_requisitions": [
                between("headcount", low=1), between("filled_positions", low=0),
                e.ExpectColumnPairValuesAToBeGreaterThanB(column_A="headcount", column_B="filled_positions",
                                                          or_equal=True, ignore_row_if="either_value_is_missing"),
            ],
            "candidates": [between("application_date", high=today + dt.timedelta(days=1))],
            "interviews": [between("duration_minutes", low=5, high=720)],
            "leave_requests": [between("total_days", low=0, high=366)],
            "leave_balances": [unique("employee_id", "year", "leave_type"), between("used", low=0),
                               between("pending", low=0)],
            "attendance": [unique("employee_id", "date"), between("worked_hours", low=0, high=24)],
        }.get(spec.name, [])
    live = Column("is_deleted") == False  # noqa: E712 - a GX condition, not a comparison
    for rule in rules:  # live rows only: GX reads the table (gx_warehouse.validate says why)
        rule.row_condition = live if rule.row_condition is None else live & rule.row_condition
    return rules


def label(config) -> str:
    """A GX expectation's name in findings: its type and the columns it reads."""
    columns = [str(v) for k, v in config.kwargs.items() if k.startswith("column")]
    return f"{config.type}({', '.join(columns)})"


def rule_names(spec: EntitySpec, blocking: bool) -> list[str]:
    """The names of the rules ``check`` reports for ``spec`` (the references aside)."""
    gx_rules = [label(x.configuration) for x in expectations(spec, blocking, dt.date.today())]
    return gx_rules + ([] if blocking else [rule.name for rule in SQL_RULES.get(spec.name, [])])


def check(warehouse: Warehouse, spec: EntitySpec, blocking: bool) -> tuple[int, dict[str, Finding]]:
    """Live rows of ``spec``'s table and a finding per rule, evaluated in the warehouse in one
    snapshot (every rule counts the same rows)."""
    from harvey_pipelines import gx_warehouse

    table = CORE_TABLES[spec.name]
    rows = sa.select(*[c for c in table.c if c.name not in UNCHECKED]).where(table.c.is_deleted.is_(False))
    rules = expectations(spec, blocking, dt.date.today())
    findings: dict[str, Finding] = {}
    with warehouse.snapshot(settings.current().duckdb_checks_memory_limit) as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(rows.subquery())).scalar_one()
        for result in gx_warehouse.validate(conn, table, rules, EXAMPLES, IDS):
            finding = findings[label(result.expectation_config)] = _gx_finding(result)
            if result.expectation_config.type == "expect_compound_columns_to_be_unique" and finding.unexpected:
                # GX names duplicates by their values (an email is personal data): name them by id
                finding.examples = _duplicates(conn, rows, result.expectation_config.kwargs["column_list"])
        for rule in [] if blocking else SQL_RULES.get(spec.name, []):
            offenders = rule.offenders(rows.subquery()).subquery()
            count = conn.execute(sa.select(sa.func.count()).select_from(offenders)).scalar_one()
            examples = conn.execute(sa.select(offenders).order_by(*offenders.c).limit(EXAMPLES)).all() \
                if count else []
            findings[rule.name] = Finding(count, [f"{org}/{source_id}" for org, source_id in examples])
    return total, findings


def _duplicates(conn: sa.Connection, rows: sa.Select, columns: list[str]) -> list[str]:
    """A few ids of the rows whose ``columns`` another row has too."""
    live = rows.subquery()
    keys = sa.select(*[live.c[c] for c in columns]).group_by(*[live.c[c] for c in columns]).having(
        sa.func.count() > 1).subquery()
    found = conn.execute(sa.select(live.c.organization_id, live.c.source_id).join(
        keys, sa.and_(*[live.c[c] == keys.c[c] for c in columns])).order_by(
        live.c.organization_id, live.c.source_id).limit(EXAMPLES)).all()
    return [f"{org}/{source_id}" for org, source_id in found]


def _gx_finding(result) -> Finding:
    info = result.exception_info or {}
    raised = [info, *(v for v in info.values() if isinstance(v, dict))]
    if errors := [str(x.get("exception_message") or "") for x in raised if x.get("raised_exception")]:
        return Finding(0, error=f"GX could not evaluate it: {errors[0].splitlines()[0] if errors[0] else '?'}")
    found = result.result
    unexpected = int(found.get("unexpected_count") or 0)
    if not result.success and not unexpected:
        unexpected = 1  # failed without counting rows (a table-level rule)
    # ids only: a finding never carries the record's values
    return Finding(unexpected, [f"{x['organization_id']}/{x['source_id']}"
                                for x in (found.get("partial_unexpected_index_list") or [])[:EXAMPLES]])
