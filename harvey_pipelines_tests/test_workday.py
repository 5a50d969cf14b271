"""Workday: the adapter against its mock over HTTP on loopback, into DuckDB and PostgreSQL.

The truth is the mock's typed model (each worker's job rows and leave days), not its answers."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import logging
import tracemalloc
from zoneinfo import ZoneInfo

import pytest

from harvey_pipelines.mock_hrms.workday import CHANGED_SINCE_PROMPT, REPORT_OWNER, ZONE, Tenant, WorkdayMock
from harvey_pipelines.organizations import Organization
from harvey_pipelines.sources.errors import UnreadableResponse
from harvey_pipelines.sources.http import RetryPolicy
from harvey_pipelines.sources.workday import Report, employment_rows, leave_requests, local_day, values
from harvey_pipelines.sync import SyncFailed, sync_entity
from harvey_pipelines_tests.helpers import sync_run_rows, truth_differences, warehouse_rows
from harvey_pipelines_tests.test_dbt_marts import assert_a_raise_dated_ahead_takes_effect_on_its_day

ENTITIES = ("employees", "employments", "leave_requests")
RETRY = RetryPolicy(max_attempts=8, backoff_base=0.01, backoff_max=0.05)
SECRETS = ("client_id", "client_secret", "refresh_token", "report_user", "report_password")
LEAVE_TYPES = {"Vacation": "annual", "Sick": "sick", "Unpaid Leave": "unpaid"}
LEAVE_STATUS = {"Approved": "approved", "Submitted": "pending", "Denied": "rejected", "Canceled": "cancelled"}
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def workday():
    with WorkdayMock() as mock:
        yield mock


def organization(tenant: Tenant, monkeypatch, number: int, **options) -> Organization:
    env = {name: f"HARVEY_TEST_WORKDAY_{name.upper()}_{number}" for name in SECRETS}
    for name, variable in env.items():
        monkeypatch.setenv(variable, getattr(tenant, name))
    return Organization(id=f"workday{number}", name=f"workday{number}", hrms_type="workday", base_url=tenant.url,
                        credential_env=env, timezone=ZONE, rate_limit_per_second=1000,
                        options={"tenant": tenant.name, "report_owner": REPORT_OWNER, **options})


@pytest.fixture
def tenant(workday, monkeypatch):
    number = next(_numbers)
    made = workday.tenant(f"acme{number}", size=30, seed=number)
    made.org = organization(made, monkeypatch, number)
    return made


def sync_all(tenant: Tenant, warehouse, mode="incremental"):
    return {name: sync_entity(tenant.org, name, warehouse, mode=mode, retry=RETRY) for name in ENTITIES}


def truth(tenant: Tenant) -> dict[str, dict[str, dict]]:
    employees, employments, leave = {}, {}, {}
    for w in tenant.workers.values():
        gone = tenant.terminated(w)
        job = w.jobs[-1] if gone else w.holding(tenant.today)
        employees[w.id] = dict(
            employee_id=w.number, first_name=w.first_name, last_name=w.last_name, email=w.emails[0],
            phone=None if gone else w.phone, department=job.department, job_title=job.title, manager_id=None,
            location=None, hire_date=w.hire, termination_date=w.end if gone else None,
            employment_status="terminated" if gone else "active")
        for j, last in tenant.versions(w):
            employments[f"{w.id}:{j.start}"] = dict(
                employee_id=w.id, start_date=j.start, end_date=last,
                contract_type={"Regular": "permanent", "Fixed Term": "fixed_term"}[j.worker_type],
                hours_per_week=j.hours, salary=j.pay, salary_period="year", currency="USD",
                job_title=j.title, department=j.department)
        for request in w.leaves:
            runs: list[list[dt.date]] = []
            for d in request.days:
                if runs and d - runs[-1][-1] == dt.timedelta(days=1):
                    runs[-1].append(d)
                else:
                    runs.append([d])
            for run in runs:
                leave[f"{request.request_id}:{run[0]}"] = dict(
                    leave_request_id=f"{request.request_id}:{run[0]}", employee_id=w.id,
                    leave_type=LEAVE_TYPES[request.plan], start_date=run[0], end_date=run[-1],
                    total_days=float(len(run)), status=LEAVE_STATUS[request.status])
    return {"employees": employees, "employments": employments, "leave_requests": leave}


def differences(tenant: Tenant, warehouse, entities=ENTITIES) -> dict[str, list[str]]:
    expected = truth(tenant)
    return truth_differences({name: expected[name] for name in entities}, warehouse, tenant.org.id, "Workday")




# -- syncs -----------------------------------------------------------------------------
def test_a_full_sync_equals_workday_and_a_second_writes_nothing(tenant, warehouse):
    first = sync_all(tenant, warehouse)
    for name, result in first.items():
        assert result.status == "success" and result.inserted > 0 and result.quarantined == 0, (name, result)
    assert differences(tenant, warehouse) == {}
    workers = tenant.workers.values()
    assert any(tenant.terminated(w) for w in workers), "terminated workers come from the report"
    rows = warehouse_rows(warehouse, tenant.org.id, "employments")
    assert len(rows) > 2 * len(tenant.workers), "the history, not one row per worker"
    assert any(r["start_date"] > tenant.today for r in rows.values()), "rows dated ahead are kept"

    again = sync_all(tenant, warehouse)
    for name, result in again.items():
        assert (result.inserted, result.updated, result.deleted) == (0, 0, 0), (name, result)
    assert again["employees"].fetched == first["employees"].fetched, "a full listing every time"
    runs = sync_run_rows(warehouse, tenant.org.id)
    assert all(getattr(tenant, name) not in runs for name in SECRETS)


def test_a_job_history_report_sorted_by_date_gives_the_same_history_and_says_it_was_held_whole(tenant, warehouse):
    """A report author may sort by effective date: a worker's rows then come apart, and only the
    whole report says when a worker is complete (held in memory, and the run's notes say so)."""
    tenant.report_order = "effective_date"
    results = sync_all(tenant, warehouse, mode="full")
    assert all(r.status == "success" and r.quarantined == 0 for r in results.values()), results
    assert differences(tenant, warehouse) == {}
    assert any("lists a worker's rows apart" in note for note in results["employments"].notes)
    tenant.report_order = "worker"
    again = sync_all(tenant, warehouse, mode="full")
    assert (again["employments"].inserted, again["employments"].updated, again["employments"].deleted) == (0, 0, 0)
    assert not any("apart" in note for note in again["employments"].notes), "sorted by worker: read a worker at a time"


def test_a_report_is_read_a_worker_at_a_time_whatever_its_size(tmp_path):
    """Python's peak while grouping a job-history report by worker is one worker's entries, the
    parser's buffer and the ids of the workers seen (the check that the report is grouped), not
    the document: parsed whole, 18,000 more workers' 72,000 entries would add ~40 MB."""
    def peak(workers: int) -> int:
        path = tmp_path / f"report-{workers}.json"
        with path.open("wb") as out:
            out.write(b'{"Report_Entry": [')
            out.write(b",".join(json.dumps({"Worker_ID": f"w{w}", "Effective_Date": f"2020-0{j + 1}-01",
                                            "Business_Title": "Engineer" * 8, "Total_Base_Pay": "100000.00"}).encode()
                                for w in range(workers) for j in range(4)))
            out.write(b"]}")
        with path.open("rb") as body:
            report = Report(body, "report job_history")
            tracemalloc.start()
            try:
                assert report.grouped_by_worker()
                seen = sum(len(entries) for _, entries in report.by_worker())
                traced = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
        assert seen == 4 * workers
        return traced
    small, large = peak(2_000), peak(20_000)
    assert large - small < 18_000 * 400, (small, large)  # bytes per worker: its id, not its entries


@pytest.mark.parametrize("document, cause", [
    (b'{"Report_Entry": [{"Worker_ID": "w1"}, {"Worker_ID"', "unreadable JSON"),
    (b'{"Report_Entry": {"Worker_ID": "w1"}}', "answered no 'Report_Entry' list"),
    (b'{"error": "no such report"}', "answered no 'Report_Entry' list"),
    (b'[{"Worker_ID": "w1"}]', "answered no 'Report_Entry' list"),
])
def test_a_report_that_is_not_a_list_of_entries_is_unreadable_and_named(document, cause):
    report = Report(io.BytesIO(document), "acme/workday: report job_history")
    with pytest.raises(UnreadableResponse, match=f"^acme/workday: report job_history(:)? {cause}") as raised:
        list(report.entries())
    assert raised.value.kind == "data" and raised.value.body == document[:2000]


def test_a_second_sync_writes_exactly_what_changed(tenant, warehouse):
    """A raise, a backdated correction, a transfer, a termination (the worker leaves REST and
    appears in the report), a hire and new leave: the rows they change, no other."""
    sync_all(tenant, warehouse)
    before = truth(tenant)
    today = tenant.today
    settled = sorted((w for w in tenant.workers.values() if w.end is None
                      and all(j.start < today - dt.timedelta(40) for j in w.jobs)), key=lambda w: w.number)
    raised, corrected, leaving, resting = settled[:4]
    tenant.change(raised.id, today, pay=raised.holding(today).pay + 2000)
    newest = corrected.jobs[-1]
    tenant.change(corrected.id, newest.start, pay=newest.pay + 1)
    tenant.terminate(leaving.id, today - dt.timedelta(1))
    hired = tenant.hire(today - dt.timedelta(3))
    tenant.take_leave(resting.id, today + dt.timedelta(days=10), 3)
    after = truth(tenant)

    again = sync_all(tenant, warehouse)
    for name in ENTITIES:
        new = set(after[name]) - set(before[name])
        gone = set(before[name]) - set(after[name])
        changed = {i for i in set(after[name]) & set(before[name]) if after[name][i] != before[name][i]}
        result = again[name]
        assert (result.inserted, result.updated, result.deleted) == (len(new), len(changed), len(gone)), (
            name, result, new, changed, gone)
    assert (again["employees"].inserted, again["employees"].updated) == (1, 1)  # the hire; the leaver
    assert differences(tenant, warehouse) == {}
    rows = warehouse_rows(warehouse, tenant.org.id, "employees")
    assert rows[leaving.id]["employment_status"] == "terminated"
    assert rows[leaving.id]["termination_date"] == today - dt.timedelta(1)
    assert rows[hired.id]["employment_status"] == "active"


def test_a_raise_dated_ahead_is_in_the_timeline_and_current_on_its_day(tenant, warehouse, tmp_path):
    today = tenant.today
    worker = min((w for w in tenant.workers.values() if w.end is None and all(j.start <= today for j in w.jobs)),
                 key=lambda w: w.number)
    ahead = today + dt.timedelta(days=10)
    tenant.change(worker.id, ahead, pay=worker.holding(today).pay + 3000)
    assert_a_raise_dated_ahead_takes_effect_on_its_day(tenant.org, warehouse, tmp_path, worker.id, ahead, today)


def test_the_changed_since_prompt_reads_only_changed_workers(workday, monkeypatch, warehouse):
    number = next(_numbers)
    tenant = workday.tenant(f"acme{number}", size=30, seed=number)
    tenant.org = organization(tenant, monkeypatch, number, changed_since_prompt=CHANGED_SINCE_PROMPT)
    sync_all(tenant, warehouse)
    raised = next(w for w in tenant.workers.values() if w.end is None)
    tenant.clock += dt.timedelta(days=1)  # a day later (beyond the sync's overlap)
    tenant.change(raised.id, tenant.today, pay=raised.holding(tenant.today).pay + 2000)
    calls = len(workday.calls)
    result = sync_entity(tenant.org, "employments", warehouse, retry=RETRY)
    asked = [c for c in workday.calls[calls:] if "Job_History" in c]
    assert len(asked) == 1 and f"{CHANGED_SINCE_PROMPT}=" in asked[0], asked
    since = dt.datetime.fromisoformat(result.cursor_before) - dt.timedelta(minutes=10)  # the sync's overlap
    changed = [w for w in tenant.workers.values() if w.updated >= since]
    assert raised in changed and len(changed) < len(tenant.workers) / 2
    assert result.fetched == sum(len(tenant.versions(w)) for w in changed), "only the changed workers' rows"
    assert (result.inserted, result.updated, result.deleted) == (1, 1, 0)
    assert differences(tenant, warehouse, ("employments",)) == {}


def test_token_expiry_mid_sync_faults_and_changes_while_paging_lose_nothing(workday, tenant, warehouse,
                                                                            monkeypatch):
    from harvey_pipelines.sources.workday import WorkdayAdapter

    monkeypatch.setattr(WorkdayAdapter, "page_size", 5)  # several pages to shift
    workday.expire_tokens_after(3)  # the access token dies after the third REST answer
    workday.fail_next(1, 429)
    workday.fail_next(2, 503)
    first_listed = tenant.listing()[0]
    workday.during_paging(lambda: tenant.terminate(first_listed.id, tenant.today - dt.timedelta(1)))
    workday.during_paging(lambda: tenant.hire(tenant.today - dt.timedelta(30)))
    tokens_before = sum(c.startswith("POST") for c in workday.calls)
    results = sync_all(tenant, warehouse)
    assert sum(c.startswith("POST") for c in workday.calls) - tokens_before >= 2, "renewed mid-sync"
    assert sum(r.retries for r in results.values()) >= 3
    assert any("walked it again" in note for note in results["employees"].notes), results["employees"].notes
    assert any("timeOffEntries" in c and "offset=5" in c for c in workday.calls), "a worker's second page of leave"
    assert differences(tenant, warehouse) == {}


def test_a_utc_midnight_leave_day_is_the_local_date(tenant, warehouse):
    worker = next(w for w in tenant.workers.values() if w.end is None)
    summer = tenant.take_leave(worker.id, dt.date(2026, 7, 6), 2)  # Monday, Tuesday: UTC-7
    winter = tenant.take_leave(worker.id, dt.date(2026, 12, 7), 1)  # UTC-8
    sync_entity(tenant.org, "employees", warehouse, retry=RETRY)
    sync_entity(tenant.org, "leave_requests", warehouse, retry=RETRY)
    rows = warehouse_rows(warehouse, tenant.org.id, "leave_requests")
    assert tenant.time_off_entries(worker)[-3]["date"] == "2026-07-06T07:00:00.000Z"
    assert tenant.time_off_entries(worker)[-1]["date"] == "2026-12-07T08:00:00.000Z"
    summer_row = rows[f"{summer.request_id}:2026-07-06"]
    assert (summer_row["start_date"], summer_row["end_date"]) == (dt.date(2026, 7, 6), dt.date(2026, 7, 7))
    assert rows[f"{winter.request_id}:2026-12-07"]["end_date"] == dt.date(2026, 12, 7)
    assert differences(tenant, warehouse, ("leave_requests",)) == {}


@pytest.mark.parametrize("secret", ["client_secret", "report_password"])
def test_a_wrong_secret_fails_at_once_and_never_shows_it(tenant, warehouse, monkeypatch, caplog, capfd, secret):
    wrong = f"wrong-{secret}-3a9f"
    variable = tenant.org.primary_system().credential_variables()[secret]
    monkeypatch.setenv(variable, wrong)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SyncFailed) as failed:
        sync_entity(tenant.org, "employees", warehouse, retry=RETRY)
    result = failed.value.result
    assert result.failure_kind == "credential" and result.retries == 0 and result.api_calls <= 2, result
    assert variable in result.error
    seen = str(failed.value) + result.error + caplog.text + "".join(capfd.readouterr()) + sync_run_rows(
        warehouse, tenant.org.id)
    assert wrong not in seen and getattr(tenant, secret) not in seen


# -- fast units --------------------------------------------------------------------------
def test_a_multi_valued_field_is_a_string_when_single_and_a_list_when_several():
    assert values("a@x.example") == ["a@x.example"]
    assert values([{"Email_Address": "a@x.example"}, {"Email_Address": "b@y.example"}]) == ["a@x.example",
                                                                                          "b@y.example"]
    assert values([{"Descriptor": "Boulder", "ID": "L1"}]) == ["Boulder"]
    assert values(None) == [] and values("  ") == []


def test_local_midnight_in_utc_is_the_local_date_and_consecutive_days_make_one_request():
    zone = ZoneInfo("America/Los_Angeles")
    assert local_day("2024-10-26T07:00:00.000Z", zone) == dt.date(2024, 10, 26)
    assert local_day("2024-12-02T08:00:00.000Z", zone) == dt.date(2024, 12, 2)
    assert local_day("2024-10-26T07:00:00.000Z", ZoneInfo("UTC")) == dt.date(2024, 10, 26)
    assert local_day("not a date", zone) is None

    def entry(date: str, request: str = "r1") -> dict:
        return {"date": date, "units": 1, "unitOfTime": {"descriptor": "Days"},
                "timeOffRequest": {"id": request, "status": "Approved"}, "timeOff": {"plan": {"descriptor": "Sick"}}}

    # Friday, Monday (a weekend between), Tuesday; and another request the same Friday
    rows = leave_requests("w1", [entry("2024-11-01T07:00:00.000Z"), entry("2024-11-05T08:00:00.000Z"),
                                 entry("2024-11-04T08:00:00.000Z"), entry("2024-11-01T07:00:00.000Z", "r2")], zone)
    assert [(r["id"], r["start_date"], r["end_date"], r["days"]) for r in rows] == [
        ("r1:2024-11-01", "2024-11-01", "2024-11-01", 1.0), ("r1:2024-11-04", "2024-11-04", "2024-11-05", 2.0),
        ("r2:2024-11-01", "2024-11-01", "2024-11-01", 1.0)]


def test_job_history_entries_become_maximal_intervals_closed_by_the_termination():
    def entry(effective: str, pay: str, title: str = "Engineer", location: str = "Boulder", **more) -> dict:
        return {"Worker_ID": "w1", "Effective_Date": effective, "Business_Title": title, "Total_Base_Pay": pay,
                "Location": location, "Last_Functionally_Updated": f"{effective}T09:00:00+00:00", **more}

    history = [entry("2024-03-01", "90000.00"), entry("2025-03-01", "93000.00"),
               entry("2025-06-01", "93000.00", location="Pleasanton"),  # not held by employments: no new row
               entry("2027-01-01", "99000.00")]  # dated ahead: kept
    rows = employment_rows("w1", history)
    assert [(r["start_date"], r["end_date"], r["Total_Base_Pay"]) for r in rows] == [
        ("2024-03-01", "2025-02-28", "90000.00"), ("2025-03-01", "2026-12-31", "93000.00"),
        ("2027-01-01", None, "99000.00")]
    assert rows[1]["updated_at"] == "2025-06-01T09:00:00+00:00", "the newest stamp of the entries it merges"
    # a termination (on every entry of the worker, as a worker field) ends the last row and drops rows after it
    ended = employment_rows("w1", [{**e, "Termination_Date": "2026-05-31"} for e in history])
    assert [(r["start_date"], r["end_date"]) for r in ended] == [("2024-03-01", "2025-02-28"),
                                                                  ("2025-03-01", "2026-05-31")]
