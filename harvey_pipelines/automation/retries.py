"""Retries of syncs that failed, after 5, 10 and 20 minutes; then a dead letter and one alert.

Transient HTTP faults are retried inside a sync (sources/http.py). This sensor handles
what still fails: it reads the failure chains (failed syncs since the last success) from
the warehouse's sync_runs, so its state survives daemon restarts, and asks for one retry
run per failure (run key = the failed sync run, so a retry is never requested twice).
After the last delay's retry fails too, it records a dead letter and alerts on-call once.
A later successful sync resolves the dead letter (warehouse.finish_run).
"""

import datetime as dt
import os

from dagster import DefaultSensorStatus, RunsFilter, SensorEvaluationContext, SkipReason, sensor

from harvey_pipelines.assets.jobs import sync_organization_job, sync_run_request
from harvey_pipelines.assets.resources import WarehouseResource
from harvey_pipelines.automation.alerts import Alert, deliver
from harvey_pipelines.organizations import ORGANIZATIONS_PARTITION

RETRY_DELAYS = tuple(
    dt.timedelta(minutes=float(m)) for m in os.environ.get("HARVEY_RETRY_DELAYS_MINUTES", "5,10,20").split(",")
)


@sensor(
    name="sync_retries",
    job=sync_organization_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Re-launches a failed sync of one organization and entity after 5, 10 and 20 minutes, "
    "then records a dead letter (sync.dead_letters) and alerts on-call once. On by default: it only "
    "acts on failures, and without it a failed sync waits for the next scheduled tick.",
)
def sync_retry_sensor(context: SensorEvaluationContext, warehouse: WarehouseResource):
    wh = warehouse.get()
    now = dt.datetime.now(dt.timezone.utc)
    requests = []
    partitions = set(context.instance.get_dynamic_partitions(ORGANIZATIONS_PARTITION))
    chains = wh.failure_chains()
    daemon_retries = _daemon_retries(context, [c.dagster_run_ids[-1] for c in chains if c.dagster_run_ids[-1]])
    lettered = wh.dead_letter_keys()  # recorded once, not written again on every tick
    for chain in chains:
        if chain.dagster_run_ids[-1] in daemon_retries:
            continue  # Dagster's own run retry is on for that run: do not double it
        if chain.attempts <= len(RETRY_DELAYS):
            due = chain.last_failure_at + RETRY_DELAYS[chain.attempts - 1]
            if now >= due and chain.organization_id not in partitions:
                context.log.warning(f"{chain.organization_id} is not a partition (any more): no retry run")
            elif now >= due:
                requests.append(sync_run_request(
                    chain.organization_id, [chain.entity], trigger="retry", triggered_by="sensor:sync_retries",
                    run_key=f"retry:{chain.sync_run_ids[-1]}", **{"harvey/attempt": str(chain.attempts + 1)},
                ))
        elif ((chain.organization_id, chain.entity, chain.sync_run_ids[0]) not in lettered
              and wh.open_dead_letter(chain)):
            context.log.warning(f"{chain.organization_id}/{chain.entity} failed {chain.attempts} times: dead letter")
    for letter in wh.unalerted_dead_letters():  # also catches an alert that failed to go out
        alert = Alert(
            title="Sync failed for good", organization_id=letter["organization_id"], entity=letter["entity"],
            error=letter["last_error"] or "", attempts=letter["attempts"],
            run_id=(letter["dagster_run_ids"].split(",")[-1] or None),
        )
        if deliver(alert):
            wh.mark_alerted(letter["organization_id"], letter["entity"], letter["first_sync_run_id"])
        else:
            context.log.error(f"could not alert on-call about {alert.organization_id}/{alert.entity}: "
                              "no alert channel configured or reachable")
    return requests or SkipReason("no failed sync is due for a retry")


def _daemon_retries(context: SensorEvaluationContext, run_ids: list[str]) -> set[str]:
    """The runs among ``run_ids`` that Dagster's own run retries will re-launch (one query)."""
    if not run_ids:
        return set()
    runs = context.instance.get_runs(filters=RunsFilter(run_ids=run_ids, tags={"dagster/will_retry": "true"}))
    return {run.run_id for run in runs}
