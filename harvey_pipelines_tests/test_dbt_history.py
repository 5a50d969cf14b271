"""History that keeps every change, and the current-state dimensions, on DuckDB and PostgreSQL.

The records go through the sync's own load path (``Warehouse.load_batch``, core and raw in one
transaction) as a source with a day-granular ``updated_at`` (Employes.nl stamps a record with
the midnight of its newest effective date) sends them: an employee's job title goes Analyst →
Lead → Analyst on one day, so the third payload is byte for byte the first. Raw stores it
again (it differs from the latest version), and employee_history has three rows, the last one
current, agreeing with the core table. Then one dbt build of the history models and the
dimensions, with answers worked out by hand: the reporting line (a chain of three, a cycle of
two, a manager that resolves to no one) and a department's head and members; and headcount and
attrition at month boundaries for a hand-built organization (`hc`, below), as of 2026-03-31.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import sqlalchemy as sa

from harvey_pipelines.records import ENTITIES_BY_NAME
from harvey_pipelines.warehouse import Warehouse, schema
from harvey_pipelines_tests.bench.dbt_benchmark import readme_queries
from harvey_pipelines_tests.test_dbt_models import UTC, D, _core_row, dbt_build, number, read

ORG = "hist"
DAY = "2026-03-01T00:00:00+00:00"  # every version's updated_at: a day-granular source
FETCHED = [dt.datetime(2026, 3, 1, hour, 0, tzinfo=UTC) for hour in (8, 9, 10)]
MODELS = ["employee_history", "employment_history", "department_history", "dim_employees", "dim_departments",
          "headcount_monthly", "attrition_monthly", "hiring_speed", "stage_conversion", "leave_liability_monthly"]


def _employee(id, manager_id=None, job_title="Analyst", department="Data"):
    return dict(id=id, updated_at=DAY, employee_id=id.upper(), first_name=id, last_name="Test",
                email=f"{id}@example.com", department=department, job_title=job_title, manager_id=manager_id,
                hire_date="2020-01-01", employment_status="active")


FIRST = {
    "employees": [
        _employee("emp-1", "emp-2"),
        _employee("emp-2", "emp-3"),
        _employee("emp-3"),
        _employee("emp-4", "emp-5", department="Ops"),  # emp-4 and emp-5 manage each other
        _employee("emp-5", "emp-4", department="Ops"),
        _employee("emp-6", "emp-404", department=None),  # a manager the source does not have
    ],
    "departments": [dict(id="dep-1", updated_at=DAY, department_id="D1", name="Data", head_id="EMP-3")],
    "employments": [dict(id="job-1", updated_at=DAY, employee_id="emp-1", start_date="2020-01-01",
                         hours_per_week=40.0)],
}
# the same day: emp-1 becomes Lead on 32 hours, then goes back to what it was
SECOND = {"employees": [_employee("emp-1", "emp-2", job_title="Lead")],
          "employments": [{**FIRST["employments"][0], "hours_per_week": 32.0}]}
THIRD = {"employees": [FIRST["employees"][0]], "employments": [FIRST["employments"][0]]}


# -- headcount: organization hc, default settings (8 h x 5 days = a 40-hour week) -------------------
# e1 hired on 1 Jan 2026; e2 (20 h, part time) from 1 Jun 2025, last day 31 Jan 2026; e3 in Eng since
# 2024, in Sales from 15 Feb 2026; e4 from 1 Jan 2025 to 15 Jan 2026, rehired on 1 Mar 2026 (the
# employee record still holds the old termination date)
def _hc_employee(id, work_type="full_time", termination_date=None):
    return dict(organization_id="hc", id=id, employee_id=id.upper(), first_name=id, last_name="Hc",
                email=f"{id}@hc.example", hire_date=D("2020-01-01"), employment_status="active",
                location="AMS", work_type=work_type, termination_date=termination_date and D(termination_date))


def _hc_employment(id, employee, start, end, department, hours=40.0, salary=None):
    return dict(organization_id="hc", id=id, employee_id=employee, start_date=D(start), end_date=end and D(end),
                department=department, hours_per_week=hours, salary=salary, salary_period="month", currency="eur")


HC = {
    "employees": [_hc_employee("e1"), _hc_employee("e2", "part_time", "2026-01-31"), _hc_employee("e3"),
                  _hc_employee("e4", termination_date="2026-01-15")],
    "employments": [
        # a day's pay (8 standard hours): 5200 x 12 / 52 / 40 x 8 = 240; 2600 x 12 / 52 / 20 x 8 = 240
        _hc_employment("j1", "e1", "2026-01-01", None, "Eng", salary=5200.0),
        _hc_employment("j2", "e2", "2025-06-01", None, "Eng", hours=20.0, salary=2600.0),
        _hc_employment("j3", "e3", "2024-01-01", "2026-02-14", "Eng"),
        _hc_employment("j4", "e3", "2026-02-15", None, "Sales"),
        _hc_employment("j5", "e4", "2025-01-01", "2026-01-15", "Sales"),
        _hc_employment("j6", "e4", "2026-03-01", None, "Sales"),
    ],
}


# -- recruiting: organization rec (no settings: the _default time zone, Asia/Kolkata; every
# change at 06:00 UTC, the same day there). req-1 opened 5 Jan, filled 4 Feb (30 days). c1
# applied 6 Jan: screening 10 Jan, onsite 20 Jan (no technical interview), offer 25 Jan, hired
# 1 Feb (26 days), then an edit on 20 Feb (its last update: not the hire). c2 applied 8 Jan,
# screening 12 Jan, rejected 15 Jan.
def _stamp(day):
    return f"{day}T06:00:00+00:00"


def _requisition(day, status):
    return dict(id="req-1", updated_at=_stamp(day), requisition_id="REQ-1", title="Analyst", status=status,
                created_date="2026-01-05")


def _candidate(id, day, stage, applied, phone=None):
    status = {"hired": "hired", "rejected": "rejected"}.get(stage, "active")
    return dict(id=id, updated_at=_stamp(day), candidate_id=id.upper(), first_name=id, last_name="Rec",
                email=f"{id}@rec.example", phone=phone, current_stage=stage, applied_for_job_id="REQ-1",
                application_date=applied, status=status)


RECRUITING = [
    ("job_requisitions", [_requisition("2026-01-05", "open")]),
    ("job_requisitions", [_requisition("2026-02-04", "filled")]),
    *[("candidates", [_candidate("c1", day, stage, "2026-01-06")]) for day, stage in (
        ("2026-01-06", "applied"), ("2026-01-10", "screening"), ("2026-01-20", "onsite"), ("2026-01-25", "offer"),
        ("2026-02-01", "hired"))],
    ("candidates", [_candidate("c1", "2026-02-20", "hired", "2026-01-06", phone="555")]),
    *[("candidates", [_candidate("c2", day, stage, "2026-01-08")]) for day, stage in (
        ("2026-01-08", "applied"), ("2026-01-12", "screening"), ("2026-01-15", "rejected"))],
]


def _hc_balance(employee, available):
    return dict(id=f"lb-{employee}", employee_id=employee, year=2026, leave_type="annual", available=available)


# e1: 20 days left in January, 18 from 20 February; e2: 10 (she leaves on 31 January)
HC_BALANCES = [(dt.datetime(2026, 1, 20, 6, tzinfo=UTC), [_hc_balance("e1", 20.0), _hc_balance("e2", 10.0)]),
               (dt.datetime(2026, 2, 20, 6, tzinfo=UTC), [_hc_balance("e1", 18.0)])]


def load(warehouse: Warehouse, entity: str, raws: list[dict], fetched_at: dt.datetime, org: str = ORG) -> int:
    """``raws`` loaded as one batch of a sync fetched at ``fetched_at``; the raw versions stored."""
    spec = ENTITIES_BY_NAME[entity]
    run = warehouse.start_run(org, entity, mode="incremental", trigger="manual")
    rows = []
    for raw in raws:
        record = spec.model.model_validate(raw)
        payload = record.canonical_json()  # a source that sends canonical records (the custom HRMS)
        rows.append((org, *record.__dict__.values(), hashlib.sha256(payload.encode()).hexdigest(), fetched_at,
                     run.id, payload, payload))
    counts = warehouse.load_batch(run, warehouse.arrow_batch(entity, rows), [])
    warehouse.release()
    return counts.raw_versions


def test_history_keeps_a_value_that_changes_back_and_the_dimensions_resolve_it(warehouse, tmp_path):
    stored = {}
    for fetched_at, batches in zip(FETCHED, (FIRST, SECOND, THIRD)):
        for entity, raws in batches.items():
            stored[entity, fetched_at.hour] = load(warehouse, entity, raws, fetched_at)
    # the third emp-1 payload equals the first: stored again, as it differs from the latest
    assert stored == {("employees", 8): 6, ("departments", 8): 1, ("employments", 8): 1,
                      ("employees", 9): 1, ("employments", 9): 1, ("employees", 10): 1, ("employments", 10): 1}
    # sent once more, unchanged: nothing is stored
    assert load(warehouse, "employees", THIRD["employees"], FETCHED[2] + dt.timedelta(hours=1)) == 0
    pv = schema.payload_versions
    with warehouse.engine.connect() as conn:
        hashes = conn.execute(sa.select(pv.c.payload_sha256).where(
            pv.c.organization_id == ORG, pv.c.source_id == "emp-1").order_by(pv.c.fetched_at)).scalars().all()
    assert len(hashes) == 3 and hashes[0] == hashes[2] != hashes[1]
    for minute, (entity, raws) in enumerate(RECRUITING):
        assert load(warehouse, entity, raws, dt.datetime(2026, 3, 1, tzinfo=UTC) + minute * dt.timedelta(minutes=1),
                    org="rec") == 1
    with warehouse.engine.begin() as conn:
        for entity, rows in HC.items():
            table = schema.CORE_TABLES[entity]
            conn.execute(table.insert(), [_core_row(table, r) for r in rows])
    for fetched_at, balances in HC_BALANCES:
        load(warehouse, "leave_balances", balances, fetched_at, org="hc")
    warehouse.dispose()

    with warehouse.for_other_process():
        dbt_build(warehouse.url, tmp_path, "--select", " ".join(f"+{m}" for m in MODELS),
                  "--indirect-selection", "cautious", "--vars", "{as_of_date: '2026-03-31'}")

    check_described(warehouse.url, tmp_path)
    check_history(warehouse.url)
    check_dimensions(warehouse.url)
    check_headcount(warehouse.url)
    check_attrition(warehouse.url)
    check_hiring_speed(warehouse.url)
    check_leave_liability(warehouse.url)
    check_readme_queries(warehouse.url)


def check_readme_queries(url: str) -> None:
    """The README's analyst queries run as written (the organization and the manager aside) and
    answer rows for one of the fixture organizations: a renamed column or mart fails here, not at
    an analyst."""
    empty = []
    for q in readme_queries():
        sql = q["sql"].rstrip().rstrip(";").replace("/emp-7/", "/emp-3/")  # the fixture's top manager
        answers = [read(url, sql.replace("'acme'", f"'{org}'")) for org in (ORG, "rec", "hc")]
        if not any(answers):
            empty.append(q["number"])
    assert empty == [], f"README queries {empty} answer no rows for any fixture organization"


def check_described(url: str, tmp_path) -> None:
    """Every column the new models make is described in the YAML (the docs site shows them all)."""
    nodes = json.loads((tmp_path / "dbt_target" / "manifest.json").read_text())["nodes"]
    documented = {n["name"]: {c for c, v in n["columns"].items() if v.get("description")}
                  for n in nodes.values() if n["resource_type"] == "model" and n["description"]}
    made: dict[str, set[str]] = {}
    for r in read(url, "select table_name, column_name from information_schema.columns "
                       "where table_schema in ('marts', 'intermediate')"):
        made.setdefault(r["table_name"], set()).add(r["column_name"])
    new = [*MODELS, "candidate_stage_history", "int_employment_segments"]
    assert {m: made[m] - documented.get(m, set()) for m in new} == {m: set() for m in new}


def _at(hour):
    return FETCHED[(8, 9, 10).index(hour)]


def check_history(url: str) -> None:
    day = dt.datetime(2026, 3, 1, tzinfo=UTC)
    rows = read(url, "select version_number, valid_from, valid_to, is_current, job_title, manager_id "
                     f"from marts.employee_history where organization_id = '{ORG}' and employee_id = 'emp-1' "
                     "order by version_number")
    # the first holds from the source's updated_at; the others, stamped alike, from their fetch
    assert [(r["version_number"], r["valid_from"], r["valid_to"], r["is_current"], r["job_title"], r["manager_id"])
            for r in rows] == [
        (1, day, _at(9), False, "Analyst", "emp-2"),
        (2, _at(9), _at(10), False, "Lead", "emp-2"),
        (3, _at(10), None, True, "Analyst", "emp-2"),
    ]
    hours = read(url, "select version_number, hours_per_week, employee_id from marts.employment_history "
                      f"where organization_id = '{ORG}' order by version_number")
    assert [(r["version_number"], float(r["hours_per_week"]), r["employee_id"]) for r in hours] == [
        (1, 40.0, "emp-1"), (2, 32.0, "emp-1"), (3, 40.0, "emp-1")]
    # as of 09:30 (the as-of pattern of the docs): Lead, one row per employee
    as_of = read(url, "select employee_id, job_title from marts.employee_history "
                      f"where organization_id = '{ORG}' and valid_from <= timestamp '2026-03-01 09:30:00+00' "
                      "and (valid_to is null or valid_to > timestamp '2026-03-01 09:30:00+00') order by employee_id")
    assert [(r["employee_id"], r["job_title"]) for r in as_of] == [
        ("emp-1", "Lead"), ("emp-2", "Analyst"), ("emp-3", "Analyst"), ("emp-4", "Analyst"), ("emp-5", "Analyst"),
        ("emp-6", "Analyst")]
    # the current version agrees with the core table
    current = read(url, f"select h.job_title from marts.employee_history h join core.employees e "
                        "on e.organization_id = h.organization_id and e.source_id = h.employee_id "
                        f"where h.organization_id = '{ORG}' and h.is_current and h.job_title <> e.job_title")
    assert current == []
    departments = read(url, "select version_number, name, head_id, is_current from marts.department_history "
                            f"where organization_id = '{ORG}'")
    assert [(r["version_number"], r["name"], r["head_id"], r["is_current"]) for r in departments] == [
        (1, "Data", "emp-3", True)]


def check_dimensions(url: str) -> None:
    rows = read(url, "select employee_id, job_title, manager_id, management_level, top_manager_id, manager_chain, "
                     f"reporting_line_has_cycle from marts.dim_employees where organization_id = '{ORG}' "
                     "order by employee_id")
    assert [tuple(r.values()) for r in rows] == [
        ("emp-1", "Analyst", "emp-2", 2, "emp-3", "/emp-2/emp-3/", False),
        ("emp-2", "Analyst", "emp-3", 1, "emp-3", "/emp-3/", False),
        ("emp-3", "Analyst", None, 0, "emp-3", None, False),
        # each manages the other: the walk stops before it comes back
        ("emp-4", "Analyst", "emp-5", 1, "emp-5", "/emp-5/", True),
        ("emp-5", "Analyst", "emp-4", 1, "emp-4", "/emp-4/", True),
        # emp-404 resolves to no employee: no manager
        ("emp-6", "Analyst", None, 0, "emp-6", None, False),
    ]
    departments = read(url, "select department_id, head_id, head_name, head_top_manager_id, employees, "
                            f"active_employees from marts.dim_departments where organization_id = '{ORG}'")
    assert [tuple(r.values()) for r in departments] == [("D1", "emp-3", "emp-3 Test", "emp-3", 3, 3)]


def check_headcount(url: str) -> None:
    rows = read(url, "select month, department, work_type, headcount_start, headcount_end, fte_end, hires, "
                     "terminations, transfers_in, transfers_out from marts.headcount_monthly "
                     "where organization_id = 'hc' and month >= date '2026-01-01' "
                     "order by month, department, work_type")
    found = {(r["month"].isoformat()[:7], r["department"], r["work_type"]):
             (r["headcount_start"], r["headcount_end"], float(r["fte_end"]), r["hires"], r["terminations"],
              r["transfers_in"], r["transfers_out"]) for r in rows}
    assert found == {
        # start, end, FTE at the end, hires, terminations, transfers in, out
        # January: e1 hired on the 1st (a hire, not in the opening count); e2 leaves on the
        # 31st (a termination, not in the closing count); e4 leaves on the 15th
        ("2026-01", "Eng", "full_time"): (1, 2, 2.0, 1, 0, 0, 0),
        ("2026-01", "Eng", "part_time"): (1, 0, 0.0, 0, 1, 0, 0),
        ("2026-01", "Sales", "full_time"): (1, 0, 0.0, 0, 1, 0, 0),
        # February: e3 moves from Eng to Sales on the 15th
        ("2026-02", "Eng", "full_time"): (2, 1, 1.0, 0, 0, 0, 1),
        ("2026-02", "Sales", "full_time"): (0, 1, 1.0, 0, 0, 1, 0),
        # March: e4 rehired on the 1st
        ("2026-03", "Eng", "full_time"): (1, 1, 1.0, 0, 0, 0, 0),
        ("2026-03", "Sales", "full_time"): (1, 2, 2.0, 1, 0, 0, 0),
    }
    # nothing after the month of as_of_date
    assert read(url, "select count(*) as n from marts.headcount_monthly where organization_id = 'hc' "
                     "and month > date '2026-03-01'") == [{"n": 0}]


def check_attrition(url: str) -> None:
    rows = read(url, "select month, headcount_start, headcount_end, average_headcount, terminations, attrition_rate, "
                     "first_year_terminations, first_year_attrition_rate, rolling_12m_terminations, "
                     "rolling_12m_average_headcount, rolling_12m_attrition_rate from marts.attrition_monthly "
                     "where organization_id = 'hc' and month >= date '2026-01-01' order by month")
    found = [tuple(float(v) if v is not None and k != "month" else v for k, v in r.items()) for r in rows]
    # January: 3 at the start (e2, e3, e4), 2 at the end (e1, e3): 2 left of 2.5, e2 within a
    # year of her hire (244 days), e4 not (379 days). The 12 months to March 2026 (Apr 2025 ..):
    # average headcounts 2, 2, 2.5 (e2 from 1 Jun), 3 x 6, 2.5, 2, 2.5 = 31.5 / 12 = 2.625; to
    # January and to February (from Feb and Mar 2025, both 2): 31 / 12
    assert found == [
        (D("2026-01-01"), 3.0, 2.0, 2.5, 2.0, 0.8, 1.0, 0.4, 2.0, 2.5833, 0.7742),
        (D("2026-02-01"), 2.0, 2.0, 2.0, 0.0, 0.0, 0.0, 0.0, 2.0, 2.5833, 0.7742),
        (D("2026-03-01"), 2.0, 3.0, 2.5, 0.0, 0.0, 0.0, 0.0, 2.0, 2.625, 0.7619),
    ]


def check_hiring_speed(url: str) -> None:
    rows = read(url, "select job_requisition_id, opened_on, filled_on, time_to_fill_days, hired_candidates, "
                     "time_to_hire_days, median_time_to_hire_days from marts.hiring_speed "
                     "where organization_id = 'rec'")
    assert [(r["job_requisition_id"], r["opened_on"], r["filled_on"], r["time_to_fill_days"], r["hired_candidates"],
             float(r["time_to_hire_days"]), float(r["median_time_to_hire_days"])) for r in rows] == [
        ("req-1", D("2026-01-05"), D("2026-02-04"), 30, 1, 26.0, 26.0)]
    stages = read(url, "select stage, candidates_entered, moved_on, conversion_rate, median_days_in_stage "
                       "from marts.stage_conversion where organization_id = 'rec' order by stage_rank")
    assert [(r["stage"], r["candidates_entered"], r["moved_on"], number(r["conversion_rate"]),
             number(r["median_days_in_stage"])) for r in stages] == [
        ("applied", 2, 2, 1.0, 4.0),  # 4 days each
        ("screening", 2, 1, 0.5, 6.5),  # c1 10 days, c2 3
        ("onsite", 1, 1, 1.0, 5.0),
        ("offer", 1, 1, 1.0, 7.0),
        ("hired", 1, 0, None, None),  # still there: no days
    ]


def check_leave_liability(url: str) -> None:
    rows = read(url, "select month, leave_type, currency, employees, available_days, liability "
                     "from marts.leave_liability_monthly where organization_id = 'hc' order by month")
    assert [(r["month"], r["leave_type"], r["currency"], r["employees"], float(r["available_days"]),
             float(r["liability"])) for r in rows] == [
        (D("2026-01-01"), "annual", "EUR", 2, 30.0, 7200.0),  # 20 x 240 + 10 x 240
        (D("2026-02-01"), "annual", "EUR", 1, 18.0, 4320.0),  # e2 has left; e1's balance of 20 Feb
        (D("2026-03-01"), "annual", "EUR", 1, 18.0, 4320.0),
    ]
