"""A sync against the mock HRMS over HTTP, into DuckDB and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
import sqlalchemy as sa

from harvey_pipelines.records import ENTITIES
from harvey_pipelines.sources.http import RetryPolicy
from harvey_pipelines.sync import SyncFailed, sync_entity
from harvey_pipelines.warehouse import schema
from harvey_pipelines_tests.helpers import differences, warehouse_rows

ALL = [spec.name for spec in ENTITIES]
FAST_RETRY = RetryPolicy(max_attempts=8, backoff_base=0.01, backoff_max=0.05)
# With every fault on at once ~39 % of requests fail; leave balances are fetched in parallel, so a
# retried request meets the faults at random: 8 attempts give up on one of 300 balances in ~15 % of
# runs (seen in CI); 20 attempts in ~2 of a million. The test is about losing nothing, not the budget.
FAULT_RETRY = RetryPolicy(max_attempts=20, backoff_base=0.01, backoff_max=0.05)


def sync_all(org, warehouse, mode="incremental", retry=FAST_RETRY, **kw):
    # employees first: leave balances are fetched per synced employee
    return {name: sync_entity(org, name, warehouse, mode=mode, retry=retry, **kw) for name in ALL}


def raw_version_count(warehouse, org_id):
    pv = schema.payload_versions
    with warehouse.writer() as conn:
        return conn.execute(sa.select(sa.func.count()).where(pv.c.organization_id == org_id)).scalar_one()


def assert_counts_add_up(result):
    assert result.fetched == result.inserted + result.updated + result.unchanged + result.quarantined, result


def test_full_sync_equals_the_hrms_and_a_second_sync_changes_nothing(make_org, control, warehouse):
    org = make_org(size=120)
    results = sync_all(org, warehouse)
    for name, result in results.items():
        assert result.status == "success"
        assert result.inserted > 0, name
        assert_counts_add_up(result)
    assert differences(control, warehouse, org.id) == {}
    versions = raw_version_count(warehouse, org.id)

    again = sync_all(org, warehouse)
    for name, result in again.items():
        assert (result.inserted, result.updated, result.raw_versions) == (0, 0, 0), (name, result)
        assert_counts_add_up(result)
    assert raw_version_count(warehouse, org.id) == versions


def test_incremental_sync_picks_up_exactly_the_changes(make_org, control, warehouse):
    org = make_org(size=400)
    full = sync_all(org, warehouse)
    control.reset_stats(org.id)
    changes = control.advance(org.id, hours=24, change_fraction=0.02)
    changed_employees = set(changes["created"].get("employees", [])) | set(changes["updated"].get("employees", []))
    assert changed_employees, changes

    # no overlap window: this test runs both syncs within seconds (production keeps 10 minutes)
    again = sync_all(org, warehouse, overlap=dt.timedelta(0))
    employees = again["employees"]
    assert employees.inserted == len(set(changes["created"].get("employees", [])))
    assert employees.inserted + employees.updated == len(changed_employees)
    # only the changed pages: one page per 100 changed records, and one empty probe at most
    assert employees.api_calls <= len(changed_employees) // 100 + 2
    assert employees.api_calls < full["employees"].api_calls
    for name in ("employments", "leave_requests", "candidates", "interviews", "attendance"):
        assert again[name].inserted + again[name].updated > 0, name
    # balances are fetched again only for employees whose leave (or record) changed
    assert 0 < again["leave_balances"].api_calls < full["leave_balances"].api_calls / 4
    deleted = {(e, i) for e, ids in changes["deleted"].items() for i in ids}
    assert deleted, "the mock should hard-delete some records when time advances"
    # hard deletes are invisible to an incremental sync; everything else is equal
    assert differences(control, warehouse, org.id, ignore_ids=deleted) == {}

    reconcile = {
        name: sync_entity(org, name, warehouse, mode="reconcile", trigger="reconcile", retry=FAST_RETRY)
        for name in ALL
    }
    flagged = {(name, sid) for name in ALL for sid, row in _deleted_rows(warehouse, org.id, name).items()}
    expected_flags = {(e, i) for (e, i) in deleted if e != "leave_balances"}
    assert flagged - {f for f in flagged if f[0] == "leave_balances"} == expected_flags
    assert sum(r.deleted for r in reconcile.values()) == len(flagged)
    assert differences(control, warehouse, org.id) == {}
    # a flag, never an erasure
    for entity_name, sid in expected_flags:
        assert sid in warehouse_rows(warehouse, org.id, entity_name, include_deleted=True)


def _deleted_rows(warehouse, org_id, entity_name):
    table = schema.CORE_TABLES[entity_name]
    with warehouse.writer() as conn:
        rows = conn.execute(
            sa.select(table.c.source_id, table.c.deleted_at).where(
                table.c.organization_id == org_id, table.c.is_deleted.is_(True))
        ).all()
    for _, deleted_at in rows:
        assert deleted_at is not None
    return dict(rows)


def test_every_fault_at_once_loses_nothing(make_org, control, warehouse):
    org = make_org(size=300)
    control.set_faults(
        org.id, rate_limit_every=7, retry_after_seconds=0, error_5xx_every=5, slow_every=11, slow_seconds=0.2,
        truncate_every=9, mutate_between_pages=2, invalid_records=True, ignore_updated_since=True,
    )
    control.reset_stats(org.id)
    first = sync_all(org, warehouse, retry=FAULT_RETRY)
    for name, result in first.items():
        assert result.status == "success", name
        assert_counts_add_up(result)
        assert result.retries > 0 or result.api_calls < 5, name
    stats = control.stats(org.id)
    assert all(stats["faults_fired"].get(kind, 0) > 0 for kind in ("rate_limit", "error_5xx", "truncate")), stats

    # records that changed while the sync ran may be behind by one sync; nothing else
    changed_during = {(e, i) for e, ids in control.changes(org.id)["updated"].items() for i in ids}
    # leave balances are fetched per synced employee: they follow their employee by one sync
    changed_during |= {
        ("leave_balances", f"{i}:{year}:{kind}") for e, i in set(changed_during) if e == "employees"
        for year in range(2020, 2031) for kind in ("annual", "sick", "casual")
    }
    assert differences(control, warehouse, org.id, ignore_ids=changed_during) == {}

    quarantined = _quarantine(warehouse, org.id)
    reasons = " | ".join(reason for _, reason in quarantined)
    assert "id" in reasons and "email" in reasons and ("date" in reasons or "before" in reasons), reasons
    assert sum(r.quarantined for r in first.values()) >= 3

    control.set_faults(org.id, mutate_between_pages=0)
    second = sync_all(org, warehouse, retry=FAULT_RETRY)
    for result in second.values():
        assert_counts_add_up(result)
    assert differences(control, warehouse, org.id) == {}
    assert len(_quarantine(warehouse, org.id)) == len(quarantined), "the same invalid records are not quarantined twice"


def _quarantine(warehouse, org_id):
    q = schema.quarantine
    with warehouse.writer() as conn:
        return conn.execute(sa.select(q.c.source_id, q.c.reason).where(q.c.organization_id == org_id)).all()


def test_wrong_credential_fails_at_once_and_never_shows_the_secret(make_org, warehouse, monkeypatch, caplog, capfd):
    org = make_org(size=20)
    secret = "wrong-token-that-must-never-leak-0042"
    monkeypatch.setenv(org.credential_env, secret)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SyncFailed) as failed:
        sync_entity(org, "employees", warehouse, retry=FAST_RETRY)
    result = failed.value.result
    assert result.api_calls == 1, "a refused credential is not retried"
    assert "refused the credential" in result.error and org.credential_env in result.error
    runs = schema.sync_runs
    with warehouse.writer() as conn:
        recorded = conn.execute(sa.select(runs.c.status, runs.c.error).where(runs.c.id == result.sync_run_id)).one()
    assert recorded.status == "failed"
    out, err = capfd.readouterr()
    for text in (str(failed.value), repr(failed.value), str(failed.value.__cause__), recorded.error,
                 caplog.text, out, err, repr(result.as_dict())):
        assert secret not in text


def test_organizations_sharing_source_ids_stay_apart(make_org, control, warehouse):
    a = make_org(size=50, seed=7)
    b = make_org(size=50, seed=7)
    assert control.records(a.id, "employees") == control.records(b.id, "employees")
    sync_all(a, warehouse)
    sync_all(b, warehouse)
    victim = control.records(b.id, "employees")[0]["id"]
    control.update_record(b.id, "employees", victim, {"phone": "+31 6 0000 0000"})
    sync_entity(b, "employees", warehouse, retry=FAST_RETRY)
    assert differences(control, warehouse, a.id) == {}
    assert differences(control, warehouse, b.id) == {}
    assert warehouse_rows(warehouse, a.id, "employees")[victim]["phone"] != "+31 6 0000 0000"
    assert warehouse_rows(warehouse, b.id, "employees")[victim]["phone"] == "+31 6 0000 0000"
