"""Schedules' run requests, and the retry sensor's reaction to failed syncs."""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetRecordsFilter,
    build_schedule_context,
    build_sensor_context,
    instance_for_test,
    partition_loading_context,
)

from harvey_pipelines.assets.partitions import ORGANIZATIONS_PARTITION
from harvey_pipelines.assets.resources import OrganizationsResource, WarehouseResource
from harvey_pipelines.automation.cadences import CADENCES
from harvey_pipelines.automation.retries import sync_retry_sensor
from harvey_pipelines.automation.schedules import schedules
from harvey_pipelines.definitions import defs
from harvey_pipelines.organizations import Organization, OrganizationRegistry
from harvey_pipelines.sources.http import RetryPolicy
from harvey_pipelines.sync import SyncFailed, sync_entity
from harvey_pipelines.warehouse import schema
from harvey_pipelines_tests.alert_receivers import MailReceiver, WebhookReceiver
from harvey_pipelines_tests.conftest import DEMO_TOKEN
from harvey_pipelines_tests.test_http_engine import LocalServer

QUICK_RETRY = RetryPolicy(max_attempts=2, backoff_base=0.001, backoff_max=0.001)


def _unavailable(path):
    return 503


def _down(org: Organization, server: LocalServer) -> Organization:
    """The organization with its base_url on a server that answers 503 to everything."""
    return org.model_copy(update={"base_url": f"{server.url}/orgs/{org.id}"})

EXPECTED_CRON = {
    "interviews_every_30_minutes": ("*/30 * * * *", {"interviews"}),
    "candidates_hourly": ("0 * * * *", {"candidates", "job_requisitions"}),
    "employees_every_2_hours": ("0 */2 * * *", {"employees", "departments", "employments"}),
    "leave_daily": ("0 1 * * *", {"leave_requests", "leave_balances"}),
    "attendance_nightly": ("30 22 * * *", {"attendance"}),
}


def _tick_requests(schedule_def, registry, tick):
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(ORGANIZATIONS_PARTITION, [o.id for o in registry.load()])
        context = build_schedule_context(instance=instance, scheduled_execution_time=tick,
                                         repository_def=defs.get_repository_def(),
                                         resources={"organizations": OrganizationsResource(path=str(registry.path))})
        return schedule_def.evaluate_tick(context).run_requests


def _batch(request) -> dict:
    return request.run_config["ops"]["sync_batch"]["config"]


@pytest.mark.parametrize("schedule_def", [s for s in schedules if s.name not in ("marts_nightly", "retention_nightly")],
                         ids=lambda s: s.name)
def test_each_schedule_requests_every_enabled_organization(schedule_def, registry):
    tick = dt.datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
    requests = _tick_requests(schedule_def, registry, tick)
    cadence = next(c for c in CADENCES if c.name == schedule_def.name)
    assert schedule_def.execution_timezone == "Asia/Kolkata"
    assert schedule_def.job_name == "sync_organizations"
    if cadence.name in EXPECTED_CRON:
        cron, entities = EXPECTED_CRON[cadence.name]
        assert (schedule_def.cron_schedule, set(cadence.entities)) == (cron, entities)
    # few organizations: one run each (initech is disabled)
    assert [_batch(r)["organizations"] for r in requests] == [["acme"], ["globex"]]
    for i, request in enumerate(requests, start=1):
        assert request.run_key == f"{cadence.name}:{tick.isoformat()}:{i}/2"
        assert _batch(request)["entities"] == list(cadence.entities)
        assert _batch(request)["mode"] == cadence.mode
        assert request.tags["harvey/trigger"] == cadence.trigger
        assert request.tags["harvey/triggered_by"] == f"schedule:{cadence.name}"
        assert request.tags["harvey/entities"] == ",".join(cadence.entities)
    if cadence.mode == "reconcile":
        assert len(_batch(requests[0])["entities"]) == 9


def test_a_schedule_leaves_out_an_organization_whose_systems_lack_its_entities(registry):
    """A BambooHR organization has no attendance: the nightly attendance tick does not ask for it
    (it would fail every night and the retry sensor would try again), the employees tick does."""
    registry.add(Organization(id="bamboo", name="bamboo", hrms_type="bamboohr",
                              base_url="http://127.0.0.1:1/api/gateway.php/bamboo/v1", credential_env="X"))
    tick = dt.datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
    asked = {s.name: [o for r in _tick_requests(s, registry, tick) for o in _batch(r)["organizations"]]
             for s in schedules if s.name in ("attendance_nightly", "employees_every_2_hours")}
    assert asked == {"attendance_nightly": ["acme", "globex"], "employees_every_2_hours": ["acme", "bamboo", "globex"]}


def test_many_organizations_share_at_most_the_runs_a_tick_may_take(registry, monkeypatch):
    for i in range(7):
        registry.add(Organization(id=f"org-{i}", name=f"org {i}", base_url=f"http://127.0.0.1:1/orgs/org-{i}",
                                  credential_env="X"))
    monkeypatch.setenv("HARVEY_MAX_RUNS_PER_TICK", "3")
    schedule_def = next(s for s in schedules if s.name == "interviews_every_30_minutes")
    tick = dt.datetime(2026, 11, 25, 10, 30, tzinfo=ZoneInfo("Asia/Kolkata"))
    requests = _tick_requests(schedule_def, registry, tick)
    batches = [_batch(r)["organizations"] for r in requests]
    enabled = [o.id for o in registry.enabled()]
    assert len(requests) == 3 and [o for b in batches for o in b] == enabled, "each enabled organization once"
    assert [len(b) for b in batches] == [3, 3, 3]
    assert [r.run_key for r in requests] == [f"interviews_every_30_minutes:{tick.isoformat()}:{i}/3" for i in (1, 2, 3)]
    assert requests == _tick_requests(schedule_def, registry, tick), "a re-evaluated tick asks for the same runs"


def _backdate(warehouse, org_id, minutes):
    runs = schema.sync_runs
    with warehouse.writer() as conn:
        for row in conn.execute(sa.select(runs.c.id, runs.c.started_at, runs.c.finished_at)
                                .where(runs.c.organization_id == org_id)).all():
            conn.execute(runs.update().where(runs.c.id == row.id).values(
                started_at=row.started_at - dt.timedelta(minutes=minutes),
                finished_at=row.finished_at - dt.timedelta(minutes=minutes)))


def _evaluate(warehouse, instance):
    context = build_sensor_context(instance=instance, definitions=defs,
                                   resources={"warehouse": WarehouseResource(url=warehouse.url)})
    with partition_loading_context(dynamic_partitions_store=instance):  # the daemon sets this
        return sync_retry_sensor.evaluate_tick(context).run_requests or []


def test_retry_sensor_backs_off_then_dead_letters_and_alerts_once(make_org, warehouse, monkeypatch):
    org = make_org(size=10)  # its credential is the mock's token: the success at the end uses it
    with WebhookReceiver() as hook, MailReceiver() as mail, instance_for_test() as instance, \
            LocalServer(_unavailable) as server:
        down = _down(org, server)
        instance.add_dynamic_partitions(ORGANIZATIONS_PARTITION, [org.id])
        monkeypatch.setenv("HARVEY_ALERT_WEBHOOK_URL", hook.url)
        monkeypatch.setenv("HARVEY_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("HARVEY_SMTP_PORT", str(mail.port))
        monkeypatch.setenv("HARVEY_ALERT_EMAIL_FROM", "harvey@example.org")
        monkeypatch.setenv("HARVEY_ALERT_EMAIL_TO", "oncall@example.org")

        def fail(trigger):
            with pytest.raises(SyncFailed) as failed:
                sync_entity(down, "employees", warehouse, trigger=trigger, retry=QUICK_RETRY)
            assert failed.value.result.failure_kind == "transient"

        fail("schedule")
        assert _evaluate(warehouse, instance) == [], "no retry before 5 minutes"
        for attempt, delay in ((2, 5), (3, 10), (4, 20)):
            _backdate(warehouse, org.id, delay - 1)
            assert _evaluate(warehouse, instance) == [], f"attempt {attempt}: not before {delay} minutes"
            _backdate(warehouse, org.id, 1.5)
            (request,) = _evaluate(warehouse, instance)
            assert request.partition_key == org.id
            assert request.asset_selection == [AssetKey(["core", "employees"])]
            assert request.tags["harvey/trigger"] == "retry" and request.tags["harvey/attempt"] == str(attempt)
            fail("retry")  # the retry run fails again
        assert _evaluate(warehouse, instance) == [], "given up after the 20-minute retry"
        _backdate(warehouse, org.id, 60)
        assert _evaluate(warehouse, instance) == []

        dead = schema.dead_letters
        with warehouse.writer() as conn:
            letters = conn.execute(sa.select(dead)).mappings().all()
        assert len(letters) == 1 and letters[0]["attempts"] == 4 and letters[0]["alerted_at"] is not None
        assert len(hook.messages) == 1 and len(mail.messages) == 1
        text = hook.messages[0]["text"]
        assert org.id in text and "employees" in text and "attempts: 4" in text and "HTTP 503" in text
        assert server.url in text and "kind: transient" in text and "Sync failed for good" in text
        assert os.environ[org.credential_env] not in text + mail.messages[0]["body"]
        assert mail.messages[0]["to"] == ["oncall@example.org"]
        assert _alerts(warehouse) == [(org.id, "employees", "transient", "webhook,email")]

        assert sync_entity(org, "employees", warehouse, trigger="manual").status == "success"
        with warehouse.writer() as conn:
            assert conn.execute(sa.select(dead.c.resolved_at)).scalar_one() is not None
        assert _evaluate(warehouse, instance) == []
        assert len(hook.messages) == 1 and len(mail.messages) == 1


def _alerts(warehouse):
    a = schema.alerts
    with warehouse.writer() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(a.c.organization_id, a.c.entity, a.c.failure_kind, a.c.delivered_to).order_by(a.c.raised_at))]


def _failure_kinds(warehouse, org_id):
    runs = schema.sync_runs
    with warehouse.writer() as conn:
        return [r.failure_kind for r in conn.execute(
            sa.select(runs.c.failure_kind).where(runs.c.organization_id == org_id).order_by(runs.c.started_at))]


def test_a_refused_credential_is_not_retried_and_alerts_once_with_the_fix(make_org, warehouse, monkeypatch):
    org = make_org(size=10)
    monkeypatch.setenv(org.credential_env, "a-wrong-token-for-this-test")
    with WebhookReceiver() as hook, MailReceiver() as mail, instance_for_test() as instance:
        instance.add_dynamic_partitions(ORGANIZATIONS_PARTITION, [org.id])
        monkeypatch.setenv("HARVEY_ALERT_WEBHOOK_URL", hook.url)
        monkeypatch.setenv("HARVEY_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("HARVEY_SMTP_PORT", str(mail.port))
        monkeypatch.setenv("HARVEY_ALERT_EMAIL_TO", "oncall@example.org")
        with pytest.raises(SyncFailed) as failed:
            sync_entity(org, "employees", warehouse, trigger="schedule")
        assert failed.value.result.failure_kind == "credential"
        assert _evaluate(warehouse, instance) == [], "no retry"
        assert len(hook.messages) == 1 and len(mail.messages) == 1, "alerted at once, without waiting for retries"
        text = hook.messages[0]["text"]
        assert text.startswith("*Sync needs a fix*") and "kind: credential: not retried" in text
        assert org.id in text and "employees" in text and org.base_url in text and "HTTP 401" in text
        assert f"check the environment variable {org.credential_env}" in text, "the fix"
        assert "a-wrong-token-for-this-test" not in text + mail.messages[0]["body"]

        for minutes in (6, 15, 30):  # later ticks, and the next scheduled sync failing the same way
            _backdate(warehouse, org.id, minutes)
            assert _evaluate(warehouse, instance) == []
            with pytest.raises(SyncFailed):
                sync_entity(org, "employees", warehouse, trigger="schedule")
        assert _evaluate(warehouse, instance) == []
        assert len(hook.messages) == 1 and len(mail.messages) == 1, "once"
        assert _alerts(warehouse) == [(org.id, "employees", "credential", "webhook,email")]
        assert _failure_kinds(warehouse, org.id) == ["credential"] * 4

        monkeypatch.setenv(org.credential_env, DEMO_TOKEN)
        assert sync_entity(org, "employees", warehouse, trigger="schedule").status == "success"
        dead = schema.dead_letters
        with warehouse.writer() as conn:
            (letter,) = conn.execute(sa.select(dead)).mappings().all()
        assert letter["resolved_at"] is not None and letter["failure_kind"] == "credential"
        assert _failure_kinds(warehouse, org.id)[-1] is None


def test_a_missing_credential_variable_alerts_once_in_sync_alerts_without_a_channel(make_org, warehouse,
                                                                                       monkeypatch):
    org = make_org(size=10)
    monkeypatch.delenv(org.credential_env)
    for name in ("HARVEY_ALERT_WEBHOOK_URL", "HARVEY_SMTP_HOST", "HARVEY_ALERT_EMAIL_TO"):
        monkeypatch.delenv(name, raising=False)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(ORGANIZATIONS_PARTITION, [org.id])
        with pytest.raises(SyncFailed) as failed:
            sync_entity(org, "employees", warehouse, trigger="schedule")
        error = failed.value.result.error
        assert f"employees from {org.base_url}: organization {org.id!r}" in error, error
        assert f"set {org.credential_env} in the environment" in error, error
        for _ in range(2):
            _backdate(warehouse, org.id, 30)
            assert _evaluate(warehouse, instance) == [], "no retry"
        a = schema.alerts
        with warehouse.writer() as conn:
            (alert,) = conn.execute(sa.select(a)).mappings().all()
        assert alert["delivered_to"] is None and alert["failure_kind"] == "credential"
        assert alert["title"] == "Sync needs a fix" and f"set {org.credential_env}" in alert["message"]
        with warehouse.writer() as conn:
            assert conn.execute(sa.select(schema.dead_letters.c.alerted_at)).scalar_one() is not None
        assert _failure_kinds(warehouse, org.id) == ["credential"]


def test_a_success_in_between_resets_the_backoff(make_org, warehouse, monkeypatch):
    org = make_org(size=10)
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(ORGANIZATIONS_PARTITION, [org.id])
        monkeypatch.setenv(org.credential_env, "wrong")
        with pytest.raises(SyncFailed):
            sync_entity(org, "employees", warehouse)
        monkeypatch.setenv(org.credential_env, DEMO_TOKEN)
        sync_entity(org, "employees", warehouse)
        _backdate(warehouse, org.id, 30)
        assert _evaluate(warehouse, instance) == []


def _materializations(instance, key, partition):
    return list(instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=10).records)


@pytest.fixture
def unavailable_server():
    with LocalServer(_unavailable) as server:
        yield server


def test_a_batch_run_materializes_each_partition_and_retries_a_failure_alone(make_org, warehouse, monkeypatch,
                                                                              tmp_path, unavailable_server):
    good, bad, also_good = make_org(size=12), make_org(size=12), make_org(size=12)
    monkeypatch.setenv(bad.credential_env, "a-secret-token")
    bad = _down(bad, unavailable_server)
    registry = OrganizationRegistry(tmp_path / "orgs.yaml")
    for org in (good, bad, also_good):
        registry.add(org)
    schedule_def = next(s for s in schedules if s.name == "candidates_hourly")
    monkeypatch.setenv("HARVEY_MAX_RUNS_PER_TICK", "1")
    (request,) = _tick_requests(schedule_def, registry, dt.datetime(2026, 11, 25, 11, 0, tzinfo=dt.timezone.utc))
    with instance_for_test() as instance:
        instance.add_dynamic_partitions(ORGANIZATIONS_PARTITION, [good.id, bad.id, also_good.id])
        result = defs.get_job_def("sync_organizations").execute_in_process(
            run_config=request.run_config, tags=request.tags, instance=instance, raise_on_error=False,
            resources={"warehouse": WarehouseResource(url=warehouse.url),
                       "organizations": OrganizationsResource(path=str(registry.path))})
        assert not result.success, "the run shows that a sync in it failed"
        for entity in ("job_requisitions", "candidates"):
            key = AssetKey(["core", entity])
            for org in (good, also_good):  # the one after the failure too
                (record,) = _materializations(instance, key, org.id)
                assert record.run_id == result.run_id
                assert record.asset_materialization.metadata["fetched"].value > 0
            assert _materializations(instance, key, bad.id) == []
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert "2 of 6 syncs failed" in failure.step_failure_data.error.message
        assert "a-secret-token" not in str(result.all_events)

        _backdate(warehouse, bad.id, 6)
        requests = _evaluate(warehouse, instance)
        assert sorted((r.partition_key, r.asset_selection[0].path[-1]) for r in requests) == [
            (bad.id, "candidates"), (bad.id, "job_requisitions")], "only the failed syncs, each on its own"
    runs = schema.sync_runs
    with warehouse.writer() as conn:
        rows = conn.execute(
            sa.select(runs.c.organization_id, runs.c.status, runs.c.trigger, runs.c.dagster_run_id)).all()
    assert {(r.organization_id, r.status) for r in rows} == {(good.id, "success"), (bad.id, "failed"),
                                                              (also_good.id, "success")}
    assert {(r.trigger, r.dagster_run_id) for r in rows} == {("schedule", result.run_id)}


def _synced(instance, entity, org_id, **counts):
    metadata = {"inserted": 0, "updated": 0, "deleted": 0, "unchanged": 5, **counts}
    instance.report_runless_asset_event(
        AssetMaterialization(asset_key=AssetKey(["core", entity]), partition=org_id, metadata=metadata))


def test_marts_follow_only_the_syncs_that_changed_something():
    from harvey_pipelines.assets.dbt import dbt_models
    from harvey_pipelines.automation.marts import marts_after_syncs_sensor

    def evaluate(instance, cursor):
        context = build_sensor_context(instance=instance, definitions=defs, cursor=cursor)
        result = marts_after_syncs_sensor.evaluate_tick(context)
        return result.run_requests, result.cursor

    with instance_for_test() as instance:
        instance.add_dynamic_partitions(ORGANIZATIONS_PARTITION, ["acme", "globex"])
        for key in dbt_models.keys:  # the marts were built before (else the first build takes what is missing)
            instance.report_runless_asset_event(AssetMaterialization(asset_key=key))
        requests, cursor = evaluate(instance, None)
        assert requests == []
        _synced(instance, "interviews", "acme", updated=3)
        _synced(instance, "attendance", "globex")  # nothing changed: no rebuild for it
        (request,), cursor = evaluate(instance, cursor)
        models = {k.to_user_string() for k in request.asset_selection}
        assert {"marts/interviewer_load", "staging/stg_interviews", "marts/sync_health"} <= models
        assert not models & {"marts/attendance_daily", "marts/employee_timeline", "staging/stg_attendance"}
        checked = {(k.asset_key.to_user_string(), k.name) for k in request.asset_check_keys}
        assert {("core/interviews", "quality_blocking"), ("core/interviews", "quality_warnings")} <= checked
        assert all(asset in models or asset == "core/interviews" for asset, _ in checked)
        assert any(asset == "marts/interviewer_load" for asset, _ in checked), "dbt tests come along"
        assert request.tags["harvey/changed_entities"] == "interviews"

        assert evaluate(instance, cursor)[0] == [], "nothing new since"
        _synced(instance, "employees", "acme", inserted=1)
        _synced(instance, "employees", "globex", updated=2)
        (request,), cursor = evaluate(instance, cursor)
        models = {k.to_user_string() for k in request.asset_selection}
        assert "marts/employee_timeline" in models and "staging/stg_candidates" not in models
        # the tables that reference employees: a new employee may resolve their rows
        assert {"staging/stg_attendance", "intermediate/int_attendance_days", "staging/stg_interviews"} <= models
        assert request.tags["harvey/changed_entities"] == "employees"


def test_marts_built_after_the_syncs_are_not_built_again(make_org, control, tmp_path, monkeypatch):
    """`make dev` after the demo: the sensor's first look finds syncs that the build after them
    already read, and asks for nothing; a sync after that build asks for its models again."""
    from harvey_pipelines.assets.dbt import dbt_models
    from harvey_pipelines.automation.marts import marts_after_syncs_sensor

    warehouse_url = f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", warehouse_url)  # dbt's profile reads it
    org = make_org(size=15)
    registry = OrganizationRegistry(tmp_path / "orgs.yaml")
    registry.add(org)
    resources = {"warehouse": WarehouseResource(url=warehouse_url),
                 "organizations": OrganizationsResource(path=str(registry.path))}
    syncs = defs.resolve_job_def("sync_organization")
    interviews = syncs.get_subset(asset_selection={AssetKey(["core", "interviews"])}, asset_check_selection=set())
    build = defs.resolve_job_def("build_marts").get_subset(asset_selection=set(dbt_models.keys),
                                                            asset_check_selection=set())

    def tick(cursor):
        context = build_sensor_context(instance=instance, definitions=defs, cursor=cursor)
        result = marts_after_syncs_sensor.evaluate_tick(context)
        return result.run_requests, result.cursor

    with instance_for_test() as instance:
        instance.add_dynamic_partitions(ORGANIZATIONS_PARTITION, [org.id])
        assert syncs.execute_in_process(partition_key=org.id, instance=instance, resources=resources).success
        assert build.execute_in_process(instance=instance).success
        requests, cursor = tick(None)  # the sensor's first look, after the build
        assert requests == []

        interview = control.records(org.id, "interviews")[0]
        control.update_record(org.id, "interviews", interview["id"], {"duration_minutes": 75})
        assert interviews.execute_in_process(partition_key=org.id, instance=instance, resources=resources).success
        (request,), cursor = tick(cursor)
        rebuilt = {k.to_user_string() for k in request.asset_selection}
        assert {"staging/stg_interviews", "marts/interviewer_load"} <= rebuilt
        assert not rebuilt & {"marts/attendance_daily", "staging/stg_employees"}
        assert request.tags["harvey/changed_entities"] == "interviews"
        assert tick(cursor)[0] == []

