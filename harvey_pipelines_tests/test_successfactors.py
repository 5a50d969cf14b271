"""SAP SuccessFactors OData v2: the adapter against its mock over HTTP on loopback, into DuckDB
and PostgreSQL.

The truth is the mock's typed model (each worker's job and pay slices, each department's slices,
the leave records), not its answers: the employment rows the adapter rebuilt from EmpJob and
EmpCompensation, the departments in force today and the leave must equal it."""

from __future__ import annotations

import datetime as dt
import itertools
import logging

import pytest
import sqlalchemy as sa

from harvey_pipelines.mock_hrms.successfactors import Company, SuccessFactorsMock, holding
from harvey_pipelines.organizations import Organization
from harvey_pipelines.sources.http import RetryPolicy
from harvey_pipelines.sources.successfactors import employment_rows, odata_date, odata_instant
from harvey_pipelines.sync import SyncFailed, sync_entity
from harvey_pipelines.vendors import SuccessFactorsOptions
from harvey_pipelines.warehouse import schema
from harvey_pipelines_tests.helpers import sync_run_rows, truth_differences, warehouse_rows
from harvey_pipelines_tests.test_dbt_marts import _sync_and_build

ENTITIES = ("employees", "employments", "departments", "leave_requests")
RETRY = RetryPolicy(max_attempts=8, backoff_base=0.01, backoff_max=0.05)
CONTRACTS = {"regular": "permanent", "fixed": "fixed_term", "intern": "internship"}
# the mock tenant's time type codes and approval statuses, as the README's mapping table says
LEAVE_TYPES = {"TT_VAC_REC": "annual", "SICKNESS": "sick", "UNPAID": "unpaid", "MATERNITY": "maternity"}
LEAVE_STATUSES = {"APPROVED": "approved", "PENDING": "pending", "CANCELLED": "cancelled", "REJECTED": "rejected",
                  "PENDING_CANCELLATION": "approved"}
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def successfactors():
    with SuccessFactorsMock() as mock:
        yield mock


@pytest.fixture
def company(successfactors, monkeypatch):
    """A company in the mock and the Organization that syncs it (its password in the environment)."""
    number = next(_numbers)
    password = f"sf-password-{number}-7d2c"
    monkeypatch.setenv(f"HARVEY_TEST_SF_PASSWORD_{number}", password)
    made = successfactors.company(f"ACME{number:04d}", "harveyapi", password, size=24, seed=number)
    veteran = made.hire(dt.date(1968, 9, 1), amount=30000.0, title="Founder", department="OPS")  # before 1970
    made.raise_pay(veteran.user_id, dt.date(1999, 4, 1), 60000.0)
    made.org = Organization(id=f"sf{number}", name=f"sf{number}", hrms_type="successfactors", base_url=made.url,
                            credential_env=f"HARVEY_TEST_SF_PASSWORD_{number}", timezone="Europe/Berlin",
                            rate_limit_per_second=1000,
                            options={"username": "harveyapi", "company_id": made.id})
    return made


def sync_all(company: Company, warehouse, mode="incremental", **kw):
    return {name: sync_entity(company.org, name, warehouse, mode=mode, retry=RETRY, **kw) for name in ENTITIES}


def truth(company: Company) -> dict[str, dict[str, dict]]:
    def named(code: str) -> str:  # the department's name today, or its last one when it ended
        department = company.departments.get(code)
        if department is None:
            return code
        unit = company.department_today(department) or department.slices[-1]
        return unit.name

    employees, employments = {}, {}
    for w in company.workers.values():
        job = holding(w.jobs, company.today)
        employees[w.user_id] = dict(
            employee_id=w.user_id, first_name=w.first_name, last_name=w.last_name, email=w.email,
            department=named(job.department), job_title=job.title, manager_id=job.manager, hire_date=w.hire,
            termination_date=w.end, employment_status="active" if company.active(w) else "terminated")
        for start, end, job, pay in company.versions(w):
            employments[f"{w.user_id}:{start}"] = dict(
                employee_id=w.user_id, start_date=start, end_date=end, contract_type=CONTRACTS[job.contract],
                hours_per_week=job.hours, salary=pay.amount, salary_period="year", currency="EUR",
                job_title=job.title, department=named(job.department),
                manager_id=job.manager)
    departments = {}
    for department in company.departments.values():
        unit = company.department_today(department)
        if unit is not None and unit.status == "A":
            departments[department.code] = dict(department_id=department.code, name=unit.name, head_id=unit.head,
                                                head_name=None, employee_count=None, location=None)
    leave = {code: dict(leave_request_id=code, employee_id=item.user_id, leave_type=LEAVE_TYPES[item.time_type],
                        start_date=item.start, end_date=item.end,
                        total_days=None if item.hours_only else float((item.end - item.start).days + 1),
                        status=LEAVE_STATUSES[item.status])
             for code, item in company.leaves.items() if item.record_type == "ABSENCE"}
    return {"employees": employees, "employments": employments, "departments": departments, "leave_requests": leave}


def differences(company: Company, warehouse, entities=ENTITIES) -> dict[str, list[str]]:
    expected = truth(company)
    return truth_differences({name: expected[name] for name in entities}, warehouse, company.org.id, "SuccessFactors")




# -- the /Date(...)/ parser ------------------------------------------------------------------
@pytest.mark.parametrize("sent, instant", [
    ("/Date(1587072082000+0000)/", dt.datetime(2020, 4, 16, 21, 21, 22, tzinfo=dt.timezone.utc)),
    ("/Date(1587072082000)/", dt.datetime(2020, 4, 16, 21, 21, 22, tzinfo=dt.timezone.utc)),
    ("/Date(-86400000)/", dt.datetime(1969, 12, 31, tzinfo=dt.timezone.utc)),
    ("/Date(0)/", dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)),
    ("/Date(1587072082000-0300)/", dt.datetime(2020, 4, 16, 21, 21, 22, tzinfo=dt.timezone.utc)),
])
def test_odata_dates_are_instants_in_utc(sent, instant):
    assert odata_instant(sent) == instant


def test_odata_dates_open_end_and_rubbish():
    assert odata_date("/Date(1668384000000)/") == dt.date(2022, 11, 14)
    assert odata_date("/Date(-2208988800000)/") == dt.date(1900, 1, 1)
    assert odata_date("/Date(253402214400000)/") is None  # 9999-12-31: a slice without end
    for rubbish in (None, "", "2022-11-14", "/Date()/", "/Date(12a)/", 1668384000000):
        assert odata_instant(rubbish) is None and odata_date(rubbish) is None


def test_history_becomes_maximal_intervals_and_ends_on_the_termination():
    def day(text):
        return f"/Date({int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp() * 1000)})/"

    stamp = "/Date(1600000000000+0000)/"
    labels = {"1": {"optionId": "1", "externalCode": "A", "label": "Active"},
              "3": {"optionId": "3", "externalCode": "T", "label": "Terminated"},
              "9": {"optionId": "9", "externalCode": "regular", "label": "Regular"}}
    job = {"jobTitle": "Analyst", "standardHours": "40.0", "emplStatus": "1", "contractType": "9",
           "seqNumber": "1", "lastModifiedDateTime": stamp}
    jobs = [{**job, "startDate": day("2020-01-01")},
            {**job, "startDate": day("2021-01-01"), "seqNumber": "1"},  # same terms: no new row
            {**job, "startDate": day("2021-01-01"), "seqNumber": "2", "jobTitle": "Lead"},  # the day's last event
            {**job, "startDate": day("2023-07-01"), "emplStatus": "3"}]
    pays = [{"startDate": day("2020-01-01"), "lastModifiedDateTime": stamp,
             "empPayCompRecurringNav": {"results": [{"paycompvalue": "50000.00", "currencyCode": "EUR",
                                                     "frequency": "ANN"}]}},
            {"startDate": day("2022-04-01"), "lastModifiedDateTime": "/Date(1700000000000+0000)/",
             "empPayCompRecurringNav": {"results": [{"paycompvalue": "50000.00", "currencyCode": "EUR",
                                                     "frequency": "ANN"}]}}]  # same pay: merged
    rows = employment_rows("u1", {"endDate": day("2023-06-30")}, jobs, pays, labels)
    assert [(r["id"], r["startDate"], r["endDate"], r["job"]["jobTitle"]) for r in rows] == [
        ("u1:2020-01-01", "2020-01-01", "2020-12-31", "Analyst"), ("u1:2021-01-01", "2021-01-01", "2023-06-30", "Lead")]
    assert rows[0]["job"]["contractType"]["label"] == "Regular"
    assert rows[1]["lastModifiedDateTime"] == dt.datetime.fromtimestamp(1700000000, dt.timezone.utc).isoformat()


# -- syncs -----------------------------------------------------------------------------
def test_a_full_sync_equals_successfactors_with_every_history_row_and_a_second_writes_nothing(
        successfactors, company, warehouse):
    successfactors.calls.clear()
    first = sync_all(company, warehouse, mode="full")
    for name, result in first.items():
        assert result.status == "success" and result.inserted > 0 and result.quarantined == 0, (name, result)
    assert differences(company, warehouse) == {}
    rows = warehouse_rows(warehouse, company.org.id, "employments")
    assert len(rows) > 2 * len(company.workers), "the history, not today's slice"
    assert any(r["start_date"] > company.today for r in rows.values()), "rows dated ahead are kept"
    assert any(r["start_date"] < dt.date(1970, 1, 1) for r in rows.values()), "negative /Date(ms)/"
    terminated = [w for w in company.workers.values() if w.end is not None]
    assert terminated, "the mock has terminations"
    assert not any("$skip=" in call or "$top=" in call for call in successfactors.calls)
    assert all("paging=snapshot" in call or "%24skiptoken" in call or "$skiptoken" in call
               for call in successfactors.calls)

    again = sync_all(company, warehouse, mode="full")
    for name, result in again.items():
        assert (result.inserted, result.updated, result.deleted) == (0, 0, 0), (name, result)
    assert company.org.credential() not in sync_run_rows(warehouse, company.org.id)


def test_an_incremental_picks_up_exactly_the_changes(successfactors, company, warehouse):
    """A backdated correction, a raise dated ahead, a title change and a termination: the rows
    they change, no other; and only changed employees' histories are read again."""
    sync_all(company, warehouse)
    before = truth(company)
    today = company.today
    settled = sorted((w for w in company.workers.values() if w.end is None and w.hire < today - dt.timedelta(400)
                      and all(s.start < today - dt.timedelta(40) for s in (*w.jobs, *w.pays))),
                     key=lambda w: w.user_id)
    raised, corrected, promoted, leaving = settled[:4]
    company.raise_pay(raised.user_id, today + dt.timedelta(20), holding(raised.pays, today).amount + 3000)
    newest = corrected.pays[-1]  # a backdated correction of the pay of its current row
    company.raise_pay(corrected.user_id, newest.start, newest.amount + 1)
    company.change_job(promoted.user_id, today - dt.timedelta(5), title="Head of Everything")
    company.terminate(leaving.user_id, today - dt.timedelta(1))
    after = truth(company)

    successfactors.calls.clear()
    again = sync_all(company, warehouse)
    for name in ENTITIES:
        new = set(after[name]) - set(before[name])
        gone = set(before[name]) - set(after[name])
        changed = {i for i in set(after[name]) & set(before[name]) if after[name][i] != before[name][i]}
        result = again[name]
        assert (result.inserted, result.updated, result.deleted) == (len(new), len(changed), len(gone)), (
            name, result, new, changed, gone)
    assert again["employees"].updated == 2  # the promotion and the termination (the raise is ahead)
    assert differences(company, warehouse) == {}
    rows = warehouse_rows(warehouse, company.org.id, "employments")
    ahead = rows[f"{raised.user_id}:{today + dt.timedelta(20)}"]
    assert ahead["salary"] == holding(raised.pays, today).amount + 3000
    people = warehouse_rows(warehouse, company.org.id, "employees")
    assert people[leaving.user_id]["employment_status"] == "terminated"
    assert people[leaving.user_id]["termination_date"] == today - dt.timedelta(1)
    # full histories were read only for the changed users
    history_reads = [c for c in successfactors.calls if c.startswith("/odata/v2/EmpCompensation")
                     and "userId+in" in c]
    assert history_reads and all(raised.user_id in c or corrected.user_id in c or leaving.user_id in c
                                 or promoted.user_id in c for c in history_reads)


def test_a_raise_dated_ahead_becomes_current_when_its_day_arrives(company, warehouse):
    sync_all(company, warehouse)
    worker = min((w for w in company.workers.values() if w.end is None), key=lambda w: w.user_id)
    company.change_job(worker.user_id, company.today + dt.timedelta(3), title="Principal",
                       modified=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))  # entered long ago
    sync_all(company, warehouse, mode="full")
    assert warehouse_rows(warehouse, company.org.id, "employees")[worker.user_id]["job_title"] != "Principal"
    company.advance(5)  # no change stamp moves: the row's day arrives
    again = sync_all(company, warehouse)
    assert again["employees"].updated >= 1
    assert warehouse_rows(warehouse, company.org.id, "employees")[worker.user_id]["job_title"] == "Principal"
    assert differences(company, warehouse) == {}


def test_manager_changes_of_the_job_history_are_timeline_events_on_their_dates(company, warehouse, tmp_path):
    """EmpJob.managerId per slice: employments carry the manager, and the timeline dates a
    change by the slice's start (one dated ahead too), not by when Harvey saw it."""
    today = company.today
    moved, ahead = today - dt.timedelta(100), today + dt.timedelta(7)
    active = sorted((w for w in company.workers.values() if w.end is None), key=lambda w: w.user_id)
    worker = next(w for w in active if all(s.start < moved for s in (*w.jobs, *w.pays)))
    first, second = [w for w in active if w is not worker][:2]
    company.change_job(worker.user_id, moved, manager=first.user_id)
    company.change_job(worker.user_id, ahead, manager=second.user_id)

    events = _sync_and_build(company.org, warehouse, tmp_path, as_of=today)
    assert differences(company, warehouse, ("employees", "employments")) == {}, \
        "employments and the employee carry the manager"
    changes = sorted((e["employee_id"], e["effective_date"], e["date_source"], e["description"], e["after_value"],
                      e["source_id"]) for e in events.values() if e["event_type"] == "manager_change")
    name = {w.user_id: f"{w.first_name} {w.last_name}" for w in (first, second)}
    assert changes == [
        (worker.user_id, moved, "effective_date", f"no manager → {name[first.user_id]}", first.user_id,
         f"{worker.user_id}:{moved}"),
        (worker.user_id, ahead, "effective_date", f"{name[first.user_id]} → {name[second.user_id]}", second.user_id,
         f"{worker.user_id}:{ahead}")]


def test_rate_limits_faults_and_changes_while_paging_lose_nothing(successfactors, company, warehouse, monkeypatch):
    from harvey_pipelines.sources.successfactors import SuccessFactorsAdapter

    monkeypatch.setattr(SuccessFactorsAdapter, "page_size", 5)  # several pages
    monkeypatch.setattr(SuccessFactorsAdapter, "ids_per_request", 4)
    monkeypatch.setattr(successfactors, "rate_limit", 8)  # 429 with Retry-After
    successfactors.fail_next(2, 503)
    first = min(company.workers)
    listed = set(company.workers)
    successfactors.during_paging(lambda: company.terminate(first, company.today - dt.timedelta(2)))
    successfactors.during_paging(lambda: company.hire(company.today - dt.timedelta(30)))
    results = sync_all(company, warehouse, mode="full")
    assert sum(r.retries for r in results.values()) >= 3
    assert not any("$skip=" in call for call in successfactors.calls)
    assert listed <= set(warehouse_rows(warehouse, company.org.id, "employees")), "nobody skipped while paging"
    employments = warehouse_rows(warehouse, company.org.id, "employments")
    assert listed <= {r["employee_id"] for r in employments.values()}
    monkeypatch.setattr(successfactors, "rate_limit", 10_000)
    sync_all(company, warehouse)  # what changed during the walk is after its start: met now
    assert differences(company, warehouse) == {}


def test_a_wrong_password_fails_at_once_and_never_shows_it(company, warehouse, monkeypatch, caplog, capfd):
    wrong = "wrong-sf-password-3a9f"
    monkeypatch.setenv(company.org.credential_env, wrong)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SyncFailed) as failed:
        sync_entity(company.org, "employees", warehouse, retry=RETRY)
    result = failed.value.result
    assert result.failure_kind == "credential" and result.api_calls == 1 and result.retries == 0
    assert "refused the credential" in result.error and company.org.credential_env in result.error
    seen = str(failed.value) + result.error + caplog.text + "".join(capfd.readouterr()) + sync_run_rows(
        warehouse, company.org.id)
    assert wrong not in seen and company.password not in seen


def test_an_entity_successfactors_does_not_serve_fails_clearly(company, warehouse):
    with pytest.raises(SyncFailed) as failed:
        sync_entity(company.org, "attendance", warehouse, retry=RETRY)
    result = failed.value.result
    assert result.failure_kind == "configuration" and result.api_calls == 0
    assert ("successfactors serves no attendance (it serves employees, employments, departments, leave_requests)"
            in result.error)


# -- departments and leave ----------------------------------------------------------------
def absences(company: Company, status: str) -> list[str]:
    return sorted(c for c, item in company.leaves.items() if item.status == status and item.record_type == "ABSENCE")


def test_departments_are_today_s_slices_and_ended_or_inactive_ones_are_not_live(company, warehouse):
    sync_all(company, warehouse, mode="full")
    departments = warehouse_rows(warehouse, company.org.id, "departments")
    assert departments["FIN"]["name"] == "Finance & Controlling", "the slice in force today, not the first"
    assert not {"LEGAL", "PMO", "LAB"} & set(departments), "inactive, ended and not yet begun: no department"
    assert departments["ENG"]["head_id"] in company.workers
    assert differences(company, warehouse, ("departments",)) == {}


def test_leave_and_department_changes_are_picked_up_exactly(successfactors, company, warehouse):
    """An approval, a cancellation, a new request, a rename from a past day, a rename dated ahead,
    a department closed and one made active again: the records they change, no other."""
    sync_all(company, warehouse)
    today = company.today
    pending, approved = absences(company, "PENDING"), absences(company, "APPROVED")
    company.decide_leave(pending[0], "APPROVED")
    company.decide_leave(approved[0], "CANCELLED")
    worker = min(company.workers)
    new = company.request_leave(worker, today + dt.timedelta(10), today + dt.timedelta(12), "SICKNESS",
                                hours_only=True)
    company.reorganize("ENG", today - dt.timedelta(2), name="Software Engineering")
    company.reorganize("HR", today + dt.timedelta(3), name="People & Culture")  # ahead: not yet
    company.close_department("PMO", dt.date(2023, 12, 31))  # already ended: no change to see
    company.close_department("OPS", today - dt.timedelta(1))
    company.reorganize("LEGAL", today - dt.timedelta(1), status="A")

    successfactors.calls.clear()
    again = sync_all(company, warehouse)
    counts = {name: (again[name].inserted, again[name].updated, again[name].deleted)
              for name in ("departments", "leave_requests")}
    assert counts == {"departments": (1, 1, 1), "leave_requests": (1, 2, 0)}, counts
    assert differences(company, warehouse) == {}
    leave_reads = [c for c in successfactors.calls if c.startswith("/odata/v2/EmployeeTime")]
    assert leave_reads and all("lastModifiedDateTime" in c for c in leave_reads[:1])
    rows = warehouse_rows(warehouse, company.org.id, "leave_requests")
    assert rows[new.code]["total_days"] is None and rows[new.code]["leave_type"] == "sick"
    engineers = [w.user_id for w in company.workers.values() if holding(w.jobs, today).department == "ENG"]
    assert engineers and again["employees"].updated >= len(engineers), "the rename renames their department"
    people = warehouse_rows(warehouse, company.org.id, "employees")
    assert {people[u]["department"] for u in engineers} == {"Software Engineering"}
    gone = warehouse_rows(warehouse, company.org.id, "departments", include_deleted=True)
    assert "OPS" in gone and "OPS" not in warehouse_rows(warehouse, company.org.id, "departments")

    company.advance(5)  # the rename dated ahead takes effect, no stamp moves
    company.departments["OPS"].end = None  # reopened: live again
    company.reorganize("OPS", company.today, name="Operations & Facilities")
    later = sync_all(company, warehouse)
    assert (later["departments"].inserted, later["departments"].updated, later["departments"].deleted) == (0, 2, 0)
    assert warehouse_rows(warehouse, company.org.id, "departments")["HR"]["name"] == "People & Culture"
    assert differences(company, warehouse) == {}


def test_leave_faults_and_changes_while_paging_lose_nothing(successfactors, company, warehouse, monkeypatch):
    from harvey_pipelines.sources.successfactors import SuccessFactorsAdapter

    monkeypatch.setattr(SuccessFactorsAdapter, "page_size", 3)
    monkeypatch.setattr(successfactors, "rate_limit", 6)  # 429 with Retry-After
    listed = {c for c, item in company.leaves.items() if item.record_type == "ABSENCE"}
    pending = absences(company, "PENDING")
    successfactors.fail_next(2, 502)
    successfactors.during_paging(lambda: company.decide_leave(pending[0], "REJECTED"))
    successfactors.during_paging(lambda: company.request_leave(min(company.workers), company.today,
                                                               company.today, "UNPAID"))
    successfactors.during_paging(lambda: company.reorganize("FIN", company.today, name="Treasury"))
    results = {name: sync_entity(company.org, name, warehouse, mode="full", retry=RETRY)
               for name in ("leave_requests", "departments")}
    assert sum(r.retries for r in results.values()) >= 2
    assert listed <= set(warehouse_rows(warehouse, company.org.id, "leave_requests")), "nobody skipped while paging"
    monkeypatch.setattr(successfactors, "rate_limit", 10_000)
    for name in ("leave_requests", "departments"):
        sync_entity(company.org, name, warehouse, retry=RETRY)
    assert differences(company, warehouse, ("leave_requests", "departments")) == {}


def test_an_unmapped_time_type_is_quarantined_naming_it_until_the_options_map_it(company, warehouse):
    odd = company.request_leave(min(company.workers), company.today, company.today, "TT_TRAINING")
    unknown = company.request_leave(min(company.workers), company.today, company.today, status="ESCALATED")
    result = sync_entity(company.org, "leave_requests", warehouse, mode="full", retry=RETRY)
    assert result.quarantined == 2
    q = schema.quarantine
    with warehouse.writer() as conn:
        reasons = dict(conn.execute(sa.select(q.c.source_id, q.c.reason).where(
            q.c.organization_id == company.org.id)).all())
    assert set(reasons) == {odd.code, unknown.code}
    assert "'TT_TRAINING'" in reasons[odd.code] and "time_types" in reasons[odd.code]
    assert "'ESCALATED'" in reasons[unknown.code]
    assert odd.code not in warehouse_rows(warehouse, company.org.id, "leave_requests")

    company.org = company.org.model_copy(update={"options": {**company.org.options,
                                                             "time_types": {"tt_training": "casual"}}})
    sync_entity(company.org, "leave_requests", warehouse, mode="full", retry=RETRY)
    assert warehouse_rows(warehouse, company.org.id, "leave_requests")[odd.code]["leave_type"] == "casual"


def test_time_type_options_name_a_leave_type():
    options = SuccessFactorsOptions(username="u", company_id="c", time_types={"TT_TRAINING": "casual",
                                                                             "sickness": "unpaid"})
    assert options.leave_type("tt_training") == "casual" and options.leave_type("SICKNESS") == "unpaid"
    assert options.leave_type("TT_VAC_REC") == "annual" and options.leave_type("NOPE") is None
    with pytest.raises(ValueError, match="holiday"):
        SuccessFactorsOptions(username="u", company_id="c", time_types={"TT_X": "holiday"})
