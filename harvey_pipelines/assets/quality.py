"""Data quality of the core tables as Dagster asset checks: a blocking and a warning check
per entity. The rules and how they run in the warehouse are in harvey_pipelines/quality.py;
here the blocking check adds the references that resolve to no record (SQL over
core.record_keys, Warehouse.unresolved_references: by id or business key, beyond the
tolerance of the dbt var reference_tolerance, the same rule as dbt's references_resolve
tests), and the build_marts job does not build dbt models on top of a table that fails it.
"""

from decimal import Decimal
from functools import cache
from typing import Any

import yaml
from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, asset_check

from harvey_pipelines import quality, settings
from harvey_pipelines.assets.entities import entity_key
from harvey_pipelines.assets.resources import WarehouseResource
from harvey_pipelines.records import ENTITIES, EntitySpec
from harvey_pipelines.warehouse import ReferenceTolerance, UnresolvedReferences


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
        finding["examples"] = finding["examples"][:quality.EXAMPLES]
    return findings


def build_check(spec: EntitySpec, blocking: bool):
    @asset_check(
        asset=entity_key(spec.name),
        name=f"quality_{'blocking' if blocking else 'warnings'}",
        blocking=blocking,
        description=("Blocking (dbt waits for it): ids and business keys unique per organization; references "
                     "resolve (by id or business key) within the organization, beyond the tolerance of the dbt "
                     "var reference_tolerance." if blocking else
                     "Warning: what the sync's validation cannot see: values used twice, overlapping periods, "
                     "implausible values (harvey_pipelines/quality.py lists the rules)."),
    )
    def _check(context: AssetCheckExecutionContext, warehouse: WarehouseResource) -> AssetCheckResult:
        rows, found = quality.check(warehouse.get(), spec, blocking)
        findings: dict[str, dict[str, Any]] = {
            name: {"success": f.success, "unexpected_count": f.unexpected, "examples": f.examples,
                   **({"error": f.error} if f.error else {})} for name, f in found.items()}
        for name, f in found.items():
            if f.error:
                context.log.error(f"{spec.name} {name}: {f.error}")
        metadata = {}
        if blocking and spec.references:
            unresolved = warehouse.get().unresolved_references(spec.name, reference_tolerance())
            findings |= reference_findings(unresolved)
            # tolerated ones too: a late record now is a broken reference if it stays
            metadata["unresolved_references"] = {
                f"{u.organization_id}/{u.column}": {"unresolved": u.unresolved, "references": u.references,
                                                    "tolerated": u.tolerated}
                for u in unresolved}
        failing = {k: v for k, v in findings.items() if not v["success"]}
        return AssetCheckResult(
            passed=not failing,
            severity=AssetCheckSeverity.ERROR if blocking else AssetCheckSeverity.WARN,
            metadata={
                "rows": rows,
                "expectations": len(findings),
                "failed_expectations": len(failing),
                "failing_rows": sum(v["unexpected_count"] for v in failing.values()),
                "findings": {k: {"unexpected": v["unexpected_count"], "examples": v["examples"],
                                 **{f: v[f] for f in ("summaries", "organizations", "error") if f in v}}
                             for k, v in failing.items()},
                **metadata,
            },
        )

    return _check


quality_checks = [build_check(spec, blocking) for spec in ENTITIES for blocking in (True, False)]
