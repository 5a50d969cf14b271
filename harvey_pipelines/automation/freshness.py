"""Freshness for on-call: an organization's entity that has not synced successfully within its
cadence is stale; on-call hears of it once, with when it last synced and what was expected.

A failed sync alerts through the retry sensor; this catches what fails nowhere: schedules
turned off, runs stuck in the queue, an organization whose runs are skipped. It reads the
truth from the warehouse (``sync.sync_runs``: the latest successful sync per organization and
entity, whatever its trigger, whether or not it changed data), not from ``synced_at``, which
moves only when data changes.

**The rule.** An entity is expected to sync at every tick of the schedule of its cadence
(cadences.py). An enabled organization's entity is stale once ``HARVEY_FRESHNESS_MISSED_TICKS``
(2) ticks of that schedule have passed since its *reference time*, plus
``HARVEY_FRESHNESS_GRACE_MINUTES`` (30) for the last tick's sync to finish. The reference time
is the latest of: its last successful sync, when the schedule was last turned on, and when this
sensor first saw the organization enabled (so a new organization that never synced, or one
enabled again, gets the same allowance as one that just synced).

**Only schedules that were turned on expect anything.** The schedules are off by default (a
fresh checkout, the demo): nothing is expected of their entities until one is turned on in the
instance. One turned off after that still expects its entities (someone stopping it is what
on-call should hear about); resetting it to its default status ends that.

Dagster's freshness checks and policies judge an asset by its latest materialization of any
partition (``partition_key=None``): one organization syncing would make every organization
look fresh. So each entity asset has an asset check of its own, ``freshness``, evaluated by
the ``entity_freshness`` sensor, with per-organization detail in its metadata. The sensor
reports a new evaluation when the set of stale organizations changes, and otherwise once per
tick of the cadence (an evaluation every few minutes would fill the event log). Executing the
check in the UI evaluates the same rule in a run.
"""

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import islice

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    DagsterInstance,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    MetadataValue,
    SensorEvaluationContext,
    SensorResult,
    multi_asset_check,
    sensor,
)
from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType

# the iterators Dagster's scheduler ticks by (time zones, DST): the expectation's ticks are the schedule's
from dagster._utils.schedules import cron_string_iterator, reverse_cron_string_iterator

from harvey_pipelines import settings
from harvey_pipelines.assets.entities import entity_key
from harvey_pipelines.assets.resources import OrganizationsResource, WarehouseResource
from harvey_pipelines.automation.alerts import Alert, configured, deliver
from harvey_pipelines.automation.cadences import CADENCES, TIMEZONE, Cadence
from harvey_pipelines.automation.retries import in_turn
from harvey_pipelines.automation.schedules import schedules
from harvey_pipelines.organizations import Organization
from harvey_pipelines.records import ENTITIES
from harvey_pipelines.sources.base import serves
from harvey_pipelines.warehouse import Warehouse

SENSOR_NAME = "entity_freshness"
CHECK_NAME = "freshness"
INTERVAL_SECONDS = 300
ALERT_TITLE = "Sync overdue"
ALERT_KIND = "stale"
ALERT_LINES = 20  # organizations listed in one alert; sync.alerts has a row for each


def _clock() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _iso(stamp: dt.datetime | None) -> str | None:
    return stamp.astimezone(dt.timezone.utc).isoformat(timespec="seconds") if stamp else None


def _duration(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    return " ".join(f"{n} {unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "min")) if n) or "0 min"


def cadence_of(entity: str) -> Cadence:
    """The cadence whose schedule syncs the entity (the weekly reconcile comes on top)."""
    (cadence,) = [c for c in CADENCES if c.mode == "incremental" and entity in c.entities]
    return cadence


@dataclass(frozen=True)
class Expectation:
    entity: str
    cadence: Cadence
    missed_ticks: int
    grace: dt.timedelta

    @classmethod
    def of(cls, entity: str) -> "Expectation":
        return cls(entity, cadence_of(entity), settings.freshness_missed_ticks(), settings.freshness_grace())

    def stale_before(self, now: dt.datetime) -> dt.datetime:
        """A reference time before this is stale at ``now``: ``missed_ticks`` ticks of the
        schedule lie after it, the last of them at least the grace ago."""
        ticks = reverse_cron_string_iterator((now - self.grace).timestamp(), self.cadence.cron, TIMEZONE)
        return list(islice(ticks, self.missed_ticks))[-1]

    def due_by(self, reference: dt.datetime) -> dt.datetime:
        """When a reference time goes stale: the ``missed_ticks``-th tick after it, plus the grace."""
        ticks = (t for t in cron_string_iterator(reference.timestamp(), self.cadence.cron, TIMEZONE)
                 if t > reference)
        return list(islice(ticks, self.missed_ticks))[-1] + self.grace

    def text(self) -> str:
        return (f"a successful sync at every tick of {self.cadence.name} ({self.cadence.cron}, {TIMEZONE}); "
                f"stale once {self.missed_ticks} tick{'s' if self.missed_ticks > 1 else ''} pass without one, "
                f"plus {_duration(self.grace)} grace")


def check_description(entity: str) -> str:
    cadence = cadence_of(entity)
    return (f"Per enabled organization: a successful sync of {entity} at every tick of the schedule "
            f"{cadence.name} ({cadence.cron}, {TIMEZONE}). Stale once HARVEY_FRESHNESS_MISSED_TICKS (default 2) "
            "ticks pass without one, plus HARVEY_FRESHNESS_GRACE_MINUTES (default 30). Expected only once the "
            f"schedule has been turned on. Evaluated by the {SENSOR_NAME} sensor, which alerts on-call once per "
            "stale organization; the evaluation's metadata lists each organization's last successful sync.")


@dataclass(frozen=True)
class ScheduleState:
    expected: bool  # its entities are expected fresh
    started_at: dt.datetime | None  # when it was last turned on (running only)
    label: str


def _stored_states(instance: DagsterInstance, kind: InstigatorType) -> list:
    # an ephemeral instance (a run in a test or a script) keeps no schedules or sensors
    return list(instance.all_instigator_state(instigator_type=kind)) if instance.schedule_storage else []


def schedule_states(instance: DagsterInstance) -> dict[str, ScheduleState]:
    """The cadences' schedules as the instance holds them. A schedule never touched in this
    instance follows its default status (off: nothing expected)."""
    stored = {s.name: s for s in _stored_states(instance, InstigatorType.SCHEDULE)}
    defaults = {s.name: s.default_status for s in schedules}
    states = {}
    for cadence in CADENCES:
        state = stored.get(cadence.name)
        if state is None or state.status == InstigatorStatus.DECLARED_IN_CODE:
            on = defaults[cadence.name] == DefaultScheduleStatus.RUNNING
            states[cadence.name] = ScheduleState(on, None, "on by default" if on else "never turned on")
        elif state.status == InstigatorStatus.RUNNING:
            start = getattr(state.instigator_data, "start_timestamp", None)
            started = dt.datetime.fromtimestamp(start, dt.timezone.utc) if start else None
            states[cadence.name] = ScheduleState(True, started, f"running since {_iso(started)}" if started
                                                 else "running")
        else:
            states[cadence.name] = ScheduleState(True, None, "stopped (it was turned off after running)")
    return states


@dataclass(frozen=True)
class OrganizationFreshness:
    organization_id: str
    last_success: dt.datetime | None
    reference: dt.datetime
    stale: bool


@dataclass
class EntityFreshness:
    expectation: Expectation
    schedule: ScheduleState
    organizations: list[OrganizationFreshness]  # enabled organizations, when anything is expected
    now: dt.datetime

    @property
    def entity(self) -> str:
        return self.expectation.entity

    @property
    def check_key(self) -> AssetCheckKey:
        return AssetCheckKey(entity_key(self.entity), CHECK_NAME)

    @property
    def stale(self) -> list[OrganizationFreshness]:
        return [o for o in self.organizations if o.stale]

    def line(self, org: OrganizationFreshness) -> str:
        """A stale organization as on-call reads it."""
        due = self.expectation.due_by(org.reference)
        if org.last_success is None:
            return f"{org.organization_id}: never synced successfully; overdue since {_iso(due)}"
        return (f"{org.organization_id}: last successful sync {_iso(org.last_success)} "
                f"({_duration(self.now - org.last_success)} ago); overdue since {_iso(due)}")

    def result(self) -> dict:
        """The check evaluation's fields (an AssetCheckResult or, from the sensor, an AssetCheckEvaluation)."""
        cadence = self.expectation.cadence
        metadata = {
            "expectation": self.expectation.text(),
            "schedule": f"{cadence.name}: {self.schedule.label}",
            "missed_ticks": self.expectation.missed_ticks,
            "grace_minutes": self.expectation.grace.total_seconds() / 60,
            "evaluated_at": MetadataValue.timestamp(self.now),
        }
        if not self.schedule.expected:
            return dict(passed=True, severity=AssetCheckSeverity.WARN, metadata=metadata,
                        description=f"Nothing expected: the schedule {cadence.name} was never turned on in this "
                                    "instance.")
        stale = self.stale
        metadata |= {
            "organizations": len(self.organizations),
            "stale_organizations": len(stale),
            "last_successful_syncs": MetadataValue.json(
                {o.organization_id: _iso(o.last_success) for o in self.organizations}),
        }
        if stale:
            metadata["stale"] = MetadataValue.md("\n".join(f"- {self.line(o)}" for o in stale[:50]))
            names = ", ".join(o.organization_id for o in stale[:10]) + (" ..." if len(stale) > 10 else "")
            description = f"{len(stale)} of {len(self.organizations)} enabled organizations stale: {names}"
        else:
            description = f"All {len(self.organizations)} enabled organizations synced within the expectation."
        # WARN: it blocks nothing, and the quality_alerts sensor alerts on every failing ERROR check;
        # this sensor alerts for freshness itself
        return dict(passed=not stale, severity=AssetCheckSeverity.WARN, metadata=metadata, description=description)

    def alert(self, stale: list[OrganizationFreshness]) -> Alert:
        lines = [self.line(o) for o in stale[:ALERT_LINES]]
        if len(stale) > ALERT_LINES:
            lines.append(f"... and {len(stale) - ALERT_LINES} more organizations (sync.alerts lists each)")
        return Alert(
            title=ALERT_TITLE, organization_id=",".join(o.organization_id for o in stale), entity=self.entity,
            error="", attempts=None, failure_kind=ALERT_KIND,
            details=(f"expected: {self.expectation.text()}",
                     f"schedule: {self.expectation.cadence.name} is {self.schedule.label}", *lines),
        )


def evaluate(instance: DagsterInstance, warehouse: Warehouse, enabled_since: Mapping[str, dt.datetime | None],
             now: dt.datetime, served: Callable[[str, str], bool] = lambda org, entity: True) -> list[EntityFreshness]:
    """Every entity's freshness for the enabled organizations (``enabled_since``: organization ->
    when first seen enabled, None when not known) whose systems have it (``served(org, entity)``:
    a BambooHR organization expects no attendance)."""
    states = schedule_states(instance)
    # nothing expected (the schedules off): the warehouse is not read
    last = warehouse.last_successful_syncs(enabled_since) if any(s.expected for s in states.values()) else {}
    report = []
    for spec in ENTITIES:
        expectation = Expectation.of(spec.name)
        schedule = states[expectation.cadence.name]
        organizations = []
        if schedule.expected:
            stale_before = expectation.stale_before(now)
            for org, since in enabled_since.items():
                if not served(org, spec.name):
                    continue
                success = last.get((org, spec.name))
                # nothing known (a check run for an organization the sensor has not seen): from now
                reference = max((t for t in (success, schedule.started_at, since) if t), default=now)
                organizations.append(OrganizationFreshness(org, success, reference, reference < stale_before))
        report.append(EntityFreshness(expectation, schedule, organizations, now))
    return report


@dataclass
class SensorState:
    """The sensor's cursor: organizations seen enabled and since when, the stale organizations
    on-call has heard of (key ``org/entity`` -> incident: its last success, or ``never``), and per
    entity the last reported evaluation."""

    enabled_since: dict[str, str] = field(default_factory=dict)
    alerted: dict[str, str] = field(default_factory=dict)
    reported: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def load(cls, cursor: str | None) -> "SensorState":
        return cls(**json.loads(cursor)) if cursor else cls()

    def dump(self) -> str:
        return json.dumps({"enabled_since": self.enabled_since, "alerted": self.alerted, "reported": self.reported},
                          sort_keys=True)

    def since(self) -> dict[str, dt.datetime]:
        return {org: dt.datetime.fromisoformat(s) for org, s in self.enabled_since.items()}


def _due_for_report(entity: EntityFreshness, previous: dict | None, summary: dict) -> bool:
    """A new evaluation when the summary changed, else once per tick of the cadence."""
    if previous is None:
        return entity.schedule.expected
    if previous["summary"] != summary:
        return True
    latest_tick = next(reverse_cron_string_iterator(entity.now.timestamp(), entity.expectation.cadence.cron, TIMEZONE))
    return entity.schedule.expected and dt.datetime.fromisoformat(previous["at"]) < latest_tick


@sensor(
    name=SENSOR_NAME,
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="Every 5 minutes: per entity and enabled organization, whether it synced successfully within its "
    "cadence (HARVEY_FRESHNESS_MISSED_TICKS ticks of its schedule, 2, plus HARVEY_FRESHNESS_GRACE_MINUTES, 30). "
    "Reports the entities' freshness checks and alerts on-call once per stale organization and entity (naming "
    "its last successful sync), again only after it was fresh again. Only schedules that were turned on expect "
    "anything. On by default: it only reads and alerts.",
)
def entity_freshness_sensor(context: SensorEvaluationContext, warehouse: WarehouseResource,
                            organizations: OrganizationsResource):
    now = _clock()
    state = SensorState.load(context.cursor)
    enabled = organizations.registry().enabled()
    state.enabled_since = {o.id: state.enabled_since.get(o.id) or now.isoformat() for o in enabled}
    wh = warehouse.get()
    return in_turn(wh, lambda: _freshness_tick(context, wh, state, now, _served_by(enabled)),
                   "freshness is judged at the next tick")


def _served_by(organizations: list[Organization]) -> Callable[[str, str], bool]:
    by_id = {o.id: o for o in organizations}
    return lambda org, entity: org not in by_id or serves(by_id[org], entity)


def _freshness_tick(context: SensorEvaluationContext, wh: Warehouse, state: "SensorState", now: dt.datetime,
                    served: Callable[[str, str], bool]):
    report = evaluate(context.instance, wh, state.since(), now, served)

    events = []
    for entity in report:
        summary = {"expected": entity.schedule.expected, "stale": [o.organization_id for o in entity.stale]}
        if _due_for_report(entity, state.reported.get(entity.entity), summary):
            events.append(AssetCheckEvaluation(asset_key=entity.check_key.asset_key, check_name=CHECK_NAME,
                                               **entity.result()))
            state.reported[entity.entity] = {"at": now.isoformat(), "summary": summary}

    stale_now = {f"{o.organization_id}/{e.entity}" for e in report for o in e.stale}
    state.alerted = {key: incident for key, incident in state.alerted.items() if key in stale_now}  # fresh again
    channels = configured()
    new_stale = 0
    for entity in report:
        new = [o for o in entity.stale if f"{o.organization_id}/{entity.entity}" not in state.alerted]
        if not new:
            continue
        alert = entity.alert(new)
        delivered = deliver(alert)
        for org in new:
            incident = _iso(org.last_success) or "never"
            wh.record_alert(organization_id=org.organization_id, entity_name=entity.entity,
                            first_sync_run_id=f"{ALERT_KIND}:{incident}", title=ALERT_TITLE, failure_kind=ALERT_KIND,
                            message=entity.alert([org]).text(), delivered_to=delivered)
            if delivered or not channels:  # with no channel, sync.alerts and this log are where it is seen
                state.alerted[f"{org.organization_id}/{entity.entity}"] = incident
        new_stale += len(new)
        if not delivered:
            context.log.error(f"{alert.text()}\n(" + (
                "no alert channel configured: kept in sync.alerts)" if not channels
                else f"could not reach {', '.join(channels)}: kept in sync.alerts, retried next tick)"))
    return SensorResult(
        asset_events=events, cursor=state.dump(),
        skip_reason=f"stale: {len(stale_now)} organization entities, {new_stale} of them new; "
                    f"{len(events)} freshness checks reported",
    )


def _sensor_cursor(instance: DagsterInstance) -> str | None:
    for stored in _stored_states(instance, InstigatorType.SENSOR):
        if stored.name == SENSOR_NAME and stored.instigator_data is not None:
            return getattr(stored.instigator_data, "cursor", None)
    return None


@multi_asset_check(
    name="entity_freshness_checks",
    specs=[AssetCheckSpec(CHECK_NAME, asset=entity_key(spec.name), description=check_description(spec.name))
           for spec in ENTITIES],
    can_subset=True,
    description="The entities' freshness, on demand: the rule the entity_freshness sensor evaluates (no alert).",
)
def freshness_checks(context: AssetCheckExecutionContext, warehouse: WarehouseResource,
                     organizations: OrganizationsResource):
    # the sensor's record of when it first saw each organization enabled; one it has not seen
    # counts from its last successful sync and the schedule's start alone
    known = SensorState.load(_sensor_cursor(context.instance)).since()
    enabled = organizations.registry().enabled()
    enabled_since = {o.id: known.get(o.id) for o in enabled}
    for entity in evaluate(context.instance, warehouse.get(), enabled_since, _clock(), _served_by(enabled)):
        if entity.check_key in context.selected_asset_check_keys:
            yield AssetCheckResult(asset_key=entity.check_key.asset_key, check_name=CHECK_NAME, **entity.result())
