"""Great Expectations checks on the core tables: they pass on synced data, fail (and block
the marts) on a duplicate id or a dangling reference, and alert on-call once."""

from __future__ import annotations


import sqlalchemy as sa
from dagster import AssetKey, build_sensor_context, instance_for_test

from harvey_pipelines.automation.quality_alerts import quality_alert_sensor
from harvey_pipelines.definitions import defs
from harvey_pipelines.records import ENTITIES
from harvey_pipelines.sync import sync_entity
from harvey_pipelines.warehouse.schema import CORE_TABLES
from harvey_pipelines_tests.alert_receivers import WebhookReceiver

SYNCED = [spec.name for spec in ENTITIES]


def _check_results(result):
    return {
        (e.asset_key.to_user_string() if not e.check_name.startswith("quality_") else e.asset_key.path[-1],
         e.check_name): e
        for e in (ev.event_specific_data for ev in result.all_events if ev.event_type_value == "ASSET_CHECK_EVALUATION")
    }


def _copy_row(warehouse, entity, original_id, **changes):
    table = CORE_TABLES[entity]
    with warehouse.writer() as conn:
        row = dict(conn.execute(sa.select(table).where(table.c.source_id == original_id)).mappings().one())
        conn.execute(table.insert().values({**row, **changes}))


def _synced_org(make_org, warehouse, monkeypatch, size):
    """An organization with every entity synced, and the marts' job on that warehouse."""
    org = make_org(size=size)
    for name in SYNCED:
        sync_entity(org, name, warehouse)
    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", warehouse.url)
    return org, defs.resolve_job_def("build_marts")


def test_checks_pass_on_synced_data_then_block_and_alert_on_bad_rows(make_org, warehouse, monkeypatch, tmp_path):
    org, job = _synced_org(make_org, warehouse, monkeypatch, size=60)
    consolidated = {"event_log_storage": {"module": "dagster.core.storage.event_log",
                                          "class": "ConsolidatedSqliteEventLogStorage",
                                          "config": {"base_dir": str(tmp_path / "events")}}}
    with instance_for_test(overrides=consolidated) as instance, WebhookReceiver() as hook:
        monkeypatch.setenv("HARVEY_ALERT_WEBHOOK_URL", hook.url)
        clean = job.execute_in_process(instance=instance, raise_on_error=False)
        checks = _check_results(clean)
        assert len([k for k in checks if k[1].startswith("quality_")]) == 18
        failed = {k for k, e in checks.items() if not e.passed}
        assert failed == set(), failed  # ours and dbt's tests alike
        built = {e.asset_key for e in clean.get_asset_materialization_events()}
        assert _downstream_of(("employees", "leave_requests")) <= built

        with warehouse.writer() as conn:
            employee = conn.execute(sa.select(CORE_TABLES["employees"].c.source_id).limit(1)).scalar_one()
            request = conn.execute(sa.select(CORE_TABLES["leave_requests"].c.source_id).limit(1)).scalar_one()
        # a second employee with the same human code, a leave request of nobody we know
        _copy_row(warehouse, "employees", employee, source_id="emp-duplicate-code")
        _copy_row(warehouse, "leave_requests", request, source_id="lr-orphan", employee_id="emp-nobody",
                  leave_request_id="LR-ORPHAN")
        # not dangling yet: employees may simply not have been synced since; now they are
        first = job.execute_in_process(instance=instance, raise_on_error=False)
        first_checks = _check_results(first)
        assert first_checks[("leave_requests", "quality_blocking")].passed, first_checks[("leave_requests", "quality_blocking")].metadata
        sync_entity(org, "employees", warehouse)

        broken = job.execute_in_process(instance=instance, raise_on_error=False)
        checks = _check_results(broken)
        failed = {k for k, e in checks.items() if not e.passed and k[1].startswith("quality_")}
        assert failed == {("employees", "quality_blocking"), ("leave_requests", "quality_blocking")}, failed
        orphan = checks[("leave_requests", "quality_blocking")].metadata["findings"].value
        assert any(f"{org.id}/lr-orphan" in f["examples"] for f in orphan.values()), orphan
        duplicate = checks[("employees", "quality_blocking")].metadata["findings"].value
        assert any(f"{org.id}/emp-duplicate-code" in f["examples"] for f in duplicate.values()), duplicate
        # dbt models built on a table whose blocking check failed are not built in that run
        downstream = _downstream_of(("employees", "leave_requests"))
        assert downstream, "dbt staging models read these tables"
        blocked = [e.asset_key for e in broken.get_asset_materialization_events() if e.asset_key in downstream]
        assert blocked == []

        # evaluated after both runs: employees failed twice (one incident), leave requests once
        context = build_sensor_context(instance=instance)
        quality_alert_sensor.evaluate_tick(context)
        quality_alert_sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=context.cursor))
        assert len(hook.messages) == 2, "one alert per check that starts failing"
        texts = " ".join(m["text"] for m in hook.messages)
        assert "core/leave_requests" in texts and "core/employees" in texts and org.id in texts
        again = job.execute_in_process(instance=instance, raise_on_error=False)
        assert not again.success
        context = build_sensor_context(instance=instance, cursor=context.cursor)
        quality_alert_sensor.evaluate_tick(context)
        assert len(hook.messages) == 2, "a check that keeps failing does not alert again"


def _downstream_of(entities):
    graph = defs.resolve_asset_graph()
    keys = set()
    for name in entities:
        keys |= graph.get(AssetKey(["core", name])).child_keys
    return {k for k in keys if k.path[0] != "core"}  # the dbt models on them


def test_marts_after_syncs_build_what_changed_and_what_was_never_built(make_org, warehouse, monkeypatch, tmp_path):
    from harvey_pipelines.assets.dbt import dbt_models
    from harvey_pipelines.automation.marts import marts_request

    _, job = _synced_org(make_org, warehouse, monkeypatch, size=30)

    def build(request):
        subset = job.get_subset(asset_selection=set(request.asset_selection),
                                asset_check_selection=set(request.asset_check_keys))
        result = subset.execute_in_process(instance=instance, raise_on_error=False)
        built = {e.asset_key for e in result.get_asset_materialization_events()}
        return result, built, _check_results(result)

    with instance_for_test() as instance:
        # a first build after set-up: what interviews feed, and the seeds and tables it reads
        first = marts_request({"interviews"}, "first", never_built=set(dbt_models.keys))
        result, built, checks = build(first)
        assert result.success and built == set(first.asset_selection)
        names = {k.to_user_string() for k in built}
        assert {"marts/interviewer_load", "seeds/organization_settings"} <= names
        assert "marts/attendance_daily" not in names
        assert checks[("interviews", "quality_blocking")].passed
        # later: only what depends on the changed entity (and sync_health)
        later = marts_request({"interviews"}, "later", never_built=set())
        result, built, checks = build(later)
        assert result.success and built == set(later.asset_selection)
        names = {k.to_user_string() for k in built}
        assert "marts/interviewer_load" in names and "seeds/organization_settings" not in names
        assert all(e.passed for e in checks.values())
