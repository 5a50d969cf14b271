"""The retention job: every organization's purge (warehouse/retention.py) as a Dagster run,
started by the retention_nightly schedule or from the UI's Launchpad."""

from typing import Optional

from dagster import Config, MetadataValue, OpExecutionContext, Output, job, op
from pydantic import Field

from harvey_pipelines.assets.resources import OrganizationsResource, WarehouseResource
from harvey_pipelines.warehouse.retention import enforce


class RetentionConfig(Config):
    organization: Optional[str] = Field(default=None, description="only this organization; empty: every one")
    dry_run: bool = Field(default=False, description="count what would go; remove nothing")


@op(description="Remove each organization's raw versions, quarantine rows, sync runs and dead letters past "
    "their retention (HARVEY_RETENTION_*_DAYS, the registry's per-organization `retention`).")
def enforce_retention(context: OpExecutionContext, config: RetentionConfig, warehouse: WarehouseResource,
                      organizations: OrganizationsResource) -> Output[None]:
    registry = organizations.registry()
    if config.organization is not None:
        registry.get(config.organization)
    trigger = context.run.tags.get("dagster/schedule_name") or f"dagster:{context.run_id}"
    results = enforce(warehouse.get(), registry.load(), triggered_by=trigger, only=config.organization,
                      dry_run=config.dry_run)
    totals: dict[str, int] = {}
    for result in results:
        context.log.info(result.summary())
        for table, n in result.removed.items():
            totals[table] = totals.get(table, 0) + n
    return Output(None, metadata={
        "organizations": len(results), "dry_run": config.dry_run,
        **{table: MetadataValue.int(n) for table, n in totals.items()}})


@job(description="Retention: purge what is past its age in every organization (README: Retention).")
def retention():
    enforce_retention()
