"""Employes.nl v4: the adapter against its mock over HTTP on loopback, into DuckDB and PostgreSQL.

The truth is the mock's typed model (each worker's periods), not its answers: the employment
rows the adapter rebuilt from the three separate histories must equal it."""

from __future__ import annotations

import datetime as dt
import itertools
import logging

import pytest
import sqlalchemy as sa

from harvey_pipelines.mock_hrms.employes import Company, EmployesMock
from harvey_pipelines.organizations import Organization
from harvey_pipelines.sources.employes import employment_rows
from harvey_pipelines.sources.http import RetryPolicy
from harvey_pipelines.sync import SyncFailed, sync_entity
from harvey_pipelines.warehouse import schema
from harvey_pipelines_tests.helpers import warehouse_rows

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
    found: dict[str, list[str]] = {}
    for name in entities:
        actual = warehouse_rows(warehouse, company.org.id, name)
        problems = [f"{i}: missing" for i in expected[name] if i not in actual]
        problems += [f"{i}: not at the source" for i in actual if i not in expected[name]]
        for i, fields in expected[name].items():
            for field, value in fields.items():
                if i in actual and actual[i][field] != value:
                    problems.append(f"{i}.{field}: warehouse {actual[i][field]!r} != Employes {value!r}")
        if problems:
            found[name] = problems[:10]
    return found


def run_rows(warehouse, org_id: str) -> str:
    runs = schema.sync_runs
    with warehouse.writer() as conn:
        return repr(conn.execute(sa.select(runs).where(runs.c.organization_id == org_id)).all())


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
    assert company.org.credential() not in run_rows(warehouse, company.org.id)
