"""dbt models as Dagster assets: sources line up with the entity assets (core/<entity>),
so the asset graph is one graph, and dbt tests show as asset checks."""

import json
import os
import shutil
import sys
from functools import cache
from pathlib import Path

from dagster import AssetCheckResult, AssetExecutionContext
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from harvey_pipelines import settings
from harvey_pipelines.assets.quality import reference_findings, reference_tolerance
from harvey_pipelines.assets.resources import WarehouseResource

def dbt_executable() -> str:
    # the venv's dbt, also when the venv is not activated
    local = Path(sys.executable).parent / "dbt"
    return str(local) if local.exists() else (shutil.which("dbt") or "dbt")


def _prepare_if_dev(project: DbtProject) -> None:
    """Under `dagster dev`, re-parse when models change. dagster-dbt's preparer runs `dbt`
    from PATH, which holds no venv unless it is activated: put the venv's dbt first."""
    if not os.environ.get("DAGSTER_IS_DEV_CLI"):  # dagster-dbt's own test of `dagster dev`
        return
    venv_bin = str(Path(dbt_executable()).parent)
    path = os.environ.get("PATH", "")
    if os.path.isabs(venv_bin) and venv_bin not in path.split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join(filter(None, [venv_bin, path]))
    project.prepare_if_dev()


dbt_project = DbtProject(project_dir=settings.dbt_project_dir(), profiles_dir=settings.dbt_project_dir())
_prepare_if_dev(dbt_project)


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=dbt_project, dbt_executable=dbt_executable())


@cache
def reference_tests() -> dict[str, tuple[str, str]]:
    """dbt's references_resolve tests by name: the entity and column each judges."""
    manifest = json.loads(Path(dbt_project.manifest_path).read_text())
    tests = {}
    for node in manifest["nodes"].values():
        test = node.get("test_metadata") or {}
        if node["resource_type"] == "test" and test.get("name") == "references_resolve":
            model = node["attached_node"].split(".")[-1]  # model.harvey.stg_attendance
            tests[node["name"]] = (model.removeprefix("stg_"), test["kwargs"]["column_name"])
    return tests


def with_findings(result: AssetCheckResult, warehouse) -> AssetCheckResult:
    """A failed references_resolve test with the findings of the blocking quality check
    (same rule, same SQL): on-call's alert then names the references, not only the test."""
    entity, column = reference_tests()[result.check_name]
    unresolved = [u for u in warehouse.unresolved_references(entity, reference_tolerance()) if u.column == column]
    findings = reference_findings(unresolved)
    metadata = dict(result.metadata or {})
    metadata["findings"] = {k: {"unexpected": v["unexpected_count"], "examples": v["examples"],
                                "summaries": v["summaries"], "organizations": v["organizations"]}
                            for k, v in findings.items()}
    return AssetCheckResult(asset_key=result.asset_key, check_name=result.check_name, passed=result.passed,
                            severity=result.severity, metadata=metadata, description=result.description)


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, name="harvey_dbt_models")
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    os.environ.update(settings.dbt_env())
    warehouse.get().create_all()  # a warehouse older than a source table (sync.organization_*) gains it
    # a run of a subset (marts_after_syncs) runs only tests whose models are all in it;
    # dbt's default would also run tests that read models left out of it
    invocation = dbt.cli(["build", "--indirect-selection", "cautious"], context=context, raise_on_error=False)
    held = []
    with warehouse.get().for_other_process():  # DuckDB: our writers wait while dbt writes
        for event in invocation.stream():
            if (isinstance(event, AssetCheckResult) and not event.passed
                    and event.check_name in reference_tests()):
                held.append(event)  # its findings are read once dbt has let go of the warehouse
            else:
                yield event
    for event in held:
        yield with_findings(event, warehouse.get())
    error = invocation.get_error()
    if error is not None:
        raise error
