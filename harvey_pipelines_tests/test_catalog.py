"""The catalog reads like the warehouse: dbt assets grouped by layer, every asset and core
column described, dbt tests described, and the same descriptions as table and column
comments in the warehouse (Warehouse.migrate for the core tables, dbt's persist_docs for
the models), on DuckDB and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from dagster import AssetKey

from harvey_pipelines.assets.catalog import OWNERS
from harvey_pipelines.assets.entities import entity_key
from harvey_pipelines.definitions import defs
from harvey_pipelines.records import ENTITIES
from harvey_pipelines_tests.test_dbt_models import dbt_build

LAYERS = {"staging", "intermediate", "marts", "marts_masked", "seeds"}


def _asset_graph():
    return defs.resolve_asset_graph()


def _columns(node):
    schema = node.metadata["dagster/column_schema"]
    return getattr(schema, "schema", schema).columns  # a TableSchema, or its metadata value


def test_dbt_assets_are_grouped_by_layer_and_every_asset_is_described():
    graph = _asset_graph()
    dbt_keys = [k for k in graph.get_all_asset_keys() if "dbt" in graph.get(k).kinds]
    groups = {graph.get(k).group_name for k in dbt_keys}
    assert groups == LAYERS, groups
    for key in dbt_keys:  # the folder is the layer: marts/sync_health in marts
        if key.path[0] in LAYERS - {"seeds"}:
            assert graph.get(key).group_name == key.path[0], key
    assert graph.get(entity_key("employees")).group_name == "people"

    undescribed = [k.to_user_string() for k in graph.get_all_asset_keys() if not graph.get(k).description]
    assert not undescribed, f"assets without a description: {undescribed}"
    # the sources the sync writes beside the entity tables are assets of their own now
    for key in (AssetKey(["raw", "payload_versions"]), AssetKey(["sync", "sync_runs"])):
        node = graph.get(key)
        assert not node.is_materializable and node.owners == OWNERS and node.group_name == "ingestion", key
        assert _columns(node)
    assert "SHA-256" in graph.get(AssetKey(["raw", "payload_versions"])).description
    assert "One row per sync" in graph.get(AssetKey(["sync", "sync_runs"])).description
    for key in dbt_keys:
        assert graph.get(key).owners == OWNERS, key


def test_every_core_column_is_described_in_the_asset_column_schema():
    graph = _asset_graph()
    for spec in ENTITIES:
        node = graph.get(entity_key(spec.name))
        assert {"python"} < node.kinds and node.kinds & {"duckdb", "postgres"}, node.kinds
        columns = _columns(node)
        expected = {"organization_id", "source_id", *spec.model.model_fields} - {"id"}
        assert expected <= {c.name for c in columns}
        undescribed = [c.name for c in columns if not c.description]
        assert not undescribed, f"core.{spec.name} columns without a description: {undescribed}"
    employees = {c.name: c.description for c in
                 _columns(graph.get(entity_key("employees")))}
    assert employees["hire_date"] == ENTITIES[0].model.model_fields["hire_date"].description


def test_dbt_tests_are_described():
    graph = _asset_graph()
    checks = {k: graph.get_check_spec(k) for k in graph.asset_check_keys
              if "dbt" in graph.get(k.asset_key).kinds}
    assert len(checks) > 50
    undescribed = [k.to_user_string() for k, c in checks.items() if not c.description]
    assert not undescribed, f"dbt tests without a description: {undescribed}"
    by_name = {k.name: c.description for k, c in checks.items()}
    # a singular test: its YAML description; a generic one: what it asserts
    assert by_name["assert_seeds_hold_only_defaults"].startswith("The seeds hold only")
    assert by_name["not_null_sync_health_organization_id"] == "sync_health.organization_id is never null."


def _comments(url: str, schema: str, table: str) -> tuple[str | None, dict[str, str | None]]:
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        return (inspector.get_table_comment(table, schema)["text"],
                {c["name"]: c.get("comment") for c in inspector.get_columns(table, schema)})
    finally:
        engine.dispose()


def test_core_tables_carry_the_descriptions_as_comments(warehouse, warehouse_url):
    table, columns = _comments(warehouse_url, "core", "employees")
    assert table == ENTITIES[0].description
    fields = ENTITIES[0].model.model_fields
    assert columns["hire_date"] == fields["hire_date"].description
    assert columns["source_id"] == fields["id"].description
    assert all(columns.values()), [name for name, comment in columns.items() if not comment]
    sync_runs, _ = _comments(warehouse_url, "sync", "sync_runs")
    assert sync_runs.startswith("One row per sync")


def test_dbt_persists_model_descriptions_as_comments(warehouse, warehouse_url, tmp_path):
    dbt_build(warehouse_url, tmp_path, "--select", "+sync_health")
    table, columns = _comments(warehouse_url, "marts", "sync_health")
    assert table and table.startswith("Per organization and entity, how its syncs are doing"), table
    assert columns["organization_id"], columns
    view, _ = _comments(warehouse_url, "staging", "stg_sync_runs")
    assert view, "the staging view has no comment"
