"""The Harvey Pipelines code location: a table of contents."""

from dagster import Definitions, in_process_executor

from harvey_pipelines.assets.batches import batch_resources, sync_organizations
from harvey_pipelines.assets.dbt import dbt_models, dbt_resource, dbt_source_assets
from harvey_pipelines.assets.entities import entity_assets, record_keys_asset
from harvey_pipelines.assets.jobs import build_marts_job, sync_organization_job
from harvey_pipelines.assets.quality import quality_checks
from harvey_pipelines.assets.resources import OrganizationsResource, WarehouseResource
from harvey_pipelines.assets.retention import retention
from harvey_pipelines.automation.freshness import entity_freshness_sensor, freshness_checks
from harvey_pipelines.automation.marts import marts_after_syncs_sensor
from harvey_pipelines.automation.organizations import organizations_registry_sensor
from harvey_pipelines.automation.quality_alerts import quality_alert_sensor
from harvey_pipelines.automation.retries import sync_retry_sensor
from harvey_pipelines.automation.schedules import schedules

defs = Definitions(
    assets=[entity_assets, record_keys_asset, *dbt_source_assets(), dbt_models],
    asset_checks=[*quality_checks, freshness_checks],
    jobs=[sync_organization_job, sync_organizations, build_marts_job, retention],
    schedules=schedules,
    sensors=[organizations_registry_sensor, sync_retry_sensor, quality_alert_sensor, marts_after_syncs_sensor,
             entity_freshness_sensor],
    resources={"warehouse": WarehouseResource(), "organizations": OrganizationsResource(), "dbt": dbt_resource(),
               **batch_resources},
    # Every job's steps (the UI's and backfills' runs too) run in the run's process: a step
    # subprocess costs more start-up than a small organization's sync, and DuckDB takes one
    # writer at a time anyway. HARVEY_EXECUTOR=celery gives the batch job its own (batches.py).
    executor=in_process_executor,
)
