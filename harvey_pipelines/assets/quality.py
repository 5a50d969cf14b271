"""Data quality of the core tables: Great Expectations suites as Dagster asset checks.

One suite per entity, derived from the canonical record (so a new field is checked
without writing a rule): ids unique per organization, required fields present, emails
valid, enumerations in range, dates ordered. Rules whose failure would make the marts
wrong are in the blocking check, and the build_marts job does not build dbt models on top
of a table that fails it: duplicate ids (GX), and references that resolve to no record
(SQL over core.record_keys in the warehouse, Warehouse.unresolved_references: by id or
business key, beyond the tolerance of the dbt var reference_tolerance, the same rule as
dbt's references_resolve tests). The rest warn. GX is imported inside the check (it costs
seconds to import).
"""

import typing
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

import sqlalchemy as sa
import yaml
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, asset_check

from harvey_pipelines import settings
from harvey_pipelines.assets.entities import entity_key
from harvey_pipelines.assets.resources import WarehouseResource
from harvey_pipelines.records import ENTITIES, EntitySpec
from harvey_pipelines.warehouse import ReferenceTolerance, UnresolvedReferences

# human codes unique per organization (besides the source id): the business keys core.record_keys resolves
CODES = {spec.name: spec.business_key for spec in ENTITIES if spec.business_key}
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


def load_frame(warehouse, spec: EntitySpec, blocking: bool):
    """Live rows of every organization: for the blocking suite only the key columns it checks."""
    from harvey_pipelines.warehouse.schema import CORE_TABLES

    table = CORE_TABLES[spec.name]
    if blocking:
        names = ["organization_id", "source_id", *([CODES[spec.name]] if spec.name in CODES else [])]
    else:
        names = [c.name for c in table.columns if c.name not in ("record_hash", "sync_run_id", "payload")]
    return warehouse.frame(sa.select(*[table.c[n] for n in names]).where(table.c.is_deleted.is_(False)))


@cache
def reference_tolerance() -> ReferenceTolerance:
    """The dbt var ``reference_tolerance`` (dbt_project.yml): one rule for dbt and this check."""
    project = yaml.safe_load((settings.dbt_project_dir() / "dbt_project.yml").read_text())
    try:
        rule = project["vars"]["reference_tolerance"]
        return ReferenceTolerance(share=Decimal(str(rule["share"])), min_rows=int(rule["min_rows"]),
                                  max_rows=int(rule["max_rows"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"dbt_project.yml: vars.reference_tolerance needs share, min_rows and max_rows "
                         f"({type(exc).__name__}: {exc})") from None


def reference_findings(unresolved: list[UnresolvedReferences]) -> dict[str, dict]:
    """Findings of the references that resolve to no record beyond the tolerance, one per
    column, in the shape of the GX findings (the alert reads them)."""
    findings: dict[str, dict] = {}
    for u in unresolved:
        if not u.failing:
            continue
        finding = findings.setdefault(f"references_resolve({u.column} -> {u.referenced_entity})", {
            "success": False, "unexpected_count": 0, "examples": [], "summaries": [], "organizations": []})
        finding["unexpected_count"] += u.unresolved
        finding["organizations"].append(u.organization_id)
        finding["summaries"].append(u.summary())
        # ids only: the row that holds the value, and the value (itself an id or a code)
        finding["examples"] += [f"{u.organization_id}/{row} ({u.column}={value})" for row, value in u.examples]
    for finding in findings.values():
        finding["examples"] = finding["examples"][:EXAMPLES]
    return findings


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
    gx_suite = _context.suites.add(
        gx.ExpectationSuite(name=suite.name, expectations=expectations(spec, suite.blocking)))
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
        + ("ids unique per organization; references resolve (by id or business key) within the "
           "organization, beyond the tolerance of the dbt var reference_tolerance."
           if blocking else "required fields present, emails valid, enumerations in range, dates ordered."),
    )
    def _check(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
        frame = load_frame(warehouse.get(), spec, blocking)
        success, findings = run_suite(frame, suite, spec)
        metadata = {}
        if blocking and spec.references:
            unresolved = warehouse.get().unresolved_references(spec.name, reference_tolerance())
            references = reference_findings(unresolved)
            findings |= references
            success = success and not references
            # tolerated ones too: a late record now is a broken reference if it stays
            metadata["unresolved_references"] = {
                f"{u.organization_id}/{u.column}": {"unresolved": u.unresolved, "references": u.references,
                                                    "tolerated": u.tolerated}
                for u in unresolved}
        failing = {k: v for k, v in findings.items() if not v["success"]}
        return AssetCheckResult(
            passed=success,
            severity=AssetCheckSeverity.ERROR if blocking else AssetCheckSeverity.WARN,
            metadata={
                "rows": len(frame),
                "expectations": len(findings),
                "failed_expectations": len(failing),
                "failing_rows": sum(v["unexpected_count"] for v in failing.values()),
                "findings": {k: {"unexpected": v["unexpected_count"], "examples": v["examples"],
                                 **{f: v[f] for f in ("summaries", "organizations") if f in v}}
                             for k, v in failing.items()},
                **metadata,
            },
        )

    return _check


quality_checks = [build_check(spec, blocking) for spec in ENTITIES for blocking in (True, False)]
