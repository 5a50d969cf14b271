"""Data quality checks on the core tables: they pass on synced data, fail (and block the
marts) on a duplicate id or on references that resolve to no record beyond the tolerance
(a first load judged like any later one), and alert on-call once, naming the references;
a failing dbt references_resolve test reaches on-call once too."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from dagster import AssetKey, build_sensor_context, instance_for_test

from harvey_pipelines import quality
from harvey_pipelines.assets.quality import reference_tolerance
from harvey_pipelines.automation.quality_alerts import quality_alert_sensor
from harvey_pipelines.definitions import defs
from harvey_pipelines.records import ENTITIES
from harvey_pipelines.sync import sync_entity
from harvey_pipelines.warehouse.schema import CORE_TABLES
from harvey_pipelines_tests.alert_receivers import WebhookReceiver
from harvey_pipelines_tests.helpers import REFERENCE_STYLES, tenant_options

SYNCED = [spec.name for spec in ENTITIES]
CONSOLIDATED = "dagster.core.storage.event_log"


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


def _live_rows(warehouse, entity, org_id) -> int:
    table = CORE_TABLES[entity]
    with warehouse.writer() as conn:
        return conn.execute(sa.select(sa.func.count()).where(
            table.c.organization_id == org_id, table.c.is_deleted.is_(False))).scalar_one()


def _orphans_beyond_tolerance(references: int) -> int:
    """How many rows referencing nobody, added to ``references``, are more than tolerated."""
    tolerance, added = reference_tolerance(), 1
    while added <= tolerance.tolerated(references + added):
        added += 1
    return added


def _add_orphans(warehouse, entity, org_id, count, prefix, **changes_of):
    """``count`` copies of one row of ``entity`` whose employee_id references nobody."""
    with warehouse.writer() as conn:
        original = conn.execute(sa.select(CORE_TABLES[entity].c.source_id).where(
            CORE_TABLES[entity].c.organization_id == org_id).limit(1)).scalar_one()
    for i in range(count):
        _copy_row(warehouse, entity, original, source_id=f"{prefix}-{i}", employee_id=f"emp-nobody-{i}",
                  **{k: f"{v}-{i}" for k, v in changes_of.items()})


def _synced_org(make_org, warehouse, monkeypatch, size, **tenant):
    """An organization with every entity synced, and the marts' job on that warehouse."""
    org = make_org(size=size, **tenant)
    for name in SYNCED:
        sync_entity(org, name, warehouse)
    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", warehouse.url)
    return org, defs.resolve_job_def("build_marts")


def _tick_until_read(instance, cursor=None) -> str:
    """Sensor ticks until the quality alert sensor has read every evaluation (it reads a page a
    tick, and each build_marts run has one per dbt test); returns its cursor."""
    for _ in range(20):
        context = build_sensor_context(instance=instance, cursor=cursor)
        quality_alert_sensor.evaluate_tick(context)
        if context.cursor == cursor:
            return cursor
        cursor = context.cursor
    raise AssertionError("the sensor did not catch up")


def _instance(tmp_path):
    # the sensor reads check evaluations across runs: the consolidated event log answers that
    return instance_for_test(overrides={"event_log_storage": {
        "module": CONSOLIDATED, "class": "ConsolidatedSqliteEventLogStorage",
        "config": {"base_dir": str(tmp_path / "events")}}})


@pytest.mark.parametrize("reference_style", REFERENCE_STYLES)
def test_checks_pass_on_synced_data_then_block_and_alert_on_bad_rows(make_org, warehouse, monkeypatch, tmp_path,
                                                                     reference_style):
    org, job = _synced_org(make_org, warehouse, monkeypatch, size=60, **tenant_options(reference_style))
    with _instance(tmp_path) as instance, WebhookReceiver() as hook:
        monkeypatch.setenv("HARVEY_ALERT_WEBHOOK_URL", hook.url)
        clean = job.execute_in_process(instance=instance, raise_on_error=False)
        checks = _check_results(clean)
        assert len([k for k in checks if k[1].startswith("quality_")]) == 18
        failed = {k for k, e in checks.items() if not e.passed}
        assert failed == set(), failed  # ours and dbt's tests alike
        assert any(k[1].startswith("references_resolve") for k in checks), "dbt's reference tests ran"
        built = {e.asset_key for e in clean.get_asset_materialization_events()}
        assert _downstream_of(("employees", "leave_requests")) <= built
        with warehouse.engine.connect() as conn:  # the marts are not empty: references resolved
            assert conn.execute(sa.text("select count(*) from marts.attendance_daily "
                                        "where status = 'present'")).scalar_one() > 0
        warehouse.engine.dispose()

        # a late arrival: one leave request of an employee not synced yet is tolerated
        requests = _live_rows(warehouse, "leave_requests", org.id)
        _add_orphans(warehouse, "leave_requests", org.id, 1, "lr-late", leave_request_id="LR-LATE")
        late = job.execute_in_process(instance=instance, raise_on_error=False)
        blocking = _check_results(late)[("leave_requests", "quality_blocking")]
        assert blocking.passed, blocking.metadata
        assert blocking.metadata["unresolved_references"].value == {
            f"{org.id}/employee_id": {"unresolved": 1, "references": requests + 1,
                                      "tolerated": reference_tolerance().tolerated(requests + 1)}}

        with warehouse.writer() as conn:
            employee = conn.execute(sa.select(CORE_TABLES["employees"].c.source_id).limit(1)).scalar_one()
        # a second employee with the same human code; leave requests of nobody we know, beyond
        # the tolerance. No sync ran since: a reference is judged the same on any load.
        _copy_row(warehouse, "employees", employee, source_id="emp-duplicate-code",
                  email="duplicate.code@example.com")
        orphans = 1 + _orphans_beyond_tolerance(requests + 1)
        _add_orphans(warehouse, "leave_requests", org.id, orphans - 1, "lr-orphan", leave_request_id="LR-ORPHAN")
        broken = job.execute_in_process(instance=instance, raise_on_error=False)
        checks = _check_results(broken)
        failed = {k for k, e in checks.items() if not e.passed and k[1].startswith("quality_")}
        assert failed == {("employees", "quality_blocking"), ("leave_requests", "quality_blocking")}, failed
        findings = checks[("leave_requests", "quality_blocking")].metadata["findings"].value
        reference = findings["references_resolve(employee_id -> employees)"]
        assert reference["unexpected"] == orphans and reference["organizations"] == [org.id], reference
        assert reference["examples"][0] == f"{org.id}/lr-late-0 (employee_id=emp-nobody-0)", reference
        duplicate = checks[("employees", "quality_blocking")].metadata["findings"].value
        assert any(f"{org.id}/emp-duplicate-code" in f["examples"] for f in duplicate.values()), duplicate
        # dbt models built on a table whose blocking check failed are not built in that run
        downstream = _downstream_of(("employees", "leave_requests"))
        assert downstream, "dbt staging models read these tables"
        blocked = [e.asset_key for e in broken.get_asset_materialization_events() if e.asset_key in downstream]
        assert blocked == []

        # evaluated after the runs: employees failed once, leave requests once: two alerts
        cursor = _tick_until_read(instance)
        assert len(hook.messages) == 2, "one alert per check that starts failing"
        texts = " ".join(m["text"] for m in hook.messages)
        assert "core/leave_requests" in texts and "core/employees" in texts and org.id in texts
        (leave_alert,) = [m["text"] for m in hook.messages if "core/leave_requests" in m["text"]]
        # the table, how many references and examples
        assert (f"leave_requests.employee_id -> employees: {orphans} of {requests + orphans} references "
                f"unresolved in {org.id}") in leave_alert, leave_alert
        assert "e.g. emp-nobody-0, emp-nobody-1" in leave_alert, leave_alert
        again = job.execute_in_process(instance=instance, raise_on_error=False)
        assert not again.success
        _tick_until_read(instance, cursor)
        assert len(hook.messages) == 2, "a check that keeps failing does not alert again"


def test_failing_dbt_reference_test_reaches_on_call_once(make_org, warehouse, monkeypatch, tmp_path):
    """A build of the dbt models without our checks before them (a subset of build_marts):
    dbt's references_resolve test fails with ERROR severity, and on-call hears of it once,
    with the references named."""
    org, job = _synced_org(make_org, warehouse, monkeypatch, size=12)
    attendance = _live_rows(warehouse, "attendance", org.id)
    orphans = _orphans_beyond_tolerance(attendance)
    _add_orphans(warehouse, "attendance", org.id, orphans, "att-orphan")
    staging = AssetKey(["staging", "stg_attendance"])
    graph = defs.resolve_asset_graph()
    dbt_checks = {k for k in graph.asset_check_keys if k.asset_key == staging}
    subset = job.get_subset(asset_selection={staging}, asset_check_selection=dbt_checks)
    with _instance(tmp_path) as instance, WebhookReceiver() as hook:
        monkeypatch.setenv("HARVEY_ALERT_WEBHOOK_URL", hook.url)
        for _ in range(2):
            result = subset.execute_in_process(instance=instance, raise_on_error=False)
            assert not result.success, "dbt build fails"
            failed = {k for k, e in _check_results(result).items() if not e.passed}
            (key,) = failed
            assert key == ("staging/stg_attendance", "references_resolve_stg_attendance_employee_id__employees")
            evaluation = _check_results(result)[key]
            assert evaluation.severity.value == "ERROR"
        _tick_until_read(instance)
        assert len(hook.messages) == 1, "one alert, although the test failed in two runs"
        text = hook.messages[0]["text"]
        assert "references_resolve_stg_attendance_employee_id__employees" in text and "staging/stg_attendance" in text
        assert (f"attendance.employee_id -> employees: {orphans} of {attendance + orphans} references "
                f"unresolved in {org.id}") in text, text
        assert "e.g. emp-nobody-0" in text and org.id in text, text


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


def _first_id(warehouse, entity) -> str:
    table = CORE_TABLES[entity]
    with warehouse.writer() as conn:
        return conn.execute(sa.select(table.c.source_id).order_by(table.c.source_id).limit(1)).scalar_one()


def test_each_warning_fails_on_a_row_that_breaks_it(make_org, warehouse):
    """Every warning rule of every entity, run in the warehouse, finds the one row made to
    break it (a copy of a synced row with a new id and business key), by id; the rest of the
    rows pass. A rule added without a row here fails this test."""
    org = make_org(size=30)
    for name in SYNCED:
        sync_entity(org, name, warehouse)
    today = dt.date.today()
    broken = {  # entity -> changes of each copied row (all warning rules of the entity break)
        "employees": [dict(hire_date=today + dt.timedelta(days=400), termination_date=None, salary=-1.0,
                           employment_status="terminated", manager_id="BROKEN-0")],  # email: the original's
        "departments": [dict(employee_count=-1)],  # name: the original's
        "employments": [dict(salary=-5.0, hours_per_week=100.0)],  # same employee and start: overlap
        "job_requisitions": [dict(headcount=0, filled_positions=2), dict(filled_positions=-1)],
        "candidates": [dict(application_date=today + dt.timedelta(days=30))],
        "interviews": [dict(duration_minutes=1000)],
        "leave_requests": [dict(total_days=400.0)],
        "leave_balances": [dict(used=-1.0, pending=-1.0)],  # same employee, year and type
        "attendance": [dict(worked_hours=30.0)],  # same employee and day
    }
    made = {}  # entity -> ids of the copies and their original (a rule over two rows may name either)
    for name, copies in broken.items():
        spec = next(s for s in ENTITIES if s.name == name)
        original = _first_id(warehouse, name)
        made[name] = {f"{org.id}/{original}", *(f"{org.id}/broken-{i}" for i in range(len(copies)))}
        for i, changes in enumerate(copies):
            code = {spec.business_key: f"BROKEN-{i}"} if spec.business_key else {}
            _copy_row(warehouse, name, original, source_id=f"broken-{i}", **code, **changes)

    # a deleted copy of each: deleted rows break no rule (the business key and email are the original's)
    for spec in ENTITIES:
        _copy_row(warehouse, spec.name, _first_id(warehouse, spec.name), source_id="deleted-0", is_deleted=True)
    for spec in ENTITIES:
        rows, findings = quality.check(warehouse, spec, blocking=False)
        expected = quality.rule_names(spec, blocking=False)
        assert expected and set(findings) == set(expected), spec.name
        failing = {name: f for name, f in findings.items() if not f.success}
        assert set(failing) == set(expected), f"{spec.name}: rules that found nothing: {set(expected) - set(failing)}"
        for name, finding in failing.items():
            assert finding.error is None, (spec.name, name, finding.error)
            assert finding.examples and set(finding.examples) <= made[spec.name], (spec.name, name, finding)
            assert finding.unexpected <= 4, (spec.name, name, finding)  # the copies and their originals
        if spec.name == "employees":  # the copy and its original, not the deleted copy
            assert findings["expect_compound_columns_to_be_unique(['organization_id', 'email'])"].unexpected == 2
        blocking_rows, blocking = quality.check(warehouse, spec, blocking=True)
        assert blocking_rows == rows and all(f.success for f in blocking.values()), (spec.name, blocking)
