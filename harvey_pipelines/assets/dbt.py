"""dbt models as Dagster assets: sources line up with the entity assets (core/<entity>),
so the asset graph is one graph, and dbt tests show as asset checks."""

import json
import os
import shutil
import sys
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from dagster import AssetCheckResult, AssetExecutionContext, AssetsDefinition, AssetSpec
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from harvey_pipelines import settings
from harvey_pipelines.assets.catalog import INGESTION_GROUP, OWNERS, column_schema, warehouse_kind
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


class WarehouseDbtCliResource(DbtCliResource):
    """dbt on the warehouse the sync writes: the profile's variables (settings.dbt_env(), the
    password included) are set for each invocation only, while dagster-dbt starts dbt (it hands
    its process environment to dbt and has no parameter for more), and taken away after."""

    def cli(self, args, **kwargs):
        with _environment(settings.dbt_env()):
            return super().cli(args, **kwargs)


@contextmanager
def _environment(values: dict[str, str]):
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def dbt_resource() -> DbtCliResource:
    # DbtCliResource takes a DbtProject too (its validator turns it into the path); its field is typed str
    return WarehouseDbtCliResource(project_dir=dbt_project,  # type: ignore[arg-type]
                                   dbt_executable=dbt_executable())


@cache
def reference_tests() -> dict[str, tuple[str, str]]:
    """dbt's references_resolve tests by name: the entity and column each judges."""
    tests = {}
    for node in _manifest()["nodes"].values():
        test = node.get("test_metadata") or {}
        if node["resource_type"] == "test" and test.get("name") == "references_resolve":
            model = node["attached_node"].split(".")[-1]  # model.harvey.stg_attendance
            tests[node["name"]] = (model.removeprefix("stg_"), test["kwargs"]["column_name"])
    return tests


def with_findings(result: AssetCheckResult, warehouse) -> AssetCheckResult:
    """A failed references_resolve test with the findings of the blocking quality check
    (same rule, same SQL): on-call's alert then names the references, not only the test."""
    entity, column = reference_tests()[str(result.check_name)]
    unresolved = [u for u in warehouse.unresolved_references(entity, reference_tolerance()) if u.column == column]
    findings = reference_findings(unresolved)
    metadata: dict[str, Any] = dict(result.metadata or {})
    metadata["findings"] = {k: {"unexpected": v["unexpected_count"], "examples": v["examples"],
                                "summaries": v["summaries"], "organizations": v["organizations"]}
                            for k, v in findings.items()}
    return AssetCheckResult(asset_key=result.asset_key, check_name=result.check_name, passed=result.passed,
                            severity=result.severity, metadata=metadata, description=result.description)


LAYERS = ("staging", "intermediate", "marts", "marts_masked")


class HarveyTranslator(DagsterDbtTranslator):
    """dbt nodes grouped by layer (the folder under models/; seeds apart), owned by the team,
    and tests described (from their YAML `description`, else from what they assert)."""

    def get_group_name(self, dbt_resource_props) -> str:
        if dbt_resource_props["resource_type"] == "seed":
            return "seeds"
        # the folder under models/: [harvey, marts, sync_health] -> marts (test_catalog checks
        # that every model sits in one of LAYERS)
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "dbt"

    def get_owners(self, dbt_resource_props) -> list[str]:
        return OWNERS

    def get_asset_check_spec(self, asset_spec, manifest, unique_id, project):
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or spec.description:
            return spec
        return spec._replace(description=describe_test(manifest["nodes"][unique_id]))


def describe_test(test: dict) -> str:
    """A dbt test's description: its YAML `description`, else what a generic test asserts."""
    if test.get("description"):
        return " ".join(test["description"].split())
    meta = test.get("test_metadata") or {}
    kwargs = {k: v for k, v in meta.get("kwargs", {}).items() if k not in ("model", "column_name")}
    model = test["attached_node"].split(".")[-1] if test.get("attached_node") else "?"
    target = f"{model}.{test['column_name']}" if test.get("column_name") else model
    said = {
        "not_null": f"{target} is never null.",
        "unique": f"{target} is unique.",
        "not_negative": f"{target} is never negative.",
        "accepted_values": f"{target} is one of: {', '.join(map(str, kwargs.get('values', [])))}.",
        "unique_combination_of_columns":
            f"One row of {model} per ({', '.join(kwargs.get('combination_of_columns', []))}).",
        "relationship_within_organization":
            f"{target} matches the {kwargs.get('field')} of a row of {_ref_name(kwargs.get('to'))} "
            "in the same organization.",
        "references_resolve":
            f"{target} resolves to a record of {kwargs.get('to')}, but for the few late arrivals "
            "var reference_tolerance allows per organization.",
    }.get(meta.get("name") or "")
    return said or f"dbt test {meta.get('name') or test['name']} on {target}."


def _ref_name(ref) -> str:
    # "{{ ref('stg_employees') }}" or "ref('stg_employees')" -> stg_employees
    text = str(ref)
    return text.split("'")[1] if "'" in text else text


dbt_translator = HarveyTranslator()


@cache
def _manifest() -> dict:
    return json.loads(Path(dbt_project.manifest_path).read_text())


def dbt_source_assets() -> list[AssetsDefinition]:
    """The dbt sources the sync writes besides the entity tables (raw.payload_versions,
    sync.sync_runs, the published organization settings): described as dbt's YAML describes
    them, columns as the warehouse's comments do. The core source's tables are the entity assets."""
    from harvey_pipelines.warehouse.schema import metadata

    specs = []
    for unique_id, source in _manifest()["sources"].items():
        if source["source_name"] == "core":
            continue
        key = dbt_translator.get_asset_spec(_manifest(), unique_id, dbt_project).key
        table = metadata.tables[f"{source['schema']}.{source['name']}"]
        specs.append(AssetSpec(
            key=key, description=" ".join((source.get("description") or table.comment or "").split()),
            group_name=INGESTION_GROUP, kinds={"python", warehouse_kind()}, owners=OWNERS,
            metadata={"dagster/table_name": table.fullname, "dagster/column_schema": column_schema(table)},
        ))
    return [AssetsDefinition(specs=specs)]


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project, name="harvey_dbt_models",
            dagster_dbt_translator=dbt_translator)
def dbt_models(context: AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    warehouse.get().migrate()  # an older warehouse gains the source tables dbt reads
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
    # also after a failed build: the models a failed check stopped keep their last build, and
    # one organization's bad data must not freeze everyone's copy (README, "Reading the warehouse")
    if published := warehouse.get().publish():
        context.log.info(f"published the analysts' copy of the warehouse: {published}")
    error = invocation.get_error()
    if error is not None:
        raise error
