"""Data quality of the core tables: Great Expectations suites as Dagster asset checks.

One suite per entity, derived from the canonical record (so a new field is checked
without writing a rule): ids unique per organization, required fields present, emails
valid, enumerations in range, dates ordered, references resolve within the organization.
Rules whose failure would make the marts wrong (duplicate ids, dangling references) are
in the blocking check: the build_marts job does not build dbt models on top of them.
The rest warn. GX is imported inside the check (it costs seconds to import).
"""

import typing
from dataclasses import dataclass

import sqlalchemy as sa
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, asset_check

from harvey_pipelines.assets.entities import entity_key
from harvey_pipelines.assets.resources import WarehouseResource
from harvey_pipelines.records import ENTITIES, EntitySpec

# human codes unique per organization (besides the source id)
CODES = {"employees": "employee_id", "departments": "department_id", "job_requisitions": "requisition_id",
         "candidates": "candidate_id", "interviews": "interview_id", "leave_requests": "leave_request_id"}
# (column, referenced entity): the referenced record must exist in the same organization
REFERENCES = {
    "employments": [("employee_id", "employees")],
    "interviews": [("candidate_id", "candidates")],
    "leave_requests": [("employee_id", "employees")],
    "leave_balances": [("employee_id", "employees")],
    "attendance": [("employee_id", "employees")],
}
ORDERED = [("hire_date", "termination_date"), ("start_date", "end_date"), ("check_in_time", "check_out_time")]
EMAIL_REGEX = r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)*\.[A-Za-z0-9-]{2,}$"
EXAMPLES = 5


@dataclass(frozen=True)
class Suite:
    entity: str
    blocking: bool

    @property
    def name(self) -> str:
        return f"{self.entity}_{'blocking' if self.blocking else 'warnings'}"


def expectations(spec: EntitySpec, blocking: bool) -> list:
    import great_expectations as gx

    e = gx.expectations
    fields = spec.model.model_fields
    if blocking:
        rules = [e.ExpectCompoundColumnsToBeUnique(column_list=["organization_id", "source_id"])]
        if spec.name in CODES:
            rules.append(e.ExpectCompoundColumnsToBeUnique(
                column_list=["organization_id", CODES[spec.name]], ignore_row_if="any_value_is_missing"))
        for column, _ in REFERENCES.get(spec.name, []):
            rules.append(e.ExpectColumnValuesToBeInSet(column=f"{column}__found", value_set=[True]))
        return rules
    rules = []
    for name, info in fields.items():
        column = "source_id" if name == "id" else name
        if info.is_required():
            rules.append(e.ExpectColumnValuesToNotBeNull(column=column))
        choices = _literal_values(info.annotation)
        if choices:
            rules.append(e.ExpectColumnValuesToBeInSet(column=column, value_set=choices))
        if name.endswith("email"):
            rules.append(e.ExpectColumnValuesToMatchRegex(column=column, regex=EMAIL_REGEX))
    for first, second in ORDERED:
        if first in fields and second in fields:
            rules.append(e.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=second, column_B=first, or_equal=True, ignore_row_if="either_value_is_missing"))
    return rules


def _literal_values(annotation) -> list | None:
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    for arg in typing.get_args(annotation):
        found = _literal_values(arg)
        if found:
            return found
    return None


def load_frame(warehouse, spec: EntitySpec):
    """Live rows of every organization, with ``<column>__found`` for each reference."""
    import pandas as pd

    from harvey_pipelines.warehouse.schema import CORE_TABLES, sync_runs

    table = CORE_TABLES[spec.name]
    columns = [table.c[c.name] for c in table.columns if c.name not in ("record_hash", "sync_run_id", "payload")]
    query = sa.select(*columns)
    runs = sync_runs
    for column, target in REFERENCES.get(spec.name, []):
        ref = CORE_TABLES[target].alias(f"ref_{column}")
        # entities sync on their own cadences: a reference counts as dangling only once the
        # referenced entity has been synced successfully since the referencing row was loaded
        synced_since = sa.exists().where(
            runs.c.organization_id == table.c.organization_id, runs.c.entity == target,
            runs.c.status == "success", runs.c.started_at >= table.c.synced_at)
        found = sa.or_(ref.c.source_id.is_not(None), table.c[column].is_(None), ~synced_since)
        query = query.add_columns(found.label(f"{column}__found")).outerjoin(
            ref, sa.and_(ref.c.organization_id == table.c.organization_id, ref.c.source_id == table.c[column],
                         ref.c.is_deleted.is_(False)))
    query = query.where(table.c.is_deleted.is_(False))
    with warehouse.writer() as conn:
        result = conn.execute(query)
        return pd.DataFrame(result.fetchall(), columns=list(result.keys()))


_context = None


def run_suite(frame, suite: Suite, spec: EntitySpec):
    """Validate with GX; returns (success, {expectation: {unexpected_count, examples}})."""
    global _context
    import great_expectations as gx

    if _context is None:
        _context = gx.get_context(mode="ephemeral")
        _context.variables.progress_bars = {"globally": False}
        _context.data_sources.add_pandas("harvey")
    source = _context.data_sources.get("harvey")
    try:
        definition = source.get_asset(suite.name).get_batch_definition("all")
    except (LookupError, KeyError):
        definition = source.add_dataframe_asset(suite.name).add_batch_definition_whole_dataframe("all")
    for store in (_context.validation_definitions, _context.suites):
        try:
            store.delete(suite.name)  # rebuilt each time: the rules follow the code
        except Exception:  # noqa: BLE001 - GX raises a different error per store when absent
            pass
    gx_suite = _context.suites.add(gx.ExpectationSuite(name=suite.name, expectations=expectations(spec, suite.blocking)))
    validation = _context.validation_definitions.add(
        gx.ValidationDefinition(data=definition, suite=gx_suite, name=suite.name))
    results = validation.run(
        batch_parameters={"dataframe": frame},
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["organization_id", "source_id"],
                       "partial_unexpected_count": EXAMPLES},
    )
    findings = {}
    for r in results.results:
        config = r.expectation_config
        label = f"{config.type}({', '.join(str(v) for k, v in config.kwargs.items() if k.startswith('column'))})"
        index = r.result.get("unexpected_index_list") or []
        findings[label] = {
            "success": bool(r.success),
            "unexpected_count": int(r.result.get("unexpected_count") or 0),
            # ids only: a finding never carries the record itself
            "examples": [f"{i.get('organization_id')}/{i.get('source_id')}" for i in index[:EXAMPLES]],
        }
    return bool(results.success), findings


def build_check(spec: EntitySpec, blocking: bool):
    suite = Suite(spec.name, blocking)

    @asset_check(
        asset=entity_key(spec.name),
        name=f"quality_{'blocking' if blocking else 'warnings'}",
        blocking=blocking,
        description=("Blocking (dbt waits for it): " if blocking else "Warning: ")
        + ("ids unique per organization, references resolve within the organization."
           if blocking else "required fields present, emails valid, enumerations in range, dates ordered."),
    )
    def _check(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
        frame = load_frame(warehouse.get(), spec)
        success, findings = run_suite(frame, suite, spec)
        failing = {k: v for k, v in findings.items() if not v["success"]}
        return AssetCheckResult(
            passed=success,
            severity=AssetCheckSeverity.ERROR if blocking else AssetCheckSeverity.WARN,
            metadata={
                "rows": len(frame),
                "expectations": len(findings),
                "failed_expectations": len(failing),
                "failing_rows": sum(v["unexpected_count"] for v in failing.values()),
                "findings": {k: {"unexpected": v["unexpected_count"], "examples": v["examples"]}
                             for k, v in failing.items()},
            },
        )

    return _check


quality_checks = [build_check(spec, blocking) for spec in ENTITIES for blocking in (True, False)]
