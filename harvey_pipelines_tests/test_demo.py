"""`make demo` as a newcomer runs it (`harvey demo`, no environment): a short summary instead of
dbt's log, two full months of attendance ending yesterday, and nothing left for the marts
sensor to rebuild when `make dev` starts after it."""

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

from harvey_pipelines.demo import DEMO_ORGS
from harvey_pipelines.records import ENTITIES
from harvey_pipelines.warehouse import Warehouse
from harvey_pipelines_tests.processes import free_port

BIN = Path(sys.executable).parent
ORGS = [org_id for org_id, *_ in DEMO_ORGS]
MARTS = ("attendance_daily", "attendance_monthly", "compliance_violations", "employee_timeline",
         "interviewer_load", "leave_balances", "recruiting_funnel", "sync_health")


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
            assert entities[spec.name] == [str(counts[(o, spec.name)]) for o in ORGS], spec.name
        marts = _table(out, "marts built")
        assert set(marts) == set(MARTS)
        for mart in MARTS:
            rows = warehouse.model_row_counts("marts", mart, by_organization=True)
            assert marts[mart] == [str(rows[o]) for o in ORGS], mart

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
            assert {org for org, n in monthly if n > 0} == set(ORGS), "last month has data"
    finally:
        warehouse.dispose()

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
