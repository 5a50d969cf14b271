"""The mock HRMS over real HTTP on loopback: the REST contract, determinism, time, faults."""

from __future__ import annotations

import collections
import datetime as dt
import itertools
import json
import time

import httpx
import pytest

from harvey_pipelines.mock_hrms import (
    DEFAULT_TOKEN,
    ENTITIES,
    REFERENCES,
    MockHrmsControl,
    MockHrmsControlError,
    MockHrmsThread,
    TenantSpec,
)
from harvey_pipelines.mock_hrms.server import build_parser, main, specs_from_args

AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
LIST_PATHS = {"employees": "employees", "departments": "departments", "employments": "employments",
              "job_requisitions": "job-requisitions", "candidates": "candidates", "interviews": "interviews",
              "leave_requests": "leave-requests", "attendance": "attendance"}
_numbers = itertools.count(1)


@pytest.fixture(scope="module")
def server():
    with MockHrmsThread() as srv:
        yield srv


@pytest.fixture(scope="module")
def ctl(server):
    with MockHrmsControl(server.base_url) as c:
        yield c


@pytest.fixture
def tenant(server, ctl):
    """Create a fresh tenant; returns (org_id, httpx client on its API)."""
    clients = []

    def make(size=60, seed=None, **kw):
        org = f"t{next(_numbers)}"
        ctl.create_tenant(org, seed=seed if seed is not None else 11, size=size, **kw)
        client = httpx.Client(base_url=f"{server.tenant_url(org)}/api/v1", headers=AUTH, timeout=30)
        clients.append(client)
        return org, client

    yield make
    for c in clients:
        c.close()


def walk(client, path, **params):
    """Every record of a list endpoint, page by page."""
    out, page = [], 1
    while True:
        body = client.get(f"/{path}", params={**params, "page": page, "page_size": 100}).json()
        if not body["data"]:
            return out, body["total"]
        out += body["data"]
        page += 1


def ts(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


# ---------------------------------------------------------------------- transport
def test_auth_and_unknown_tenant(server, tenant):
    org, client = tenant(size=10)
    url = f"{server.tenant_url(org)}/api/v1/employees"
    missing = httpx.get(url)
    assert missing.status_code == 401 and "detail" in missing.json()
    wrong = httpx.get(url, headers={"Authorization": "Bearer not-the-token-9876"})
    assert wrong.status_code == 401 and "not-the-token-9876" not in wrong.text
    assert httpx.get(url, headers={"Authorization": DEFAULT_TOKEN}).status_code == 401  # no scheme
    assert client.get("/employees").status_code == 200
    assert httpx.get(f"{server.tenant_url('no-such-org')}/api/v1/employees", headers=AUTH).status_code == 404
    assert client.get("/no-such-endpoint").status_code == 404


def test_custom_token_and_timezone(tenant):
    org, client = tenant(size=10, token="s3cret-token", timezone="Europe/Amsterdam")
    assert client.get("/employees").status_code == 401
    client.headers["Authorization"] = "Bearer s3cret-token"
    rec = client.get("/employees").json()["data"][0]
    assert rec["updated_at"][-6:] in ("+01:00", "+02:00")


def test_paging_shape_order_and_limits(tenant):
    org, client = tenant(size=120)
    first = client.get("/employees").json()
    assert set(first) == {"data", "total", "page", "page_size"}
    assert (first["page"], first["page_size"], first["total"], len(first["data"])) == (1, 50, 120, 50)
    clamped = client.get("/employees", params={"page_size": 500}).json()
    assert clamped["page_size"] == 100 and len(clamped["data"]) == 100
    past = client.get("/employees", params={"page": 99}).json()
    assert past["data"] == [] and past["total"] == 120 and past["page"] == 99
    for bad in ({"page": 0}, {"page": "x"}, {"page_size": 0}, {"updated_since": "yesterday"}):
        resp = client.get("/employees", params=bad)
        assert resp.status_code == 400 and "detail" in resp.json(), bad
    for name, path in LIST_PATHS.items():
        records, total = walk(client, path)
        assert len(records) == total > 0, name
        keys = [(ts(r["updated_at"]), r["id"]) for r in records]
        assert keys == sorted(keys), name
        assert len({r["id"] for r in records}) == total, name


def test_updated_since(tenant):
    org, client = tenant(size=80)
    records, _ = walk(client, "leave-requests")
    cut = records[len(records) // 2]["updated_at"]
    expected = [r for r in records if ts(r["updated_at"]) >= ts(cut)]
    got, total = walk(client, "leave-requests", updated_since=cut)
    assert got == expected and total == len(expected)
    as_utc = ts(cut).astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert walk(client, "leave-requests", updated_since=as_utc)[0] == expected
    # a '+' sent without URL-encoding arrives as a space
    assert client.get(f"/leave-requests?updated_since={cut}").json()["total"] == len(expected)
    future = client.get("/employees", params={"updated_since": "2030-01-01T00:00:00+00:00"}).json()
    assert future["data"] == [] and future["total"] == 0


def test_same_seed_same_data_and_records_match_the_list(ctl, tenant):
    a, client_a = tenant(size=70, seed=5)
    b, _ = tenant(size=70, seed=5)
    c, _ = tenant(size=70, seed=6)
    for entity in ENTITIES:
        assert ctl.records(a, entity) == ctl.records(b, entity), entity
    assert ctl.records(a, "employees") != ctl.records(c, "employees")
    for entity, path in LIST_PATHS.items():
        assert walk(client_a, path)[0] == ctl.records(a, entity), entity


def test_data_is_sane(ctl, tenant):
    org, _ = tenant(size=300)
    clock_start = ts(ctl.tenant(org)["clock_start"])
    assert clock_start == dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
    employees = {e["id"]: e for e in ctl.records(org, "employees")}
    statuses = collections.Counter(e["employment_status"] for e in employees.values())
    assert statuses["active"] and statuses["terminated"] and statuses["on_leave"]
    assert len({e["email"] for e in employees.values()}) == len(employees)
    for e in employees.values():
        assert e["manager_id"] is None or e["manager_id"] in employees
        assert (e["termination_date"] is not None) == (e["employment_status"] == "terminated")
        assert dt.date.fromisoformat(e["hire_date"]) < clock_start.date()
    for entity in ENTITIES:
        if entity == "leave_balances":
            continue
        rows = ctl.records(org, entity)
        assert rows, entity
        stamps = [r["updated_at"] for r in rows]
        assert all(ts(s) < clock_start for s in stamps), entity
        if entity != "attendance":
            assert len(set(stamps)) > 0.95 * len(stamps), entity
    attendance = ctl.records(org, "attendance")
    days = {a["date"] for a in attendance}
    assert len(days) == 5 and all(dt.date.fromisoformat(d).weekday() < 5 for d in days)
    assert any(a["check_out_time"] is None for a in attendance)
    assert any(a["status"] == "late" for a in attendance)


def test_a_clock_starting_today_gives_attendance_up_to_yesterday(ctl, tenant):
    """The demo's tenants: the clock starts today, attendance from the first of the month two
    months back; a given date and the default stay deterministic."""
    from zoneinfo import ZoneInfo

    zone = "Europe/Amsterdam"
    org, _ = tenant(size=30, timezone=zone, clock_start="today", attendance_months=2)
    today = dt.datetime.now(ZoneInfo(zone)).date()
    info = ctl.tenant(org)
    assert ts(info["clock_start"]).date() == today and info["attendance_months"] == 2
    month = today.year * 12 + today.month - 1 - 2
    first = dt.date(month // 12, month % 12 + 1, 1)
    working = {first + dt.timedelta(days=n) for n in range((today - first).days)
               if (first + dt.timedelta(days=n)).weekday() < 5}
    attendance = ctl.records(org, "attendance")
    assert {dt.date.fromisoformat(a["date"]) for a in attendance} == working
    assert all(ts(a["updated_at"]) < ts(info["clock_start"]) for a in attendance)

    dated, _ = tenant(size=30, clock_start="2027-03-15", attendance_months=0)
    days = {dt.date.fromisoformat(a["date"]) for a in ctl.records(dated, "attendance")}
    assert min(days) == dt.date(2027, 3, 1) and max(days) == dt.date(2027, 3, 12)
    again, _ = tenant(size=30, clock_start="2027-03-15", attendance_months=0)
    assert ctl.records(again, "attendance") == ctl.records(dated, "attendance")
    for bad in ({"clock_start": "tomorrow"}, {"clock_start": "2015-06-01"}, {"attendance_months": 13}):
        with pytest.raises(MockHrmsControlError) as invalid:
            ctl.create_tenant(f"bad{next(_numbers)}", seed=1, size=5, **bad)
        assert invalid.value.status == 422, bad


def test_salary_equals_the_running_employment(ctl, tenant):
    org, client = tenant(size=150)
    rows = collections.defaultdict(list)
    for r in ctl.records(org, "employments"):
        rows[r["employee_id"]].append(r)
    for e in ctl.records(org, "employees"):
        history = sorted(rows[e["id"]], key=lambda r: r["start_date"])
        running = [r for r in history if r["end_date"] is None]
        if e["employment_status"] == "terminated":
            assert running == [] and history[-1]["end_date"] == e["termination_date"]
        else:
            assert running == [history[-1]], e["id"]
        for f in ("salary", "job_title", "department"):
            assert history[-1][f] == e[f], (e["id"], f)
        for before, after in zip(history, history[1:]):
            assert dt.date.fromisoformat(before["end_date"]) + dt.timedelta(days=1) == dt.date.fromisoformat(
                after["start_date"])
    # a raise through the control API: a new effective-dated row, the old one end-dated
    emp = next(e for e in ctl.records(org, "employees") if e["employment_status"] == "active")
    before = ctl.now(org)
    result = ctl.give_raise(org, emp["id"], 5200)
    assert result["employee"]["salary"] == 5200 and result["employment"]["salary"] == 5200
    assert result["employment"]["end_date"] is None and result["previous_employment"]["end_date"] is not None
    own = client.get(f"/employees/{emp['id']}/employments").json()["data"]
    assert [r for r in own if r["end_date"] is None] == [result["employment"]]
    changed, _ = walk(client, "employments", updated_since=before)
    assert {r["id"] for r in changed} == {result["employment"]["id"], result["previous_employment"]["id"]}
    # a salary change through update_record does the same
    updated = ctl.update_record(org, "employees", emp["id"], {"salary": 5300})
    assert updated["salary"] == 5300
    running = [r for r in ctl.records(org, "employments") if r["employee_id"] == emp["id"] and r["end_date"] is None]
    assert [r["salary"] for r in running] == [5300]


def test_leave_balances_follow_the_leave_requests(ctl, tenant):
    org, client = tenant(size=120)
    used, pending = collections.Counter(), collections.Counter()
    for r in ctl.records(org, "leave_requests"):
        if r["start_date"].startswith("2026"):
            if r["status"] == "approved":
                used[(r["employee_id"], r["leave_type"])] += r["total_days"]
            elif r["status"] == "pending":
                pending[(r["employee_id"], r["leave_type"])] += r["total_days"]
        assert r["end_date"] >= r["start_date"]
    balances = ctl.records(org, "leave_balances")
    assert len(balances) == 3 * 120
    assert set(balances[0]) == {"employee_id", "year", "leave_type", "total_allocated", "used", "pending", "available"}
    for b in balances:
        key = (b["employee_id"], b["leave_type"])
        assert (b["used"], b["pending"]) == (used[key], pending[key]), b
        assert b["available"] == b["total_allocated"] - b["used"] - b["pending"] >= 0
    assert sum(used.values()) > 0
    emp_id = balances[0]["employee_id"]
    api = client.get(f"/employees/{emp_id}/leave-balance").json()
    assert api["employee_id"] == emp_id and api["year"] == 2026
    assert api["leave_balances"] == [{k: v for k, v in b.items() if k not in ("employee_id", "year")}
                                     for b in balances if b["employee_id"] == emp_id]


def test_detail_endpoints(ctl, tenant):
    org, client = tenant(size=60)
    emp = ctl.records(org, "employees")[-1]
    detail = client.get(f"/employees/{emp['id']}").json()
    assert {k: detail[k] for k in emp} == emp
    assert {"manager_name", "skills", "certifications", "performance_rating"} <= set(detail)
    assert client.get(f"/employees/{emp['employee_id']}").json()["id"] == emp["id"]
    assert client.get("/employees/emp-999999").status_code == 404
    chain = client.get(f"/employees/{emp['id']}/reporting-chain").json()
    assert chain["employee_id"] == emp["id"] and [c["level"] for c in chain["reporting_chain"]] == list(
        range(1, len(chain["reporting_chain"]) + 1))
    if emp["manager_id"]:
        assert chain["reporting_chain"][0]["employee_id"] == emp["manager_id"]
        assert chain["reporting_chain"][-1]["title"] == "Chief Executive Officer"
    req = ctl.records(org, "job_requisitions")[0]
    req_detail = client.get(f"/job-requisitions/{req['id']}").json()
    assert {"description", "requirements", "nice_to_have", "salary_range"} <= set(req_detail)
    cand = ctl.records(org, "candidates")[0]
    cand_detail = client.get(f"/candidates/{cand['id']}").json()
    assert {"skills", "experience_years", "current_company", "current_title", "education",
            "interview_history"} <= set(cand_detail)


def test_attendance_date_filters(ctl, tenant):
    org, client = tenant(size=60)
    rows = ctl.records(org, "attendance")
    days = sorted({r["date"] for r in rows})
    one, _ = walk(client, "attendance", date=days[1])
    assert one and all(r["date"] == days[1] for r in one)
    assert len(one) == sum(r["date"] == days[1] for r in rows)
    span, _ = walk(client, "attendance", date_from=days[1], date_to=days[3])
    assert {r["date"] for r in span} == set(days[1:4])
    assert client.get("/attendance", params={"date": "2026-13-01"}).status_code == 400


def test_writes_through_the_api(ctl, tenant):
    org, client = tenant(size=60)
    req = ctl.records(org, "job_requisitions")[0]
    created = client.post("/candidates", json={"first_name": "Alice", "last_name": "Johnson",
                                                "email": "alice.j@example.org", "applied_for_job_id": req["id"],
                                                "source": "referral"})
    assert created.status_code == 201 and created.json()["status"] == "created"
    cand_id = created.json()["id"]
    assert client.post("/candidates", json={"first_name": "x"}).status_code == 422
    interviewer = ctl.records(org, "employees")[0]["id"]
    iv = client.post("/interviews", json={"candidate_id": cand_id, "job_id": req["id"], "interviewer_id": interviewer,
                                          "scheduled_date": "2026-11-20T14:00:00+05:30", "duration_minutes": 60,
                                          "interview_type": "technical"})
    assert iv.status_code == 201 and iv.json()["status"] == "scheduled"
    patched = client.patch(f"/interviews/{iv.json()['id']}", json={"status": "completed", "feedback": "good",
                                                                    "rating": 4, "recommendation": "hire"})
    assert patched.status_code == 200 and patched.json()["rating"] == 4
    emp = next(e for e in ctl.records(org, "employees") if e["employment_status"] == "active")
    before = {b["leave_type"]: b for b in client.get(f"/employees/{emp['id']}/leave-balance").json()["leave_balances"]}
    lr = client.post("/leave-requests", json={"employee_id": emp["id"], "leave_type": "sick",
                                              "start_date": "2026-12-01", "end_date": "2026-12-01", "reason": "Flu"})
    if before["sick"]["available"] >= 1:
        assert lr.status_code == 201 and lr.json()["status"] == "pending"
        balances = client.get(f"/employees/{emp['id']}/leave-balance").json()["leave_balances"]
        after = {b["leave_type"]: b for b in balances}
        assert after["sick"]["pending"] == before["sick"]["pending"] + 1
    bad = client.post("/leave-requests", json={"employee_id": emp["id"], "leave_type": "annual",
                                               "start_date": "2026-12-05", "end_date": "2026-12-01"})
    assert bad.status_code == 422
    log = ctl.changes(org)
    assert cand_id in log["created"]["candidates"] and iv.json()["id"] in log["updated"]["interviews"]


# ---------------------------------------------------------------------- time
def test_advance_changes_appear_after_the_clock_before(ctl, tenant):
    org, client = tenant(size=200)
    before_records = {e: {r.get("id") for r in ctl.records(org, e)} for e in LIST_PATHS}
    before = ctl.now(org)
    time.sleep(1.05)  # the change window starts after this second
    log = ctl.advance(org, hours=24, change_fraction=0.05)
    assert set(log) == {"created", "updated", "deleted"} and set(log["created"]) == set(ENTITIES)
    for kind in ("created", "updated"):
        for name in ("employees", "employments", "leave_requests", "attendance"):
            assert log["created" if name == "attendance" else kind][name], (kind, name)
    for name in ("employees", "candidates", "interviews", "leave_requests"):
        assert log["deleted"][name], name
    after_now = ts(ctl.now(org))
    assert after_now - ts(before) >= dt.timedelta(hours=24)
    for entity, path in LIST_PATHS.items():
        changed, _ = walk(client, path, updated_since=before)
        ids = {r["id"] for r in changed}
        expected = (set(log["created"][entity]) | set(log["updated"][entity])) - set(log["deleted"][entity])
        assert ids == expected, entity
        assert all(ts(before) < ts(r["updated_at"]) <= after_now for r in changed), entity
        current = {r["id"] for r in ctl.records(org, entity)}
        assert not current & set(log["deleted"][entity]), entity
        assert set(log["created"][entity]) <= current and not set(log["created"][entity]) & before_records[entity]
    new_day = {r["date"] for r in ctl.records(org, "attendance") if r["id"] in set(log["created"]["attendance"])}
    assert new_day == {"2026-11-02"}
    assert ctl.changes(org)["created"]["employees"] == log["created"]["employees"]


def test_control_update_delete_and_conflicts(ctl, tenant):
    org, client = tenant(size=40)
    assert ctl.create_tenant(org, seed=11, size=40)["org_id"] == org  # same parameters: unchanged
    with pytest.raises(MockHrmsControlError) as conflict:
        ctl.create_tenant(org, seed=12, size=40)
    assert conflict.value.status == 409
    victim = ctl.records(org, "employees")[0]
    before = ctl.now(org)
    updated = ctl.update_record(org, "employees", victim["id"], {"phone": "+31 6 0000 0000"})
    assert updated["phone"] == "+31 6 0000 0000" and ts(updated["updated_at"]) >= ts(before)
    assert ctl.records(org, "employees")[-1]["id"] == victim["id"]
    with pytest.raises(MockHrmsControlError):
        ctl.update_record(org, "employees", victim["id"], {"id": "other"})
    lr = ctl.records(org, "leave_requests")[0]
    ctl.delete_record(org, "leave_requests", lr["id"])
    assert lr["id"] not in {r["id"] for r in walk(client, "leave-requests")[0]}
    assert lr["id"] in ctl.changes(org)["deleted"]["leave_requests"]
    assert org in {t["org_id"] for t in ctl.tenants()}
    ctl.delete_tenant(org)
    assert client.get("/employees").status_code == 404


# ---------------------------------------------------------------------- faults
def test_rate_limit(ctl, tenant):
    org, client = tenant(size=10)
    ctl.set_faults(org, rate_limit_every=3, retry_after_seconds=2)
    codes = [client.get("/employees") for _ in range(6)]
    assert [r.status_code for r in codes] == [200, 200, 429, 200, 200, 429]
    assert codes[2].headers["Retry-After"] == "2" and "detail" in codes[2].json()
    assert ctl.stats(org)["faults_fired"]["rate_limit"] == 2
    ctl.reset_faults(org)
    assert ctl.faults(org)["rate_limit_every"] == 0


def test_server_errors_cycle_and_never_twice_in_a_row(ctl, tenant):
    org, client = tenant(size=10)
    ctl.set_faults(org, error_5xx_every=2)
    codes = [client.get("/departments").status_code for _ in range(6)]
    assert codes == [200, 500, 200, 502, 200, 503]
    ctl.set_faults(org, error_5xx_every=1, rate_limit_every=1)
    codes = [client.get("/departments").status_code for _ in range(4)]
    assert codes == [429, 200, 429, 200]  # one fault per request, a retry always gets through


def test_truncated_body(ctl, tenant):
    org, client = tenant(size=10)
    ctl.set_faults(org, truncate_every=2)
    ok, cut = client.get("/employees"), client.get("/employees")
    assert ok.status_code == cut.status_code == 200
    assert cut.headers["content-type"].startswith("application/json")
    json.loads(ok.content)
    with pytest.raises(ValueError):
        json.loads(cut.content)
    assert ctl.stats(org)["faults_fired"]["truncate"] == 1


def test_slow_requests(ctl, tenant):
    org, client = tenant(size=10)
    ctl.set_faults(org, slow_every=2, slow_seconds=0.3)
    started = time.perf_counter()
    client.get("/employees")
    fast = time.perf_counter() - started
    started = time.perf_counter()
    assert client.get("/employees").status_code == 200
    assert time.perf_counter() - started >= 0.3 > fast


def test_invalid_records_are_stable_and_counted(ctl, tenant):
    org, client = tenant(size=30)
    valid = ctl.records(org, "employees")
    ctl.set_faults(org, invalid_records=True)
    first, total = walk(client, "employees")
    assert total == len(first) == len(valid) + 3
    assert sum("id" not in r for r in first) == 1
    assert any(r.get("email") == "not-an-email" for r in first)
    assert any(r.get("hire_date") == "2026-02-30" for r in first)
    assert walk(client, "employees")[0] == first
    leaves, _ = walk(client, "leave-requests")
    assert any("id" in r and r["end_date"] < r["start_date"] for r in leaves)
    cands, _ = walk(client, "candidates")
    assert sum("id" not in r for r in cands) == 1 and any(r.get("email") == "not-an-email" for r in cands)
    assert ctl.records(org, "employees") == valid


def test_mutate_between_pages(ctl, tenant):
    org, client = tenant(size=120)
    ctl.set_faults(org, mutate_between_pages=3)
    before = {r["id"]: r for r in ctl.records(org, "employees")}
    page1 = client.get("/employees", params={"page": 1, "page_size": 50}).json()["data"]
    after = {r["id"]: r for r in ctl.records(org, "employees")}
    mutated = ctl.changes(org)["updated"]["employees"]
    assert len(mutated) == 3
    for rid in mutated:
        assert after[rid] != before[rid]
        assert after[rid]["phone"] != before[rid]["phone"] or after[rid]["location"] != before[rid]["location"]
        assert ts(after[rid]["updated_at"]) > ts(before[rid]["updated_at"])
    # the live list moved: mutated records are now at its end
    assert [r["id"] for r in ctl.records(org, "employees")][-3:] == sorted(
        mutated, key=lambda i: (ts(after[i]["updated_at"]), i))
    client.get("/employees", params={"page": 2, "page_size": 50})
    assert len(ctl.changes(org)["updated"]["employees"]) > 3  # the change log lists each id once
    assert ctl.stats(org)["faults_fired"]["mutate_between_pages"] == 6
    assert page1  # the served page itself was consistent


def test_stats_and_reset(ctl, tenant):
    org, client = tenant(size=10)
    ctl.reset_stats(org)
    before = time.monotonic()  # the mock runs in this process: the same monotonic clock
    client.get("/employees")
    client.get("/employees/emp-000001")
    after = time.monotonic()
    stats = ctl.stats(org)
    assert stats["requests"] == 2
    assert stats["by_path"] == {"GET /api/v1/employees": 1, "GET /api/v1/employees/{id}": 1}
    arrivals = ctl.arrivals(org)
    assert len(arrivals) == 2 and before <= arrivals[0] <= arrivals[1] <= after
    assert ctl.reset_stats(org)["requests"] == 0
    assert ctl.arrivals(org) == []


def test_cli_parser():
    args = build_parser().parse_args(["--port", "9000", "--tenant", "acme:1:50", "--tenant", "globex:2:500"])
    specs = [TenantSpec.parse(t) for t in args.tenant]
    assert args.port == 9000 and specs[1] == TenantSpec("globex", 2, 500)


# ---------------------------------------------------------------------- reference styles
# referenced entity -> its business key field
BUSINESS_KEY = {"employees": "employee_id", "job_requisitions": "requisition_id", "candidates": "candidate_id",
                "interviews": "interview_id"}
REFERENCED = ("employees", "job_requisitions", "candidates", "interviews")


class References:
    """Checks that every served reference names an existing record of the right entity, by the
    key the tenant's style says; counts the kinds seen."""

    def __init__(self, ctl, org, style):
        self.style = style
        self.ids = {e: {r["id"] for r in ctl.records(org, e)} for e in REFERENCED}
        self.codes = {e: {r[BUSINESS_KEY[e]]: r["id"] for r in ctl.records(org, e)} for e in REFERENCED}
        self.kinds = collections.Counter()

    def kind(self, target, value, where):
        """"id" or "business_key"; the id of the referenced record."""
        if value in self.ids[target]:
            kind, rid = "id", value
        else:
            assert value in self.codes[target], (where, target, value)
            kind, rid = "business_key", self.codes[target][value]
        assert self.style == "mixed" or kind == self.style, (where, value)
        self.kinds[kind] += 1
        return kind, rid

    def record(self, entity, rec, where):
        """Checks one served record; its references are all of one kind (decided per record)."""
        kinds = {self.kind(target, rec[field], (where, entity, rec.get("id"), field))[0]
                 for field, target in REFERENCES[entity] if rec.get(field) is not None}
        assert len(kinds) <= 1, (where, entity, rec)
        return kinds.pop() if kinds else None


def check_reference_style(ctl, client, org, style):
    refs = References(ctl, org, style)
    served = {}
    for entity, path in LIST_PATHS.items():
        listed, _ = walk(client, path)
        assert listed == ctl.records(org, entity), entity  # the control records are what the list serves
        for rec in listed:
            refs.record(entity, rec, "list")
        served[entity] = {r["id"]: r for r in listed}
    # details carry the same references as the list
    for entity, path in LIST_PATHS.items():
        for rec in list(served[entity].values())[:25]:
            key = rec[BUSINESS_KEY[entity]] if entity in BUSINESS_KEY else rec["id"]
            detail = client.get(f"/{path}/{key}").json()
            assert {k: detail[k] for k in rec} == rec, (entity, key)
            for item in detail.get("interview_history", ()):
                assert refs.kind("interviews", item["interview_id"], "history")[1] in served["interviews"]
                refs.kind("employees", item["interviewer_id"], "history")
    # fan-out, reporting chain and employments of each employee
    balances = collections.defaultdict(list)
    for row in ctl.records(org, "leave_balances"):
        balances[row["employee_id"]].append(row)
    employments_of = collections.defaultdict(list)
    for r in served["employments"].values():
        employments_of[refs.kind("employees", r["employee_id"], "employments")[1]].append(r)
    for emp in served["employees"].values():
        body = client.get(f"/employees/{emp['id']}/leave-balance").json()
        kind, rid = refs.kind("employees", body["employee_id"], "leave-balance")
        assert rid == emp["id"]
        assert [{**b, "employee_id": body["employee_id"], "year": body["year"]}
                for b in body["leave_balances"]] == balances[body["employee_id"]]
        chain = client.get(f"/employees/{emp['employee_id']}/reporting-chain").json()
        assert refs.kind("employees", chain["employee_id"], "chain") == (kind, emp["id"])
        assert all(refs.kind("employees", link["employee_id"], "chain")[0] == kind for link in chain["reporting_chain"])
        if emp["manager_id"] is not None:  # one decision per employee: its record, balance and chain agree
            assert refs.record("employees", emp, "chain") == kind
            assert chain["reporting_chain"][0]["employee_id"] == emp["manager_id"]
        own = client.get(f"/employees/{emp['id']}/employments").json()["data"]
        assert sorted(own, key=lambda r: r["id"]) == sorted(employments_of[emp["id"]], key=lambda r: r["id"])
    assert sum(map(len, balances.values())) == 3 * len(served["employees"])
    return refs.kinds


@pytest.mark.parametrize("style", ["id", "business_key", "mixed"])
def test_reference_styles_name_existing_records(ctl, tenant, style):
    org, client = tenant(size=150, reference_style=style)
    assert ctl.tenant(org)["reference_style"] == style
    kinds = check_reference_style(ctl, client, org, style)
    if style == "mixed":
        share = kinds["business_key"] / sum(kinds.values())
        assert 0.3 < share < 0.7, kinds
    else:
        assert set(kinds) == {style}
    # after time moves (new hires, deletes, approvals) the references still resolve
    ctl.advance(org, hours=48, change_fraction=0.05)
    check_reference_style(ctl, client, org, style)
    balance_ids = ctl.changes(org)["updated"]["leave_balances"] + ctl.changes(org)["created"]["leave_balances"]
    served_ids = {b["employee_id"] for b in ctl.records(org, "leave_balances")}
    assert balance_ids
    assert {i.split(":")[0] for i in balance_ids} <= served_ids  # the change log names balances as served


def test_id_style_is_the_default_byte_for_byte(server, ctl, tenant):
    default, client_a = tenant(size=80, seed=3)
    explicit, client_b = tenant(size=80, seed=3, reference_style="id")
    for path in LIST_PATHS.values():
        for page in (1, 2):
            a = client_a.get(f"/{path}", params={"page": page, "page_size": 37})
            assert a.content == client_b.get(f"/{path}", params={"page": page, "page_size": 37}).content, path
    for entity in ENTITIES:
        a = httpx.get(f"{server.base_url}/_control/tenants/{default}/records/{entity}").content
        assert a == httpx.get(f"{server.base_url}/_control/tenants/{explicit}/records/{entity}").content, entity
    for suffix in ("", "/leave-balance", "/reporting-chain", "/employments"):
        assert client_a.get(f"/employees/emp-000040{suffix}").content == client_b.get(
            f"/employees/emp-000040{suffix}").content
    # served records are the stored ones, not copies (lists of 100k records stay cheap)
    t = server.store.get(explicit)
    assert all(a is b for a, b in zip(t.records("employees"), t.tables["employees"].ordered_records()))


def test_writes_accept_either_key(ctl, tenant):
    for style in ("business_key", "id"):
        org, client = tenant(size=60, reference_style=style)
        emps = [e for e in ctl.records(org, "employees") if e["employment_status"] == "active"]
        req = ctl.records(org, "job_requisitions")[0]
        for n, job_key in enumerate((req["requisition_id"], req["id"])):
            made = client.post("/candidates", json={"first_name": "A", "last_name": f"B{n}", "email": f"a{n}@x.org",
                                                    "applied_for_job_id": job_key})
            assert made.status_code == 201, made.text
            cand = client.get(f"/candidates/{made.json()['id']}").json()
            assert cand["applied_for_job_id"] == (req["requisition_id"] if style == "business_key" else req["id"])
            iv = client.post("/interviews", json={
                "candidate_id": cand["candidate_id"] if n else cand["id"], "job_id": job_key,
                "interviewer_id": emps[n]["employee_id"] if n else emps[n]["id"],
                "scheduled_date": "2026-11-20T14:00:00+05:30"})
            assert iv.status_code == 201, iv.text
            patched = client.patch(f"/interviews/{iv.json()['interview_id']}",
                                   json={"interviewer_id": emps[2]["employee_id"] if n else emps[2]["id"]})
            assert patched.status_code == 200
            want = "employee_id" if style == "business_key" else "id"
            assert patched.json()["interviewer_id"] == emps[2][want]
            assert patched.json()["candidate_id"] == cand["candidate_id" if style == "business_key" else "id"]
            lr = client.post("/leave-requests", json={"employee_id": emps[3 + n][want], "leave_type": "unpaid",
                                                      "start_date": "2026-12-01", "end_date": "2026-12-02"})
            assert lr.status_code == 201, lr.text
            served = next(r for r in ctl.records(org, "leave_requests") if r["id"] == lr.json()["id"])
            assert served["employee_id"] == emps[3 + n][want]
        wrong = client.post("/interviews", json={"candidate_id": cand["id"], "job_id": "REQ-9999",
                                                 "interviewer_id": emps[0]["id"],
                                                 "scheduled_date": "2026-11-20T14:00:00+05:30"})
        assert wrong.status_code == 422
        # a control update stores whichever key it is given as the id, and serves it in style
        for key in (emps[5]["employee_id"], emps[5]["id"]):
            updated = ctl.update_record(org, "employees", emps[6]["id"], {"manager_id": key})
            assert updated["manager_id"] == emps[5][want]
            assert server_record(ctl, org, "employees", emps[6]["id"])["manager_id"] == emps[5][want]
        check_reference_style(ctl, client, org, style)


def server_record(ctl, org, entity, rid):
    return next(r for r in ctl.records(org, entity) if r["id"] == rid)


def test_references_to_deleted_records_keep_their_style(ctl, tenant):
    org, client = tenant(size=80, reference_style="business_key")
    emps = ctl.records(org, "employees")
    manager = next(e for e in emps if any(x["manager_id"] == e["employee_id"] for x in emps))
    report = next(x for x in emps if x["manager_id"] == manager["employee_id"])
    ctl.delete_record(org, "employees", manager["employee_id"])
    assert server_record(ctl, org, "employees", report["id"])["manager_id"] == manager["employee_id"]
    assert client.get(f"/employees/{report['id']}").json()["manager_id"] == manager["employee_id"]
    # pointing at a deleted record by its business key stores its id: still served by key
    other = next(x for x in emps if x["id"] not in (manager["id"], report["id"]) and x["manager_id"])
    ctl.update_record(org, "employees", other["id"], {"manager_id": manager["employee_id"]})
    assert server_record(ctl, org, "employees", other["id"])["manager_id"] == manager["employee_id"]
    # a reference to something that never existed is served as given
    ctl.update_record(org, "employees", other["id"], {"manager_id": "emp-999999"})
    assert server_record(ctl, org, "employees", other["id"])["manager_id"] == "emp-999999"
    # a changed business key: references and lookups follow it
    ctl.update_record(org, "employees", report["id"], {"employee_id": "EMP-RENUMBERED-1"})
    assert client.get("/employees/EMP-RENUMBERED-1").json()["id"] == report["id"]
    assert client.get(f"/employees/{report['employee_id']}").status_code == 404
    assert client.get(f"/employees/{report['id']}/leave-balance").json()["employee_id"] == "EMP-RENUMBERED-1"


def test_tenant_options_are_validated_and_idempotent(ctl, tenant):
    grants = {"casual": 6, "annual": 24, "sick": 12}
    org, _ = tenant(size=20, reference_style="mixed", timezone="Europe/Amsterdam", leave_allocations=grants)
    info = ctl.tenant(org)
    assert (info["reference_style"], info["timezone"]) == ("mixed", "Europe/Amsterdam")
    assert info["leave_allocations"] == {"annual": 24, "sick": 12, "casual": 6}
    again = ctl.create_tenant(org, seed=11, size=20, reference_style="mixed", timezone="Europe/Amsterdam",
                              leave_allocations={"annual": 24, "sick": 12, "casual": 6})
    assert again["org_id"] == org
    for other in ({"reference_style": "business_key"}, {"leave_allocations": {"annual": 25, "sick": 12, "casual": 6}}):
        with pytest.raises(MockHrmsControlError) as conflict:
            ctl.create_tenant(org, seed=11, size=20, **{"reference_style": "mixed", "timezone": "Europe/Amsterdam",
                                                        "leave_allocations": grants, **other})
        assert conflict.value.status == 409
    for bad in ({"reference_style": "key"}, {"reference_style": ""}, {"leave_allocations": {"annual": -1}},
                {"leave_allocations": {"annual": True}}, {"leave_allocations": {"vacation": 3}},
                {"leave_allocations": [24, 12, 6]}):
        with pytest.raises(MockHrmsControlError) as invalid:
            ctl.create_tenant(f"bad{next(_numbers)}", seed=1, size=5, **bad)
        assert invalid.value.status == 422, bad
    plain, _ = tenant(size=5)
    assert (ctl.tenant(plain)["reference_style"], ctl.tenant(plain)["leave_allocations"]) == ("id", None)


def test_leave_allocations_show_in_the_balances(ctl, tenant):
    org, client = tenant(size=200, leave_allocations={"annual": 24, "sick": 12, "casual": 6})
    work_type = {e["id"]: e["work_type"] for e in ctl.records(org, "employees")}
    # full-time grants as given; the others keep the default ratio to full-time (half up)
    expected = {"full_time": (24, 12, 6), "part_time": (14, 12, 6), "intern": (14, 12, 6), "contract": (12, 6, 3)}
    seen = set()
    for b in ctl.records(org, "leave_balances"):
        wt = work_type[b["employee_id"]]
        assert b["total_allocated"] == expected[wt][("annual", "sick", "casual").index(b["leave_type"])], b
        assert b["available"] == b["total_allocated"] - b["used"] - b["pending"] >= 0
        seen.add(wt)
    assert {"full_time", "contract"} <= seen
    full = next(i for i, wt in work_type.items() if wt == "full_time")
    body = client.get(f"/employees/{full}/leave-balance").json()
    assert [b["total_allocated"] for b in body["leave_balances"]] == [24, 12, 6]
    partial, client_p = tenant(size=20, leave_allocations={"annual": 30})
    emp = next(e["id"] for e in ctl.records(partial, "employees") if e["work_type"] == "full_time")
    assert [b["total_allocated"] for b in client_p.get(f"/employees/{emp}/leave-balance").json()[
        "leave_balances"]] == [30, 10, 7]


def test_null_id_records(ctl, tenant):
    org, client = tenant(size=80)
    ctl.set_faults(org, null_id_records=2)
    for path, entity, key in (("employees", "employees", "employee_id"), ("candidates", "candidates", "candidate_id"),
                              ("leave-requests", "leave_requests", "leave_request_id")):
        real = {r[key]: r for r in ctl.records(org, entity)}
        served, total = walk(client, path)
        assert total == len(served) == len(real)
        nulls = [r for r in served if r["id"] is None]
        assert len(nulls) == 2, entity
        for r in nulls:  # the rest of the record intact
            assert {**r, "id": real[r[key]]["id"]} == real[r[key]]
        assert walk(client, path)[0] == served  # stable
        assert all(r["id"] is not None for r in ctl.records(org, entity))
    assert ctl.stats(org)["faults_fired"]["null_id_records"] >= 12
    ctl.set_faults(org, invalid_records=True)  # another change keeps the same victims
    served, total = walk(client, "employees")
    assert sum("id" in r and r["id"] is None for r in served) == 2 and sum("id" not in r for r in served) == 1
    ctl.set_faults(org, null_id_records=0)
    assert all(r.get("id", "") is not None for r in walk(client, "employees")[0])


def test_a_leave_type_drops_out_of_one_balance_answer(ctl, tenant):
    for style in ("id", "business_key"):
        org, client = tenant(size=40, reference_style=style)
        emp = ctl.records(org, "employees")[3]
        served_id = emp["id"] if style == "id" else emp["employee_id"]
        ctl.reset_changes(org)
        result = ctl.set_leave_types(org, emp["id"], ["sick", "annual"])
        assert result["leave_types"] == ["annual", "sick"]
        assert result["deleted"] == [f"{served_id}:2026:casual"] and result["created"] == []
        assert ctl.changes(org)["deleted"]["leave_balances"] == [f"{served_id}:2026:casual"]
        body = client.get(f"/employees/{emp['id']}/leave-balance").json()
        assert [b["leave_type"] for b in body["leave_balances"]] == ["annual", "sick"]
        rows = [b for b in ctl.records(org, "leave_balances") if b["employee_id"] == served_id]
        assert [b["leave_type"] for b in rows] == ["annual", "sick"]
        assert ctl.tenant(org)["counts"]["leave_balances"] == 3 * 40 - 1
        back = ctl.set_leave_types(org, emp["employee_id"], ["annual", "sick", "casual"])
        assert back["created"] == [f"{served_id}:2026:casual"]
        assert len(client.get(f"/employees/{emp['id']}/leave-balance").json()["leave_balances"]) == 3
        for bad in (["holiday"], "annual", [1]):
            with pytest.raises(MockHrmsControlError) as invalid:
                ctl.set_leave_types(org, emp["id"], bad)
            assert invalid.value.status == 422
        with pytest.raises(MockHrmsControlError) as missing:
            ctl.set_leave_types(org, "emp-999999", ["annual"])
        assert missing.value.status == 404


def test_a_record_can_lose_a_required_field(ctl, tenant):
    org, client = tenant(size=30)
    for entity, path in (("employees", "employees"), ("candidates", "candidates")):
        rec = ctl.records(org, entity)[0]
        before = ctl.now(org)
        updated = ctl.update_record(org, entity, rec["id"], {"email": None})
        assert updated["email"] is None and ts(updated["updated_at"]) >= ts(before) > ts(rec["updated_at"])
        changed, _ = walk(client, path, updated_since=updated["updated_at"])
        assert [r["id"] for r in changed] == [rec["id"]] and changed[0]["email"] is None
        assert rec["id"] in ctl.changes(org)["updated"][entity]


def test_ignore_updated_since_on_and_off_again(ctl, tenant):
    org, client = tenant(size=30)
    future = {"updated_since": "2030-01-01T00:00:00+00:00"}
    ctl.set_faults(org, ignore_updated_since=True)
    assert client.get("/employees", params=future).json()["total"] == 30
    ctl.set_faults(org, ignore_updated_since=False)  # the server was fixed
    assert client.get("/employees", params=future).json()["total"] == 0
    ctl.set_faults(org, ignore_updated_since=True)
    ctl.reset_faults(org)
    assert client.get("/employees", params=future).json()["total"] == 0


def test_cli_per_tenant_options():
    args = build_parser().parse_args([
        "--tenant", "acme:1:40", "--tenant", "globex:2:400", "--tenant", "initech:3:4000",
        "--reference-style", "globex=business_key", "--reference-style", "initech=mixed",
        "--timezone", "globex=Europe/Amsterdam"])
    specs = {s.org_id: s for s in specs_from_args(args)}
    assert (specs["acme"].reference_style, specs["acme"].timezone) == ("id", "Asia/Kolkata")
    assert (specs["globex"].reference_style, specs["globex"].timezone) == ("business_key", "Europe/Amsterdam")
    assert (specs["initech"].reference_style, specs["initech"].timezone) == ("mixed", "Asia/Kolkata")
    every = specs_from_args(build_parser().parse_args(
        ["--tenant", "a:1:5", "--tenant", "b:1:5", "--timezone", "UTC", "--timezone", "b=Europe/Amsterdam",
         "--reference-style", "business_key"]))
    assert [(s.timezone, s.reference_style) for s in every] == [("UTC", "business_key"),
                                                                ("Europe/Amsterdam", "business_key")]
    for bad in (["--tenant", "a:1:5", "--reference-style", "b=mixed"],
                ["--tenant", "a:1:5", "--reference-style", "key"],
                ["--tenant", "a:1:5", "--timezone", "a=Mars/Base"], ["--tenant", "a:1:5", "--tenant", "a:2:5"]):
        with pytest.raises(ValueError):
            specs_from_args(build_parser().parse_args(bad))
    assert main(["--tenant", "a:1:5", "--reference-style", "a=keys"]) == 2


def test_the_readme_serve_line_starts_the_demo_tenants():
    from pathlib import Path

    from harvey_pipelines.demo import DEMO_ORGS, mock_args

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    line = readme.split("harvey mock-hrms serve", 1)[1].split("`", 1)[0].split()
    from_readme = specs_from_args(build_parser().parse_args(line))
    from_demo = specs_from_args(build_parser().parse_args(mock_args()))
    assert from_readme == from_demo
    assert [(s.org_id, s.seed, s.size, s.reference_style, s.timezone) for s in from_demo] == [
        (org, seed, size, style, tz) for org, _, seed, size, style, tz in DEMO_ORGS]
