"""The dbt project on a small hand-built history with known answers, on DuckDB and PostgreSQL.

The rows go into the core and raw tables of a fresh warehouse made by the project's own
schema (Warehouse.migrate); then the real `dbt build` runs (seeds, models and every
dbt test) and the marts are compared with answers worked out by hand.

Calendar of the data (organization settings: the `_default` row, Asia/Kolkata, work
starts 09:00 with 15 minutes grace, 8 standard hours, weekend sat,sun; holidays:
`_default` Christmas 2026-12-25 and New Year 2027-01-01):

    Dec 2026  Mo 21 Tu 22 We 23 Th 24 [Fr 25 holiday] [Sa 26 Su 27 weekend]
              Mo 28 Tu 29 We 30 Th 31
    Jan 2027  [Fr 1 holiday] [Sa 2 Su 3 weekend] Mo 4 Tu 5

acme's attendance runs 2026-12-21 .. 2027-01-05; globex's 2027-01-04 .. 2027-01-05. Both
organizations have an employee `emp-1`, with different histories: nothing may mix.

References: acme's rows hold the referenced record's id (`emp-1`), as our mock HRMS sends
them; `acme-bk` is acme again with every reference holding the business key (`EMP-001`), as
another implementation of the contract sends them, and `acme-mix` alternates both row by row
(also between versions of one employee record: no bogus manager change). All three have
acme's answers. acme also has one attendance row of an employee not synced yet (a late
arrival, within the tolerance: it is left out, the build passes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from harvey_pipelines.assets.quality import reference_tolerance
from harvey_pipelines.records import ENTITIES, entity
from harvey_pipelines.warehouse import Warehouse, schema

DBT_PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"
UTC = dt.timezone.utc
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))  # Asia/Kolkata, no daylight saving
SYNCED = dt.datetime(2027, 1, 6, 12, 0, tzinfo=UTC)
AS_OF = "2027-01-06"  # "today" of the builds (the var as_of_date): the day of the sync
D = dt.date.fromisoformat


def ist(day: str, hhmm: str) -> dt.datetime:
    """A local Kolkata wall-clock time, stored as the UTC instant it is."""
    return dt.datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=IST).astimezone(UTC)


# -- the history -----------------------------------------------------------------------

EMPLOYEES = [
    # acme: Asha (the rich timeline), Bram (hired mid-month), Chen (terminated mid-month),
    # Dana (deleted at the source: nowhere in the marts)
    dict(organization_id="acme", id="emp-1", employee_id="EMP-001", first_name="Asha", last_name="Rao",
         hire_date=D("2020-01-06"), employment_status="active", manager_id="emp-2", department="Platform",
         job_title="Senior Developer", salary=4000.0, currency="EUR"),
    dict(organization_id="acme", id="emp-2", employee_id="EMP-002", first_name="Bram", last_name="Vos",
         hire_date=D("2026-12-28"), employment_status="active"),
    dict(organization_id="acme", id="emp-3", employee_id="EMP-003", first_name="Chen", last_name="Li",
         hire_date=D("2019-03-01"), termination_date=D("2026-12-23"), employment_status="terminated"),
    dict(organization_id="acme", id="emp-4", employee_id="EMP-004", first_name="Dana", last_name="Gone",
         hire_date=D("2018-01-01"), employment_status="active", is_deleted=True,
         deleted_at=dt.datetime(2026, 12, 30, tzinfo=UTC)),
    # Eve: her status history (payload versions) says on leave, then inactive, then active again
    dict(organization_id="acme", id="emp-5", employee_id="EMP-005", first_name="Eve", last_name="Ng",
         hire_date=D("2026-12-01"), employment_status="active", manager_id="emp-1"),
    # globex: another emp-1
    dict(organization_id="globex", id="emp-1", employee_id="G-1", first_name="Gita", last_name="Sen",
         hire_date=D("2025-06-01"), employment_status="active"),
]

EMPLOYMENTS = [
    # Asha: renewal, raise, a new contract with new hours/title/salary, a department move
    dict(organization_id="acme", id="emp-1-1", employee_id="emp-1", start_date=D("2020-01-06"),
         end_date=D("2020-12-31"), contract_type="fixed_term", hours_per_week=30.0, salary=3000.0,
         salary_period="month", currency="EUR", job_title="Developer", department="Engineering"),
    dict(organization_id="acme", id="emp-1-2", employee_id="emp-1", start_date=D("2021-01-01"),
         end_date=D("2021-12-31"), contract_type="fixed_term", hours_per_week=30.0, salary=3000.0,
         salary_period="month", currency="EUR", job_title="Developer", department="Engineering"),
    dict(organization_id="acme", id="emp-1-3", employee_id="emp-1", start_date=D("2022-01-01"),
         end_date=D("2023-06-30"), contract_type="fixed_term", hours_per_week=30.0, salary=3200.0,
         salary_period="month", currency="EUR", job_title="Developer", department="Engineering"),
    dict(organization_id="acme", id="emp-1-4", employee_id="emp-1", start_date=D("2023-07-01"),
         end_date=D("2024-03-31"), contract_type="permanent", hours_per_week=40.0, salary=4000.0,
         salary_period="month", currency="EUR", job_title="Senior Developer", department="Engineering"),
    dict(organization_id="acme", id="emp-1-5", employee_id="emp-1", start_date=D("2024-04-01"),
         end_date=None, contract_type="permanent", hours_per_week=40.0, salary=4000.0,
         salary_period="month", currency="EUR", job_title="Senior Developer", department="Platform"),
    # Bram: a fixed-term contract that ends in the future, with a raise dated ahead (2027-03-01:
    # scheduled as of AS_OF, current from its day)
    dict(organization_id="acme", id="emp-2-1", employee_id="emp-2", start_date=D("2026-12-28"),
         end_date=D("2027-02-28"), contract_type="fixed_term", hours_per_week=40.0, salary=3500.0,
         salary_period="month", currency="EUR", job_title="Analyst", department="Finance"),
    dict(organization_id="acme", id="emp-2-2", employee_id="emp-2", start_date=D("2027-03-01"),
         end_date=D("2027-06-27"), contract_type="fixed_term", hours_per_week=40.0, salary=3700.0,
         salary_period="month", currency="EUR", job_title="Analyst", department="Finance"),
    # Chen: fewer hours for less pay (in dollars) and another manager (his rows name managers:
    # the change is dated by the row, his versions' manager change is no event), then the
    # contract ends with the termination
    dict(organization_id="acme", id="emp-3-1", employee_id="emp-3", start_date=D("2019-03-01"),
         end_date=D("2022-02-28"), contract_type="permanent", hours_per_week=40.0, salary=5000.0,
         salary_period="month", currency="USD", job_title="Designer", department="Design", manager_id="emp-1"),
    dict(organization_id="acme", id="emp-3-2", employee_id="emp-3", start_date=D("2022-03-01"),
         end_date=D("2026-12-23"), contract_type="permanent", hours_per_week=32.0, salary=4000.0,
         salary_period="month", currency="USD", job_title="Designer", department="Design", manager_id="emp-2"),
    # Dana (deleted) and a deleted employment row of Asha's: both ignored
    dict(organization_id="acme", id="emp-4-1", employee_id="emp-4", start_date=D("2018-01-01"),
         contract_type="permanent", hours_per_week=40.0, salary=1.0, salary_period="month", currency="EUR"),
    dict(organization_id="acme", id="emp-1-x", employee_id="emp-1", start_date=D("2025-01-01"),
         contract_type="permanent", hours_per_week=20.0, salary=9999.0, salary_period="month",
         currency="EUR", is_deleted=True, deleted_at=dt.datetime(2026, 12, 1, tzinfo=UTC)),
    # globex's emp-1: one row
    dict(organization_id="globex", id="emp-1-1", employee_id="emp-1", start_date=D("2025-06-01"),
         contract_type="permanent", hours_per_week=40.0, salary=1200000.0, salary_period="year",
         currency="INR", job_title="Manager", department="Ops"),
]

LEAVE_REQUESTS = [
    dict(organization_id="acme", id="lr-1", employee_id="emp-1", leave_type="annual", start_date=D("2026-12-24"),
         end_date=D("2026-12-24"), total_days=1.0, status="approved"),
    dict(organization_id="acme", id="lr-2", employee_id="emp-1", leave_type="sick", start_date=D("2026-12-29"),
         end_date=D("2026-12-30"), total_days=2.0, status="approved"),
    dict(organization_id="acme", id="lr-3", employee_id="emp-1", leave_type="casual", start_date=D("2026-12-31"),
         end_date=D("2026-12-31"), total_days=1.0, status="rejected"),
    dict(organization_id="acme", id="lr-4", employee_id="emp-2", leave_type="annual", start_date=D("2026-12-30"),
         end_date=D("2026-12-30"), total_days=1.0, status="pending"),
    # Eve's approved leave on a day her status was inactive: the leave counts
    dict(organization_id="acme", id="lr-6", employee_id="emp-5", leave_type="annual", start_date=D("2026-12-28"),
         end_date=D("2026-12-28"), total_days=1.0, status="approved"),
    # approved but deleted at the source
    dict(organization_id="acme", id="lr-5", employee_id="emp-1", leave_type="unpaid", start_date=D("2026-12-31"),
         end_date=D("2026-12-31"), total_days=1.0, status="approved", is_deleted=True,
         deleted_at=dt.datetime(2027, 1, 2, tzinfo=UTC)),
    # globex's emp-1 on leave on a day acme's emp-1 worked: must not leak into acme
    dict(organization_id="globex", id="lr-1", employee_id="emp-1", leave_type="annual", start_date=D("2026-12-21"),
         end_date=D("2026-12-22"), total_days=2.0, status="approved"),
]


def _attendance(org, emp, day, check_in=None, check_out=None, **extra):
    return dict(organization_id=org, id=f"att-{emp}-{day}", employee_id=emp, date=D(day),
                check_in_time=ist(day, check_in) if check_in else None,
                check_out_time=ist(day, check_out) if check_out else None, **extra)


ATTENDANCE = [
    _attendance("acme", "emp-1", "2026-12-21", "09:00", "17:30"),  # present 8.5 h
    _attendance("acme", "emp-1", "2026-12-22", "09:20", "18:20"),  # late (03:50 UTC is not), 9 h
    _attendance("acme", "emp-1", "2026-12-23", "09:10"),  # no check-out: incomplete
    # 12-24 approved leave; 12-25 holiday
    _attendance("acme", "emp-1", "2026-12-26", "10:00", "12:00"),  # a Saturday: not a working day
    _attendance("acme", "emp-1", "2026-12-28", "08:30", "19:30"),  # 11 h: 3 h overtime, over the 2 h limit
    # 12-29, 12-30 approved sick leave; 12-31 nothing (the leave was rejected): absent
    _attendance("acme", "emp-1", "2027-01-04", "09:15", "17:15"),  # 09:15 exactly: not late
    _attendance("acme", "emp-1", "2027-01-05", "09:16", "17:16"),  # late
    _attendance("acme", "emp-2", "2026-12-28", "09:00", "17:00"),  # Bram's first day
    _attendance("acme", "emp-2", "2027-01-04", "08:45", "16:45"),
    # an employee hired after the last employees sync: unresolved, within the tolerance
    _attendance("acme", "emp-new", "2026-12-22", "09:00", "17:00"),
    _attendance("acme", "emp-3", "2026-12-21", "09:05", "17:05"),
    _attendance("acme", "emp-3", "2026-12-23", "09:00", "13:00"),  # Chen's last day
    _attendance("acme", "emp-4", "2026-12-21", "09:00", "17:00"),  # deleted employee
    _attendance("acme", "emp-5", "2026-12-21", "09:00", "17:00"),
    _attendance("acme", "emp-5", "2026-12-24", "09:00", "17:00"),  # on leave by status, but she came
    _attendance("acme", "emp-5", "2027-01-04", "09:00", "17:00"),
    _attendance("globex", "emp-1", "2027-01-04", "10:00", "18:00"),  # late
    _attendance("globex", "emp-1", "2027-01-05", "08:50", "17:20"),  # 8.5 h
]


def _payload_version(org, emp, fetched_at, status, manager_id, phone="1"):
    canonical = {"id": emp, "employment_status": status, "manager_id": manager_id, "phone": phone,
                 "first_name": "x", "last_name": "y"}
    return dict(organization_id=org, entity="employees", source_id=emp,
                source_updated_at=fetched_at - dt.timedelta(hours=1), fetched_at=fetched_at, sync_run_id="run-x",
                **_version_texts(canonical))


def _version_texts(canonical: dict) -> dict:
    """A version's canonical record and, as ``payload``, the same record in a vendor's own shape
    (other names, nested): the models must read the canonical one only."""
    payload = json.dumps({"employeeNumber": canonical["id"], "status": {"name": canonical["employment_status"]},
                          "reportsTo": canonical["manager_id"], "workPhone": canonical["phone"],
                          "names": [canonical["first_name"], canonical["last_name"]]}, sort_keys=True)
    return dict(payload=payload, canonical=json.dumps(canonical, sort_keys=True),
                payload_sha256=hashlib.sha256(payload.encode()).hexdigest())


PAYLOAD_VERSIONS = [
    # Asha: on leave (seen 2026-11-15 20:00 UTC = 2026-11-16 01:30 in Kolkata), a phone change
    # (no event), then back to active with a new manager (seen 2026-12-01)
    _payload_version("acme", "emp-1", dt.datetime(2026, 10, 1, 10, 0, tzinfo=UTC), "active", "emp-3"),
    _payload_version("acme", "emp-1", dt.datetime(2026, 11, 15, 20, 0, tzinfo=UTC), "on_leave", "emp-3"),
    _payload_version("acme", "emp-1", dt.datetime(2026, 11, 20, 8, 0, tzinfo=UTC), "on_leave", "emp-3", phone="2"),
    _payload_version("acme", "emp-1", dt.datetime(2026, 12, 1, 5, 0, tzinfo=UTC), "active", "emp-2", phone="2"),
    _payload_version("acme", "emp-2", dt.datetime(2026, 12, 20, 5, 0, tzinfo=UTC), "active", None),
    # Chen: terminated, first seen 2026-12-24 02:00 UTC (07:30 in Kolkata)
    _payload_version("acme", "emp-3", dt.datetime(2026, 10, 1, 10, 0, tzinfo=UTC), "active", "emp-1"),
    _payload_version("acme", "emp-3", dt.datetime(2026, 12, 24, 2, 0, tzinfo=UTC), "terminated", "emp-2"),
    # Eve: on leave first seen 2026-12-22 20:00 UTC (12-23 in Kolkata), inactive from 12-28
    # (04:00 UTC, 09:30 in Kolkata), active again from 2027-01-04 (03:00 UTC, 08:30; a new phone
    # too: raw keeps a payload it saw before only once)
    _payload_version("acme", "emp-5", dt.datetime(2026, 12, 1, 5, 0, tzinfo=UTC), "active", "emp-1"),
    _payload_version("acme", "emp-5", dt.datetime(2026, 12, 22, 20, 0, tzinfo=UTC), "on_leave", "emp-1"),
    _payload_version("acme", "emp-5", dt.datetime(2026, 12, 28, 4, 0, tzinfo=UTC), "inactive", "emp-1"),
    _payload_version("acme", "emp-5", dt.datetime(2027, 1, 4, 3, 0, tzinfo=UTC), "active", "emp-1", phone="2"),
    # globex's emp-1: one version with another manager, and a status change of its own
    _payload_version("globex", "emp-1", dt.datetime(2026, 10, 1, 10, 0, tzinfo=UTC), "active", "emp-9"),
    _payload_version("globex", "emp-1", dt.datetime(2026, 11, 2, 10, 0, tzinfo=UTC), "inactive", "emp-9"),
]


# -- the expected answers ----------------------------------------------------------------

# per employee, in event_sequence order:
# (event_type, effective_date, date_source, title, before_value, after_value, amount, percentage)
EXPECTED_TIMELINE = {
    ("acme", "emp-1"): [
        ("hired", "2020-01-06", "effective_date", "Hired", None, "2020-01-06", None, None),
        ("contract_started", "2020-01-06", "effective_date", "Contract started", None, "fixed_term", None, None),
        ("contract_renewed", "2021-01-01", "effective_date", "Contract renewed", "2020-12-31", "2021-12-31",
         None, None),
        ("salary_increase", "2022-01-01", "effective_date", "Salary increase +€200", "3000", "3200", 200, 6.67),
        ("contract_type_change", "2023-07-01", "effective_date", "Contract change fixed term→permanent",
         "fixed_term", "permanent", None, None),
        ("job_title_change", "2023-07-01", "effective_date", "Job title change", "Developer", "Senior Developer",
         None, None),
        ("salary_increase", "2023-07-01", "effective_date", "Salary increase +€800", "3200", "4000", 800, 25.0),
        ("hours_change", "2023-07-01", "effective_date", "Hours change 30→40 h/week", "30", "40", None, None),
        ("department_change", "2024-04-01", "effective_date", "Department change", "Engineering", "Platform",
         None, None),
        ("status_change", "2026-11-16", "first_seen", "Status change active→on leave", "active", "on_leave",
         None, None),
        ("manager_change", "2026-12-01", "first_seen", "Manager change", "emp-3", "emp-2", None, None),
        ("status_change", "2026-12-01", "first_seen", "Status change on leave→active", "on_leave", "active",
         None, None),
        ("leave_taken", "2026-12-24", "effective_date", "Annual leave", None, "annual", None, None),
        ("leave_taken", "2026-12-29", "effective_date", "Sick leave", None, "sick", None, None),
    ],
    ("acme", "emp-2"): [
        ("hired", "2026-12-28", "effective_date", "Hired", None, "2026-12-28", None, None),
        ("contract_started", "2026-12-28", "effective_date", "Contract started", None, "fixed_term", None, None),
        ("salary_increase", "2027-03-01", "effective_date", "Salary increase +€200", "3500", "3700", 200, 5.71),
        ("contract_ended", "2027-06-27", "effective_date", "Contract ended", "fixed_term", None, None, None),
    ],
    ("acme", "emp-3"): [
        ("hired", "2019-03-01", "effective_date", "Hired", None, "2019-03-01", None, None),
        ("contract_started", "2019-03-01", "effective_date", "Contract started", None, "permanent", None, None),
        ("salary_decrease", "2022-03-01", "effective_date", "Salary decrease -$1000", "5000", "4000", -1000, -20.0),
        ("hours_change", "2022-03-01", "effective_date", "Hours change 40→32 h/week", "40", "32", None, None),
        ("manager_change", "2022-03-01", "effective_date", "Manager change", "emp-1", "emp-2", None, None),
        ("contract_ended", "2026-12-23", "effective_date", "Contract ended", "permanent", None, None, None),
        ("terminated", "2026-12-23", "effective_date", "Terminated", None, "2026-12-23", None, None),
        ("status_change", "2026-12-24", "first_seen", "Status change active→terminated", "active", "terminated",
         None, None),
    ],
    ("acme", "emp-5"): [
        ("hired", "2026-12-01", "effective_date", "Hired", None, "2026-12-01", None, None),
        ("status_change", "2026-12-23", "first_seen", "Status change active→on leave", "active", "on_leave",
         None, None),
        ("status_change", "2026-12-28", "first_seen", "Status change on leave→inactive", "on_leave", "inactive",
         None, None),
        ("leave_taken", "2026-12-28", "effective_date", "Annual leave", None, "annual", None, None),
        ("status_change", "2027-01-04", "first_seen", "Status change inactive→active", "inactive", "active",
         None, None),
    ],
    ("globex", "emp-1"): [
        ("hired", "2025-06-01", "effective_date", "Hired", None, "2025-06-01", None, None),
        ("contract_started", "2025-06-01", "effective_date", "Contract started", None, "permanent", None, None),
        ("status_change", "2026-11-02", "first_seen", "Status change active→inactive", "active", "inactive",
         None, None),
        ("leave_taken", "2026-12-21", "effective_date", "Annual leave", None, "annual", None, None),
    ],
}

# (employee, date) -> (status, worked_hours, is_late, overtime_hours, check-in local "HH:MM" or None)
EXPECTED_DAILY = {
    ("acme", "emp-1"): {
        "2026-12-21": ("present", 8.5, False, 0.5, "09:00"),
        "2026-12-22": ("present", 9.0, True, 1.0, "09:20"),
        "2026-12-23": ("incomplete", None, False, 0.0, "09:10"),
        "2026-12-24": ("on_leave", 0.0, False, 0.0, None),
        "2026-12-28": ("present", 11.0, False, 3.0, "08:30"),
        "2026-12-29": ("on_leave", 0.0, False, 0.0, None),
        "2026-12-30": ("on_leave", 0.0, False, 0.0, None),
        "2026-12-31": ("absent", 0.0, False, 0.0, None),
        "2027-01-04": ("present", 8.0, False, 0.0, "09:15"),
        "2027-01-05": ("present", 8.0, True, 0.0, "09:16"),
    },
    ("acme", "emp-2"): {  # hired 2026-12-28
        "2026-12-28": ("present", 8.0, False, 0.0, "09:00"),
        "2026-12-29": ("absent", 0.0, False, 0.0, None),
        "2026-12-30": ("absent", 0.0, False, 0.0, None),  # pending leave does not count
        "2026-12-31": ("absent", 0.0, False, 0.0, None),
        "2027-01-04": ("present", 8.0, False, 0.0, "08:45"),
        "2027-01-05": ("absent", 0.0, False, 0.0, None),
    },
    ("acme", "emp-3"): {  # terminated 2026-12-23
        "2026-12-21": ("present", 8.0, False, 0.0, "09:05"),
        "2026-12-22": ("absent", 0.0, False, 0.0, None),
        "2026-12-23": ("present", 4.0, False, 0.0, "09:00"),
    },
    ("acme", "emp-5"): {  # status: on_leave 12-23 .. 12-27, inactive 12-28 .. 01-03
        "2026-12-21": ("present", 8.0, False, 0.0, "09:00"),
        "2026-12-22": ("absent", 0.0, False, 0.0, None),
        "2026-12-23": ("on_leave", 0.0, False, 0.0, None),  # by status: no leave type
        "2026-12-24": ("present", 8.0, False, 0.0, "09:00"),  # she came: attendance wins
        "2026-12-28": ("on_leave", 0.0, False, 0.0, None),  # approved annual leave wins over inactive
        "2026-12-29": ("inactive", 0.0, False, 0.0, None),
        "2026-12-30": ("inactive", 0.0, False, 0.0, None),
        "2026-12-31": ("inactive", 0.0, False, 0.0, None),
        "2027-01-04": ("present", 8.0, False, 0.0, "09:00"),
        "2027-01-05": ("absent", 0.0, False, 0.0, None),
    },
    ("globex", "emp-1"): {  # globex's range is 2027-01-04 .. 2027-01-05 only
        "2027-01-04": ("present", 8.0, True, 0.0, "10:00"),
        "2027-01-05": ("present", 8.5, False, 0.5, "08:50"),
    },
}

# (employee, month) -> working, present, incomplete, leave, absent, inactive, late, total hours,
# overtime, rate = (present + incomplete) / (present + incomplete + absent)
EXPECTED_MONTHLY = {
    ("acme", "emp-1", "2026-12-01"): (8, 3, 1, 3, 1, 0, 1, 28.5, 4.5, 0.8),
    ("acme", "emp-1", "2027-01-01"): (2, 2, 0, 0, 0, 0, 1, 16.0, 0.0, 1.0),
    ("acme", "emp-2", "2026-12-01"): (4, 1, 0, 0, 3, 0, 0, 8.0, 0.0, 0.25),
    ("acme", "emp-2", "2027-01-01"): (2, 1, 0, 0, 1, 0, 0, 8.0, 0.0, 0.5),
    ("acme", "emp-3", "2026-12-01"): (3, 2, 0, 0, 1, 0, 0, 12.0, 0.0, 0.6667),
    # Eve: leave (by status and approved) and inactive days are not days she was expected at work
    ("acme", "emp-5", "2026-12-01"): (8, 2, 0, 2, 1, 3, 0, 16.0, 0.0, 0.6667),
    ("acme", "emp-5", "2027-01-01"): (2, 1, 0, 0, 1, 0, 0, 8.0, 0.0, 0.5),
    ("globex", "emp-1", "2027-01-01"): (2, 2, 0, 0, 0, 0, 1, 16.5, 0.5, 1.0),
}


# -- the same history with references by business key, and mixed ---------------------------

# organization -> which key its references hold; the copies get acme's rows and answers
STYLES = {"acme": "id", "acme-bk": "business_key", "acme-mix": "mixed"}


def business_keys(tables: dict[str, list[dict]]) -> dict[str, dict[tuple[str, str], str]]:
    """{entity: {(organization, id): business key}} of the rows of entities that have one."""
    keys: dict[str, dict[tuple[str, str], str]] = {}
    for name, rows in tables.items():
        code = entity(name).business_key
        if code:
            keys[name] = {(r["organization_id"], r["id"]): r[code] for r in rows if r.get(code)}
    return keys


def _by_key(style: str, index: int) -> bool:
    return style == "business_key" or (style == "mixed" and index % 2 == 1)


def _restyle(values: dict, name: str, keys, source: str) -> dict:
    values = dict(values)
    for ref in entity(name).references:
        if values.get(ref.column) is not None:
            values[ref.column] = keys.get(ref.entity, {}).get((source, values[ref.column]), values[ref.column])
    return values


def with_reference_styles(tables: dict[str, list[dict]], versions: list[dict] = (), source: str = "acme"):
    """``tables`` ({entity: rows}) and raw employee ``versions`` plus, for each organization
    of STYLES but ``source``, a copy of ``source``'s rows whose references hold business keys
    (or, mixed, every other row); a value without a business key stays as it is."""
    keys = business_keys(tables)
    tables = {name: list(rows) for name, rows in tables.items()}
    versions = list(versions)
    for org, style in STYLES.items():
        if org == source:
            continue
        for name, rows in list(tables.items()):
            copies = [r for r in rows if r["organization_id"] == source]
            tables[name] += [{**(_restyle(r, name, keys, source) if _by_key(style, i) else r), "organization_id": org}
                             for i, r in enumerate(copies)]
        for i, version in enumerate([v for v in versions if v["organization_id"] == source]):
            canonical = json.loads(version["canonical"])
            if _by_key(style, i):
                canonical = _restyle(canonical, version["entity"], keys, source)
            versions.append({**version, "organization_id": org, **_version_texts(canonical)})
    return tables, versions


def for_styles(expected: dict, source: str = "acme") -> dict:
    """The answers of ``source`` for every organization of STYLES too (keys start with the organization)."""
    out = dict(expected)
    for org in STYLES:
        out.update({(org, *k[1:]): v for k, v in expected.items() if k[0] == source})
    return out


TABLES, VERSIONS = with_reference_styles(
    {"employees": EMPLOYEES, "employments": EMPLOYMENTS, "leave_requests": LEAVE_REQUESTS, "attendance": ATTENDANCE},
    PAYLOAD_VERSIONS)


# -- loading, building, reading ------------------------------------------------------------

def _core_row(table: sa.Table, values: dict) -> dict:
    row = {c.name: None for c in table.columns}
    row.update(values)
    row["source_id"] = row.pop("id")
    row.update(record_hash=f"hash-{row['organization_id']}-{row['source_id']}", synced_at=SYNCED,
               first_synced_at=SYNCED, sync_run_id="run-x", is_deleted=bool(row["is_deleted"]))
    unknown = set(row) - set(table.columns.keys())
    assert not unknown, f"not columns of {table.name}: {unknown}"
    return row


def load_history(url: str, tables: dict[str, list[dict]] = TABLES, versions: list[dict] = VERSIONS) -> None:
    warehouse = Warehouse(url)
    try:
        warehouse.migrate()
        with warehouse.engine.begin() as conn:
            for name, rows in tables.items():
                table = schema.CORE_TABLES[name]
                conn.execute(table.insert(), [_core_row(table, r) for r in rows])
            if versions:
                conn.execute(schema.payload_versions.insert(), versions)
    finally:
        warehouse.dispose()


def dbt_env(url: str, tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, "DBT_LOG_PATH": str(tmp_path / "dbt_logs"), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
           "DO_NOT_TRACK": "1"}
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "duckdb":
        env.update(HARVEY_DBT_TARGET="duckdb", HARVEY_DUCKDB_PATH=str(parsed.database))
    else:
        env.update(HARVEY_DBT_TARGET="postgres", HARVEY_PG_HOST=parsed.host or "127.0.0.1",
                   HARVEY_PG_PORT=str(parsed.port or 5432), HARVEY_PG_USER=parsed.username or "postgres",
                   HARVEY_PG_PASSWORD=parsed.password or "", HARVEY_PG_DATABASE=parsed.database)
    return env


def dbt(*args: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    executable = Path(sys.executable).parent / "dbt"
    command = [str(executable), *args, "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT),
               "--target-path", str(tmp_path / "dbt_target")]
    return subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)


def dbt_build(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """`dbt build` with ``args`` against ``url``, asserted to succeed; its completed process."""
    result = dbt("build", *args, env=dbt_env(url, tmp_path), tmp_path=tmp_path)
    assert result.returncode == 0, f"dbt build failed:\n{result.stdout[-6000:]}\n{result.stderr[-2000:]}"
    return result


def read(url: str, sql: str) -> list[dict]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


def number(value):
    return None if value is None else float(value)


@pytest.fixture
def built(warehouse_url, tmp_path):
    """The history loaded and `dbt build` run; the warehouse URL."""
    load_history(warehouse_url)
    result = dbt_build(warehouse_url, tmp_path, "--vars", f"{{as_of_date: {AS_OF}}}")
    assert "WARN=0" in result.stdout and "ERROR=0" in result.stdout, result.stdout[-3000:]
    return warehouse_url


def test_dbt_models(built, tmp_path):
    check_timeline(built)
    check_attendance_daily(built)
    check_attendance_monthly(built)
    check_references(built)
    check_rows_dated_ahead(built, tmp_path)  # last: it rebuilds the timeline as of other days


def check_timeline(url: str) -> None:
    rows = read(url, "select * from marts.employee_timeline order by organization_id, employee_id, event_sequence")
    actual: dict[tuple, list] = {}
    for r in rows:
        assert r["event_sequence"] == len(actual.get((r["organization_id"], r["employee_id"]), [])) + 1
        actual.setdefault((r["organization_id"], r["employee_id"]), []).append(
            (r["event_type"], r["effective_date"].isoformat(), r["date_source"], r["title"], r["before_value"],
             r["after_value"], number(r["amount"]), number(r["percentage"])))
    expected_timeline = for_styles(EXPECTED_TIMELINE)
    assert set(actual) == set(expected_timeline), "the deleted employee has no timeline; every other one has"
    for key, expected in expected_timeline.items():
        assert actual[key] == [(*e[:6], number(e[6]), number(e[7])) for e in expected], key

    by_type = {(r["organization_id"], r["employee_id"], r["event_type"], r["effective_date"].isoformat()): r
               for r in rows}
    for org in STYLES:  # resolved references: the same names and ids whichever key the source sent
        raise_ = by_type[(org, "emp-1", "salary_increase", "2022-01-01")]
        assert raise_["description"] == "€3000 → €3200 per month (+6.67%)"
        assert raise_["currency"] == "EUR" and raise_["source_entity"] == "employments"
        assert raise_["source_id"] == "emp-1-3"
        assert by_type[(org, "emp-1", "manager_change", "2026-12-01")]["description"] == "Chen Li → Bram Vos"
        assert by_type[(org, "emp-1", "hired", "2020-01-06")]["description"] == "Joined as Developer, Engineering"
        assert by_type[(org, "emp-1", "leave_taken", "2026-12-29")]["description"] == \
            "2026-12-29 → 2026-12-30 (2 days)"
        # from the employment rows, by the row's date and named; the versions' change is no event
        moved = by_type[(org, "emp-3", "manager_change", "2022-03-01")]
        assert (moved["description"], moved["source_id"]) == ("Asha Rao → Bram Vos", "emp-3-2")
    assert len({r["event_id"] for r in rows}) == len(rows)
    # dated after AS_OF: not yet in effect
    assert {(r["organization_id"], r["employee_id"], r["event_type"]) for r in rows if r["is_scheduled"]} == {
        (org, "emp-2", event) for org in STYLES for event in ("salary_increase", "contract_ended")}


def check_rows_dated_ahead(url: str, tmp_path: Path) -> None:
    """Bram's raise dated 2027-03-01 is scheduled as of AS_OF; as of its day it is the current
    row and the one before is not, in staging (a view) and the timeline. Unpinned, staging
    judges by the date in the organization's time zone now."""
    def employments() -> dict[str, tuple[bool, bool]]:
        return {r["source_id"]: (r["is_scheduled"], r["is_current"]) for r in read(
            url, "select source_id, is_scheduled, is_current from staging.stg_employments "
                 "where organization_id = 'acme' and employee_id = 'emp-2'")}

    def raise_scheduled() -> bool:
        (event,) = read(url, "select is_scheduled from marts.employee_timeline where organization_id = 'acme' "
                             "and employee_id = 'emp-2' and event_type = 'salary_increase'")
        return event["is_scheduled"]

    assert employments() == {"emp-2-1": (False, True), "emp-2-2": (True, False)}
    assert raise_scheduled()
    for day in ("2027-03-01", "2027-04-15"):  # its day, and after it
        dbt_build(url, tmp_path, "--select", "stg_employments", "employee_timeline", "--vars", f"{{as_of_date: {day}}}")
        assert employments() == {"emp-2-1": (False, False), "emp-2-2": (False, True)}, day
        assert not raise_scheduled(), day
    dbt_build(url, tmp_path, "--select", "stg_employments")
    today = dt.datetime.now(IST).date()
    assert employments() == {
        "emp-2-1": (today < D("2026-12-28"), D("2026-12-28") <= today <= D("2027-02-28")),
        "emp-2-2": (today < D("2027-03-01"), D("2027-03-01") <= today <= D("2027-06-27"))}


def check_attendance_daily(url: str) -> None:
    rows = read(url, "select * from marts.attendance_daily order by organization_id, employee_id, attendance_date")
    actual: dict[tuple, dict] = {}
    for r in rows:
        local = r["check_in_local"].strftime("%H:%M") if r["check_in_local"] is not None else None
        actual.setdefault((r["organization_id"], r["employee_id"]), {})[r["attendance_date"].isoformat()] = (
            r["status"], number(r["worked_hours"]), bool(r["is_late"]), number(r["overtime_hours"]), local)
    assert actual == for_styles(EXPECTED_DAILY)

    day = {(r["organization_id"], r["employee_id"], r["attendance_date"].isoformat()): r for r in rows}
    for org in STYLES:
        overtime_day = day[(org, "emp-1", "2026-12-28")]
        assert overtime_day["exceeds_overtime_limit"]
        assert overtime_day["check_out_local"] == dt.datetime(2026, 12, 28, 19, 30)
        assert not day[(org, "emp-1", "2026-12-21")]["exceeds_overtime_limit"]
        assert day[(org, "emp-1", "2026-12-24")]["leave_type"] == "annual"
        assert day[(org, "emp-1", "2026-12-22")]["late_minutes"] == 20
        # on leave by approved leave has its type; on leave by status has none
        assert day[(org, "emp-5", "2026-12-28")]["leave_type"] == "annual"
        assert day[(org, "emp-5", "2026-12-23")]["leave_type"] is None
    assert {r["timezone"] for r in rows} == {"Asia/Kolkata"}
    # check_in_at keeps the instant: 09:20 in Kolkata is 03:50 UTC
    check_in = day[("acme", "emp-1", "2026-12-22")]["check_in_at"]
    check_in = check_in if check_in.tzinfo else check_in.replace(tzinfo=UTC)
    assert check_in == dt.datetime(2026, 12, 22, 3, 50, tzinfo=UTC)


def check_attendance_monthly(url: str) -> None:
    rows = read(url, "select * from marts.attendance_monthly")
    actual = {
        (r["organization_id"], r["employee_id"], r["month_start"].isoformat()): (
            r["working_days"], r["present_days"], r["incomplete_days"], r["leave_days"], r["absent_days"],
            r["inactive_days"], r["late_arrivals"], number(r["total_hours"]), number(r["overtime_hours"]),
            number(r["attendance_rate"]))
        for r in rows
    }
    assert actual == {k: tuple(number(v) if isinstance(v, float) else v for v in e)
                      for k, e in for_styles(EXPECTED_MONTHLY).items()}
    # the months add up to the days
    daily = read(url, "select count(*) as n, sum(worked_hours) as hours from marts.attendance_daily")[0]
    assert sum(e[0] for e in actual.values()) == daily["n"]
    assert sum(e[7] for e in actual.values()) == pytest.approx(float(daily["hours"]))
    for working, present, incomplete, leave, absent, inactive, *_ in actual.values():
        assert present + incomplete + leave + absent + inactive == working


def check_references(url: str) -> None:
    """Staging resolves by id and by business key alike; what resolves to nothing is kept."""
    rows = read(url, "select organization_id, employee_id, employee_id_ref from staging.stg_attendance "
                     "where employee_id is null or employee_id <> employee_id_ref")
    by_key = {(r["organization_id"], r["employee_id_ref"]): r["employee_id"] for r in rows}
    assert by_key[("acme-bk", "EMP-001")] == "emp-1" and by_key[("acme-mix", "EMP-005")] == "emp-5"
    assert by_key[("acme-bk", "EMP-004")] == "emp-4", "a deleted employee still resolves"
    assert {k for k, v in by_key.items() if v is None} == {(org, "emp-new") for org in STYLES}
    assert not any(k[0] in ("acme", "globex") for k, v in by_key.items() if v is not None), "by id: unchanged"

    # the blocking quality check's SQL: the late arrival is seen, and tolerated
    warehouse = Warehouse(url)
    try:
        late = warehouse.unresolved_references("attendance", reference_tolerance())
        assert {(u.organization_id, u.column, u.references, u.unresolved, u.failing) for u in late} == {
            (org, "employee_id", len([r for r in ATTENDANCE if r["organization_id"] == "acme"]), 1, False)
            for org in STYLES}
        assert {tuple(u.examples) for u in late} == {(("att-emp-new-2026-12-22", "emp-new"),)}
        for spec in ENTITIES:
            if spec.name != "attendance":
                assert warehouse.unresolved_references(spec.name, reference_tolerance()) == [], spec.name
    finally:
        warehouse.dispose()


def test_references_that_resolve_to_nothing_fail_the_build(warehouse_url, tmp_path):
    """acme's attendance as a server would send it whose employee numbers are not the ones
    the employees carry (EMP000001, not EMP-001): nothing resolves. A first load (no sync run
    before it) is judged like any other: dbt build fails, names the test and the references,
    and builds nothing on top; the blocking check's SQL finds the same, with examples."""
    attendance = [{**r, "employee_id": "EMP%06d" % (int(r["employee_id"][4:]) if r["employee_id"][4:].isdigit()
                                                   else 99)}
                  for r in ATTENDANCE if r["organization_id"] == "acme"]
    load_history(warehouse_url, {"employees": EMPLOYEES, "attendance": attendance}, [])
    tolerance = reference_tolerance()
    assert len(attendance) > tolerance.tolerated(len(attendance)), "a fixture beyond the tolerance"

    result = dbt("build", "--select", "stg_attendance+", env=dbt_env(warehouse_url, tmp_path), tmp_path=tmp_path)
    out = result.stdout
    assert result.returncode != 0, out[-3000:]
    test = "references_resolve_stg_attendance_employee_id__employees"
    assert f"Failure in test {test}" in out, out[-3000:]
    # the on-run-end hook writes the failing rows into the log
    line = (rf"Unresolved references \({test}\): organization acme, stg_attendance\.employee_id -> employees: "
            rf"{len(attendance)} of {len(attendance)} live references resolve to no record \(tolerated "
            rf"{tolerance.tolerated(len(attendance))}\), e\.g\. EMP000001, EMP000002, EMP000003, EMP000004, "
            rf"EMP000005\b")
    assert re.search(line, out), out[-3000:]
    # nothing is built on the broken table: the marts would have lost every row
    assert re.search(r"SKIP relation marts\.attendance_daily", out), out[-3000:]

    warehouse = Warehouse(warehouse_url)
    try:
        (found,) = warehouse.unresolved_references("attendance", tolerance)
    finally:
        warehouse.dispose()
    assert (found.organization_id, found.column, found.references, found.unresolved, found.failing) == (
        "acme", "employee_id", len(attendance), len(attendance), True)
    assert [value for _, value in found.examples] == ["EMP000001", "EMP000002", "EMP000003", "EMP000004",
                                                      "EMP000005"]
    assert found.examples[0] == ("att-emp-1-2026-12-21", "EMP000001"), "a row holding the value, the first"
    assert "attendance.employee_id -> employees" in found.summary() and "EMP000001" in found.summary()


def test_dbt_parse_needs_no_database(tmp_path):
    """`dbt parse` (run at install time, and by Dagster to load the asset graph) works
    without any warehouse: the DuckDB path points nowhere, no PostgreSQL is asked."""
    env = {**os.environ, "DBT_LOG_PATH": str(tmp_path / "logs"), "HARVEY_DBT_TARGET": "duckdb",
           "HARVEY_DUCKDB_PATH": str(tmp_path / "missing" / "warehouse.duckdb"), "DO_NOT_TRACK": "1"}
    result = dbt("parse", env=env, tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]
    assert (tmp_path / "dbt_target" / "manifest.json").exists()
    assert not (tmp_path / "missing").exists()

    # every reference the entity specs declare is resolved and judged in staging
    manifest = json.loads((tmp_path / "dbt_target" / "manifest.json").read_text())
    judged = {(n["attached_node"].split(".")[-1], n["test_metadata"]["kwargs"]["column_name"],
               n["test_metadata"]["kwargs"]["to"])
              for n in manifest["nodes"].values()
              if n["resource_type"] == "test" and (n.get("test_metadata") or {}).get("name") == "references_resolve"}
    assert judged == {(f"stg_{spec.name}", ref.column, ref.entity) for spec in ENTITIES for ref in spec.references}
    for model, column, _ in judged:
        columns = manifest["nodes"][f"model.harvey.{model}"]["columns"]
        assert f"{column}_ref" in columns, (model, column)


# -- organization settings from the registry ---------------------------------------------
#
# Two organizations configured in the registry and published to the warehouse (as a sync
# does): kolkata (Asia/Kolkata, +05:30, the public holidays of India) and amsterdam
# (Europe/Amsterdam, +01:00 in winter, 7.5 standard hours, a company day as its only holiday).
# Work starts 09:00 with 15 minutes grace for both (the seed's `_default`).
#
#   Jan 2027  [Fr 1: New Year, a `_default` holiday; amsterdam has a calendar of its own]
#             Mo 25  [Tu 26: Republic Day in India]  [We 27: amsterdam's company day]

def local(day: str, hhmm: str, zone: str) -> dt.datetime:
    from zoneinfo import ZoneInfo

    return dt.datetime.fromisoformat(f"{day}T{hhmm}").replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


REGISTRY_ORGS = [
    dict(id="kolkata", name="Kolkata", base_url="http://hrms.invalid/kolkata", credential_env="HARVEY_KOLKATA_TOKEN",
         timezone="Asia/Kolkata", holidays={"country": "IN"}),
    dict(id="amsterdam", name="Amsterdam", base_url="http://hrms.invalid/amsterdam",
         credential_env="HARVEY_AMSTERDAM_TOKEN", timezone="Europe/Amsterdam", standard_hours=7.5,
         holidays={"dates": {"2027-01-27": "Company day"}}),
]


def _local_attendance(org, zone, day, check_in, check_out):
    return dict(organization_id=org, id=f"att-{day}", employee_id="emp-1", date=D(day),
                check_in_time=local(day, check_in, zone), check_out_time=local(day, check_out, zone))


SETTINGS_EMPLOYEES = [
    dict(organization_id=org, id="emp-1", employee_id="E-1", first_name="A", last_name=org, hire_date=D("2020-01-06"),
         employment_status="active") for org in ("kolkata", "amsterdam")
]
SETTINGS_ATTENDANCE = [
    _local_attendance("kolkata", "Asia/Kolkata", "2027-01-25", "09:10", "17:10"),
    _local_attendance("kolkata", "Asia/Kolkata", "2027-01-26", "09:00", "17:00"),  # Republic Day
    _local_attendance("kolkata", "Asia/Kolkata", "2027-01-27", "09:20", "17:20"),  # late
    _local_attendance("amsterdam", "Europe/Amsterdam", "2027-01-01", "09:10", "17:10"),
    _local_attendance("amsterdam", "Europe/Amsterdam", "2027-01-25", "09:10", "17:10"),
    _local_attendance("amsterdam", "Europe/Amsterdam", "2027-01-27", "09:00", "12:00"),  # company day
]


def _build_settings_marts(url: str, tmp_path: Path) -> None:
    result = dbt_build(url, tmp_path, "--select", "+attendance_daily +compliance_violations",
                       "--indirect-selection", "cautious")
    assert "WARN=0" in result.stdout and "ERROR=0" in result.stdout, result.stdout[-3000:]


def _attendance_rows(url: str) -> dict[tuple, dict]:
    rows = read(url, "select * from marts.attendance_daily")
    return {(r["organization_id"], r["attendance_date"].isoformat()): r for r in rows}


def test_settings_come_from_the_registry(warehouse_url, tmp_path, monkeypatch, capsys):
    from harvey_pipelines.cli import main
    from harvey_pipelines.organizations import Organization, OrganizationRegistry
    from harvey_pipelines.sync import publish_settings

    registry = OrganizationRegistry(tmp_path / "organizations.yaml")
    for values in REGISTRY_ORGS:
        registry.add(Organization(**values))
    warehouse = Warehouse(warehouse_url)
    try:
        warehouse.migrate()
        with warehouse.engine.begin() as conn:
            for name, rows in (("employees", SETTINGS_EMPLOYEES), ("attendance", SETTINGS_ATTENDANCE)):
                conn.execute(schema.CORE_TABLES[name].insert(),
                             [_core_row(schema.CORE_TABLES[name], r) for r in rows])
        assert [publish_settings(org, warehouse) for org in registry.load()] == [True, True]
    finally:
        warehouse.dispose()
    _build_settings_marts(warehouse_url, tmp_path)

    # (a) 09:10 local is on time in both organizations, shown as 09:10, within shift hours
    before = _attendance_rows(warehouse_url)
    day = {k: (r["status"], r["check_in_local"].strftime("%H:%M"), bool(r["is_late"]), number(r["worked_hours"]),
               number(r["overtime_hours"]), r["timezone"]) for k, r in before.items() if r["status"] != "absent"}
    assert day == {
        ("kolkata", "2027-01-25"): ("present", "09:10", False, 8.0, 0.0, "Asia/Kolkata"),
        ("kolkata", "2027-01-27"): ("present", "09:20", True, 8.0, 0.0, "Asia/Kolkata"),
        # amsterdam's 7.5 standard hours: 30 minutes overtime; New Year is a working day there
        ("amsterdam", "2027-01-01"): ("present", "09:10", False, 8.0, 0.5, "Europe/Amsterdam"),
        ("amsterdam", "2027-01-25"): ("present", "09:10", False, 8.0, 0.5, "Europe/Amsterdam"),
    }
    # amsterdam's range Jan 1 .. 27 has 19 weekdays, one its holiday, two worked: 16 absences
    assert sum(r["status"] == "absent" for k, r in before.items() if k[0] == "amsterdam") == 16
    assert read(warehouse_url, "select * from marts.compliance_violations") == []

    # (e) holidays: India's Republic Day from the country code, amsterdam's explicit date;
    # neither is a working day, and the `_default` New Year does not apply to amsterdam
    calendar = {(r["organization_id"], r["calendar_date"].isoformat()): r
                for r in read(warehouse_url, "select * from intermediate.int_calendar_days")}
    assert {k: (r["is_working_day"], r["holiday_name"]) for k, r in calendar.items() if r["is_holiday"]} == {
        ("kolkata", "2027-01-26"): (False, "Republic Day"), ("amsterdam", "2027-01-27"): (False, "Company day")}
    assert calendar[("amsterdam", "2027-01-01")]["is_working_day"]

    # (b) amsterdam moves to Asia/Dubai (+04:00) in the registry: published, rebuilt, only
    # amsterdam's local times and lateness change
    path = str(registry.path)
    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", warehouse_url)
    assert main(["--registry", path, "orgs", "set", "amsterdam", "--timezone", "Asia/Dubai"]) == 0
    assert main(["--registry", path, "orgs", "publish-settings"]) == 0
    assert "amsterdam: published" in capsys.readouterr().out
    assert registry.get("kolkata").timezone == "Asia/Kolkata"
    _build_settings_marts(warehouse_url, tmp_path)
    after = _attendance_rows(warehouse_url)
    assert set(after) == set(before)
    for key in after:
        if key[0] == "kolkata":
            assert after[key] == before[key], key
    moved = after[("amsterdam", "2027-01-25")]
    assert moved["timezone"] == "Asia/Dubai" and moved["check_in_local"] == dt.datetime(2027, 1, 25, 12, 10)
    assert moved["is_late"] and moved["late_minutes"] == 190
    assert moved["check_in_at"] == before[("amsterdam", "2027-01-25")]["check_in_at"], "the instant stays"
