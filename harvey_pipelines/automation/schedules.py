"""One schedule per cadence; each tick asks for one run per enabled organization."""

from dagster import (
    DefaultScheduleStatus,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from harvey_pipelines.assets.jobs import build_marts_job, sync_organization_job, sync_run_request
from harvey_pipelines.assets.resources import OrganizationsResource
from harvey_pipelines.automation.cadences import CADENCES, TIMEZONE, Cadence
from harvey_pipelines.organizations import ORGANIZATIONS_PARTITION


def build_schedule(cadence: Cadence) -> ScheduleDefinition:
    @schedule(
        name=cadence.name,
        cron_schedule=cadence.cron,
        execution_timezone=TIMEZONE,
        job=sync_organization_job,
        description=f"{cadence.description} Entities: {', '.join(cadence.entities)}. One run per enabled "
        "organization; disabled ones are skipped. Off by default: turn on in the UI or with "
        "`dagster schedule start --start-all` once the organizations' HR systems are reachable.",
        default_status=DefaultScheduleStatus.STOPPED,
    )
    def _tick(context: ScheduleEvaluationContext, organizations: OrganizationsResource):
        partitions = set(context.instance.get_dynamic_partitions(ORGANIZATIONS_PARTITION))
        tick = context.scheduled_execution_time.isoformat()
        requests = []
        for org in organizations.registry().enabled():
            if org.id not in partitions:  # the organizations sensor adds it within a minute
                context.log.info(f"{org.id} has no partition yet; it joins on a later tick")
                continue
            requests.append(sync_run_request(
                org.id, cadence.entities, trigger=cadence.trigger, triggered_by=f"schedule:{cadence.name}",
                run_key=f"{cadence.name}:{org.id}:{tick}", mode=cadence.mode,
            ))
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

schedules = [*(build_schedule(c) for c in CADENCES), marts_nightly]
