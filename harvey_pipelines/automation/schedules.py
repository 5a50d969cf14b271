"""One schedule per cadence; each tick syncs every enabled organization, in at most
HARVEY_MAX_RUNS_PER_TICK runs (assets/batches.py: a run's fixed cost outweighs a small sync)."""

from dagster import (
    DefaultScheduleStatus,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from harvey_pipelines.assets.batches import batch_run_requests, sync_organizations
from harvey_pipelines.assets.jobs import build_marts_job
from harvey_pipelines.assets.partitions import ORGANIZATIONS_PARTITION
from harvey_pipelines.assets.resources import OrganizationsResource
from harvey_pipelines.assets.retention import retention
from harvey_pipelines.automation.cadences import CADENCES, TIMEZONE, Cadence
from harvey_pipelines.sources.base import serves


def build_schedule(cadence: Cadence) -> ScheduleDefinition:
    @schedule(
        name=cadence.name,
        cron_schedule=cadence.cron,
        execution_timezone=TIMEZONE,
        job=sync_organizations,
        description=f"{cadence.description} Entities: {', '.join(cadence.entities)}. Every enabled "
        "organization (each its own partition), in at most HARVEY_MAX_RUNS_PER_TICK runs; disabled ones are "
        "skipped. Off by default: turn on in the UI or with `dagster schedule start --start-all` once the "
        "organizations' HR systems are reachable.",
        default_status=DefaultScheduleStatus.STOPPED,
    )
    def _tick(context: ScheduleEvaluationContext, organizations: OrganizationsResource):
        partitions = set(context.instance.get_dynamic_partitions(ORGANIZATIONS_PARTITION))
        tick = context.scheduled_execution_time.isoformat()
        org_ids = []
        for org in organizations.registry().enabled():
            if org.id not in partitions:  # the organizations sensor adds it within a minute
                context.log.info(f"{org.id} has no partition yet; it joins on a later tick")
                continue
            if not any(serves(org, entity) for entity in cadence.entities):  # no attendance at BambooHR
                continue
            org_ids.append(org.id)
        requests = batch_run_requests(
            org_ids, cadence.entities, mode=cadence.mode, trigger=cadence.trigger,
            triggered_by=f"schedule:{cadence.name}", run_key_prefix=f"{cadence.name}:{tick}",
        )
        return requests or SkipReason("no enabled organization")

    return _tick


marts_nightly = ScheduleDefinition(
    name="marts_nightly",
    cron_schedule="0 23 * * *",
    execution_timezone=TIMEZONE,
    job=build_marts_job,
    description="dbt build of the timelines, attendance and marts at 23:00, after the 22:30 attendance "
    "sync (the design documents' overnight processing). Off by default, like the sync schedules.",
    default_status=DefaultScheduleStatus.STOPPED,
)

retention_nightly = ScheduleDefinition(
    name="retention_nightly",
    cron_schedule="30 3 * * *",
    execution_timezone=TIMEZONE,
    job=retention,
    description="Retention nightly at 03:30: each organization's raw versions, quarantine "
    "rows, sync runs and dead letters past their age are removed. Off by default, like the sync schedules.",
    default_status=DefaultScheduleStatus.STOPPED,
)

schedules = [*(build_schedule(c) for c in CADENCES), marts_nightly, retention_nightly]
