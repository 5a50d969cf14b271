"""The BambooHR adapter against the BambooHR mock over HTTP on loopback, into DuckDB and PostgreSQL.

The truth is the mock's typed model (employment versions, leave requests), not its answers: what
the adapter rebuilt from BambooHR's strings and tables must equal it."""

from __future__ import annotations

import datetime as dt
import itertools
import logging

import httpx
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from harvey_pipelines.cli import main
from harvey_pipelines.mock_hrms.bamboohr import TIME_OFF_TYPES, BambooHrMock, Company
from harvey_pipelines.organizations import Organization, OrganizationRegistry, System
from harvey_pipelines.records import Employment, LeaveRequest
from harvey_pipelines.sources.bamboohr import (
    BambooHrAdapter,
    date,
    employment_versions,
    money,
    number,
)
from harvey_pipelines.sources.http import RetryPolicy, Secret
from harvey_pipelines.sync import SyncFailed, sync_entity
from harvey_pipelines.warehouse import schema
from harvey_pipelines_tests.helpers import sync_run_rows, truth_differences, warehouse_rows

ENTITIES = ("employees", "departments", "employments", "leave_requests", "leave_balances")
RETRY = RetryPolicy(max_attempts=8, backoff_base=0.01, backoff_max=0.05)
ZONE = "America/Denver"
WORK_TYPES = {"Full-Time": "full_time", "Part-Time": "part_time", "Contractor": "contract", "Intern": "intern"}
CONTRACT_TYPES = {"Contractor": "freelance", "Intern": "internship"}
LEAVE_TYPES = {"Vacation": "annual", "Sick": "sick", "Personal": "casual"}
LEAVE_STATUSES = {"approved": "approved", "requested": "pending", "denied": "rejected", "canceled": "cancelled",
                  "superceded": "cancelled"}
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def bamboohr():
    with BambooHrMock() as mock:
        yield mock


@pytest.fixture
def company(bamboohr, monkeypatch):
    """A company in the mock and the Organization that syncs it (its key in the environment)."""
    number_ = next(_numbers)
    key = f"bhr-api-key-{number_}-5f2c9a"
    domain = f"company{number_}"
    monkeypatch.setenv(f"HARVEY_TEST_BAMBOOHR_KEY_{number_}", key)
    made = bamboohr.company(domain, key, size=30, seed=number_, timezone=ZONE)
    made.org = Organization(id=domain, name=domain, hrms_type="bamboohr", base_url=bamboohr.base_url(domain),
                            credential_env=f"HARVEY_TEST_BAMBOOHR_KEY_{number_}", timezone=ZONE,
                            options={"custom_fields": {"salary_band": "4001"}})
    return made


def with_options(org: Organization, **options) -> Organization:
    return Organization.model_validate({**org.model_dump(), "options": options})


def sync_all(company: Company, warehouse, mode="incremental", **kw):
    return {name: sync_entity(company.org, name, warehouse, mode=mode, retry=RETRY, **kw) for name in ENTITIES}


# -- the truth, from the mock's typed model ---------------------------------------------
def truth(company: Company) -> dict[str, dict[str, dict]]:
    today, zone = company.today, company.zone
    employees, employments, departments, requests, balances = {}, {}, {}, {}, {}
    for e in company.employees.values():
        current = e.current(today)
        terminated = e.termination is not None and e.termination <= today
        employees[e.id] = dict(
            employee_id=e.number, first_name=e.first_name, last_name=e.last_name, email=e.email,
            phone=e.phone or None, department=current.department, job_title=current.job_title,
            manager_id=e.supervisor_id, hire_date=e.hire_date,
            employment_status="terminated" if terminated else "active", location=current.location,
            work_type=None if terminated else WORK_TYPES[current.status], salary_band=e.salary_band,
            salary=current.salary, currency=current.currency, termination_date=e.termination, created_at=None,
            updated_at=e.last_changed)
        for n, v in enumerate(e.versions):
            following = e.versions[n + 1].start - dt.timedelta(1) if n + 1 < len(e.versions) else e.termination
            employments[f"{e.id}:{v.start}"] = dict(
                employee_id=e.id, start_date=v.start, end_date=following,
                contract_type=CONTRACT_TYPES.get(v.status), hours_per_week=None, salary=v.salary,
                salary_period=v.paid_per.lower(), currency=v.currency, job_title=v.job_title,
                department=v.department)
            departments[v.department] = dict(department_id=v.department, name=v.department, head_id=None,
                                             employee_count=None)
        end = dt.date(today.year, 12, 31)
        for row in company.calculator(e, end):
            balances[f"{e.id}:{today.year}:{row['timeOffType']}"] = dict(
                employee_id=e.id, year=today.year, leave_type=LEAVE_TYPES[row["name"]], total_allocated=None,
                used=float(row["usedYearToDate"]), pending=None, available=float(row["balance"]))
    for r in company.requests.values():
        e = company.employees[r.employee_id]
        requests[r.id] = dict(
            leave_request_id=r.id, employee_id=r.employee_id, employee_name=f"{e.first_name} {e.last_name}",
            leave_type=LEAVE_TYPES[TIME_OFF_TYPES[r.type_id][0]], start_date=r.start, end_date=r.end,
            total_days=float(len(r.days)), status=LEAVE_STATUSES[r.status], applied_date=r.created,
            approved_by=None, approved_at=None, reason=r.note or None,
            updated_at=dt.datetime.combine(r.last_changed, dt.time(), zone))
    return {"employees": employees, "employments": employments, "departments": departments,
            "leave_requests": requests, "leave_balances": balances}


def differences(company: Company, warehouse, entities=ENTITIES, deleted_employee: str | None = None
                ) -> dict[str, list[str]]:
    """Per entity, what differs; ``deleted_employee``: the rows of one deleted at the source are
    left out (an incremental sync cannot see a hard delete of leave; the reconcile flags them)."""
    expected = truth(company)
    return truth_differences({name: expected[name] for name in entities}, warehouse, company.org.id, "BambooHR",
                             keep=lambda row: deleted_employee is None or row.get("employee_id") != deleted_employee)




# -- syncs -----------------------------------------------------------------------------
def test_a_full_sync_equals_bamboohr_and_a_second_changes_nothing(company, warehouse):
    first = sync_all(company, warehouse)
    for name, result in first.items():
        assert result.status == "success" and result.inserted > 0 and result.quarantined == 0, (name, result)
    assert differences(company, warehouse) == {}
    # the report, the three tables and the time-off windows: a handful of calls, not one per employee
    assert first["employees"].api_calls == 2 and first["employments"].api_calls == 3

    again = sync_all(company, warehouse)
    for name, result in again.items():
        assert (result.inserted, result.updated, result.deleted) == (0, 0, 0), (name, result)
    assert company.org.credential() not in sync_run_rows(warehouse, company.org.id)


def test_an_incremental_sync_picks_up_exactly_the_changes(company, warehouse):
    sync_all(company, warehouse)
    ids = sorted(company.employees, key=int)
    raised, ahead, leaving, renamed, gone = ids[1], ids[2], ids[3], ids[4], ids[5]
    today = company.today
    company.add_version(raised, today - dt.timedelta(1), salary=199_000.0)  # back-dated
    company.add_version(ahead, today + dt.timedelta(2), job_title="Head of Things")  # takes effect later
    company.terminate(leaving, today)
    company.update_employee(renamed, email="moved@example.com")
    hired = company.hire("New", "Hire", company.employees[ids[0]].versions[-1].__class__(
        today, "Engineer", "Engineering", "Remote", 90_000.0, "USD", "Year", "Full-Time"))
    company.delete_employee(gone)
    # a status change of leave taken weeks ago (within the lookback): no change feed says so
    past = next(r for r in company.requests.values() if r.status == "requested" and r.employee_id != gone
                and today - dt.timedelta(BambooHrAdapter.LOOKBACK_DAYS - 30) < r.end < today - dt.timedelta(5))
    company.set_leave_status(past.id, "approved")

    again = sync_all(company, warehouse, overlap=dt.timedelta(0))
    employees = again["employees"]
    assert (employees.inserted, employees.updated, employees.deleted) == (1, 4, 1), employees
    # the feed's `Deleted` is flagged by this sync, in the run's counts
    runs = schema.sync_runs
    with warehouse.writer() as conn:
        assert conn.execute(sa.select(runs.c.deleted).where(runs.c.id == employees.sync_run_id)).scalar_one() == 1
    # the changed employees' versions, the new hire's, and the deleted employee's flagged
    employments = again["employments"]
    assert employments.inserted == 3 and employments.deleted == len(
        [r for r in warehouse_rows(warehouse, company.org.id, "employments", include_deleted=True)
         if r.startswith(f"{gone}:")])
    assert again["leave_requests"].updated >= 1
    assert again["leave_balances"].api_calls < 10  # only employees whose leave changed
    assert differences(company, warehouse, deleted_employee=gone) == {}
    alive = warehouse_rows(warehouse, company.org.id, "employees")
    assert gone not in alive and gone in warehouse_rows(warehouse, company.org.id, "employees", include_deleted=True)
    assert hired.id in alive
    assert alive[leaving]["employment_status"] == "terminated" and alive[leaving]["termination_date"] == today

    # the days pass: future-dated rows (this one and the generated raises) take effect, no feed entry
    before = truth(company)["employees"]
    company.advance(days=3)
    after = truth(company)["employees"]
    taking_effect = {i for i in after if after[i] != before[i]}
    assert ahead in taking_effect and len(taking_effect) > 1
    later = sync_all(company, warehouse, overlap=dt.timedelta(0))
    assert later["employees"].inserted + later["employees"].updated == len(taking_effect)
    assert later["employments"].inserted + later["employments"].updated == 0

    # a reconcile flags the deleted employee's leave (no feed names it); the employee was flagged already
    reconcile = sync_all(company, warehouse, mode="reconcile")
    assert reconcile["employees"].deleted == 0 and reconcile["leave_requests"].deleted > 0
    assert differences(company, warehouse) == {}


def test_rate_limits_and_an_outage_lose_nothing(company, warehouse):
    company.faults.rate_limit_every = 3

    def outage(company_, path):
        if len(company_.calls) == 4:
            company_.faults.outage_calls = 2  # 503 without Retry-After, then back

    company.on_call = outage
    results = sync_all(company, warehouse)
    assert sum(r.retries for r in results.values()) >= 5
    assert differences(company, warehouse) == {}


def test_records_changing_during_a_sync_are_not_lost(company, warehouse):
    sync_all(company, warehouse)
    victim = sorted(company.employees, key=int)[6]
    other = sorted(company.employees, key=int)[7]

    def change_while_reading(company_, path):
        # between the jobInfo feed and the compensation one: one employee's job, then another's pay
        if path == "/employees/changed/tables/jobInfo" and company_.on_call is not None:
            company_.on_call = None
            company_.add_version(victim, company_.today, job_title="Changed Mid-Sync")
            company_.add_version(other, company_.today, salary=123_456.0)

    company.add_version(other, company.today - dt.timedelta(3), salary=100_001.0)
    company.on_call = change_while_reading
    sync_entity(company.org, "employments", warehouse, retry=RETRY, overlap=dt.timedelta(0))
    sync_entity(company.org, "employments", warehouse, retry=RETRY, overlap=dt.timedelta(0))
    assert differences(company, warehouse, ["employments"]) == {}


def test_a_wrong_api_key_fails_at_once_and_never_shows_it(company, warehouse, monkeypatch, caplog, capfd):
    wrong = "wrong-bhr-key-7d1e44"
    monkeypatch.setenv(company.org.credential_env, wrong)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SyncFailed) as failed:
        sync_entity(company.org, "employees", warehouse, retry=RETRY)
    result = failed.value.result
    assert result.failure_kind == "credential" and result.api_calls == 1 and result.retries == 0
    assert "refused the credential" in result.error and company.org.credential_env in result.error
    seen = str(failed.value) + result.error + caplog.text + "".join(capfd.readouterr()) + sync_run_rows(
        warehouse, company.org.id)
    assert wrong not in seen and company.api_key not in seen


def test_the_mock_answers_xml_without_accept_json_and_strings_only(company):
    auth = (company.api_key, "x")
    with httpx.Client(base_url=company.org.base_url, auth=auth) as client:
        xml = client.get("/employees/changed/tables/jobInfo", params={"since": "1970-01-01T00:00:00+00:00"})
        assert xml.headers["content-type"].startswith("text/xml") and xml.text.startswith("<response>")
        report = client.post("/reports/custom", params={"format": "JSON"}, headers={"Accept": "application/json"},
                             json={"fields": ["hireDate", "terminationDate", "4001"]}).json()
    values = [v for row in report["employees"] for v in row.values()]
    assert all(isinstance(v, str) for v in values) and "0000-00-00" in values


def test_a_custom_field_the_company_lacks_fails_clearly(company, warehouse):
    org = with_options(company.org, custom_fields={"salary_band": "customShoeSize"})
    with pytest.raises(SyncFailed) as failed:
        sync_entity(org, "employees", warehouse, retry=RETRY)
    result = failed.value.result
    assert result.failure_kind == "configuration"
    assert "customShoeSize" in result.error and "custom_fields option" in result.error


def test_two_companies_with_different_custom_field_ids_each_get_their_own(bamboohr, company, warehouse, monkeypatch):
    # the other company keeps its salary band in field 4107 (custom field ids are per company)
    domain = f"other{next(_numbers)}"
    monkeypatch.setenv("HARVEY_TEST_BAMBOOHR_KEY_OTHER", "bhr-api-key-other-77a1")
    other = bamboohr.company(domain, "bhr-api-key-other-77a1", size=12, seed=99, timezone=ZONE,
                             salary_band_field_id="4107")
    other.org = Organization(id=domain, name=domain, hrms_type="bamboohr", base_url=bamboohr.base_url(domain),
                             credential_env="HARVEY_TEST_BAMBOOHR_KEY_OTHER", timezone=ZONE,
                             options={"custom_fields": {"salary_band": "customField4107"}})
    for made in (company, other):
        sync_entity(made.org, "employees", warehouse, retry=RETRY)
        bands = {i: row["salary_band"] for i, row in warehouse_rows(warehouse, made.org.id, "employees").items()}
        assert bands == {i: e.salary_band for i, e in made.employees.items()} and None not in bands.values()
    # the first company's mapping names no field of the other one's
    with pytest.raises(SyncFailed, match="4001"):
        sync_entity(with_options(other.org, custom_fields={"salary_band": "4001"}), "employees", warehouse,
                    retry=RETRY, mode="full")


# -- the mapping, without a server ------------------------------------------------------
@pytest.mark.fast
def test_strings_parse_to_types_and_empty_dates_to_none():
    assert date("0000-00-00") is None and date("") is None and date("2026-11-02") == dt.date(2026, 11, 2)
    assert date("31/12/2026") == "31/12/2026"  # left for validation to quarantine with its reason
    assert number("85,000.50") == 85000.5 and number("") is None
    assert money("85000.00 USD") == (85000.0, "USD") and money("") == (None, None)


@pytest.mark.fast
def test_effective_dated_rows_become_versions_ending_the_day_before_the_next_or_on_termination():
    rows = {
        "jobInfo": [{"date": "2024-01-01", "jobTitle": "Engineer", "department": "R&D"},
                    {"date": "2026-12-01", "jobTitle": "Lead", "department": "R&D"}],  # future-dated
        "compensation": [{"startDate": "2024-01-01", "rate": {"value": "50000.00", "currency": "EUR"},
                          "paidPer": "Year"},
                         {"startDate": "2025-03-01", "rate": {"value": "0000.00", "currency": "EUR"},
                          "paidPer": "Year"}],
        "employmentStatus": [{"date": "2024-01-01", "employmentStatus": "Contractor"},
                             {"date": "2027-01-31", "employmentStatus": "Terminated"},
                             {"date": "0000-00-00", "employmentStatus": "Full-Time"}],  # no date: ignored
    }
    versions = employment_versions("7", rows, "2026-11-02T09:00:00+00:00")
    assert [(v["start"], v["end"]) for v in versions] == [
        ("2024-01-01", "2025-02-28"), ("2025-03-01", "2026-11-30"), ("2026-12-01", "2027-01-31")]
    adapter = BambooHrAdapter(Organization(id="x", name="x", hrms_type="bamboohr", base_url="http://h/v1",
                                           credential_env="X"), Secret("k"))
    last = Employment.model_validate(adapter.to_canonical("employments", versions[-1]))
    assert (last.job_title, last.salary, last.currency, last.salary_period, last.contract_type) == (
        "Lead", 0.0, "EUR", "year", "freelance")
    assert last.hours_per_week is None  # BambooHR has none: absent, not invented


@pytest.mark.fast
def test_a_leave_request_maps_statuses_types_and_hours_as_absent_days():
    adapter = BambooHrAdapter(Organization(id="x", name="x", hrms_type="bamboohr", base_url="http://h/v1",
                                           credential_env="X", timezone=ZONE), Secret("k"))
    payload = {"id": "9", "employeeId": "101", "name": "A B", "start": "2026-11-03", "end": "2026-11-04",
               "created": "2026-10-01", "type": {"id": "78", "name": "Vacation"},
               "status": {"status": "superceded", "lastChanged": "2026-10-02", "lastChangedByUserId": "2369"},
               "amount": {"unit": "hours", "amount": "16"}, "notes": {"employee": "", "manager": "ok"}}
    record = LeaveRequest.model_validate(adapter.to_canonical("leave_requests", payload))
    assert (record.status, record.leave_type, record.total_days, record.reason) == ("cancelled", "annual", None, None)
    assert record.updated_at.isoformat() == "2026-10-02T00:00:00-06:00"
    assert record.approved_by is None  # lastChangedByUserId is a user, not an employee
    with pytest.raises(ValidationError, match="leave_type"):  # an unmapped type is quarantined, named
        LeaveRequest.model_validate(adapter.to_canonical("leave_requests", {**payload, "type": {"name": "Jury"}}))


@pytest.mark.fast
def test_custom_fields_are_an_option_of_the_bamboohr_system_validated_by_the_registry():
    entry = dict(id="x", name="x", hrms_type="bamboohr", base_url="http://h/v1", credential_env="X")
    org = Organization(**entry, options={"custom_fields": {"salary_band": " 4001 ", "location": "customOffice"}})
    assert BambooHrAdapter(org, Secret("k")).custom_fields == {"salary_band": "4001", "location": "customOffice"}
    assert BambooHrAdapter(Organization(**entry), Secret("k")).custom_fields == {}
    with pytest.raises(ValidationError, match="shoe_size: '4002': map an employee field"):
        Organization(**entry, options={"custom_fields": {"shoe_size": "4002"}})
    with pytest.raises(ValidationError, match="options of a custom system: colour: Extra inputs"):
        Organization(**{**entry, "hrms_type": "custom"}, options={"colour": "red"})
    # a BambooHR system of an organization whose main system is another takes its own options
    hr = Organization(**{**entry, "hrms_type": "custom"}, systems={"people": System(
        hrms_type="bamboohr", base_url="http://b/v1", credential_env="B",
        options={"custom_fields": {"salary_band": "4107"}})})
    assert BambooHrAdapter(hr, Secret("k"), system=hr.system_for("people")).custom_fields == {"salary_band": "4107"}


@pytest.mark.fast
def test_harvey_orgs_add_sets_the_custom_fields(tmp_path, capsys):
    path = str(tmp_path / "orgs.yaml")
    assert main(["--registry", path, "orgs", "add", "acme", "--hrms-type", "bamboohr", "--base-url", "http://h/v1",
                 "--credential-env", "ACME_BHR_KEY", "--option", "custom_fields.salary_band=4001",
                 "--option", "custom_fields.location=customOffice"]) == 0
    assert OrganizationRegistry(path).get("acme").options == {
        "custom_fields": {"salary_band": "4001", "location": "customOffice"}}
    assert main(["--registry", path, "orgs", "set", "acme", "--option", "custom_fields.salary_band=4107"]) == 0
    assert OrganizationRegistry(path).get("acme").options == {
        "custom_fields": {"salary_band": "4107", "location": "customOffice"}}
    assert main(["--registry", path, "orgs", "add-system", "acme", "recruiting", "--hrms-type", "custom",
                 "--base-url", "http://g", "--credential-env", "G", "--option", "custom_fields.salary_band=1"]) == 2
    assert "options of a custom system" in capsys.readouterr().err
    assert main(["--registry", path, "orgs", "set", "acme", "--unset", "options"]) == 0
    assert OrganizationRegistry(path).get("acme").options is None
