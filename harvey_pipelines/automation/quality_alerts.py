"""Alerts on-call when a blocking data quality check starts failing: once per incident.

Blocking here means every evaluation of ERROR severity: our quality_blocking checks, and
dbt's tests (dagster-dbt reports a failed error-severity test as ERROR, e.g. the
references_resolve tests, whose findings assets/dbt.py adds).

The sensor's cursor (kept in the Dagster instance, so a daemon restart loses nothing)
holds the last event read and the checks that are failing now. A failed blocking
evaluation of a check that was passing alerts; further failures of it do not, until it
has passed again.
"""

import json
from typing import cast

from dagster import (
    AssetCheckEvaluation,
    AssetCheckSeverity,
    DagsterEvent,
    DagsterEventType,
    DefaultSensorStatus,
    EventRecordsFilter,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from harvey_pipelines.automation.alerts import Alert, deliver


@sensor(
    name="quality_alerts",
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Alerts on-call once when a blocking data quality check starts failing (the dbt models "
    "on that table were not rebuilt). On by default: it only reads the event log and alerts.",
)
def quality_alert_sensor(context: SensorEvaluationContext):
    state = json.loads(context.cursor) if context.cursor else {"after": None, "failing": []}
    failing = set(state["failing"])
    # the event log storage's query: the instance's wrapper of it is deprecated, with no
    # replacement for check evaluations across all assets
    records = context.instance.event_log_storage.get_event_records(
        EventRecordsFilter(event_type=DagsterEventType.ASSET_CHECK_EVALUATION, after_cursor=state["after"]),
        ascending=True, limit=500,
    )
    alerted = 0
    for record in records:
        # the filter asks for check evaluations only: each entry has one
        event = cast(DagsterEvent, record.event_log_entry.dagster_event)
        evaluation = cast(AssetCheckEvaluation, event.event_specific_data)
        if evaluation.severity != AssetCheckSeverity.ERROR:
            state["after"] = record.storage_id
            continue
        key = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        if evaluation.passed:
            failing.discard(key)
        elif key not in failing:
            if not deliver(_alert(evaluation, record.event_log_entry.run_id)):
                context.log.error(f"could not alert on-call about {key}: no alert channel reachable")
                break  # this evaluation is read again on the next tick
            failing.add(key)
            alerted += 1
        state["after"] = record.storage_id
    context.update_cursor(json.dumps({"after": state["after"], "failing": sorted(failing)}))
    return SkipReason(f"alerted {alerted} failing blocking checks; failing now: {len(failing)}")


def _alert(evaluation, run_id: str) -> Alert:
    """One alert per failing check: the table (asset), and per finding how many rows and
    examples; for unresolved references their own summary (column, count, tolerance, values)."""
    metadata = {k: getattr(v, "value", v) for k, v in evaluation.metadata.items()}
    findings = metadata.get("findings") or {}
    parts = []
    for label, finding in findings.items():
        summaries = finding.get("summaries")
        if summaries:
            parts += summaries
        else:
            parts.append(f"{label}: {finding.get('unexpected')} rows, e.g. {', '.join(finding.get('examples', []))}")
    if not parts and "dagster_dbt/failed_row_count" in metadata:
        # a dbt test without our findings: its own failing rows are in the dbt log
        parts.append(f"dbt test {evaluation.check_name} returned {metadata['dagster_dbt/failed_row_count']} "
                     "failing rows (details in the run's dbt log)")
    orgs = sorted({o for f in findings.values() for o in f.get("organizations", [])}
                  | {e.split("/")[0] for f in findings.values() if "organizations" not in f
                     for e in f.get("examples", [])})
    return Alert(
        title=f"Blocking data check failed: {evaluation.check_name}",
        organization_id=",".join(orgs) or "(all)", entity=evaluation.asset_key.to_user_string(),
        error="; ".join(parts) or "check failed", attempts=1, run_id=run_id,
    )
