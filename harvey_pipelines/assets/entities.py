"""The entity assets: one factory, one asset per entity spec, partitioned by organization."""

from typing import Mapping

from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    OpExecutionContext,
    TableSchema,
    asset,
)
from pydantic import Field

from harvey_pipelines.assets.catalog import INGESTION_GROUP, OWNERS, column_schema, warehouse_kind
from harvey_pipelines.assets.partitions import organizations_partitions
from harvey_pipelines.assets.resources import OrganizationsResource, WarehouseResource
from harvey_pipelines.organizations import Organization
from harvey_pipelines.records import ENTITIES, REFERENCED_ENTITIES, EntitySpec
from harvey_pipelines.sync import MODES, SyncFailed, SyncResult, sync_entity
from harvey_pipelines.warehouse import Warehouse

CORE_PREFIX = "core"
TRIGGER_TAG = "harvey/trigger"
TRIGGERED_BY_TAG = "harvey/triggered_by"
# A run's sync mode when its config leaves it out: a backfill (UI, `harvey backfill`,
# `dagster job backfill --tags`) gives its runs tags but no config.
MODE_TAG = "harvey/mode"
# Dagster's tag on every run a backfill launches (its value: the backfill id).
BACKFILL_TAG = "dagster/backfill"
COUNTS = ("fetched", "inserted", "updated", "unchanged", "quarantined", "deleted", "deletes_held", "raw_versions",
          "api_calls", "retries")


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
    metadata = {name: MetadataValue.int(getattr(result, name)) for name in COUNTS}
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


def sync_mode(configured: str | None, tags: Mapping[str, str]) -> str:
    """The mode of a run's syncs: its config's when set, else its tag harvey/mode, else incremental."""
    mode = configured or tags.get(MODE_TAG) or "incremental"
    if mode not in MODES:
        where = "config mode" if configured else f"tag {MODE_TAG}"
        raise Failure(f"{where} must be one of {', '.join(MODES)}; got {mode!r}")
    return mode


def sync_trigger(tags: Mapping[str, str]) -> tuple[str, str | None]:
    """(trigger, triggered_by) that sync_runs records for a run with these tags. A run a Dagster
    backfill launched is a backfill whoever launched it (the UI, `harvey backfill`, `dagster job
    backfill`), named by the backfill's id; other runs say it in their harvey/ tags."""
    if backfill_id := tags.get(BACKFILL_TAG):
        by = tags.get(TRIGGERED_BY_TAG)
        return "backfill", f"backfill:{backfill_id}" + (f" ({by})" if by else "")
    return tags.get(TRIGGER_TAG, "manual"), tags.get(TRIGGERED_BY_TAG)


def run_sync(context: AssetExecutionContext | OpExecutionContext, org: Organization, entity: str, warehouse: Warehouse,
             mode: str, confirm_deletes: bool = False) -> SyncResult:
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


def build_entity_asset(spec: EntitySpec) -> AssetsDefinition:
    schema = table_schema(spec)

    @asset(
        key=entity_key(spec.name),
        partitions_def=organizations_partitions,
        group_name=spec.group,
        description=f"{spec.description} Synced from each organization's HR system into core.{spec.name}.",
        deps=[entity_key(name) for name in spec.upstream],
        kinds={"python", warehouse_kind()},
        owners=OWNERS,
        tags={"harvey/entity": spec.name},
        metadata={"dagster/column_schema": schema, "dagster/table_name": f"core.{spec.name}"},
    )
    def _sync(
        context: AssetExecutionContext, config: SyncConfig, warehouse: WarehouseResource,
        organizations: OrganizationsResource,
    ) -> MaterializeResult:
        mode = sync_mode(config.mode, context.run.tags)
        org = organizations.registry().get(context.partition_key)
        try:
            result = run_sync(context, org, spec.name, warehouse.get(), mode, config.confirm_deletes)
        except SyncFailed as failed:
            raise Failure(
                description=f"sync of {spec.name} for {org.id} failed: {failed.result.error}",
                metadata=sync_metadata(failed.result),
            ) from None
        return MaterializeResult(metadata={**sync_metadata(result), "dagster/column_schema": schema})

    return _sync


entity_assets = [build_entity_asset(spec) for spec in ENTITIES]

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
