"""Alerts on-call when a blocking data quality check fails: once per failed evaluation.

The sensor's cursor (kept in the Dagster instance, so a daemon restart loses nothing)
is the last event it has read; each failed blocking evaluation is alerted exactly once.
"""

from dagster import (
    AssetCheckSeverity,
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
    description="Alerts on-call once for every failed blocking data quality check (the dbt models on "
    "that table were not rebuilt). On by default: it only reads the event log and alerts.",
)
def quality_alert_sensor(context: SensorEvaluationContext):
    after = int(context.cursor) if context.cursor else None
    records = context.instance.get_event_records(
        EventRecordsFilter(event_type=DagsterEventType.ASSET_CHECK_EVALUATION, after_cursor=after),
        ascending=True, limit=500,
    )
    if not records:
        return SkipReason("no new check evaluations")
    alerted = 0
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if evaluation.passed or evaluation.severity != AssetCheckSeverity.ERROR:
            continue
        metadata = {k: getattr(v, "value", v) for k, v in evaluation.metadata.items()}
        findings = metadata.get("findings") or {}
        first = next(iter(findings.items()), None)
        error = (f"{first[0]}: {first[1].get('unexpected')} rows, e.g. {', '.join(first[1].get('examples', []))}"
                 if first else "check failed")
        orgs = sorted({e.split("/")[0] for f in findings.values() for e in f.get("examples", [])})
        alert = Alert(
            title=f"Blocking data check failed: {evaluation.check_name}",
            organization_id=",".join(orgs) or "(all)", entity=evaluation.asset_key.to_user_string(),
            error=error, attempts=1, run_id=record.event_log_entry.run_id,
        )
        if not deliver(alert):
            context.log.error(f"could not alert on-call about {alert.entity}: no alert channel reachable")
            break  # retry this evaluation on the next tick
        alerted += 1
        after = record.storage_id
    else:
        after = records[-1].storage_id
    context.update_cursor(str(after))
    return SkipReason(f"alerted {alerted} failed blocking checks") if alerted else SkipReason("no failed blocking check")
