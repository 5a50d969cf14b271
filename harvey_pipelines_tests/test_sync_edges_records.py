"""Nothing lost at the sync's edges: records quarantined in transit or at the source are read
again until they load, required fields keep a broken payload from replacing a good version, and
timestamps re-sent in another format are no change. Each ends equal to the mock HRMS after the
next ordinary (incremental) sync, without a reconcile. (Counts of an interrupted run and its
resumption: test_crash_recovery.py.)"""

from __future__ import annotations

import datetime as dt
import time

import httpx
import sqlalchemy as sa

from harvey_pipelines.records import ENTITIES
from harvey_pipelines.sync import sync_entity
from harvey_pipelines.warehouse import schema
from harvey_pipelines.warehouse.store import QUARANTINE_READS
from harvey_pipelines_tests.conftest import DEMO_TOKEN
from harvey_pipelines_tests.helpers import differences, warehouse_rows
from harvey_pipelines_tests.test_sync import FAST_RETRY, assert_counts_add_up, raw_version_count

EMPLOYEES = {"employees"}


def _sync(org, warehouse, entity_name="employees", **kw):
    result = sync_entity(org, entity_name, warehouse, retry=FAST_RETRY, **kw)
    assert result.status == "success"
    assert_counts_add_up(result)
    return result


def _quarantine(warehouse, org_id, entity_name="employees"):
    q = schema.quarantine
    with warehouse.writer() as conn:
        return conn.execute(
            sa.select(q.c.source_id, q.c.reason, q.c.times_seen, q.c.resume_from, q.c.resolved_at,
                      q.c.resolved_by_sync_run_id, q.c.resolution)
            .where(q.c.organization_id == org_id, q.c.entity == entity_name).order_by(q.c.first_seen_at)
        ).all()


def _stamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _middle(control, org_id) -> dict:
    """An employee in the middle of the list (updated_at order): records after it move the cursor."""
    records = control.records(org_id, "employees")
    return records[len(records) // 2]


def _wait_for_next_second(control, org_id, after: str) -> None:
    """The mock stamps changes with its clock's whole seconds: let it pass ``after``."""
    while _stamp(control.now(org_id)) <= _stamp(after):
        time.sleep(0.2)


def test_a_record_broken_in_transit_loads_on_the_next_sync(make_org, control, warehouse):
    org = make_org(size=60)
    victim = _middle(control, org.id)
    control.set_faults(org.id, corrupt_once=f"{victim['id']}:email")

    first = _sync(org, warehouse)
    assert control.stats(org.id)["faults_fired"].get("corrupt_once") == 1
    assert first.quarantined == 1
    assert victim["id"] not in warehouse_rows(warehouse, org.id, "employees")
    [row] = _quarantine(warehouse, org.id)
    assert row.source_id == victim["id"] and "email" in row.reason and row.resolved_at is None
    # the cursor waits where the next sync meets the record again
    assert _stamp(first.cursor_after) == _stamp(victim["updated_at"])

    second = _sync(org, warehouse)  # the source did not change: only the re-read brings it
    assert (second.inserted, second.quarantined) == (1, 0)
    assert differences(control, warehouse, org.id, entities=EMPLOYEES) == {}
    [row] = _quarantine(warehouse, org.id)
    assert row.resolved_at is not None and row.resolution == "loaded"
    assert row.resolved_by_sync_run_id == second.sync_run_id
    newest = max(_stamp(r["updated_at"]) for r in control.records(org.id, "employees"))
    assert _stamp(second.cursor_after) == newest, "nothing holds the cursor any more"


def test_a_change_broken_in_transit_keeps_the_good_version_until_it_loads(make_org, control, warehouse):
    org = make_org(size=60)
    _sync(org, warehouse)
    victim = _middle(control, org.id)
    changed = control.update_record(org.id, "employees", victim["id"], {"phone": "+91 90000 00001"})
    # its updated_at is lost in transit: where it sits in the list is known only from its neighbours
    control.set_faults(org.id, corrupt_once=f"{victim['id']}:updated_at")

    broken = _sync(org, warehouse)
    assert broken.quarantined == 1 and broken.updated == 0
    [row] = _quarantine(warehouse, org.id)
    assert "updated_at" in row.reason and row.resume_from is not None
    kept = warehouse_rows(warehouse, org.id, "employees")[victim["id"]]
    assert kept["phone"] == victim["phone"] and kept["email"] == victim["email"]
    assert kept["updated_at"] == _stamp(victim["updated_at"])

    _sync(org, warehouse)
    assert warehouse_rows(warehouse, org.id, "employees")[victim["id"]]["phone"] == changed["phone"]
    assert differences(control, warehouse, org.id, entities=EMPLOYEES) == {}
    assert _quarantine(warehouse, org.id)[0].resolution == "loaded"


def test_a_quarantined_record_the_source_deletes_holds_nothing(make_org, control, warehouse):
    org = make_org(size=60)
    victim = _middle(control, org.id)
    control.set_faults(org.id, corrupt_once=f"{victim['id']}:email")
    first = _sync(org, warehouse)
    assert _stamp(first.cursor_after) == _stamp(victim["updated_at"])
    control.delete_record(org.id, "employees", victim["id"])

    second = _sync(org, warehouse)
    [row] = _quarantine(warehouse, org.id)
    assert row.resolution == "not served again" and row.resolved_by_sync_run_id == second.sync_run_id
    newest = max(_stamp(r["updated_at"]) for r in control.records(org.id, "employees"))
    assert _stamp(second.cursor_after) == newest
    assert differences(control, warehouse, org.id, entities=EMPLOYEES) == {}


def test_a_record_losing_its_email_at_the_source_is_quarantined_and_the_good_email_stays(
        make_org, control, warehouse):
    org = make_org(size=60)
    _sync(org, warehouse)
    versions = raw_version_count(warehouse, org.id)
    victim = _middle(control, org.id)
    broken = control.update_record(org.id, "employees", victim["id"], {"email": None})
    _wait_for_next_second(control, org.id, broken["updated_at"])
    later = control.records(org.id, "employees")[0]  # changed after it: the cursor could pass it
    later = control.update_record(org.id, "employees", later["id"], {"location": "Pune"})

    # no overlap window: these syncs run within seconds (production keeps 10 minutes)
    syncs = [_sync(org, warehouse, overlap=dt.timedelta(0)) for _ in range(QUARANTINE_READS + 1)]
    assert syncs[0].quarantined == 1 and syncs[0].updated == 1
    [row] = _quarantine(warehouse, org.id)
    assert row.source_id == victim["id"] and "email" in row.reason, row.reason
    assert warehouse_rows(warehouse, org.id, "employees")[victim["id"]]["email"] == victim["email"]
    assert raw_version_count(warehouse, org.id) == versions + 1, "the later change only"
    # re-read while it may still be a fault of the answer; once seen the same each time it is
    # broken at the source: re-reading cannot help and the cursor moves on
    assert [s.quarantined for s in syncs] == [1] * QUARANTINE_READS + [0]
    assert [_stamp(s.cursor_after) for s in syncs] == (
        [_stamp(broken["updated_at"])] * (QUARANTINE_READS - 1) + [_stamp(later["updated_at"])] * 2)
    assert _quarantine(warehouse, org.id)[0].resolved_at is None

    fixed = control.update_record(org.id, "employees", victim["id"], {"email": "fixed.address@example.com"})
    again = _sync(org, warehouse, overlap=dt.timedelta(0))
    assert again.updated == 1
    assert warehouse_rows(warehouse, org.id, "employees")[victim["id"]]["email"] == fixed["email"]
    assert differences(control, warehouse, org.id, entities=EMPLOYEES) == {}
    [row] = _quarantine(warehouse, org.id)
    assert row.resolution == "loaded" and row.resolved_by_sync_run_id == again.sync_run_id


def test_every_record_the_mock_generates_meets_the_required_fields(make_org, control):
    """Required fields must not quarantine legitimate records: a few thousand employees, their
    records, and a few days of changes."""
    org = make_org(size=3000, reference_style="mixed")
    for seed in range(3):
        control.advance(org.id, hours=24, change_fraction=0.05, seed=seed)
    problems = {}
    for spec in ENTITIES:
        rows = control.records(org.id, spec.name)
        if spec.name == "leave_balances":
            rows = [{**r, "id": f"{r['employee_id']}:{r['year']}:{r['leave_type']}"} for r in rows]
        assert rows, spec.name
        for row in rows:
            try:
                spec.model.model_validate(row)
            except ValueError as exc:
                problems.setdefault(spec.name, str(exc))
    assert problems == {}


def test_timestamps_re_sent_in_another_format_are_no_change(make_org, control, warehouse):
    org = make_org(size=80)
    names = ("employees", "interviews", "leave_requests", "attendance")  # every kind of timestamp field
    for name in names:
        _sync(org, warehouse, name)
    versions = raw_version_count(warehouse, org.id)

    control.set_faults(org.id, utc_timestamps=True)
    page = httpx.get(f"{org.base_url}/api/v1/employees", headers={"Authorization": f"Bearer {DEMO_TOKEN}"}).json()
    sent = page["data"][0]["updated_at"]
    assert sent.endswith(".000Z") and sent != control.records(org.id, "employees")[0]["updated_at"]
    for name in names:
        full = _sync(org, warehouse, name, mode="full")
        assert full.fetched > 0 and (full.inserted, full.updated, full.raw_versions) == (0, 0, 0), (name, full)
    assert raw_version_count(warehouse, org.id) == versions
    assert differences(control, warehouse, org.id, entities=set(names)) == {}

    # a change of the instant is a change
    victim = _middle(control, org.id)
    control.update_record(org.id, "employees", victim["id"], {"phone": "+91 90000 00002"})
    assert _sync(org, warehouse).updated == 1
    assert differences(control, warehouse, org.id, entities=EMPLOYEES) == {}
