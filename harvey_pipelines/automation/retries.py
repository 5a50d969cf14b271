"""Retries of syncs that failed, after 5, 10 and 20 minutes; then a dead letter and one alert.

Transient HTTP faults are retried inside a sync (sources/http.py). This sensor handles
what still fails: it reads the failure chains (failed syncs since the last success) from
the warehouse's sync_runs, so its state survives daemon restarts, and asks for one retry
run per failure (run key = the failed sync run, so a retry is never requested twice).
After the last delay's retry fails too, it records a dead letter and alerts on-call once.
A failure no retry can fix (failure_kind configuration or credential: a missing credential
variable, 401/403, 404, unknown host, refused connection) is not retried: it is lettered and
alerted at once, with the fix its error names. A later successful sync resolves the dead
letter (warehouse.finish_run). Every alert is kept in sync.alerts; with no channel configured
it is also logged as an error in the sensor's tick, which the UI shows.
"""

import datetime as dt
from contextlib import ExitStack
from typing import Callable, TypeVar

from dagster import DefaultSensorStatus, RunsFilter, SensorEvaluationContext, SkipReason, sensor

from harvey_pipelines import settings
from harvey_pipelines.assets.jobs import sync_organization_job, sync_run_request
from harvey_pipelines.assets.partitions import ORGANIZATIONS_PARTITION
from harvey_pipelines.assets.resources import WarehouseResource
from harvey_pipelines.automation.alerts import Alert, configured, deliver
from harvey_pipelines.sources.errors import NOT_RETRIED
from harvey_pipelines.warehouse.dialects import LockTimeout


def retry_delays() -> tuple[dt.timedelta, ...]:
    return tuple(dt.timedelta(minutes=m) for m in settings.current().retry_delays_minutes)
# How long a tick waits for its turn on the DuckDB file (a sync hands it over after its
# batch; a dbt build keeps it to the end): well inside Dagster's 60 s for a sensor tick.
TURN_WAIT_SECONDS = 30
T = TypeVar("T")


@sensor(
    name="sync_retries",
    job=sync_organization_job,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Re-launches a failed sync of one organization and entity after 5, 10 and 20 minutes, "
    "then records a dead letter (sync.dead_letters) and alerts on-call once. Configuration and credential "
    "failures are not retried: lettered and alerted at once with the fix. Alerts are kept in sync.alerts "
    "and, with no channel configured, logged here as errors. On by default: it only acts on failures, "
    "and without it a failed sync waits for the next scheduled tick.",
)
def sync_retry_sensor(context: SensorEvaluationContext, warehouse: WarehouseResource):
    wh = warehouse.get()
    return in_turn(wh, lambda: _retry_tick(context, wh), "the failures are read at the next tick")


def in_turn(wh, tick: Callable[[], T], later: str) -> T | SkipReason:
    """``tick()`` with sync.* as it is now (a published copy lags): in the writers' turn on
    DuckDB, taken within TURN_WAIT_SECONDS or the tick is skipped (``later`` says when it is
    done instead), so a sensor never outlasts Dagster's 60 s for a tick behind a dbt build."""
    with ExitStack() as turn:
        try:
            turn.enter_context(wh.turn(TURN_WAIT_SECONDS))
        except LockTimeout as busy:
            return SkipReason(f"{busy}; {later}")
        return tick()


def _retry_tick(context: SensorEvaluationContext, wh):
    now = dt.datetime.now(dt.timezone.utc)
    requests, delays = [], retry_delays()
    partitions = set(context.instance.get_dynamic_partitions(ORGANIZATIONS_PARTITION))
    chains = wh.failure_chains()
    daemon_retries = _daemon_retries(context, [c.dagster_run_ids[-1] for c in chains if c.dagster_run_ids[-1]])
    lettered = wh.dead_letter_keys()  # recorded once, not written again on every tick
    for chain in chains:
        if chain.dagster_run_ids[-1] in daemon_retries:
            continue  # Dagster's own run retry is on for that run: do not double it
        if chain.last_failure_kind in NOT_RETRIED or chain.attempts > len(delays):
            if ((chain.organization_id, chain.entity, chain.sync_run_ids[0]) not in lettered
                    and wh.open_dead_letter(chain)):
                why = (f"{chain.last_failure_kind} failure, not retried" if chain.last_failure_kind in NOT_RETRIED
                       else f"failed {chain.attempts} times")
                context.log.warning(f"{chain.organization_id}/{chain.entity}: {why}: dead letter")
        else:
            due = chain.last_failure_at + delays[chain.attempts - 1]
            if now >= due and chain.organization_id not in partitions:
                context.log.warning(f"{chain.organization_id} is not a partition (any more): no retry run")
            elif now >= due:
                requests.append(sync_run_request(
                    chain.organization_id, [chain.entity], trigger="retry", triggered_by="sensor:sync_retries",
                    run_key=f"retry:{chain.sync_run_ids[-1]}", **{"harvey/attempt": str(chain.attempts + 1)},
                ))
    channels = configured()
    for letter in wh.unalerted_dead_letters():  # also catches an alert that failed to go out
        kind = letter["failure_kind"]
        alert = Alert(
            title="Sync needs a fix" if kind in NOT_RETRIED else "Sync failed for good",
            organization_id=letter["organization_id"], entity=letter["entity"],
            error=letter["last_error"] or "", attempts=letter["attempts"],
            run_id=(letter["dagster_run_ids"].split(",")[-1] or None), failure_kind=kind,
        )
        delivered = deliver(alert)
        wh.record_alert(organization_id=alert.organization_id, entity_name=alert.entity,
                        first_sync_run_id=letter["first_sync_run_id"], title=alert.title, failure_kind=kind,
                        message=alert.text(), delivered_to=delivered)
        if delivered or not channels:  # with no channel, sync.alerts and this log are where it is seen
            wh.mark_alerted(letter["organization_id"], letter["entity"], letter["first_sync_run_id"])
        if not delivered:
            context.log.error(f"{alert.text()}\n(" + (
                "no alert channel configured: kept in sync.alerts)" if not channels
                else f"could not reach {', '.join(channels)}: kept in sync.alerts, retried next tick)"))
    return requests or SkipReason("no failed sync is due for a retry")


def _daemon_retries(context: SensorEvaluationContext, run_ids: list[str]) -> set[str]:
    """The runs among ``run_ids`` that Dagster's own run retries will re-launch (one query)."""
    if not run_ids:
        return set()
    runs = context.instance.get_runs(filters=RunsFilter(run_ids=run_ids, tags={"dagster/will_retry": "true"}))
    return {run.run_id for run in runs}
