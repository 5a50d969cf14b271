"""The code location loads, and a materialization of one partition syncs and reports."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from dagster import AssetKey, DagsterInstance, materialize

from harvey_pipelines.assets.entities import ENTITY_OP, entity_assets
from harvey_pipelines.assets.partitions import ORGANIZATIONS_PARTITION
from harvey_pipelines.assets.resources import OrganizationsResource, WarehouseResource
from harvey_pipelines.organizations import OrganizationRegistry
from harvey_pipelines.warehouse import schema
from harvey_pipelines_tests.helpers import differences

ROOT = Path(__file__).resolve().parent.parent


def test_definitions_validate(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "HARVEY_DATA_DIR": str(tmp_path / "data")}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    done = subprocess.run(
        [sys.executable, "-m", "dagster", "definitions", "validate", "-w", str(ROOT / "workspace.yaml")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_materializing_a_partition_syncs_it_with_metadata(make_org, control, warehouse, tmp_path):
    org = make_org(size=30)
    registry = OrganizationRegistry(tmp_path / "organizations.yaml")
    registry.add(org)
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(ORGANIZATIONS_PARTITION, [org.id])
        result = materialize(
            [entity_assets], partition_key=org.id, instance=instance,
            resources={"warehouse": WarehouseResource(url=warehouse.url),
                       "organizations": OrganizationsResource(path=str(registry.path))},
            tags={"harvey/trigger": "backfill", "harvey/triggered_by": "test"},
        )
        assert result.success
        event = instance.get_latest_materialization_event(AssetKey(["core", "employees"]))
        metadata = event.asset_materialization.metadata
        assert metadata["inserted"].value == 30 and metadata["fetched"].value == 30
        assert "dagster/column_schema" in metadata
        assert event.asset_materialization.partition == org.id
    assert differences(control, warehouse, org.id) == {}
    runs = schema.sync_runs
    with warehouse.writer() as conn:
        triggers = conn.execute(
            sa.select(runs.c.trigger, runs.c.triggered_by, runs.c.dagster_run_id)
            .where(runs.c.organization_id == org.id)
        ).all()
    assert len(triggers) == 9
    assert {(t.trigger, t.triggered_by) for t in triggers} == {("backfill", "test")}
    assert all(t.dagster_run_id == result.run_id for t in triggers)


def test_a_backfill_run_is_recorded_as_one_and_its_mode_tag_applies_unless_config_sets_one(
        make_org, warehouse, tmp_path):
    """Dagster tags every run a backfill launches with dagster/backfill; a backfill takes tags,
    not config, so harvey/mode carries its mode, and a run's config still wins over it."""
    org = make_org(size=5)
    registry = OrganizationRegistry(tmp_path / "organizations.yaml")
    registry.add(org)
    departments = {"assets": [entity_assets], "selection": [AssetKey(["core", "departments"])]}
    resources = {"warehouse": WarehouseResource(url=warehouse.url),
                 "organizations": OrganizationsResource(path=str(registry.path))}
    tags = {"dagster/backfill": "bf123", "harvey/mode": "full"}
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(ORGANIZATIONS_PARTITION, [org.id])
        for run_config in ({}, {"ops": {ENTITY_OP: {"config": {"mode": "incremental"}}}}):
            assert materialize(**departments, partition_key=org.id, instance=instance, resources=resources,
                               tags=tags, run_config=run_config).success
        assert materialize(**departments, partition_key=org.id, instance=instance, resources=resources,
                           tags={**tags, "harvey/triggered_by": "cli:someone"}).success
        failed = materialize(**departments, partition_key=org.id, instance=instance, resources=resources,
                             tags={"harvey/mode": "fast"}, raise_on_error=False)
        assert not failed.success
    runs = schema.sync_runs
    with warehouse.writer() as conn:
        rows = conn.execute(sa.select(runs.c.trigger, runs.c.triggered_by, runs.c.mode)
                            .where(runs.c.organization_id == org.id).order_by(runs.c.started_at)).all()
    assert [tuple(r) for r in rows] == [("backfill", "backfill:bf123", "full"),
                                        ("backfill", "backfill:bf123", "incremental"),
                                        ("backfill", "backfill:bf123 (cli:someone)", "full")]
    assert "tag harvey/mode must be one of incremental, full, reconcile; got 'fast'" in str(
        failed.get_step_failure_events()[0].event_specific_data.error.message)
