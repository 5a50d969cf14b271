"""The sync's edges at the engine: a dead HR system fails naming itself and the cause, and a
server once seen ignoring ``updated_since`` is asked again, so a fixed server gets the cheap
keyset walk back. Mock HRMS over loopback HTTP, DuckDB and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import math

import pytest
import sqlalchemy as sa

from harvey_pipelines.organizations import Organization
from harvey_pipelines.sources.http import RetryPolicy
from harvey_pipelines.sync import SyncFailed, sync_entity
from harvey_pipelines.warehouse import schema
from harvey_pipelines_tests.conftest import DEMO_TOKEN
from harvey_pipelines_tests.helpers import differences
from harvey_pipelines_tests.processes import free_port

QUICK_RETRY = RetryPolicy(max_attempts=3, backoff_base=0.001, backoff_max=0.001)
PAGED = ("employees", "employments")  # lists of several pages at this size
NO_OVERLAP = dt.timedelta(0)  # both syncs run within seconds; production keeps 10 minutes


def flag(warehouse, org_id, entity_name):
    c = schema.cursors
    with warehouse.writer() as conn:
        return conn.execute(sa.select(c.c.server_ignores_since).where(
            c.c.organization_id == org_id, c.c.entity == entity_name)).scalar_one()


def list_calls(control, org_id, entity_name):
    path = {"employees": "/api/v1/employees", "employments": "/api/v1/employments",
            "departments": "/api/v1/departments"}[entity_name]
    return control.stats(org_id)["by_path"].get(f"GET {path}", 0)


def test_a_sync_of_a_dead_host_fails_naming_the_host_and_the_refusal(warehouse, monkeypatch):
    port = free_port()  # a port nothing listens on: connections are refused
    monkeypatch.setenv("HARVEY_TEST_DEAD_TOKEN", DEMO_TOKEN)
    org = Organization(id="deadco", name="Dead Co", base_url=f"http://127.0.0.1:{port}/orgs/deadco",
                       credential_env="HARVEY_TEST_DEAD_TOKEN")
    with pytest.raises(SyncFailed) as failed:
        sync_entity(org, "employees", warehouse, retry=QUICK_RETRY)
    error = failed.value.result.error
    assert f"deadco/custom at http://127.0.0.1:{port}/orgs/deadco" in error, error
    assert "ConnectError" in error and "Connection refused" in error and "GET /api/v1/employees" in error, error
    runs = schema.sync_runs
    with warehouse.writer() as conn:
        recorded = conn.execute(sa.select(runs.c.status, runs.c.error).where(
            runs.c.id == failed.value.result.sync_run_id)).one()
    assert recorded.status == "failed" and recorded.error == error


def test_a_server_that_ignored_updated_since_gets_the_keyset_walk_back_once_fixed(make_org, control, warehouse):
    org = make_org(size=400)
    control.set_faults(org.id, ignore_updated_since=True)
    for name in (*PAGED, "departments"):
        sync_entity(org, name, warehouse, mode="full", retry=QUICK_RETRY)
    # a full walk asks with a filter from its second page on: that is where it shows
    assert all(flag(warehouse, org.id, name) for name in PAGED)
    assert flag(warehouse, org.id, "departments") is False, "one page: a full walk never filters"

    # still ignored: the first filtered page is the probe; one page more than the backward walk
    for name in PAGED:
        victim = control.records(org.id, name)[7]["id"]
        change = {"location": "Pune"} if name == "employees" else {"hours_per_week": 32.0}
        control.update_record(org.id, name, victim, change)
    control.reset_stats(org.id)
    still = {name: sync_entity(org, name, warehouse, retry=QUICK_RETRY, overlap=NO_OVERLAP)
             for name in (*PAGED, "departments")}
    for name in PAGED:
        pages = math.ceil(len(control.records(org.id, name)) / 100)
        assert still[name].api_calls == list_calls(control, org.id, name) == 1 + 1 + pages, name
        assert flag(warehouse, org.id, name) is True, name
        assert still[name].inserted + still[name].updated == 1, (name, still[name])
    # departments fit one page: the unfiltered probe is the whole list, no backward walk
    assert still["departments"].api_calls == 1 and flag(warehouse, org.id, "departments") is True
    assert differences(control, warehouse, org.id, entities=(*PAGED, "departments")) == {}

    # fixed: one filtered page says so; the walk is the keyset's again and the flag is cleared
    control.set_faults(org.id, ignore_updated_since=False)
    changed = {}
    for name in PAGED:
        records = control.records(org.id, name)
        changed[name] = [r["id"] for r in records[10:13]]
        for rid in changed[name]:
            change = {"location": "Goa"} if name == "employees" else {"hours_per_week": 36.0}
            control.update_record(org.id, name, rid, change)
    newest_department = control.records(org.id, "departments")[-1]["id"]
    control.delete_record(org.id, "departments", newest_department)  # nothing left at or after the cursor
    control.reset_stats(org.id)
    fixed = {name: sync_entity(org, name, warehouse, retry=QUICK_RETRY, overlap=NO_OVERLAP)
             for name in (*PAGED, "departments")}
    for name in PAGED:
        assert fixed[name].api_calls == list_calls(control, org.id, name) == 1, (name, fixed[name])
        assert fixed[name].updated == len(changed[name]), (name, fixed[name])
        assert any("honours updated_since again" in note for note in fixed[name].notes), fixed[name].notes
        assert flag(warehouse, org.id, name) is False, name
    # no record moved its cursor, yet the flag is stored cleared
    assert fixed["departments"].fetched == 0 and fixed["departments"].api_calls == 1
    assert fixed["departments"].cursor_after == still["departments"].cursor_after
    assert flag(warehouse, org.id, "departments") is False
    assert differences(control, warehouse, org.id, entities=(*PAGED, "departments"),
                       ignore_ids={("departments", newest_department)}) == {}

    # and it stays the keyset walk
    control.reset_stats(org.id)
    again = sync_entity(org, "employees", warehouse, retry=QUICK_RETRY, overlap=NO_OVERLAP)
    assert again.api_calls == 1 and flag(warehouse, org.id, "employees") is False
