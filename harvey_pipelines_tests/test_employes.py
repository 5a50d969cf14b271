"""Employes.nl v4: the adapter against its mock over HTTP on loopback, into DuckDB and PostgreSQL.

The truth is the mock's typed model (each worker's periods), not its answers: the employment
rows the adapter rebuilt from the three separate histories must equal it."""

from __future__ import annotations

import datetime as dt
import itertools
import logging

import pytest

from harvey_pipelines.mock_hrms.employes import Company, EmployesMock
from harvey_pipelines.organizations import Organization
from harvey_pipelines.sources.employes import employment_rows
from harvey_pipelines.sources.http import RetryPolicy
from harvey_pipelines.sync import SyncFailed, sync_entity
from harvey_pipelines_tests.helpers import sync_run_rows, truth_differences, warehouse_rows
from harvey_pipelines_tests.test_dbt_marts import _sync_and_build, assert_a_raise_dated_ahead_takes_effect_on_its_day

ENTITIES = ("employees", "employments")
RETRY = RetryPolicy(max_attempts=8, backoff_base=0.01, backoff_max=0.05)
ZONE = "Europe/Amsterdam"
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def employes():
    # Employes' own 5 requests/s is turned on by the test of rate limits
    with EmployesMock(rate_limit=10_000) as mock:
        yield mock


@pytest.fixture
def company(employes, monkeypatch):
    """A company in the mock and the Organization that syncs it (its token in the environment)."""
    number = next(_numbers)
    token = f"employes-token-{number}-9c41e7"
    monkeypatch.setenv(f"HARVEY_TEST_EMPLOYES_TOKEN_{number}", token)
    made = employes.company(f"c0ffee00-0000-4000-8000-{number:012d}", token, size=24, seed=number)
    made.org = Organization(id=f"employes{number}", name=f"employes{number}", hrms_type="employes",
                            base_url=made.url, credential_env=f"HARVEY_TEST_EMPLOYES_TOKEN_{number}",
                            timezone=ZONE, rate_limit_per_second=1000)
    return made


def sync_all(company: Company, warehouse, mode="incremental", **kw):
    return {name: sync_entity(company.org, name, warehouse, mode=mode, retry=RETRY, **kw) for name in ENTITIES}


def truth(company: Company) -> dict[str, dict[str, dict]]:
    employees, employments = {}, {}
    for w in company.workers.values():
        gone = w.end is not None and w.end < company.today
        employees[w.id] = dict(
            employee_id=str(w.number), first_name=w.first_name,
            last_name=f"{w.prefix} {w.surname}" if w.prefix else w.surname, email=w.email, department=None,
            job_title=None, manager_id=None, location=None, hire_date=w.hire, termination_date=w.end,
            employment_status="terminated" if gone else "inactive" if w.hire > company.today else "active")
        for period, last in company.versions(w):
            contract = w.contracts[period.contract]
            employments[f"{w.id}:{period.start}"] = dict(
                employee_id=w.id, start_date=period.start, end_date=last,
                contract_type={"fixed": "fixed_term", "indefinite": "permanent"}[contract.duration],
                hours_per_week=period.hours, salary=period.month_wage, salary_period="month", currency="EUR",
                job_title=None, department=None)
    return {"employees": employees, "employments": employments}


def differences(company: Company, warehouse, entities=ENTITIES) -> dict[str, list[str]]:
    expected = truth(company)
    return truth_differences({name: expected[name] for name in entities}, warehouse, company.org.id, "Employes")




# -- syncs -----------------------------------------------------------------------------
def test_a_full_sync_equals_employes_with_every_history_row_and_a_second_writes_nothing(company, warehouse):
    first = sync_all(company, warehouse)
    for name, result in first.items():
        assert result.status == "success" and result.inserted > 0 and result.quarantined == 0, (name, result)
    assert differences(company, warehouse) == {}
    rows = warehouse_rows(warehouse, company.org.id, "employments")
    assert len(rows) > 2 * len(company.workers), "the history, not one row per employee"
    assert any(r["start_date"] > company.today for r in rows.values()), "rows dated ahead are kept"
    assert any(w.prefix for w in company.workers.values()), "the mock has Dutch name parts"
    # one list page, then one employments call per employee
    assert first["employees"].api_calls == 1 and first["employments"].api_calls == len(company.workers)

    again = sync_all(company, warehouse)
    for name, result in again.items():
        assert (result.inserted, result.updated, result.deleted) == (0, 0, 0), (name, result)
        assert result.fetched == first[name].fetched, "a full listing every time: no filter exists"
    assert company.org.credential() not in sync_run_rows(warehouse, company.org.id)


def test_a_second_sync_writes_exactly_what_changed(company, warehouse):
    """A raise, an hours change, a backdated correction, a termination and a hire: the rows they
    change, no other (the sync re-reads everything; SHA-256 keeps the writes to the changes)."""
    sync_all(company, warehouse)
    before = truth(company)
    today = company.today
    # workers whose every period started a while ago and that are not leaving
    settled = sorted((w for w in company.workers.values() if w.end is None
                      and all(p.start < today - dt.timedelta(40) for p in w.periods)
                      and w.hire < today - dt.timedelta(200)), key=lambda w: w.number)
    raised, hours, corrected, leaving = settled[:4]
    company.change(raised.id, today, month_wage=raised.holding(today).month_wage + 200)
    between = hours.periods[-1].start + dt.timedelta(10)  # inside its last period: that row splits
    company.change(hours.id, between, hours=hours.holding(between).hours + 2)
    newest = corrected.periods[-1]  # a backdated correction of the wage of its current row
    company.change(corrected.id, newest.start, month_wage=newest.month_wage + 1)
    company.terminate(leaving.id, today - dt.timedelta(1))
    hired = company.hire(today - dt.timedelta(3), month_wage=3100.0, hours=32.0, fixed=True)
    after = truth(company)

    again = sync_all(company, warehouse)
    for name in ENTITIES:
        new = set(after[name]) - set(before[name])
        gone = set(before[name]) - set(after[name])
        changed = {i for i in set(after[name]) & set(before[name]) if after[name][i] != before[name][i]}
        result = again[name]
        assert (result.inserted, result.updated, result.deleted) == (len(new), len(changed), len(gone)), (
            name, result, new, changed, gone)
    assert (again["employees"].inserted, again["employees"].updated) == (1, 1)  # the hire; the termination
    # raise and hours change: a new row and the end of the one before; the correction: its row;
    # the termination: the end of the last row; the hire: its first row
    assert (again["employments"].inserted, again["employments"].updated) == (3, 4)
    assert differences(company, warehouse) == {}
    rows = warehouse_rows(warehouse, company.org.id, "employees")
    assert rows[leaving.id]["employment_status"] == "terminated"
    assert rows[leaving.id]["termination_date"] == today - dt.timedelta(1)
    assert rows[hired.id]["employment_status"] == "active"


def test_rate_limits_faults_and_changes_while_paging_lose_nothing(employes, company, warehouse, monkeypatch):
    from harvey_pipelines.sources.employes import EmployesAdapter

    monkeypatch.setattr(EmployesAdapter, "page_size", 5)  # several pages to shift
    monkeypatch.setattr(employes, "rate_limit", 5)  # Employes' own limit: 429 with Retry-After
    employes.fail_next(2, 503)
    first_listed = company.listing()[0]
    employes.during_paging(lambda: company.delete(first_listed.id))  # later pages shift back by one
    employes.during_paging(lambda: company.hire(company.today - dt.timedelta(30)))  # ... and forward
    results = sync_all(company, warehouse)
    assert sum(r.retries for r in results.values()) >= 3
    listed = results["employees"]
    assert any("walked it again" in note for note in listed.notes), listed.notes
    stored = warehouse_rows(warehouse, company.org.id, "employees")
    assert set(truth(company)["employees"]) <= set(stored), "nobody skipped by the shifting pages"
    assert first_listed.id in stored, "read before it was deleted"
    # the deleted employee: a reconcile of the full listing flags it, then its employments go
    reconcile = sync_entity(company.org, "employees", warehouse, mode="reconcile", retry=RETRY)
    assert reconcile.deleted == 1
    sync_entity(company.org, "employments", warehouse, mode="reconcile", retry=RETRY)
    assert differences(company, warehouse) == {}


def test_a_wrong_token_fails_at_once_and_never_shows_it(company, warehouse, monkeypatch, caplog, capfd):
    wrong = "wrong-employes-token-3a9f"
    monkeypatch.setenv(company.org.credential_env, wrong)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SyncFailed) as failed:
        sync_entity(company.org, "employees", warehouse, retry=RETRY)
    result = failed.value.result
    assert result.failure_kind == "credential" and result.api_calls == 1 and result.retries == 0
    assert "refused the credential" in result.error and company.org.credential_env in result.error
    seen = str(failed.value) + result.error + caplog.text + "".join(capfd.readouterr()) + sync_run_rows(
        warehouse, company.org.id)
    assert wrong not in seen and company.token not in seen


def test_dutch_name_parts_and_absent_fields(company, warehouse):
    sync_entity(company.org, "employees", warehouse, retry=RETRY)
    rows = warehouse_rows(warehouse, company.org.id, "employees")
    prefixed = next(w for w in company.workers.values() if w.prefix == "van der" or w.prefix == "van den")
    row = rows[prefixed.id]
    assert row["last_name"] == f"{prefixed.prefix} {prefixed.surname}" and row["first_name"] == prefixed.first_name
    assert row["employee_id"] == str(prefixed.number)
    for absent in ("job_title", "department", "manager_id", "location", "salary_band"):
        assert all(r[absent] is None for r in rows.values()), absent


def test_history_becomes_maximal_intervals_of_pay_hours_and_contract():
    employment = {
        "id": "emp-1", "start_date": "2024-01-01T00:00:00", "end_date": None,
        "salary": [{"start_date": "2024-01-01T00:00:00", "end_date": "2025-03-31T00:00:00", "month_wage": 3000.0},
                   {"start_date": "2025-04-01T00:00:00", "end_date": None, "month_wage": 3200.0}],
        "hours": [{"start_date": "2024-01-01T00:00:00", "end_date": None, "hours_per_week": 32.0}],
        "contracts": [{"start_date": "2024-01-01T00:00:00", "end_date": "2024-12-31T00:00:00",
                       "contract_duration": "fixed"},
                      {"start_date": "2025-01-01T00:00:00", "end_date": None, "contract_duration": "indefinite"}],
    }
    rows = employment_rows("w1", employment)
    assert [(r["id"], r["start_date"], r["end_date"]) for r in rows] == [
        ("w1:2024-01-01", "2024-01-01", "2024-12-31"), ("w1:2025-01-01", "2025-01-01", "2025-03-31"),
        ("w1:2025-04-01", "2025-04-01", None)]
    assert [r["salary"]["month_wage"] for r in rows] == [3000.0, 3000.0, 3200.0]
    assert [r["contracts"]["contract_duration"] for r in rows] == ["fixed", "indefinite", "indefinite"]
    assert all("start_date" not in r["salary"] and "end_date" not in r["hours"] for r in rows)
    # the employment ended: nothing after its last day, the last row ends on it
    ended = employment_rows("w1", {**employment, "end_date": "2025-02-28T00:00:00"})
    assert [(r["start_date"], r["end_date"]) for r in ended] == [("2024-01-01", "2024-12-31"),
                                                                 ("2025-01-01", "2025-02-28")]


def test_the_timeline_of_an_employes_company_shows_the_design_documents_events(employes, warehouse, tmp_path,
                                                                             monkeypatch):
    """A hand-built company: the events of the design document (contract started, renewed, salary
    increase, hours change) and a termination, with hand-computed dates and amounts. The mart
    names a raise ``salary_increase`` (the design document's name) with a positive amount and the
    title "Salary increase ..."."""
    monkeypatch.setenv("HARVEY_TEST_EMPLOYES_TIMELINE", "employes-timeline-token-51")
    company = employes.company("7d1e0000-0000-4000-8000-000000000001", "employes-timeline-token-51", size=0)
    org = Organization(id="employes-timeline", name="employes-timeline", hrms_type="employes", base_url=company.url,
                       credential_env="HARVEY_TEST_EMPLOYES_TIMELINE", timezone=ZONE, rate_limit_per_second=1000)
    grower = company.hire(dt.date(2023, 1, 1), month_wage=3000.0, hours=32.0, fixed=True)
    company.renew(grower.id, dt.date(2024, 1, 1), fixed=True)  # on the same terms: a renewal
    company.change(grower.id, dt.date(2024, 4, 1), month_wage=3200.0)
    company.change(grower.id, dt.date(2024, 9, 1), hours=40.0)
    company.change(grower.id, dt.date(2027, 1, 1), month_wage=3400.0)  # dated ahead (today: 2026-11-16)
    leaver = company.hire(dt.date(2025, 6, 1), month_wage=4000.0, hours=40.0, fixed=False)
    company.terminate(leaver.id, dt.date(2026, 3, 31))

    events = _sync_and_build(org, warehouse, tmp_path)
    found = sorted((e["employee_id"], e["effective_date"], e["event_type"]) for e in events.values())
    d = dt.date
    assert found == sorted([
        (grower.id, d(2023, 1, 1), "hired"), (grower.id, d(2023, 1, 1), "contract_started"),
        (grower.id, d(2024, 1, 1), "contract_renewed"), (grower.id, d(2024, 4, 1), "salary_increase"),
        (grower.id, d(2024, 9, 1), "hours_change"), (grower.id, d(2027, 1, 1), "salary_increase"),
        (leaver.id, d(2025, 6, 1), "hired"), (leaver.id, d(2025, 6, 1), "contract_started"),
        (leaver.id, d(2026, 3, 31), "contract_ended"), (leaver.id, d(2026, 3, 31), "terminated"),
    ])
    by_type = {(e["employee_id"], e["event_type"]): e for e in events.values()
                if e["event_type"] != "salary_increase"}
    started = by_type[(grower.id, "contract_started")]
    assert started["after_value"] == "fixed_term" and started["source_id"] == f"{grower.id}:2023-01-01"
    assert by_type[(grower.id, "contract_renewed")]["before_value"] == "2023-12-31"
    raises = sorted((e for e in events.values() if e["event_type"] == "salary_increase"),
                    key=lambda e: e["effective_date"])
    assert [(float(e["amount"]), float(e["percentage"])) for e in raises] == [(200.0, 6.67), (200.0, 6.25)]
    assert all(e["title"].startswith("Salary increase +") and e["currency"] == "EUR" for e in raises)
    hours = by_type[(grower.id, "hours_change")]
    assert (float(hours["before_value"]), float(hours["after_value"])) == (32.0, 40.0)
    assert by_type[(leaver.id, "contract_started")]["after_value"] == "permanent"


def test_a_raise_dated_ahead_is_in_the_timeline_and_current_on_its_day(company, warehouse, tmp_path):
    today = company.today
    worker = min((w for w in company.workers.values()
                  if w.end is None and all(p.start <= today for p, _ in company.versions(w))), key=lambda w: w.number)
    ahead = today + dt.timedelta(days=10)
    company.change(worker.id, ahead, month_wage=worker.holding(today).month_wage + 250)
    assert_a_raise_dated_ahead_takes_effect_on_its_day(company.org, warehouse, tmp_path, worker.id, ahead, today)


def test_an_entity_employes_does_not_have_fails_clearly(company, warehouse):
    with pytest.raises(SyncFailed) as failed:
        sync_entity(company.org, "departments", warehouse, retry=RETRY)
    result = failed.value.result
    assert result.failure_kind == "configuration" and result.api_calls == 0
    assert "employes serves no departments (it serves employees, employments)" in result.error
