"""The marts follow the syncs: after syncs that changed data, a dbt build of only the models
downstream of the entities that changed (with their checks), at most every few minutes.

Per-organization dbt runs after every sync would pay dbt's start-up (seconds) for each of
hundreds of small syncs, and a full build after every 30-minute interview tick would
rebuild attendance and timelines that did not change. So the sensor collects the entity
materializations since its cursor (kept in the instance: a daemon restart loses nothing),
ignores those that changed nothing (inserted + updated + deleted = 0) and those every model
downstream has been built from since (the build's run started after the change was recorded,
e.g. the demo's build after its syncs), and asks for one `build_marts` run whose selection is
the dbt models downstream of what changed (and of the tables that reference it: their
references resolve anew), for every organization at once. The nightly `marts_nightly`
schedule still rebuilds everything.
"""

import json
from collections.abc import Set

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    AssetSelection,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunsFilter,
    SensorEvaluationContext,
    SkipReason,
    sensor,
)

from harvey_pipelines import settings
from harvey_pipelines.assets.dbt import dbt_models
from harvey_pipelines.assets.entities import (
    TRIGGER_TAG,
    TRIGGERED_BY_TAG,
    entity_assets,
    entity_key,
    record_keys_asset,
)
from harvey_pipelines.assets.jobs import build_marts_job
from harvey_pipelines.assets.quality import quality_checks
from harvey_pipelines.records import ENTITIES

SENSOR_NAME = "marts_after_syncs"
INTERVAL_SECONDS = int(settings.current().marts_after_syncs_minutes * 60)  # read when the definitions load
ACTIVE = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]


def _dbt_models_in(selection: AssetSelection) -> Set[AssetKey]:
    return (selection & AssetSelection.assets(dbt_models)).resolve([entity_assets, record_keys_asset, dbt_models])


def _affected_by(entity: str) -> Set[AssetKey]:
    """The models on the entity's table, and on the tables that reference it: staging
    resolves their references through core.record_keys, so a new employee may resolve
    attendance rows that were loaded before it."""
    referencing = [spec.name for spec in ENTITIES if any(r.entity == entity for r in spec.references)]
    keys = [entity_key(name) for name in dict.fromkeys([entity, *referencing])]
    return _dbt_models_in(AssetSelection.assets(*keys).downstream())


DOWNSTREAM: dict[str, Set[AssetKey]] = {spec.name: _affected_by(spec.name) for spec in ENTITIES}
# sync_health reads the sync bookkeeping, which every sync writes
ALWAYS_MODELS = _dbt_models_in(AssetSelection.assets(AssetKey(["marts", "sync_health"])).upstream())


def marts_request(changed_entities: set[str], run_key: str, never_built: Set[AssetKey] = frozenset()) -> RunRequest:
    """``never_built``: dbt assets without a materialization yet; those the selection reads
    (seeds, intermediate tables) are built too, so a first build after set-up works."""
    models = set(ALWAYS_MODELS).union(*(DOWNSTREAM[e] for e in changed_entities))
    models |= _dbt_models_in(AssetSelection.assets(*models).upstream()) & set(never_built)
    checks = [k for c in quality_checks for k in c.check_keys if k.asset_key.path[-1] in changed_entities]
    checks += [k for k in dbt_models.check_keys if k.asset_key in models]
    return RunRequest(
        run_key=run_key,
        asset_selection=sorted(models, key=lambda k: k.to_user_string()),
        asset_check_keys=sorted(checks, key=lambda k: (k.asset_key.to_user_string(), k.name)),
        tags={TRIGGER_TAG: "sensor", TRIGGERED_BY_TAG: f"sensor:{SENSOR_NAME}",
              "harvey/changed_entities": ",".join(sorted(changed_entities))},
    )


def _changed_something(record) -> bool:
    metadata = record.asset_materialization.metadata
    return any(getattr(metadata.get(k), "value", 0) for k in ("inserted", "updated", "deleted"))


def _built_from(instance: DagsterInstance, models: set[AssetKey]) -> dict[AssetKey, int]:
    """Per dbt model that has been built, the event log position its last build read the
    warehouse after: the start of the run that materialized it, so that a sync recorded while
    the build ran counts as newer; a materialization reported outside a run is its own position."""
    starts: dict[str, int] = {}
    built = {}
    for record in instance.get_asset_records(sorted(models, key=lambda k: k.to_user_string())):
        last = record.asset_entry.last_materialization_record
        if last is None:
            continue
        if last.run_id and last.run_id not in starts:
            start = instance.get_records_for_run(last.run_id, of_type=DagsterEventType.RUN_START, limit=1).records
            starts[last.run_id] = start[0].storage_id if start else last.storage_id
        built[record.asset_entry.asset_key] = starts[last.run_id] if last.run_id else last.storage_id
    return built


def not_yet_built(instance: DagsterInstance, changed: dict[str, int]) -> dict[str, int]:
    """Of ``changed`` (entity -> event log position of its newest change), the entities that
    some model downstream of them was not built from since."""
    if not changed:
        return {}
    built = _built_from(instance, set().union(*(DOWNSTREAM[e] for e in changed)))
    return {entity: at for entity, at in changed.items()
            if at > min((built.get(model, 0) for model in DOWNSTREAM[entity]), default=0)}


@sensor(
    name=SENSOR_NAME,
    job=build_marts_job,
    minimum_interval_seconds=INTERVAL_SECONDS,
    default_status=DefaultSensorStatus.RUNNING,
    description="After syncs that changed data, rebuilds only the dbt models downstream of the changed entities "
    "(with their quality checks and dbt tests) unless a build since has read the changes, at most every "
    "HARVEY_MARTS_AFTER_SYNCS_MINUTES (15) and never while a build is still running. On by default: it only "
    "reads the event log and runs dbt on local data.",
)
def marts_after_syncs_sensor(context: SensorEvaluationContext):
    state = json.loads(context.cursor) if context.cursor else {"after": None, "changed": {}}
    # entity -> event log position of its newest change (a cursor from before kept a list)
    changed = state["changed"] if isinstance(state["changed"], dict) else dict.fromkeys(state["changed"],
                                                                                        state["after"] or 0)
    # read up to a fixed high-water mark, so an event written meanwhile is read next tick
    newest = context.instance.event_log_storage.get_maximum_record_id() or 0
    for entity in DOWNSTREAM:
        cursor = state["after"]
        while True:
            page = context.instance.fetch_materializations(
                AssetRecordsFilter(asset_key=entity_key(entity), after_storage_id=cursor,
                                   before_storage_id=newest + 1), limit=1000, ascending=True)
            for record in page.records:
                if _changed_something(record):
                    changed[entity] = max(changed.get(entity, 0), record.storage_id)
            if not page.has_more:
                break
            cursor = page.records[-1].storage_id
    state = {"after": newest, "changed": not_yet_built(context.instance, changed)}
    context.update_cursor(json.dumps(state))
    if not state["changed"]:
        return SkipReason("no sync changed data since the marts were last built from it")
    if context.instance.get_runs(filters=RunsFilter(job_name=build_marts_job.name, statuses=ACTIVE), limit=1):
        return SkipReason(f"a dbt build is still running; {', '.join(sorted(state['changed']))} will follow it")
    changed_entities = set(state["changed"])
    context.update_cursor(json.dumps({"after": state["after"], "changed": {}}))
    records = context.instance.get_asset_records(list(dbt_models.keys))
    built = {r.asset_entry.asset_key for r in records if r.asset_entry.last_materialization_record}
    return marts_request(changed_entities, run_key=f"{SENSOR_NAME}:{state['after']}",
                         never_built=dbt_models.keys - built)
