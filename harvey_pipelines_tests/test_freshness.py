"""Freshness for on-call: the entity_freshness sensor against a real Dagster instance and a real
warehouse, its clock set by the test (no waiting), the truth written to sync.sync_runs."""

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetSelection,
    Definitions,
    build_sensor_context,
    define_asset_job,
    instance_for_test,
)
from dagster._core.remote_representation.external import RemoteRepository
from dagster._core.remote_representation.external_data import RepositorySnap
from dagster._core.remote_representation.handle import RepositoryHandle
from dagster._core.test_utils import freeze_time

from harvey_pipelines.assets.entities import entity_assets
from harvey_pipelines.assets.resources import OrganizationsResource, WarehouseResource
from harvey_pipelines.automation import freshness
from harvey_pipelines.automation.freshness import entity_freshness_sensor, freshness_checks
from harvey_pipelines.definitions import defs
from harvey_pipelines.warehouse import schema
from harvey_pipelines_tests.alert_receivers import WebhookReceiver
from harvey_pipelines_tests.processes import free_port

# the test's clock: a full hour UTC (a tick of the 30-minute schedule; the hourly one ticks at :30
# UTC, Asia/Kolkata being +05:30), a day ahead so that the real clock's start of a schedule is earlier
BASE = dt.datetime.now(dt.timezone.utc).replace(minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
INTERVIEWS = AssetCheckKey(AssetKey(["core", "interviews"]), "freshness")


def at(**delta) -> dt.datetime:
    return BASE + dt.timedelta(**delta)


@pytest.fixture(scope="module")
def remote_repository():
    """The code location as the webserver and daemon see it: its schedules are started and
    stopped through the instance as the UI does."""
    repo = defs.get_repository_def()
    return RemoteRepository(RepositorySnap.from_def(repo), repository_handle=RepositoryHandle.for_test(
        location_name="harvey_pipelines", repository_name=repo.name), auto_materialize_use_sensors=True)


@pytest.fixture
def no_channels(monkeypatch):
    for name in ("HARVEY_ALERT_WEBHOOK_URL", "HARVEY_SMTP_HOST", "HARVEY_ALERT_EMAIL_TO"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def hook(no_channels, monkeypatch):
    with WebhookReceiver() as receiver:
        monkeypatch.setenv("HARVEY_ALERT_WEBHOOK_URL", receiver.url)
        yield receiver


def synced(warehouse, org_id: str, entity: str, finished_at: dt.datetime, status: str = "success") -> None:
    """A sync run as the sync records it, finished at the given time."""
    warehouse.migrate()
    with warehouse.writer() as conn:
        conn.execute(sa.insert(schema.sync_runs).values(
            id=str(uuid.uuid4()), organization_id=org_id, entity=entity, mode="incremental", trigger="schedule",
            status=status, started_at=finished_at - dt.timedelta(minutes=1), finished_at=finished_at))


class Sensor:
    """The sensor's ticks as the daemon runs them: the cursor carried over, the reported check
    evaluations written to the instance."""

    def __init__(self, instance, warehouse, registry, monkeypatch):
        self.instance, self.monkeypatch, self.cursor = instance, monkeypatch, None
        self.resources = {"warehouse": WarehouseResource(url=warehouse.url),
                          "organizations": OrganizationsResource(path=str(registry.path))}

    def tick(self, now: dt.datetime) -> dict[AssetCheckKey, object]:
        self.monkeypatch.setattr(freshness, "_clock", lambda: now)
        context = build_sensor_context(instance=self.instance, cursor=self.cursor, resources=self.resources)
        result = entity_freshness_sensor.evaluate_tick(context)
        assert not result.run_requests
        self.cursor = result.cursor
        for event in result.asset_events:
            self.instance.report_runless_asset_event(event)
        return {AssetCheckKey(e.asset_key, e.check_name): e for e in result.asset_events}


def alerts(warehouse) -> list[tuple]:
    a = schema.alerts
    with warehouse.writer() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(a.c.organization_id, a.c.entity, a.c.first_sync_run_id, a.c.failure_kind, a.c.delivered_to)
            .order_by(a.c.raised_at, a.c.organization_id))]


def latest_evaluation(instance, key: AssetCheckKey):
    record = instance.event_log_storage.get_latest_asset_check_execution_by_key([key])[key]
    return record.event.dagster_event.event_specific_data


def test_a_stale_organization_alerts_once_and_again_after_it_was_fresh(warehouse, registry, hook, monkeypatch,
                                                                       remote_repository):
    synced(warehouse, "acme", "interviews", at(hours=-3))
    synced(warehouse, "acme", "interviews", at(minutes=-5), status="failed")  # a failure is no sync
    synced(warehouse, "globex", "interviews", at(minutes=-10))
    with instance_for_test() as instance:
        instance.start_schedule(remote_repository.get_schedule("interviews_every_30_minutes"))
        sensor = Sensor(instance, warehouse, registry, monkeypatch)

        reported = sensor.tick(at())
        assert set(reported) == {INTERVIEWS}, "only the entity whose schedule runs is expected fresh"
        assert reported[INTERVIEWS].passed, "just seen: acme gets the allowance from now"
        assert hook.messages == []

        synced(warehouse, "globex", "interviews", at(hours=1, minutes=50))
        reported = sensor.tick(at(hours=2))  # the +00:30 and +01:00 ticks after its reference, + 30 min grace
        (message,) = hook.messages
        text = message["text"]
        assert text.startswith("*Sync overdue*") and "organization: acme " in text and "entity: interviews" in text
        assert f"acme: last successful sync {at(hours=-3).isoformat()} (5 h ago); overdue since " \
               f"{at(hours=1, minutes=30).isoformat()}" in text
        assert "interviews_every_30_minutes (*/30 * * * *, Asia/Kolkata)" in text
        assert "stale once 2 ticks pass without one, plus 30 min grace" in text
        assert "globex" not in text and "initech" not in text, "synced recently; disabled"
        evaluation = reported[INTERVIEWS]
        assert not evaluation.passed and evaluation.description.endswith("1 of 2 enabled organizations stale: acme")
        assert evaluation.metadata["last_successful_syncs"].value == {
            "acme": at(hours=-3).isoformat(), "globex": at(hours=1, minutes=50).isoformat()}
        assert latest_evaluation(instance, INTERVIEWS).passed is False, "the UI shows it failing"
        assert alerts(warehouse) == [("acme", "interviews", f"stale:{at(hours=-3).isoformat()}", "stale", "webhook")]

        assert sensor.tick(at(hours=2, minutes=5)) == {}, "nothing changed: no new evaluation"
        assert len(hook.messages) == 1, "no repeat while it stays stale"

        synced(warehouse, "acme", "interviews", at(hours=2, minutes=10))
        reported = sensor.tick(at(hours=2, minutes=15))
        assert reported[INTERVIEWS].passed and latest_evaluation(instance, INTERVIEWS).passed
        assert len(hook.messages) == 1

        synced(warehouse, "globex", "interviews", at(hours=3, minutes=50))
        sensor.tick(at(hours=4))  # acme's 02:30 and 03:00 ticks passed without a sync
        assert len(hook.messages) == 2, "stale again after it was fresh: alerted again"
        text = hook.messages[1]["text"]
        assert f"acme: last successful sync {at(hours=2, minutes=10).isoformat()} (1 h 50 min ago)" in text
        assert "globex" not in text
        assert [a[2] for a in alerts(warehouse)] == [f"stale:{at(hours=-3).isoformat()}",
                                                      f"stale:{at(hours=2, minutes=10).isoformat()}"]

        # the check executed on demand (UI) judges by the same rule, without alerting
        monkeypatch.setattr(freshness, "_clock", lambda: at(hours=4))
        on_demand = Definitions(
            assets=[entity_assets], asset_checks=[freshness_checks],
            jobs=[define_asset_job("freshness_now", selection=AssetSelection.checks(freshness_checks))],
            resources=sensor.resources,
        ).resolve_job_def("freshness_now").execute_in_process(instance=instance)
        results = {e.asset_key.path[-1]: e for e in on_demand.get_asset_check_evaluations()}
        assert set(results) == {spec.name for spec in freshness.ENTITIES}
        assert not results["interviews"].passed and "acme" in results["interviews"].description
        assert results["employees"].passed and results["employees"].description.startswith("Nothing expected")
        assert len(hook.messages) == 2


def test_schedules_never_turned_on_expect_nothing_and_a_stopped_one_still_does(warehouse, registry, no_channels,
                                                                               monkeypatch, remote_repository):
    with instance_for_test() as instance:
        sensor = Sensor(instance, warehouse, registry, monkeypatch)
        for day in range(3):  # a fresh checkout or the demo: schedules off, nothing ever synced
            assert sensor.tick(at(days=day)) == {}
        assert alerts(warehouse) == []

        schedule = remote_repository.get_schedule("candidates_hourly")
        with freeze_time(at(days=3)):
            instance.start_schedule(schedule)
        assert sensor.tick(at(days=3, hours=1)) and alerts(warehouse) == [], "the allowance counts from the start"
        sensor.tick(at(days=3, hours=3))  # its ticks at +00:30 and +01:30, + grace, passed: never synced, stale
        assert sorted(alerts(warehouse)) == [
            (org, entity, "stale:never", "stale", None)
            for org in ("acme", "globex") for entity in ("candidates", "job_requisitions")], \
            "kept in sync.alerts without a channel; the disabled initech is not expected"
        message = _message(warehouse, "acme", "candidates")
        assert "acme: never synced successfully" in message and "candidates_hourly" in message
        sensor.tick(at(days=3, hours=4))
        assert len(alerts(warehouse)) == 4, "once"

        with freeze_time(at(days=3, hours=4, minutes=10)):
            instance.stop_schedule(schedule.get_remote_origin_id(), schedule.selector_id, schedule)
        synced(warehouse, "acme", "candidates", at(days=3, hours=4, minutes=20))
        sensor.tick(at(days=3, hours=4, minutes=25))
        assert not latest_evaluation(instance, AssetCheckKey(AssetKey(["core", "candidates"]), "freshness")).passed
        sensor.tick(at(days=3, hours=7))  # turned off: acme's candidates go stale again, and on-call hears it
        assert len(alerts(warehouse)) == 5
        message = _message(warehouse, "acme", "candidates", f"stale:{at(days=3, hours=4, minutes=20).isoformat()}")
        assert "schedule: candidates_hourly is stopped" in message


def _message(warehouse, org_id, entity, incident="stale:never") -> str:
    a = schema.alerts
    with warehouse.writer() as conn:
        return conn.execute(sa.select(a.c.message).where(
            a.c.organization_id == org_id, a.c.entity == entity, a.c.first_sync_run_id == incident)).scalar_one()


def test_an_alert_no_channel_took_is_sent_again_on_the_next_tick(warehouse, registry, no_channels, monkeypatch,
                                                                 remote_repository):
    with instance_for_test() as instance, WebhookReceiver() as hook:
        instance.start_schedule(remote_repository.get_schedule("attendance_nightly"))
        registry.set_enabled("globex", False)
        synced(warehouse, "acme", "attendance", at(days=-1))
        sensor = Sensor(instance, warehouse, registry, monkeypatch)
        sensor.tick(at())
        monkeypatch.setenv("HARVEY_ALERT_WEBHOOK_URL", f"http://127.0.0.1:{free_port()}/hooks/alerts")  # nobody there
        sensor.tick(at(days=3))
        assert hook.messages == [] and alerts(warehouse)[0][4] is None
        monkeypatch.setenv("HARVEY_ALERT_WEBHOOK_URL", hook.url)
        sensor.tick(at(days=3, minutes=5))
        sensor.tick(at(days=3, minutes=10))
        (message,) = hook.messages
        assert "entity: attendance" in message["text"] and "attendance_nightly (30 22 * * *" in message["text"]
        assert alerts(warehouse) == [("acme", "attendance", f"stale:{at(days=-1).isoformat()}", "stale", "webhook")]


def test_the_expectation_is_the_schedule_s_ticks_plus_grace_and_its_settings(monkeypatch):
    from harvey_pipelines.automation.freshness import Expectation

    utc = dt.timezone.utc
    interviews = Expectation.of("interviews")
    synced_at = dt.datetime(2026, 11, 25, 10, 5, tzinfo=utc)
    assert interviews.due_by(synced_at) == dt.datetime(2026, 11, 25, 11, 30, tzinfo=utc), "10:30, 11:00 + 30 min"
    for minutes in range(0, 24 * 60, 7):  # the sensor's test (stale_before) agrees with due_by, at every minute
        now = synced_at + dt.timedelta(minutes=minutes)
        for expectation in (interviews, Expectation.of("attendance"), Expectation.of("employees")):
            assert (now >= expectation.due_by(synced_at)) == (synced_at < expectation.stale_before(now)), (
                expectation.entity, now)
    attendance = Expectation.of("attendance")  # 22:30 Asia/Kolkata = 17:00 UTC
    assert attendance.due_by(dt.datetime(2026, 11, 25, 17, 5, tzinfo=utc)) == dt.datetime(2026, 11, 27, 17, 30,
                                                                                           tzinfo=utc)

    monkeypatch.setenv("HARVEY_FRESHNESS_MISSED_TICKS", "1")
    monkeypatch.setenv("HARVEY_FRESHNESS_GRACE_MINUTES", "10")
    assert Expectation.of("interviews").due_by(synced_at) == dt.datetime(2026, 11, 25, 10, 40, tzinfo=utc)
    assert "stale once 1 tick pass without one, plus 10 min grace" in Expectation.of("interviews").text()
    monkeypatch.setenv("HARVEY_FRESHNESS_MISSED_TICKS", "0")
    with pytest.raises(ValueError, match="HARVEY_FRESHNESS_MISSED_TICKS: input should be greater than or equal to 1"):
        Expectation.of("interviews")
