"""Scheduled syncs in batches: several organizations per run, each partition on its own.

A Dagster run costs seconds before any work (process start, imports, code location
load, event writes): more than a small organization's interview sync. So a schedule tick
asks for at most HARVEY_MAX_RUNS_PER_TICK runs and spreads the organizations over them.
Inside a run every organization is synced on its own and reported as a materialization of
its own partition (the entity assets' own loop, sync_each_organization), a failure of one
does not stop the others, and a failed one is retried alone by the sync_retries sensor (it reads the failed
syncs from sync_runs). With few organizations each run holds one.

With HARVEY_EXECUTOR=celery the batch fans out instead: one step per organization, which
Celery workers take from the broker (assets/cluster.py), so adding a worker adds capacity.
The run config and the run requests stay the same (ops.sync_batch.config).
"""

import math
from typing import Iterator, cast

from dagster import (
    AssetMaterialization,
    Config,
    DynamicOut,
    DynamicOutput,
    Failure,
    OpExecutionContext,
    RunRequest,
    job,
    op,
)
from pydantic import Field

from harvey_pipelines import settings
from harvey_pipelines.assets.cluster import (
    harvey_celery_executor,
    mapping_key,
    organization_key_io_manager,
    refuse_without_postgres,
)
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


BATCH_OP = "sync_batch"


def _check_entities(config: BatchConfig) -> None:
    unknown = [e for e in config.entities if e not in ENTITIES_BY_NAME]
    if unknown:
        raise Failure(f"unknown entities {unknown}")


@op(name=BATCH_OP, out={}, description="Sync the given entities of each given organization; each organization's "
    "partition is materialized on its own and a failure of one does not stop the others.")
def sync_batch(context: OpExecutionContext, config: BatchConfig, warehouse: WarehouseResource,
               organizations: OrganizationsResource) -> Iterator[AssetMaterialization]:
    _check_entities(config)
    yield from sync_each_organization(
        context, config.organizations, config.entities, organizations.registry(), warehouse.get(),
        sync_mode(config.mode, context.run.tags), config.confirm_deletes, unregistered_fails=False)


@op(name=BATCH_OP, out=DynamicOut(str, io_manager_key="organization_key_io_manager"),
    description="One step per given organization that is still in the registry, for the Celery workers.")
def fan_out_batch(context: OpExecutionContext, config: BatchConfig,
                  organizations: OrganizationsResource) -> Iterator[DynamicOutput]:
    _check_entities(config)
    registered = {o.id for o in organizations.registry().load()}
    for org_id in config.organizations:
        if org_id in registered:
            yield DynamicOutput(org_id, mapping_key=mapping_key(org_id))
        else:  # removed since the tick asked for it: its data stays, it is not synced
            context.log.warning(f"organization {org_id!r} is no longer in the registry: not synced")


@op(out={}, description="Sync the batch's entities of one organization, on whichever Celery worker takes "
    "the step; its partition is materialized, or the step fails and the sync_retries sensor retries it.")
def sync_batch_organization(context: OpExecutionContext, organization: str, warehouse: WarehouseResource,
                            organizations: OrganizationsResource) -> Iterator[AssetMaterialization]:
    # the batch's config is the fan-out op's (the run requests are those of the in-process job)
    ops = cast(dict, context.run_config["ops"])
    config = BatchConfig(**ops[BATCH_OP]["config"])
    yield from sync_each_organization(
        context, [organization], config.entities, organizations.registry(), warehouse.get(),
        sync_mode(config.mode, context.run.tags), config.confirm_deletes, unregistered_fails=False)


DESCRIPTION = ("Scheduled syncs of several organizations in one run{how}; each organization's partition is "
               "materialized on its own.")


def batch_job():
    """The batch job of this deployment's executor (HARVEY_EXECUTOR): one op looping over the
    organizations in the run's process (one process start for many small syncs; DuckDB's one
    writer), or one step per organization on the Celery workers."""
    if settings.current().executor != "celery":
        @job(name="sync_organizations", description=DESCRIPTION.format(how=" (one process start for many small syncs)"))
        def in_process():
            sync_batch()

        return in_process
    refuse_without_postgres()

    @job(name="sync_organizations", executor_def=harvey_celery_executor,
         description=DESCRIPTION.format(how=", one step per organization on the Celery workers"))
    def on_celery():
        fan_out_batch().map(sync_batch_organization)

    return on_celery


sync_organizations = batch_job()
# the resources the batch job needs beside the code location's (definitions.py)
batch_resources = ({"organization_key_io_manager": organization_key_io_manager}
                   if settings.current().executor == "celery" else {})


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
