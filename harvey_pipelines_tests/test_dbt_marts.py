"""The dbt marts built on top of the timelines and attendance: leave balances, compliance
violations, sync health, recruiting funnel and interviewer load, on a small hand-built
history with answers worked out by hand, on DuckDB and PostgreSQL; and an end-to-end
check that a raise in the (mock) HRMS shows up, synced and rebuilt, as exactly one new
salary_increase event of the employee timeline.

Organization settings: the `_default` row (Asia/Kolkata, work starts 09:00, 8 standard
hours, 2 h overtime limit, weekend sat,sun); holidays 2026-12-25 and 2027-01-01. Leave
policies `_default`: annual 20 days (7 days notice), sick 10 (0), casual 7 (1); globex's
registry entry, published as a sync does, gives annual leave 22 days and 1 day of notice.

As in test_dbt_models, `acme-bk` and `acme-mix` are acme again with references holding
business keys (EMP-001, REQ-1, CAND-c1), all or every other row: acme's answers hold for them.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from harvey_pipelines.organizations import Organization
from harvey_pipelines.records import ENTITIES
from harvey_pipelines.sync import publish_settings, sync_entity
from harvey_pipelines.warehouse import Warehouse, schema
from harvey_pipelines_tests.helpers import REFERENCE_STYLES, tenant_options
from harvey_pipelines_tests.test_dbt_models import (
    UTC,
    D,
    _core_row,
    dbt_build,
    for_styles,
    ist,
    number,
    read,
    with_reference_styles,
)

MARTS = ["leave_balances", "compliance_violations", "sync_health", "recruiting_funnel", "interviewer_load"]

# -- the history -----------------------------------------------------------------------

EMPLOYEES = [
    dict(organization_id="acme", id="emp-1", employee_id="EMP-001", first_name="Asha", last_name="Rao",
         hire_date=D("2020-01-06"), employment_status="active"),
    dict(organization_id="acme", id="emp-2", employee_id="EMP-002", first_name="Bram", last_name="Vos",
         hire_date=D("2025-01-06"), employment_status="active"),
    dict(organization_id="acme", id="emp-3", employee_id="EMP-003", first_name="Dana", last_name="Gone",
         hire_date=D("2018-01-01"), employment_status="active", is_deleted=True,
         deleted_at=dt.datetime(2026, 12, 30, tzinfo=UTC)),
    # Eli left in 2025: balances for 2025 only, whatever the HRMS still lists for later years
    dict(organization_id="acme", id="emp-4", employee_id="EMP-004", first_name="Eli", last_name="Left",
         hire_date=D("2019-01-01"), termination_date=D("2025-06-30"), employment_status="terminated"),
    dict(organization_id="globex", id="emp-1", employee_id="G-1", first_name="Gita", last_name="Sen",
         hire_date=D("2025-06-01"), employment_status="active"),
]


def _leave(org, id, emp, leave_type, start, end, status, applied, **extra):
    return dict(organization_id=org, id=id, employee_id=emp, leave_type=leave_type, start_date=D(start),
                end_date=D(end), status=status, applied_date=D(applied), **extra)


LEAVE_REQUESTS = [
    # Asha's annual leave: Mon 21 .. Fri 25 Dec (25th a holiday: 4 days), then Mon 28 Dec ..
    # Fri 8 Jan (4 days in 2026; 1 Jan holiday, 2-3 Jan weekend: 5 days in 2027)
    _leave("acme", "lr-1", "emp-1", "annual", "2026-12-21", "2026-12-25", "approved", "2026-12-01"),
    _leave("acme", "lr-2", "emp-1", "annual", "2026-12-28", "2027-01-08", "approved", "2026-12-10"),
    # pending, overlapping lr-2 on 31 Dec, applied a day ahead (7 days of notice needed)
    _leave("acme", "lr-3", "emp-1", "annual", "2026-12-31", "2026-12-31", "pending", "2026-12-30"),
    # sick: 2 weeks in March (10 days) + 2 days in June = 12 of 10; the 11th day is 1 June
    _leave("acme", "lr-4", "emp-1", "sick", "2026-03-02", "2026-03-13", "approved", "2026-03-02"),
    _leave("acme", "lr-5", "emp-1", "sick", "2026-06-01", "2026-06-02", "approved", "2026-06-01"),
    # rejected, and deleted: neither counts
    _leave("acme", "lr-6", "emp-1", "casual", "2026-05-04", "2026-05-04", "rejected", "2026-05-04"),
    _leave("acme", "lr-7", "emp-1", "casual", "2026-12-21", "2026-12-21", "approved", "2026-12-21",
           is_deleted=True, deleted_at=dt.datetime(2026, 12, 22, tzinfo=UTC)),
    # unpaid has no policy: no allocation, no notice rule
    _leave("acme", "lr-8", "emp-1", "unpaid", "2026-07-06", "2026-07-07", "approved", "2026-07-06"),
    # Bram: casual leave asked for the same day (1 day of notice needed)
    _leave("acme", "lr-9", "emp-2", "casual", "2026-11-02", "2026-11-02", "pending", "2026-11-02"),
    # the deleted employee's leave: nowhere
    _leave("acme", "lr-10", "emp-3", "annual", "2026-12-21", "2026-12-21", "approved", "2026-11-01"),
    # globex's emp-1 with a request id acme also has: nothing may mix (1 day of notice:
    # enough by globex's policy)
    _leave("globex", "lr-1", "emp-1", "annual", "2026-12-21", "2026-12-22", "approved", "2026-12-20"),
    # Eli's last leave, Mon 3 .. Wed 5 March 2025
    _leave("acme", "lr-11", "emp-4", "annual", "2025-03-03", "2025-03-05", "approved", "2025-02-01"),
]


def _balance(org, emp, leave_type, year, allocated, used, pending, available):
    return dict(organization_id=org, id=f"lb-{emp}-{leave_type}-{year}", employee_id=emp, year=year,
                leave_type=leave_type, total_allocated=allocated, used=used, pending=pending,
                available=available)


LEAVE_BALANCES = [
    # the HRMS grants 24 (the policy says 20): its allocation counts, and it agrees
    _balance("acme", "emp-1", "annual", 2026, 24.0, 8.0, 1.0, 15.0),
    _balance("acme", "emp-1", "sick", 2026, 10.0, 10.0, 0.0, 0.0),  # the HRMS stopped at 10: mismatch
    _balance("acme", "emp-2", "annual", 2026, 20.0, 0.0, 0.0, 20.0),  # no requests: still a row
    # no allocation reported: globex's own policy (22 days) counts
    _balance("globex", "emp-1", "annual", 2026, None, 2.0, 0.0, 20.0),
    # Eli: pro-rated for the half year he worked; the HRMS still lists 2026
    _balance("acme", "emp-4", "annual", 2025, 10.0, 3.0, 0.0, 7.0),
    _balance("acme", "emp-4", "annual", 2026, 24.0, 0.0, 0.0, 24.0),
]

# globex's registry entry: its leave policy, published as every sync of it does
GLOBEX = Organization(id="globex", name="Globex", base_url="http://hrms.invalid/globex",
                      credential_env="HARVEY_GLOBEX_TOKEN", leave_policy={"annual": {"allocation_days": 22,
                                                                                     "min_notice_days": 1}})



def _attendance(org, emp, day, check_in, check_out):
    return dict(organization_id=org, id=f"att-{emp}-{day}", employee_id=emp, date=D(day),
                check_in_time=ist(day, check_in), check_out_time=ist(day, check_out))


ATTENDANCE = [
    # shift window with the defaults: check-in from 07:00, check-out until 09:00+8+2+2 h = 21:00
    _attendance("acme", "emp-2", "2026-11-03", "06:30", "15:00"),  # in too early; 8.5 h
    _attendance("acme", "emp-2", "2026-11-04", "09:00", "20:00"),  # 11 h: 3 h overtime > 2
    _attendance("acme", "emp-2", "2026-11-05", "09:00", "21:30"),  # 4.5 h overtime, out too late
    _attendance("acme", "emp-2", "2026-11-06", "07:00", "15:00"),  # 07:00 exactly: fine
    _attendance("globex", "emp-1", "2026-11-03", "09:00", "19:00"),  # 2 h overtime = the limit: fine
]

# the newest started_at of all runs: sync_health's "now"
REFERENCE = dt.datetime(2027, 1, 10, 12, 0, tzinfo=UTC)
H = dt.timedelta(hours=1)
S = dt.timedelta(seconds=1)


def _run(id, org, entity, status, started, seconds, inserted=0, updated=0, error=None):
    return dict(id=id, organization_id=org, entity=entity, mode="incremental", trigger="schedule",
                status=status, started_at=started, finished_at=None if status == "running" else started + seconds * S,
                inserted=inserted, updated=updated, duration_seconds=None if status == "running" else float(seconds),
                error=error)


SYNC_RUNS = [
    _run("r1", "acme", "employees", "success", REFERENCE - 8 * 24 * H, 60, inserted=100),  # before the 7 days
    _run("r2", "acme", "employees", "failed", REFERENCE - 48 * H, 30, error="HTTP 500"),
    _run("r3", "acme", "employees", "success", REFERENCE - 3 * H, 120, inserted=5, updated=7),
    _run("r4", "acme", "employees", "interrupted", REFERENCE - 1 * H, 10, inserted=3, error="killed"),
    _run("r5", "acme", "attendance", "success", REFERENCE - 72 * H, 600, inserted=50),  # 3 days: stale
    _run("r6", "globex", "employees", "failed", REFERENCE - 240 * H, 5, error="timeout"),
    _run("r7", "globex", "employees", "running", REFERENCE, 0),  # never a success: stale
]

REQUISITIONS = [
    dict(organization_id="acme", id="job-1", requisition_id="REQ-1", title="Backend Developer", status="open"),
    dict(organization_id="acme", id="job-2", requisition_id="REQ-2", title="Designer", status="open"),  # no one
    dict(organization_id="acme", id="job-3", requisition_id="REQ-3", title="Gone", status="closed", is_deleted=True,
         deleted_at=dt.datetime(2026, 12, 1, tzinfo=UTC)),
    dict(organization_id="globex", id="job-1", requisition_id="G-REQ-1", title="Manager", status="filled"),
]


def _candidate(org, id, job, stage, applied="2026-10-01", updated=dt.datetime(2026, 11, 1, tzinfo=UTC), **extra):
    status = stage if stage in ("hired", "rejected", "withdrawn") else "active"
    return dict(organization_id=org, id=id, candidate_id=f"CAND-{id}", first_name="C", last_name=id,
                current_stage=stage,
                applied_for_job_id=job, application_date=D(applied), status=status, updated_at=updated, **extra)


CANDIDATES = [
    _candidate("acme", "c1", "job-1", "applied"),
    _candidate("acme", "c2", "job-1", "screening"),
    _candidate("acme", "c3", "job-1", "screening"),
    _candidate("acme", "c4", "job-1", "technical_interview"),
    _candidate("acme", "c5", "job-1", "onsite"),
    _candidate("acme", "c6", "job-1", "offer"),
    # hired: updated 2026-11-15 20:00 UTC = 2026-11-16 in Kolkata: 46 days after 2026-10-01
    _candidate("acme", "c7", "job-1", "hired", "2026-10-01", dt.datetime(2026, 11, 15, 20, 0, tzinfo=UTC)),
    _candidate("acme", "c8", "job-1", "hired", "2026-10-10", dt.datetime(2026, 11, 9, 10, 0, tzinfo=UTC)),  # 30
    _candidate("acme", "c9", "job-1", "rejected"),
    _candidate("acme", "c10", "job-1", "withdrawn"),
    _candidate("acme", "c11", "job-1", "hired", is_deleted=True, deleted_at=dt.datetime(2026, 12, 1, tzinfo=UTC)),
    _candidate("globex", "c1", "job-1", "hired", "2026-11-01", dt.datetime(2026, 11, 4, 12, 0, tzinfo=UTC)),  # 3
]


def _interview(org, id, interviewer, day, hhmm, status, rating=None, **extra):
    return dict(organization_id=org, id=id, candidate_id="c1", job_id="job-1", interviewer_id=interviewer,
                scheduled_date=ist(day, hhmm), status=status, rating=rating, **extra)


INTERVIEWS = [
    # ISO week 2026-W53 runs Mon 2026-12-28 .. Sun 2027-01-03
    _interview("acme", "i1", "emp-1", "2026-12-28", "10:00", "completed", 4, interviewer_name="Asha Rao"),
    _interview("acme", "i2", "emp-1", "2027-01-03", "10:00", "completed", 5, interviewer_name="Asha Rao"),
    # Monday 01:00 in Kolkata is still Sunday in UTC: week 2027-W01
    _interview("acme", "i3", "emp-1", "2027-01-04", "01:00", "no_show", interviewer_name="Asha Rao"),
    _interview("acme", "i4", "emp-1", "2027-01-05", "10:00", "cancelled", interviewer_name="Asha Rao"),
    _interview("acme", "i5", "emp-1", "2027-01-06", "10:00", "scheduled", interviewer_name="Asha Rao"),
    _interview("acme", "i6", "emp-1", "2026-12-29", "10:00", "completed", 1, is_deleted=True,
               deleted_at=dt.datetime(2027, 1, 1, tzinfo=UTC)),
    _interview("acme", "i7", "emp-2", "2026-12-29", "10:00", "completed"),
    _interview("globex", "i1", "emp-1", "2026-12-29", "10:00", "completed", 3),
]


# -- the expected answers ----------------------------------------------------------------

# (org, employee, leave type, year) -> allocation, allocation_source, policy allocation, used,
#       pending, available, exceeded_on, has_reported, reported_used, reported_available, mismatch
EXPECTED_BALANCES = {
    ("acme", "emp-1", "annual", 2026): (24, "hrms", 20, 8, 1, 15, None, True, 8, 15, False),
    ("acme", "emp-1", "annual", 2027): (20, "policy", 20, 5, 0, 15, None, False, None, None, False),
    ("acme", "emp-1", "sick", 2026): (10, "hrms", 10, 12, 0, -2, "2026-06-01", True, 10, 0, True),
    ("acme", "emp-1", "unpaid", 2026): (None, None, None, 2, 0, None, None, False, None, None, False),
    ("acme", "emp-2", "annual", 2026): (20, "hrms", 20, 0, 0, 20, None, True, 0, 20, False),
    ("acme", "emp-2", "casual", 2026): (7, "policy", 7, 0, 1, 6, None, False, None, None, False),
    ("acme", "emp-4", "annual", 2025): (10, "hrms", 20, 3, 0, 7, None, True, 3, 7, False),
    ("globex", "emp-1", "annual", 2026): (22, "policy", 22, 2, 0, 20, None, True, 2, 20, False),
}

# (org, employee, rule, occurred_on) -> severity, evidence
EXPECTED_VIOLATIONS = {
    ("acme", "emp-2", "outside_shift_hours", "2026-11-03"): ("medium", "check-in 06:30 before 07:00"),
    ("acme", "emp-2", "overtime_beyond_limit", "2026-11-04"): ("high", "worked 11 h: 3 h overtime, limit 2 h"),
    ("acme", "emp-2", "overtime_beyond_limit", "2026-11-05"): ("high", "worked 12.5 h: 4.5 h overtime, limit 2 h"),
    ("acme", "emp-2", "outside_shift_hours", "2026-11-05"): ("medium", "check-out 21:30 after 21:00"),
    ("acme", "emp-1", "leave_exceeds_balance", "2026-06-01"): (
        "high", "sick 2026: 12 days used or pending of 10 (available -2)"),
    ("acme", "emp-1", "overlapping_leave", "2026-12-31"): (
        "medium", "lr-2 (annual, approved, 2026-12-28 → 2027-01-08) overlaps lr-3 (annual, pending, "
                  "2026-12-31 → 2026-12-31)"),
    ("acme", "emp-1", "short_notice_leave", "2026-12-30"): (
        "low", "lr-3 applied 2026-12-30 for annual leave from 2026-12-31: 1 days of notice, policy 7"),
    ("acme", "emp-2", "short_notice_leave", "2026-11-02"): (
        "low", "lr-9 applied 2026-11-02 for casual leave from 2026-11-02: 0 days of notice, policy 1"),
}

# (org, entity) -> last success, last failure, last error, success rate 7d, records 24h,
#                  avg duration, cadence, lag minutes, stale
EXPECTED_SYNC_HEALTH = {
    ("acme", "employees"): (REFERENCE - 3 * H + 120 * S, REFERENCE - H + 10 * S, "killed", 0.3333, 15, 120.0,
                            120, 178.0, False),
    ("acme", "attendance"): (REFERENCE - 72 * H + 600 * S, None, None, 1.0, 0, 600.0, 1440, 4310.0, True),
    ("globex", "employees"): (None, REFERENCE - 240 * H + 5 * S, "timeout", None, 0, None, 120, None, True),
}

# (org, requisition) -> candidates; by current stage applied, screening, technical_interview,
# onsite, offer, hired, rejected, withdrawn; reached applied .. hired; the 5 rates; time to hire
EXPECTED_FUNNEL = {
    ("acme", "job-1"): (10, (1, 2, 1, 1, 1, 2, 1, 1), (8, 7, 5, 4, 3, 2),
                        (0.875, 0.7143, 0.8, 0.75, 0.6667), 38.0),
    ("acme", "job-2"): (0, (0,) * 8, (0,) * 6, (None,) * 5, None),
    ("globex", "job-1"): (1, (0, 0, 0, 0, 0, 1, 0, 0), (1,) * 6, (1.0,) * 5, 3.0),
}

# (org, interviewer, week start) -> iso year, iso week, interviews, scheduled, completed,
#                                   no shows, cancelled, average rating
EXPECTED_LOAD = {
    ("acme", "emp-1", "2026-12-28"): (2026, 53, 2, 0, 2, 0, 0, 4.5),
    ("acme", "emp-1", "2027-01-04"): (2027, 1, 3, 1, 0, 1, 1, None),
    ("acme", "emp-2", "2026-12-28"): (2026, 53, 1, 0, 1, 0, 0, None),
    ("globex", "emp-1", "2026-12-28"): (2026, 53, 1, 0, 1, 0, 0, 3.0),
}


# -- loading, building ---------------------------------------------------------------------

TABLES, _ = with_reference_styles({
    "employees": EMPLOYEES, "leave_requests": LEAVE_REQUESTS, "leave_balances": LEAVE_BALANCES,
    "attendance": ATTENDANCE, "job_requisitions": REQUISITIONS, "candidates": CANDIDATES, "interviews": INTERVIEWS})


def load_history(url: str) -> None:
    warehouse = Warehouse(url)
    try:
        warehouse.migrate()
        with warehouse.engine.begin() as conn:
            for entity, rows in TABLES.items():
                table = schema.CORE_TABLES[entity]
                conn.execute(table.insert(), [_core_row(table, r) for r in rows])
            conn.execute(schema.sync_runs.insert(), SYNC_RUNS)
        assert publish_settings(GLOBEX, warehouse)
    finally:
        warehouse.dispose()


@pytest.fixture
def built(warehouse_url, tmp_path):
    """The history loaded and the marts (and what they need) built and tested by dbt."""
    load_history(warehouse_url)
    selection = " ".join(f"+{m}" for m in MARTS)
    result = dbt_build(warehouse_url, tmp_path, "--select", selection, "--indirect-selection", "cautious")
    assert "WARN=0" in result.stdout and "ERROR=0" in result.stdout, result.stdout[-3000:]
    return warehouse_url


def test_dbt_marts(built):
    check_leave_balances(built)
    check_compliance_violations(built)
    check_sync_health(built)
    check_recruiting(built)


def _date(value):
    return None if value is None else value.isoformat()


def check_leave_balances(url: str) -> None:
    rows = read(url, "select * from marts.leave_balances")
    actual = {
        (r["organization_id"], r["employee_id"], r["leave_type"], r["balance_year"]): (
            number(r["allocation_days"]), r["allocation_source"], number(r["policy_allocation_days"]),
            number(r["used_days"]), number(r["pending_days"]),
            number(r["available_days"]), _date(r["exceeded_on"]), bool(r["has_reported_balance"]),
            number(r["reported_used"]), number(r["reported_available"]), bool(r["balance_mismatch"]))
        for r in rows
    }
    assert actual == {k: tuple(number(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in e)
                      for k, e in for_styles(EXPECTED_BALANCES).items()}


def check_compliance_violations(url: str) -> None:
    rows = read(url, "select * from marts.compliance_violations")
    actual = {(r["organization_id"], r["employee_id"], r["rule"], r["occurred_on"].isoformat()):
              (r["severity"], r["evidence"]) for r in rows}
    assert actual == for_styles(EXPECTED_VIOLATIONS)
    assert len(actual) == len(rows), "one row per violation"
    assert len({r["violation_id"] for r in rows}) == len(rows)


def _utc(value):
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def check_sync_health(url: str) -> None:
    rows = read(url, "select * from marts.sync_health")
    actual = {
        (r["organization_id"], r["entity"]): (
            _utc(r["last_successful_sync_at"]), _utc(r["last_failure_at"]), r["last_error"],
            number(r["success_rate_7d"]), r["records_synced_24h"], number(r["avg_duration_seconds"]),
            r["expected_cadence_minutes"], number(r["freshness_lag_minutes"]), r["is_stale"])
        for r in rows
    }
    assert actual == EXPECTED_SYNC_HEALTH
    assert {_utc(r["reference_at"]) for r in rows} == {REFERENCE}


STAGES = ["applied", "screening", "technical_interview", "onsite", "offer", "hired"]


def check_recruiting(url: str) -> None:
    rows = read(url, "select * from marts.recruiting_funnel")
    actual = {
        (r["organization_id"], r["job_requisition_id"]): (
            r["candidates"],
            tuple(r[f"{s}_candidates"] for s in [*STAGES, "rejected", "withdrawn"]),
            tuple(r[f"reached_{s}"] for s in STAGES),
            tuple(number(r[f"{a}_to_{b}_rate"]) for a, b in zip(STAGES, STAGES[1:])),
            number(r["time_to_hire_days"]))
        for r in rows
    }
    assert actual == for_styles(EXPECTED_FUNNEL)

    rows = read(url, "select * from marts.interviewer_load")
    actual = {
        (r["organization_id"], r["interviewer_id"], r["week_start"].isoformat()): (
            r["iso_year"], r["iso_week"], r["interviews"], r["scheduled"], r["completed"], r["no_shows"],
            r["cancelled"], number(r["average_rating"]))
        for r in rows
    }
    assert actual == for_styles(EXPECTED_LOAD)


# -- end to end: a raise in the HRMS, synced, becomes one timeline event ---------------------

TIMELINE_COLUMNS = ["event_id", "employee_id", "event_type", "effective_date", "date_source", "title",
                    "description", "before_value", "after_value", "amount", "percentage", "currency",
                    "source_entity", "source_id"]


def _as_of(day: dt.date | None) -> tuple[str, ...]:
    return ("--vars", f"{{as_of_date: {day.isoformat()}}}") if day else ()


def _sync_and_build(org, warehouse: Warehouse, tmp_path, as_of: dt.date | None = None) -> dict[str, dict]:
    """Sync employees and employments, build the timeline (as of the day ``as_of``, else today);
    its events by event_id."""
    for entity in ("employees", "employments"):
        assert sync_entity(org, entity, warehouse).status == "success"
    warehouse.engine.dispose()
    with warehouse.for_other_process():
        dbt_build(warehouse.url, tmp_path, "--select", "+employee_timeline", "--indirect-selection", "cautious",
                  *_as_of(as_of))
    with warehouse.engine.connect() as conn:
        rows = conn.execute(sa.text(
            f"select {', '.join(TIMELINE_COLUMNS)} from marts.employee_timeline "
            "where organization_id = :org"), {"org": org.id}).mappings().all()
    warehouse.engine.dispose()
    events = {r["event_id"]: {c: r[c] for c in TIMELINE_COLUMNS} for r in rows}
    assert len(events) == len(rows)
    return events


def assert_a_raise_dated_ahead_takes_effect_on_its_day(org, warehouse: Warehouse, tmp_path, employee_id: str,
                                                      effective: dt.date, today: dt.date) -> None:
    """A vendor test's check: the employee's raise dated ``effective`` (after the source's
    ``today``), synced, is a salary_increase of the timeline on that date, scheduled, and its
    employments row is scheduled, not current; as of its day (the var as_of_date: nothing is
    synced again) the row is current, the row before it is not, and the event is no longer scheduled."""
    _sync_and_build(org, warehouse, tmp_path, as_of=today)

    def state() -> tuple[list[tuple], dict[dt.date, tuple]]:
        with warehouse.engine.connect() as conn:
            events = [tuple(r) for r in conn.execute(sa.text(
                "select effective_date, is_scheduled, source_entity from marts.employee_timeline "
                "where organization_id = :org and employee_id = :employee and event_type = 'salary_increase' "
                "and effective_date >= :today"), {"org": org.id, "employee": employee_id, "today": today})]
            rows = {r.start_date: (r.is_scheduled, r.is_current) for r in conn.execute(sa.text(
                "select start_date, is_scheduled, is_current from staging.stg_employments "
                "where organization_id = :org and employee_id = :employee and not is_deleted"),
                {"org": org.id, "employee": employee_id})}
        warehouse.engine.dispose()
        return events, rows

    events, rows = state()
    assert events == [(effective, True, "employments")], events
    before = max(day for day in rows if day < effective)
    assert (rows[effective], rows[before]) == ((True, False), (False, True)), rows
    with warehouse.for_other_process():
        dbt_build(warehouse.url, tmp_path, "--select", "stg_employments", "employee_timeline", *_as_of(effective))
    events, rows = state()
    assert events == [(effective, False, "employments")], events
    assert (rows[effective], rows[before]) == ((False, True), (False, False)), rows


@pytest.mark.parametrize("reference_style", [*REFERENCE_STYLES, "mixed"])
def test_raise_becomes_one_salary_increase(make_org, control, warehouse, tmp_path, reference_style):
    org = make_org(size=12, **tenant_options(reference_style))
    before = _sync_and_build(org, warehouse, tmp_path)
    assert before, "the synced employees have a timeline"
    assert any(e["event_type"] == "contract_started" for e in before.values()), "employments resolve"

    # an active employee whose running contract (open-ended, started before today) gets the raise;
    # the employment's reference may hold the employee's id or number: core.record_keys resolves it
    with warehouse.engine.connect() as conn:
        employee_id, old_salary = conn.execute(sa.text(
            "select p.source_id, e.salary from core.employments e "
            "join core.record_keys k on k.organization_id = e.organization_id and k.entity = 'employees' "
            "and k.reference = e.employee_id "
            "join core.employees p on p.organization_id = e.organization_id and p.source_id = k.source_id "
            "where e.organization_id = :org and e.end_date is null and not e.is_deleted "
            "and p.employment_status = 'active' and e.salary is not null "
            "order by e.start_date, p.source_id limit 1"), {"org": org.id}).one()
    warehouse.engine.dispose()
    old_salary = float(old_salary)
    new_salary = old_salary + 500
    change = control.give_raise(org.id, employee_id, new_salary)
    assert "previous_employment" in change, "a new employment row, not a correction of today's row"
    new_row = change["employment"]

    after = _sync_and_build(org, warehouse, tmp_path)

    added = {k: v for k, v in after.items() if k not in before}
    assert set(before) <= set(after)
    assert {k: after[k] for k in before} == before, "every earlier event is unchanged"
    assert len(added) == 1, added
    (event,) = added.values()
    assert event["employee_id"] == employee_id and event["event_type"] == "salary_increase"
    assert event["source_entity"] == "employments" and event["source_id"] == new_row["id"]
    assert event["effective_date"].isoformat() == new_row["start_date"]
    assert float(event["amount"]) == pytest.approx(500.0)
    assert float(event["percentage"]) == pytest.approx(round(500 / old_salary * 100, 2), abs=0.006)


# -- end to end: an HRMS at +01:00 that grants 24/12/6 days, registered as such ----------------

def test_an_amsterdam_hrms_is_read_in_its_own_time_and_leave_rules(make_org, control, warehouse, tmp_path):
    """The mock HRMS serves an organization in Europe/Amsterdam whose allocations are 24/12/6
    (the seed's policy says 20/10/7); its registry entry says Europe/Amsterdam and nothing
    else. Synced and built: local check-in times are the HRMS's own wall-clock times, lateness
    follows from them, no check-in or check-out is outside shift hours, balances agree,
    and leavers of earlier years (whose balances the HRMS still lists) have none. (Before,
    every check-in was read 4.5 hours late and every balance mismatched.)"""
    tenant = make_org(size=60, seed=7, timezone="Europe/Amsterdam",  # seed 7: two leavers of 2025
                      leave_allocations={"annual": 24, "sick": 12, "casual": 6})
    org = Organization.model_validate({**tenant.model_dump(), "timezone": "Europe/Amsterdam"})
    for spec in ENTITIES:
        assert sync_entity(org, spec.name, warehouse).status == "success", spec.name
    warehouse.engine.dispose()
    with warehouse.for_other_process():
        dbt_build(warehouse.url, tmp_path, "--select", "+leave_balances +compliance_violations",
                  "--indirect-selection", "cautious")
    where = f"where organization_id = '{org.id}'"

    served: dict[tuple, dt.datetime] = {}  # first check-in per employee and day, as the HRMS wrote it
    for r in control.records(org.id, "attendance"):
        if r.get("check_in_time"):
            stamp = dt.datetime.fromisoformat(r["check_in_time"])
            key = (r["employee_id"], r["date"])
            served[key] = min(served.get(key, stamp), stamp)
    assert {s.utcoffset() for s in served.values()} <= {dt.timedelta(hours=1), dt.timedelta(hours=2)}
    days = read(warehouse.url, f"select * from marts.attendance_daily {where} and check_in_local is not null")
    assert len(days) > 20
    for day in days:
        wall = served[(day["employee_id"], day["attendance_date"].isoformat())]
        assert day["check_in_local"] == wall.replace(tzinfo=None), day
        assert bool(day["is_late"]) == (wall.hour * 3600 + wall.minute * 60 + wall.second > (9 * 60 + 15) * 60), day
    rules = {r["rule"] for r in read(warehouse.url, f"select distinct rule from marts.compliance_violations {where}")}
    assert rules
    assert "outside_shift_hours" not in rules

    balances = read(warehouse.url, f"select * from marts.leave_balances {where}")
    # the mock charges every weekday; we do not charge the organization's holidays (the
    # `_default` Christmas and New Year): only a request over one of them may disagree
    over_holidays = {(d["employee_id"], d["leave_type"], d["leave_year"]) for d in read(
        warehouse.url, f"select * from intermediate.int_leave_request_days {where} and is_holiday")}
    mismatched = {(b["employee_id"], b["leave_type"], b["balance_year"]) for b in balances if b["balance_mismatch"]}
    assert len(balances) > 100 and mismatched <= over_holidays, mismatched - over_holidays
    assert {number(b["allocation_days"]) for b in balances if b["allocation_source"] == "hrms"} >= {24.0, 12.0, 6.0}
    employees = {e["id"]: e for e in control.records(org.id, "employees")}
    leavers = {(b["employee_id"], b["year"]) for b in control.records(org.id, "leave_balances")
               if employees[b["employee_id"]].get("termination_date")
               and employees[b["employee_id"]]["termination_date"] < f"{b['year']}-01-01"}
    assert leavers, "the HRMS lists balances of people who left in an earlier year"
    assert not {(b["employee_id"], b["balance_year"]) for b in balances} & leavers
