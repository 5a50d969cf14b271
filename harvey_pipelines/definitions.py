"""The Harvey Pipelines code location: a table of contents."""

from dagster import AssetSelection, Definitions, define_asset_job, in_process_executor

from harvey_pipelines.assets.entities import entity_assets
from harvey_pipelines.assets.resources import OrganizationsResource, WarehouseResource
from harvey_pipelines.automation.organizations import organizations_registry_sensor
from harvey_pipelines.organizations import organizations_partitions

# One run syncs one organization. Steps run in the run's process: a step subprocess
# costs more start-up than a small organization's sync, and DuckDB takes one writer anyway.
sync_organization_job = define_asset_job(
    "sync_organization",
    selection=AssetSelection.assets(*entity_assets),
    partitions_def=organizations_partitions,
    description="Sync every HR entity of one organization (partition) into the warehouse.",
    executor_def=in_process_executor,
)

defs = Definitions(
    assets=entity_assets,
    jobs=[sync_organization_job],
    sensors=[organizations_registry_sensor],
    resources={"warehouse": WarehouseResource(), "organizations": OrganizationsResource()},
)
