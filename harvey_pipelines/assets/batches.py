"""Scheduled syncs in batches: several organizations per run, each partition on its own.

A Dagster run costs seconds before any work (process start, imports, code location
load, event writes): more than a small organization's interview sync. So a schedule tick
asks for at most HARVEY_MAX_RUNS_PER_TICK runs and spreads the organizations over them.
Inside a run every organization is synced on its own and reported as a materialization of
its own partition (the entity assets' own loop, sync_each_organization), a failure of one
does not stop the others, and a failed one is retried alone by the sync_retries sensor (it reads the failed
syncs from sync_runs). With few organizations each run holds one.
"""

import math
from typing import Iterator

from dagster import AssetMaterialization, Config, Failure, OpExecutionContext, RunRequest, job, op
from pydantic import Field

from harvey_pipelines import settings
from harvey_pipelines.assets.entities import MODE_TAG, sync_each_organization, sync_mode
from harvey_pipelines.assets.jobs import run_tags
from harvey_pipelines.assets.resources import OrganizationsResource, WarehouseResource
from harvey_pipelines.records import ENTITIES_BY_NAME

BATCH_TAG = "harvey/batch"


def max_runs_per_tick() -> int:
    # production's run queue limit (dagster.yaml): more runs would only wait
    return settings.current().max_runs_per_tick


class BatchConfig(Config):
    organizations: list[str] = Field(description="organization ids (partitions) to sync, in order")
    entities: list[str] = Field(description="entities to sync for each organization, in dependency order")
    mode: str | None = Field(default=None, description="incremental, full or reconcile; left out: the run's "
                             f"tag {MODE_TAG}, else incremental")
    confirm_deletes: bool = Field(default=False, description="reconcile: apply a delete wave it would hold back")


@op(out={}, description="Sync the given entities of each given organization; each organization's "
    "partition is materialized on its own and a failure of one does not stop the others.")
def sync_batch(context: OpExecutionContext, config: BatchConfig, warehouse: WarehouseResource,
               organizations: OrganizationsResource) -> Iterator[AssetMaterialization]:
    unknown = [e for e in config.entities if e not in ENTITIES_BY_NAME]
    if unknown:
        raise Failure(f"unknown entities {unknown}")
    yield from sync_each_organization(
        context, config.organizations, config.entities, organizations.registry(), warehouse.get(),
        sync_mode(config.mode, context.run.tags), config.confirm_deletes, unregistered_fails=False)


@job(description="Scheduled syncs of several organizations in one run "
     "(one process start for many small syncs); each organization's partition is materialized on its own.")
def sync_organizations():
    sync_batch()


def batch_run_requests(org_ids: list[str], entities, *, mode: str, trigger: str, triggered_by: str,
                       run_key_prefix: str) -> list[RunRequest]:
    """At most max_runs_per_tick() runs, organizations spread evenly in registry order, so
    re-evaluating a tick gives the same run keys with the same organizations."""
    if not org_ids:
        return []
    runs = min(len(org_ids), max_runs_per_tick())
    size = math.ceil(len(org_ids) / runs)
    chunks = [org_ids[i:i + size] for i in range(0, len(org_ids), size)]
    return [
        RunRequest(
            run_key=f"{run_key_prefix}:{i + 1}/{len(chunks)}",
            run_config={"ops": {"sync_batch": {"config": {
                "organizations": chunk, "entities": list(entities), "mode": mode}}}},
            tags=run_tags(entities, trigger, triggered_by, **{
                BATCH_TAG: f"{i + 1}/{len(chunks)}", "harvey/organizations": ",".join(chunk)}),
        )
        for i, chunk in enumerate(chunks)
    ]
