"""dbt models as Dagster assets: sources line up with the entity assets (core/<entity>),
so the asset graph is one graph, and dbt tests show as asset checks."""

import os
import shutil
import sys
from pathlib import Path

from dagster import AssetExecutionContext
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from harvey_pipelines import settings
from harvey_pipelines.assets.resources import WarehouseResource

dbt_project = DbtProject(project_dir=settings.dbt_project_dir(), profiles_dir=settings.dbt_project_dir())
dbt_project.prepare_if_dev()  # under `dagster dev`: re-parse when models change


def dbt_executable() -> str:
    # the venv's dbt, also when the venv is not activated
    local = Path(sys.executable).parent / "dbt"
    return str(local) if local.exists() else (shutil.which("dbt") or "dbt")


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, name="harvey_dbt_models")
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    os.environ.update(settings.dbt_env())
    warehouse.get().create_all()  # a warehouse older than a source table (sync.organization_*) gains it
    with warehouse.get().for_other_process():  # DuckDB: our writers wait while dbt writes
        # a run of a subset (marts_after_syncs) runs only tests whose models are all in it;
        # dbt's default would also run tests that read models left out of it
        yield from dbt.cli(["build", "--indirect-selection", "cautious"], context=context).stream()
