"""The one sync job, and how every trigger (UI, CLI, schedule, retry, backfill) asks for a run."""

from dagster import AssetSelection, RunRequest, define_asset_job

from harvey_pipelines.assets.dbt import dbt_models
from harvey_pipelines.assets.entities import ENTITY_OP, TRIGGER_TAG, TRIGGERED_BY_TAG, entity_assets, entity_key
from harvey_pipelines.assets.quality import quality_checks

ENTITY_TAG = "harvey/entities"

# One run syncs one organization (partition); a trigger selects which entities. Its steps run
# in the run's process, as every job's (definitions.py).
sync_organization_job = define_asset_job(
    "sync_organization",
    selection=AssetSelection.assets(entity_assets).without_checks(),
    description="Sync HR entities of one organization (partition) into the warehouse: all of them, or "
    "those a trigger selects (the retry sensor: the one that failed).",
)

# The marts are rebuilt for every organization at once: the models downstream of what
# changed after syncs (automation/marts.py), everything nightly. Per-organization builds
# after every 30-minute sync would cost a dbt start-up each time.
build_marts_job = define_asset_job(
    "build_marts",
    selection=AssetSelection.assets(dbt_models) | AssetSelection.checks(*quality_checks),
    description="Data quality checks of the core tables, then dbt build (staging, timelines, attendance, "
    "marts) for every organization; a failed blocking check stops the models built on that table.",
)


def run_config(mode: str = "incremental") -> dict:
    if mode == "incremental":
        return {}
    return {"ops": {ENTITY_OP: {"config": {"mode": mode}}}}


def run_tags(entities, trigger: str, triggered_by: str, **extra: str) -> dict[str, str]:
    return {TRIGGER_TAG: trigger, TRIGGERED_BY_TAG: triggered_by, ENTITY_TAG: ",".join(entities), **extra}


def sync_run_request(org_id: str, entities, *, trigger: str, triggered_by: str, run_key: str,
                     mode: str = "incremental", **extra_tags: str) -> RunRequest:
    return RunRequest(
        run_key=run_key,
        partition_key=org_id,
        asset_selection=[entity_key(e) for e in entities],
        asset_check_keys=[],  # the quality checks run before the marts, not on every sync
        run_config=run_config(mode),
        tags=run_tags(entities, trigger, triggered_by, **extra_tags),
    )
