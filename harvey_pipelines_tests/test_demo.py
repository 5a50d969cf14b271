"""`make demo` as a newcomer runs it (`harvey demo`, no environment): a short summary instead of
dbt's log, two full months of attendance ending yesterday, the marts of the organization on
BambooHR and Greenhouse as its mocks' data say, and nothing left for the marts sensor to rebuild
when `make dev` starts after it."""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from dagster import DagsterInstance, build_sensor_context

from harvey_pipelines.demo import DEMO_ORGS, VENDOR_HR, VENDOR_ORG_ID, vendor_recruiting
from harvey_pipelines.mock_hrms.bamboohr import TIME_OFF_TYPES, Company
from harvey_pipelines.organizations import OrganizationRegistry
from harvey_pipelines.records import ENTITIES
from harvey_pipelines.warehouse import Warehouse
from harvey_pipelines_tests.processes import free_port

BIN = Path(sys.executable).parent
MOCK_HRMS_ORGS = [org_id for org_id, *_ in DEMO_ORGS]
ORGS = [*MOCK_HRMS_ORGS, VENDOR_ORG_ID]
ROOT = Path(__file__).resolve().parent.parent
MARTS = tuple(sorted(p.stem for p in (ROOT / "dbt_project" / "models" / "marts").glob("*.sql")))


def _expected_attendance_days(timezone: str) -> set[dt.date]:
    """Every working day from the first of the month two months back to yesterday (local)."""
    today = dt.datetime.now(ZoneInfo(timezone)).date()
    year, month = (today.year, today.month - 2) if today.month > 2 else (today.year - 1, today.month + 10)
    day, days = dt.date(year, month, 1), set()
    while day < today:
        if day.weekday() < 5:
            days.add(day)
        day += dt.timedelta(days=1)
    return days


def _table(out: str, title: str) -> dict[str, list[str]]:
    """A table of the summary: first cell -> the other cells."""
    block = out.split(title, 1)[1].split("\n\n", 1)[0].strip().splitlines()
    header, *rows = block[1:]
    assert header.split()[1:] == ORGS, header
    return {row.split()[0]: row.split()[1:] for row in rows}


def test_the_demo_prints_a_summary_and_leaves_two_months_that_need_no_rebuild(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HARVEY_", "DAGSTER_"))}
    env["HARVEY_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run([str(BIN / "harvey"), "demo", "--port", str(free_port())], env=env, capture_output=True,
                          text=True, timeout=1200, stdin=subprocess.DEVNULL)
    out = done.stdout
    assert done.returncode == 0, (out[-3000:], done.stderr[-3000:])

    # the summary, not dbt's log: no colour codes, no START/PASS lines, no Dagster log lines
    assert "\x1b[" not in out + done.stderr
    assert not re.search(r"\bSTART\b|\bPASS\b| - dagster - ", out + done.stderr)
    assert len(out.splitlines()) < 60, out
    log = (tmp_path / "data" / "demo.log").read_text()
    assert re.search(r"\d+ of \d+ START ", log) and "\x1b[" not in log, "dbt's log went to demo.log, colourless"

    url = f"duckdb:///{tmp_path / 'data' / 'warehouse.duckdb'}"
    warehouse = Warehouse(url)
    try:
        counts = warehouse.row_counts()
        entities = _table(out, "rows per organization")
        for spec in ENTITIES:
            assert entities[spec.name] == [str(counts.get((o, spec.name), 0)) for o in ORGS], spec.name
        marts = _table(out, "marts built")
        assert set(marts) == set(MARTS)
        for mart in MARTS:
            rows = warehouse.model_row_counts("marts", mart, by_organization=True)
            assert marts[mart] == [str(rows.get(o, 0)) for o in ORGS], mart

        # two full months of attendance and this month up to yesterday, in every organization
        table = warehouse.tables["attendance"].table
        with warehouse.writer() as conn:
            for org_id, *_, timezone in DEMO_ORGS:
                days = set(conn.execute(sa.select(table.c.date).distinct().where(
                    table.c.organization_id == org_id)).scalars())
                assert days == _expected_attendance_days(timezone), org_id
            last_month = dt.date.today().replace(day=1) - dt.timedelta(days=1)
            monthly = conn.execute(sa.text(
                "SELECT organization_id, count(*) FROM marts.attendance_monthly WHERE month_start = :m "
                "GROUP BY 1"), {"m": last_month.replace(day=1)}).all()
            assert {org for org, n in monthly if n > 0} == set(MOCK_HRMS_ORGS), "last month has data"
        _assert_vendor_marts(warehouse, counts)
    finally:
        warehouse.dispose()
    assert f"{VENDOR_ORG_ID}: people from bamboohr, recruiting from greenhouse" in out
    assert f"{VENDOR_ORG_ID}: no attendance synced (its systems have none)" in out
    # its mocks died with the demo and its secrets were never written: disabled, no secret in local.env
    assert not OrganizationRegistry(tmp_path / "data" / "organizations.yaml").get(VENDOR_ORG_ID).enabled
    assert "HOOLI" not in (tmp_path / "data" / "local.env").read_text()

    checks = dict(re.findall(r"^(quality checks|dbt tests)[^:]*:\s+(.*)$", out, flags=re.M))
    assert re.fullmatch(r"(1[0-9]|[2-9][0-9]) passed, 0 warned, 0 failed", checks["quality checks"]), checks
    assert re.fullmatch(r"[1-9][0-9]{2} passed, 0 warned, 0 failed", checks["dbt tests"]), checks
    assert "make dev" in out and "Query the analysts' copy" in out
    assert str(tmp_path / "data" / "analytics.duckdb") in out and (tmp_path / "data" / "analytics.duckdb").exists()

    # `make dev` next: the marts sensor's first look finds nothing the demo's build did not read
    from harvey_pipelines.automation.marts import marts_after_syncs_sensor
    from harvey_pipelines.definitions import defs

    with DagsterInstance.from_config(str(tmp_path / "data" / "dagster_home")) as instance:
        result = marts_after_syncs_sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))
        assert result.run_requests == [], result.skip_message


def _assert_vendor_marts(warehouse: Warehouse, counts: dict) -> None:
    """The organization on BambooHR (HR) and Greenhouse (recruiting): its core tables and marts
    hold what its mocks' data make (the mocks are deterministic by seed; dates follow today)."""
    company = Company(VENDOR_ORG_ID, "any key", **VENDOR_HR)
    greenhouse = vendor_recruiting(company)
    employees = company.employees.values()
    approved = [r for r in company.requests.values() if r.status == "approved"]
    panels = greenhouse.data["interviewers"].values()
    assert {e: counts.get((VENDOR_ORG_ID, e), 0) for e in ("employees", "leave_requests", "job_requisitions",
                                                             "candidates", "interviews", "attendance")} == {
        "employees": len(employees), "leave_requests": len(company.requests),
        "job_requisitions": len(greenhouse.data["jobs"]), "candidates": len(greenhouse.data["candidates"]),
        "interviews": len(panels), "attendance": 0}  # every interviewer of a panel is a row

    def query(sql: str) -> list:
        with warehouse.writer() as conn:
            return conn.execute(sa.text(sql), {"org": VENDOR_ORG_ID}).all()

    events = dict(query("SELECT event_type, count(*) FROM marts.employee_timeline WHERE organization_id = :org "
                        "GROUP BY 1"))
    changes = sum(len(e.versions) - 1 for e in employees)  # each later version changes one thing
    change_events = ("salary_increase", "salary_decrease", "salary_change", "department_change", "job_title_change")
    assert changes > 0
    assert events == {
        "hired": len(employees), "contract_started": len(employees), "leave_taken": len(approved),
        "terminated": sum(e.termination is not None for e in employees),
        "contract_ended": sum(e.termination is not None for e in employees),
        **{k: v for k, v in events.items() if k in change_events},
    }, events
    assert sum(events.get(k, 0) for k in change_events) == changes

    # the calculator's balance of every time-off type of everyone employed this year, and the requests' days
    (reported, rows), = query("SELECT count(*) FILTER (WHERE has_reported_balance), count(*) "
                              "FROM marts.leave_balances WHERE organization_id = :org")
    employed = [e for e in employees if e.termination is None or e.termination.year >= company.today.year]
    assert reported == len(employed) * len(TIME_OFF_TYPES) and rows >= reported

    (jobs, candidates), = query("SELECT count(*), sum(candidates) FROM marts.recruiting_funnel "
                                "WHERE organization_id = :org")
    assert (jobs, candidates) == (len(greenhouse.data["jobs"]), len(greenhouse.data["candidates"]))

    # every Greenhouse interviewer who is an employee (by employee number) is in the load, with each panel seat
    ids = {e.number: e.id for e in employees}
    seats = [ids[p["employee_id"]] for p in panels if p["employee_id"] is not None]
    load = dict(query("SELECT interviewer_id, sum(interviews) FROM marts.interviewer_load "
                      "WHERE organization_id = :org GROUP BY 1"))
    assert load == {i: seats.count(i) for i in set(seats)} and len(load) > 10

    for mart in ("attendance_daily", "attendance_monthly"):
        assert query(f"SELECT count(*) FROM marts.{mart} WHERE organization_id = :org") == [(0,)], mart
