"""The entity assets: one asset per entity spec, partitioned by organization, all computed by one op
that syncs each organization of its partition range on its own (the schedules' batches too)."""

from typing import Iterator, Mapping, Sequence, cast

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetsDefinition,
    AssetSpec,
    BackfillPolicy,
    Config,
    Failure,
    MetadataValue,
    OpExecutionContext,
    TableSchema,
    multi_asset,
)
from pydantic import Field

from harvey_pipelines import settings
from harvey_pipelines.assets.catalog import INGESTION_GROUP, OWNERS, column_schema, warehouse_kind
from harvey_pipelines.assets.partitions import organizations_partitions
from harvey_pipelines.assets.resources import OrganizationsResource, WarehouseResource
from harvey_pipelines.organizations import Organization, OrganizationRegistry
from harvey_pipelines.records import ENTITIES, ENTITIES_BY_NAME, REFERENCED_ENTITIES, EntitySpec
from harvey_pipelines.sources.base import serves
from harvey_pipelines.sync import MODES, Mode, SyncFailed, SyncResult, first_line, sync_entity, upstream_failed
from harvey_pipelines.warehouse import Warehouse

CORE_PREFIX = "core"
# The op (and step) that syncs the entity assets; run config goes to ops.sync_entities.config.
ENTITY_OP = "sync_entities"
TRIGGER_TAG = "harvey/trigger"
TRIGGERED_BY_TAG = "harvey/triggered_by"
# A run's sync mode when its config leaves it out: a backfill (UI, `harvey backfill`,
# `dagster job backfill --tags`) gives its runs tags but no config.
MODE_TAG = "harvey/mode"
# Dagster's tag on every run a backfill launches (its value: the backfill id).
BACKFILL_TAG = "dagster/backfill"
COUNTS = ("fetched", "inserted", "updated", "unchanged", "quarantined", "suppressed", "deleted", "deletes_held",
          "raw_versions", "api_calls", "retries")


class SyncConfig(Config):
    mode: str | None = Field(
        default=None,
        description="incremental (from the stored cursor), full (re-read everything, no duplicates) "
        "or reconcile (full, and flag records that vanished at the source as deleted); left out: the "
        f"run's tag {MODE_TAG}, else incremental",
    )
    confirm_deletes: bool = Field(
        default=False,
        description="reconcile: apply a delete wave above HARVEY_DELETE_WAVE_FRACTION / _MIN_ROWS (10% and 10 "
        "rows by default), which a reconciliation otherwise holds back",
    )


def entity_key(name: str) -> AssetKey:
    return AssetKey([CORE_PREFIX, name])


def table_schema(spec: EntitySpec) -> TableSchema:
    """The core table's columns, described by the record's fields (records.py) as in the warehouse."""
    from harvey_pipelines.warehouse.schema import CORE_TABLES

    return column_schema(CORE_TABLES[spec.name])


def sync_metadata(result: SyncResult) -> dict:
    metadata: dict[str, MetadataValue | str] = {name: MetadataValue.int(getattr(result, name)) for name in COUNTS}
    metadata |= {
        "duration_seconds": MetadataValue.float(round(result.duration_seconds, 3)),
        "mode": result.mode,
        "sync_run_id": result.sync_run_id,
        "cursor_before": result.cursor_before or "",
        "cursor_after": result.cursor_after or "",
    }
    if result.notes:
        metadata["notes"] = MetadataValue.md("\n".join(f"- {n}" for n in result.notes))
    return metadata


def sync_mode(configured: str | None, tags: Mapping[str, str]) -> Mode:
    """The mode of a run's syncs: its config's when set, else its tag harvey/mode, else incremental."""
    mode = configured or tags.get(MODE_TAG) or "incremental"
    if mode not in MODES:
        where = "config mode" if configured else f"tag {MODE_TAG}"
        raise Failure(f"{where} must be one of {', '.join(MODES)}; got {mode!r}")
    return cast(Mode, mode)


def sync_trigger(tags: Mapping[str, str]) -> tuple[str, str | None]:
    """(trigger, triggered_by) that sync_runs records for a run with these tags. A run a Dagster
    backfill launched is a backfill whoever launched it (the UI, `harvey backfill`, `dagster job
    backfill`), named by the backfill's id; other runs say it in their harvey/ tags."""
    if backfill_id := tags.get(BACKFILL_TAG):
        by = tags.get(TRIGGERED_BY_TAG)
        return "backfill", f"backfill:{backfill_id}" + (f" ({by})" if by else "")
    return tags.get(TRIGGER_TAG, "manual"), tags.get(TRIGGERED_BY_TAG)


def run_sync(context: AssetExecutionContext | OpExecutionContext, org: Organization, entity: str, warehouse: Warehouse,
             mode: Mode, confirm_deletes: bool = False) -> SyncResult:
    """One organization's entity, as any Dagster run does it: trigger from the run's tags,
    progress and outcome in the run's log. Raises SyncFailed (recorded in sync_runs)."""
    trigger, triggered_by = sync_trigger(context.run.tags)
    result = sync_entity(
        org, entity, warehouse, mode=mode, trigger=trigger, triggered_by=triggered_by,
        dagster_run_id=context.run.run_id,
        on_batch=lambda r: context.log.debug(f"{org.id}/{entity}: {r.fetched} fetched so far"),
        confirm_deletes=confirm_deletes,
    )
    context.log.info(
        f"{org.id}/{entity}: fetched {result.fetched}, inserted {result.inserted}, updated "
        f"{result.updated}, unchanged {result.unchanged}, quarantined {result.quarantined}, "
        f"deleted {result.deleted} in {result.duration_seconds:.1f}s ({result.api_calls} API calls)"
    )
    for note in result.notes:
        context.log.warning(f"{org.id}/{entity}: {note}")
    return result


def sync_each_organization(
    context: AssetExecutionContext | OpExecutionContext, org_ids: Sequence[str], entities: Sequence[str],
    registry: OrganizationRegistry, warehouse: Warehouse, mode: Mode, confirm_deletes: bool = False, *,
    unregistered_fails: bool,
) -> Iterator[AssetMaterialization]:
    """Each organization's entities in the given (dependency) order, every sync on its own: yields a
    materialization of the entity's partition for each sync that succeeded, so one organization's
    failure neither stops nor hides the others; then raises Failure listing those that failed or
    were not synced (an entity whose upstream failed earlier in this run). An organization no
    longer in the registry fails when ``unregistered_fails``, else it is skipped with a warning."""
    registered = {o.id: o for o in registry.load()}
    failed: list[str] = []
    for org_id in org_ids:
        org = registered.get(org_id)
        if org is None:
            if unregistered_fails:
                failed.append(f"{org_id}: not in the registry {registry.path}")
                context.log.error(f"organization {org_id!r} is not in the registry: not synced")
            else:  # removed since the tick asked for it: its data stays, it is not synced
                context.log.warning(f"organization {org_id!r} is no longer in the registry: not synced")
            continue
        failed_here: set[str] = set()
        for entity in entities:
            if not serves(org, entity):  # e.g. attendance of a BambooHR organization: nothing to sync
                context.log.info(f"{entity} of {org_id}: its HR systems have none, not synced")
                continue
            if blocked := upstream_failed(entity, failed_here):
                failed_here.add(entity)
                failed.append(f"{org_id}/{entity}: not synced: {', '.join(blocked)} failed in this run")
                context.log.error(f"{entity} of {org_id} not synced: {', '.join(blocked)} failed in this run")
                continue
            try:
                result = run_sync(context, org, entity, warehouse, mode, confirm_deletes)
            except Exception as exc:  # noqa: BLE001 - one organization's failure must not stop the others
                error = exc.result.error if isinstance(exc, SyncFailed) else first_line(exc)
                failed_here.add(entity)
                failed.append(f"{org_id}/{entity}: {error}")
                context.log.error(f"sync of {entity} for {org_id} failed: {error}")
                continue
            yield AssetMaterialization(asset_key=entity_key(entity), partition=org_id, metadata={
                **sync_metadata(result), "dagster/column_schema": table_schema(ENTITIES_BY_NAME[entity])})
    if failed:
        listed = "\n".join(f"- {f}" for f in failed)
        raise Failure(
            description=f"{len(failed)} of {len(org_ids) * len(entities)} syncs failed or were not synced "
            f"(a failed one is retried on its own by the sync_retries sensor):\n{listed}",
            metadata={"failed": MetadataValue.md(listed)},
        )


def entity_asset_spec(spec: EntitySpec) -> AssetSpec:
    return AssetSpec(
        key=entity_key(spec.name),
        group_name=spec.group,
        description=f"{spec.description} Synced from each organization's HR system into core.{spec.name}.",
        deps=[entity_key(name) for name in spec.upstream],
        kinds={"python", warehouse_kind()},
        owners=OWNERS,
        tags={"harvey/entity": spec.name},
        metadata={"dagster/column_schema": table_schema(spec), "dagster/table_name": f"core.{spec.name}"},
        # materialized per organization by the body, not by an output covering the whole partition range
        skippable=True,
    )


# Every entity asset, computed by one op over a range of organization partitions: a backfill
# makes one run per HARVEY_BACKFILL_ORGS_PER_RUN organizations (contiguous in the partition
# list), not one per organization. One op rather than one per entity: a failed step would
# skip its downstream entities' steps for every organization of the range, and a step's output
# would report every partition of the range materialized; the body reports each organization's
# entity itself, and the run fails when one did not sync, which marks exactly the partitions
# not materialized as failed in the backfill.
@multi_asset(
    name=ENTITY_OP,
    specs=[entity_asset_spec(spec) for spec in ENTITIES],
    partitions_def=organizations_partitions,
    can_subset=True,
    backfill_policy=BackfillPolicy.multi_run(settings.current().backfill_orgs_per_run),
    description="Sync the selected HR entities of each organization partition of the run, in dependency "
    "order, each organization and entity on its own.",
)
def entity_assets(
    context: AssetExecutionContext, config: SyncConfig, warehouse: WarehouseResource,
    organizations: OrganizationsResource,
) -> Iterator[AssetMaterialization]:
    entities = [spec.name for spec in ENTITIES if entity_key(spec.name) in context.selected_asset_keys]
    yield from sync_each_organization(
        context, context.partition_keys, entities, organizations.registry(), warehouse.get(),
        sync_mode(config.mode, context.run.tags), config.confirm_deletes, unregistered_fails=True)


# The view core.record_keys (warehouse/schema.py), a dbt source: no sync writes it (it reads
# the referenced entities' tables, so it is always current). Declared without those tables
# as dependencies, or every model with a reference would hang off every referenced entity;
# automation/marts.py rebuilds the models of the referencing entities instead.
record_keys_asset = AssetsDefinition(specs=[AssetSpec(
    key=AssetKey([CORE_PREFIX, "record_keys"]),
    description="Every key a reference may hold (a record's id or its business key), resolved to the "
    f"record's source id, for {', '.join(REFERENCED_ENTITIES)}: a view the warehouse's migrations keep "
    "current (Warehouse.migrate); dbt staging resolves references with it.",
    group_name=INGESTION_GROUP,
    kinds={"sql", warehouse_kind()},
    owners=OWNERS,
    metadata={"dagster/table_name": "core.record_keys"},
)])
