"""Nothing lost at the sync's edges: fan-out entities (leave balances per employee) and
reconciliations, against the mock HRMS over HTTP, into DuckDB and PostgreSQL.

Each test ends equal to the mock's truth (``differences``) after the next ordinary sync,
without a reconcile, except where a reconcile is what is tested.
"""

from __future__ import annotations

import orjson
import pytest
import sqlalchemy as sa
from dagster import AssetKey, DagsterInstance

from harvey_pipelines.assets.entities import ENTITY_OP
from harvey_pipelines.assets.partitions import ORGANIZATIONS_PARTITION
from harvey_pipelines.cli import main as cli
from harvey_pipelines.organizations import OrganizationRegistry
from harvey_pipelines.sync import SyncFailed, sync_entity
from harvey_pipelines.warehouse import schema
from harvey_pipelines_tests.helpers import differences, mock_rows, warehouse_rows
from harvey_pipelines_tests.test_sync import FAST_RETRY, _deleted_rows

LEAVE = ("employees", "leave_requests", "leave_balances")
BALANCE_PATH = "GET /api/v1/employees/{id}/leave-balance"


def sync(org, warehouse, names=LEAVE, mode="incremental", **kw):
    return {name: sync_entity(org, name, warehouse, mode=mode, retry=FAST_RETRY, **kw) for name in names}


def balance_calls(control, org_id) -> int:
    return control.stats(org_id)["by_path"].get(BALANCE_PATH, 0)


def employee_key(control, org_id):
    """The mock's employee id for an id or business key a reference holds."""
    keys = {}
    for e in control.records(org_id, "employees"):
        keys[e["id"]] = keys[e["employee_id"]] = e["id"]
    return keys


def deleted_ids(warehouse, org_id, entity_name) -> set[str]:
    return set(_deleted_rows(warehouse, org_id, entity_name))


def run_row(warehouse, sync_run_id):
    runs = schema.sync_runs
    with warehouse.writer() as conn:
        return conn.execute(sa.select(runs).where(runs.c.id == sync_run_id)).mappings().one()


def cursor_of(warehouse, org_id, entity_name):
    c = schema.cursors
    with warehouse.writer() as conn:
        return conn.execute(sa.select(c.c.cursor_value).where(
            c.c.organization_id == org_id, c.c.entity == entity_name)).scalar()


# -- 1. the balances' fan-out follows the change, not the clock ------------------------------
@pytest.mark.parametrize("style", ["id", "mixed"])  # references hold ids, or ids and business keys
def test_balances_are_fetched_again_only_for_employees_that_changed(make_org, control, warehouse, style):
    org = make_org(size=300, reference_style=style)
    full = sync(org, warehouse, mode="full")
    assert full["leave_balances"].api_calls == 300
    marks = orjson.loads(full["leave_balances"].cursor_after)
    assert set(marks) == {"employees", "leave_requests"} and all(marks.values())

    control.reset_stats(org.id)
    control.reset_changes(org.id)
    year = control.records(org.id, "leave_balances")[0]["year"]
    pending = [r for r in control.records(org.id, "leave_requests")
               if r["status"] == "pending" and r["leave_type"] in ("annual", "sick", "casual")
               and r["start_date"].startswith(str(year))]
    keys = employee_key(control, org.id)
    picked, seen = [], set()
    for r in pending:  # two leave requests of two employees: their balances change
        if keys[r["employee_id"]] not in seen:
            picked.append(r)
            seen.add(keys[r["employee_id"]])
        if len(picked) == 2:
            break
    assert len(picked) == 2, "the tenant should have pending leave in the balance year"
    for r in picked:
        control.update_record(org.id, "leave_requests", r["id"], {"status": "approved"})
    other = next(e for e in control.records(org.id, "employees") if e["id"] not in seen)
    control.update_record(org.id, "employees", other["id"], {"phone": "+1 555 0100"})
    changes = control.changes(org.id)
    expected = {keys[r["employee_id"]] for r in picked} | set(changes["updated"].get("employees", []))
    assert len(expected) == 3

    # the production overlap (10 minutes): every employee was synced within it, only 3 changed
    again = sync(org, warehouse)
    assert balance_calls(control, org.id) == again["leave_balances"].api_calls == len(expected)
    assert again["leave_balances"].updated == 2  # each approved leave moved days from pending to used
    assert differences(control, warehouse, org.id, LEAVE) == {}

    # nothing changed since: no balance is fetched again, and the marks stay where they were
    control.reset_stats(org.id)
    quiet = sync(org, warehouse)
    assert balance_calls(control, org.id) == 0
    assert orjson.loads(quiet["leave_balances"].cursor_after) == orjson.loads(again["leave_balances"].cursor_after)


def test_a_cursor_of_the_earlier_format_still_selects_by_time(make_org, control, warehouse):
    org = make_org(size=60)
    full = sync(org, warehouse, mode="full")
    runs, c = schema.sync_runs, schema.cursors
    with warehouse.writer() as conn:  # as the previous release left it: the sync's start time
        started = conn.execute(sa.select(runs.c.started_at).where(
            runs.c.id == full["leave_balances"].sync_run_id)).scalar_one()
        conn.execute(c.update().where(c.c.organization_id == org.id, c.c.entity == "leave_balances")
                     .values(cursor_value=started.isoformat()))
    control.reset_stats(org.id)
    again = sync(org, warehouse, ["leave_balances"])["leave_balances"]
    # the earlier behaviour once (everything synced within the overlap), then marks
    assert again.api_calls == 60 and isinstance(orjson.loads(again.cursor_after), dict)
    assert differences(control, warehouse, org.id, LEAVE) == {}


# -- 2. a parent's answer replaces its earlier children --------------------------------------
@pytest.mark.parametrize("style", ["id", "business_key"])
def test_a_leave_type_the_api_no_longer_lists_is_flagged_deleted(make_org, control, warehouse, style):
    org = make_org(size=60, reference_style=style)
    sync(org, warehouse, mode="full")
    first, second = (e["id"] for e in control.records(org.id, "employees")[:2])
    balances = set(warehouse_rows(warehouse, org.id, "leave_balances"))

    # the next full sync re-reads every employee: the dropped type goes
    assert len(control.set_leave_types(org.id, first, ["annual", "sick"])["deleted"]) == 1
    dropped = balances - set(mock_rows(control, org.id, "leave_balances"))
    assert len(dropped) == 1
    full = sync(org, warehouse, ["leave_balances"], mode="full")["leave_balances"]
    assert full.deleted == 1 and deleted_ids(warehouse, org.id, "leave_balances") == dropped
    assert run_row(warehouse, full.sync_run_id)["deleted"] == 1
    assert differences(control, warehouse, org.id, LEAVE) == {}

    # an incremental re-reads the employees that changed: their answer replaces their balances
    control.set_leave_types(org.id, second, ["annual"])
    control.update_record(org.id, "employees", second, {"phone": "+1 555 0101"})
    control.set_leave_types(org.id, first, ["annual", "sick", "casual"])  # and one comes back
    control.update_record(org.id, "employees", first, {"phone": "+1 555 0102"})
    now_dropped = balances - set(mock_rows(control, org.id, "leave_balances"))
    assert len(now_dropped) == 2 and not now_dropped & dropped
    control.reset_stats(org.id)
    again = sync(org, warehouse)["leave_balances"]
    assert balance_calls(control, org.id) == 2
    assert again.deleted == 2 and again.updated == 1  # the type back is live again, as it was
    assert deleted_ids(warehouse, org.id, "leave_balances") == now_dropped
    assert differences(control, warehouse, org.id, LEAVE) == {}
    # a flag, never an erasure
    assert dropped | now_dropped <= set(warehouse_rows(warehouse, org.id, "leave_balances", include_deleted=True))


# -- 3. 404 per parent: a few are deleted parents, most are a wrong path ---------------------
def test_a_few_parents_gone_are_tolerated_and_counted(make_org, control, warehouse):
    org = make_org(size=60)
    sync(org, warehouse, mode="full")
    gone = [e["id"] for e in control.records(org.id, "employees")[:2]]
    for emp_id in gone:
        control.delete_record(org.id, "employees", emp_id)
    balances = sync(org, warehouse, ["leave_balances"], mode="full")["leave_balances"]
    assert balances.status == "success" and balances.api_calls == 60
    assert any("2 of 60 employees answered 404" in n for n in balances.notes), balances.notes
    assert "2 of 60 employees answered 404" in run_row(warehouse, balances.sync_run_id)["notes"]
    # not an answer: their balances are left as they are (an incremental never sees a hard delete)
    assert deleted_ids(warehouse, org.id, "leave_balances") == set()
    left = {("employees", i) for i in gone} | {
        ("leave_balances", sid) for sid, row in warehouse_rows(warehouse, org.id, "leave_balances").items()
        if row["employee_id"] in gone}
    assert len(left) == 2 + 6
    sync(org, warehouse)
    assert differences(control, warehouse, org.id, LEAVE, ignore_ids=left) == {}


@pytest.mark.parametrize("mode", ["incremental", "reconcile"])
def test_a_wrong_path_fails_the_fan_out_and_flags_nothing(make_org, control, mock_hrms, warehouse, mode):
    org = make_org(size=60)
    sync(org, warehouse, mode="full")
    cursor = cursor_of(warehouse, org.id, "leave_balances")
    for e in control.records(org.id, "employees")[:6]:  # an incremental asks for these six
        control.update_record(org.id, "employees", e["id"], {"phone": "+1 555 0103"})
    sync(org, warehouse, ["employees"])
    wrong = org.model_copy(update={"base_url": f"{mock_hrms.base_url}/hrms/orgs/{org.id}"})
    with pytest.raises(SyncFailed) as failed:
        sync_entity(wrong, "leave_balances", warehouse, mode=mode, retry=FAST_RETRY)
    error = failed.value.result.error
    asked = 6 if mode == "incremental" else 60
    assert f"{asked} of {asked} employees answered HTTP 404" in error, error
    assert "/api/v1/employees/{id}/leave-balance" in error and wrong.base_url in error
    assert run_row(warehouse, failed.value.result.sync_run_id)["status"] == "failed"
    assert cursor_of(warehouse, org.id, "leave_balances") == cursor
    assert deleted_ids(warehouse, org.id, "leave_balances") == set()
    # the next ordinary sync at the right address
    sync(org, warehouse, mode="full")
    assert differences(control, warehouse, org.id, LEAVE) == {}


def _dagster_env(monkeypatch, tmp_path, warehouse, *orgs):
    registry = OrganizationRegistry(tmp_path / "organizations.yaml")
    for org in orgs:
        registry.add(org)
    monkeypatch.setenv("HARVEY_ORGANIZATIONS_FILE", str(registry.path))
    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", warehouse.url)
    return registry


def _successes(warehouse, org_id):
    runs = schema.sync_runs
    with warehouse.writer() as conn:
        return {r.entity: r.status for r in conn.execute(
            sa.select(runs.c.entity, runs.c.status).where(runs.c.organization_id == org_id))}


def test_a_run_whose_employees_fail_does_not_report_balances_synced(make_org, control, mock_hrms, warehouse,
                                                                      tmp_path, monkeypatch):
    from harvey_pipelines.definitions import defs

    good = make_org(size=30)
    wrong = make_org(size=30)
    wrong = wrong.model_copy(update={"base_url": f"{mock_hrms.base_url}/hrms/orgs/{wrong.id}"})
    _dagster_env(monkeypatch, tmp_path, warehouse, good, wrong)
    balances = AssetKey(["core", "leave_balances"])
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(ORGANIZATIONS_PARTITION, [good.id, wrong.id])
        # the UI's and the retry sensor's job: one organization, the employees and their balances
        result = defs.resolve_job_def("sync_organization").execute_in_process(
            partition_key=wrong.id, instance=instance, raise_on_error=False,
            asset_selection=[AssetKey(["core", "employees"]), balances])
        assert not result.success
        failure = _step_failure(result, ENTITY_OP)
        assert "check the organization's base_url" in failure
        assert f"{wrong.id}/leave_balances: not synced: employees failed in this run" in failure
        assert instance.get_latest_materialization_event(balances) is None
        # the schedules' job: several organizations, entities in order, each on its own
        config = {"ops": {"sync_batch": {"config": {"organizations": [wrong.id, good.id],
                                                     "entities": list(LEAVE)}}}}
        batch = defs.resolve_job_def("sync_organizations").execute_in_process(
            run_config=config, instance=instance, raise_on_error=False)
        assert not batch.success
        failure = _step_failure(batch, "sync_batch")
        assert f"{wrong.id}/leave_balances: not synced: employees failed in this run" in failure
        materialized = {(e.asset_key, e.partition) for e in batch.all_events if e.is_step_materialization
                        for e in [e.event_specific_data.materialization]}
        assert (balances, good.id) in materialized and (balances, wrong.id) not in materialized
    assert _successes(warehouse, wrong.id) == {"employees": "failed", "leave_requests": "failed"}
    assert cursor_of(warehouse, wrong.id, "leave_balances") is None
    assert differences(control, warehouse, good.id, LEAVE) == {}


def _step_failure(result, step):
    failures = [e for e in result.all_events if e.is_step_failure and e.step_key == step]
    assert failures, f"{step} did not fail"
    error = failures[0].event_specific_data.error
    metadata = failures[0].event_specific_data.user_failure_data
    return error.message + str(metadata.metadata if metadata else "")


# -- 4. a reconcile during a glitch flags nothing; a delete wave waits for confirmation -------
def test_a_reconcile_over_records_without_ids_flags_nothing(make_org, control, warehouse):
    org = make_org(size=60)
    sync(org, warehouse, ["employees", "leave_requests"], mode="full")
    control.set_faults(org.id, null_id_records=3)
    try:
        reconcile = sync(org, warehouse, ["employees", "leave_requests"], mode="reconcile")
    finally:
        control.reset_faults(org.id)
    for name, result in reconcile.items():
        assert result.status == "success" and result.deleted == 0, (name, result)
        note = next(n for n in result.notes if n.startswith("reconcile flagged nothing deleted"))
        assert "3 listed record(s) had no id" in note and "3 record(s) were not seen" in note
        assert note in run_row(warehouse, result.sync_run_id)["notes"]
        assert deleted_ids(warehouse, org.id, name) == set()
    sync(org, warehouse, ["employees", "leave_requests"])
    assert differences(control, warehouse, org.id, ["employees", "leave_requests"]) == {}


def test_a_reconcile_after_real_hard_deletes_flags_exactly_those(make_org, control, warehouse):
    org = make_org(size=60)
    sync(org, warehouse, mode="full")
    employee = control.records(org.id, "employees")[5]["id"]
    leave = [r["id"] for r in control.records(org.id, "leave_requests")[:2]]
    control.delete_record(org.id, "employees", employee)
    for lr in leave:
        control.delete_record(org.id, "leave_requests", lr)
    balances = {sid for sid, row in warehouse_rows(warehouse, org.id, "leave_balances").items()
                if row["employee_id"] == employee}
    reconcile = sync(org, warehouse, mode="reconcile")
    assert deleted_ids(warehouse, org.id, "employees") == {employee}
    assert deleted_ids(warehouse, org.id, "leave_requests") == set(leave)
    assert deleted_ids(warehouse, org.id, "leave_balances") == balances and len(balances) == 3
    assert [reconcile[n].deleted for n in LEAVE] == [1, 2, 3]
    assert all(r.notes == [] for r in reconcile.values()), {n: r.notes for n, r in reconcile.items()}
    assert differences(control, warehouse, org.id, LEAVE) == {}


def test_a_delete_wave_is_held_until_confirmed(make_org, control, warehouse, tmp_path, monkeypatch):
    from harvey_pipelines.definitions import defs

    org = make_org(size=60)
    sync(org, warehouse, ["employees"], mode="full")
    gone = [e["id"] for e in control.records(org.id, "employees")[10:25]]  # 25 %, 15 rows
    for emp_id in gone:
        control.delete_record(org.id, "employees", emp_id)
    registry = _dagster_env(monkeypatch, tmp_path, warehouse, org)
    employees = AssetKey(["core", "employees"])
    with DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(ORGANIZATIONS_PARTITION, [org.id])
        held = defs.resolve_job_def("sync_organization").execute_in_process(
            partition_key=org.id, instance=instance, asset_selection=[employees],
            run_config={"ops": {ENTITY_OP: {"config": {"mode": "reconcile"}}}})
        metadata = instance.get_latest_materialization_event(employees).asset_materialization.metadata
        assert (metadata["deleted"].value, metadata["deletes_held"].value) == (0, 15)
        assert "15 of 60 live records would be flagged deleted" in metadata["notes"].value
        assert "--confirm-deletes" in metadata["notes"].value
        assert "confirm_deletes: true" in metadata["notes"].value
        assert held.success
    assert deleted_ids(warehouse, org.id, "employees") == set()
    runs = schema.sync_runs
    with warehouse.writer() as conn:
        notes = conn.execute(sa.select(runs.c.notes).where(
            runs.c.organization_id == org.id, runs.c.mode == "reconcile")).scalar_one()
    assert "held back a delete wave" in notes

    # a reconcile run needs the confirmation each time; an ordinary sync never flags
    sync(org, warehouse, ["employees"])
    assert deleted_ids(warehouse, org.id, "employees") == set()
    assert cli(["--registry", str(registry.path), "sync", "--org", org.id, "--entity", "employees",
                "--mode", "reconcile", "--confirm-deletes"]) == 0
    assert deleted_ids(warehouse, org.id, "employees") == set(gone)
    assert differences(control, warehouse, org.id, ["employees"]) == {}


def test_a_small_delete_wave_is_applied_and_the_threshold_is_a_setting(make_org, control, warehouse, monkeypatch):
    org = make_org(size=60)
    sync(org, warehouse, ["employees"], mode="full")
    gone = [e["id"] for e in control.records(org.id, "employees")[:8]]  # 13 %, but only 8 rows
    for emp_id in gone:
        control.delete_record(org.id, "employees", emp_id)
    monkeypatch.setenv("HARVEY_DELETE_WAVE_MIN_ROWS", "5")
    held = sync(org, warehouse, ["employees"], mode="reconcile")["employees"]
    assert (held.deleted, held.deletes_held) == (0, 8)
    monkeypatch.setenv("HARVEY_DELETE_WAVE_MIN_ROWS", "many")
    with pytest.raises(ValueError, match="HARVEY_DELETE_WAVE_MIN_ROWS: input should be a valid integer"):
        sync(org, warehouse, ["employees"], mode="reconcile")
    monkeypatch.delenv("HARVEY_DELETE_WAVE_MIN_ROWS")
    applied = sync(org, warehouse, ["employees"], mode="reconcile")["employees"]
    assert (applied.deleted, applied.deletes_held) == (8, 0)
    assert differences(control, warehouse, org.id, ["employees"]) == {}
