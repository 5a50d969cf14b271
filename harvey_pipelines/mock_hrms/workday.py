"""A mock of a Workday tenant (../shared/vendor-apis.md "Workday") for the tests, on loopback in a
thread::

    with WorkdayMock() as mock:
        tenant = mock.tenant("acme", size=20)
        tenant.url  # the organization's base_url (the host; paths carry the tenant)

What it reproduces, because the adapter must cope with it:
- OAuth: ``POST /ccx/oauth2/{tenant}/token`` with ``grant_type=refresh_token`` and the API
  client's id and secret (HTTP Basic) -> ``{access_token, token_type, expires_in}``; an access
  token expires (``expire_tokens_after(n)``: after n more API answers, also mid-sync) and then
  answers 401.
- REST ``GET /ccx/api/v1/{tenant}/workers?limit=&offset=`` -> ``{data, total}``, ``limit`` at
  most 100, ordered by name (a hire or a termination shifts the pages after it); it lists only
  workers not terminated. ``GET .../workers/{id}/timeOffEntries`` pages the same way: one entry
  per day of leave, ``date`` the tenant's local midnight in UTC (``T07:00:00.000Z`` in summer
  at America/Los_Angeles, ``T08:00:00.000Z`` in winter).
- RaaS ``GET /ccx/service/customreport2/{tenant}/{owner}/{report}?format=json`` with the
  integration user's Basic auth -> ``{"Report_Entry": [...]}``: every value a string, empty
  fields omitted, a multi-valued field (``Email_Address``) a string when it holds one value and
  a list of objects when several. Two reports: the terminated workers and the job history (one
  entry per effective-dated job row, future-dated ones included); the job history answers only
  the workers changed since its ``Changed_Since`` prompt when the prompt is given (all rows of
  each), and each entry's ``Last_Functionally_Updated`` is when its row was entered or corrected.
  A report's sort is its author's choice: ``tenant.report_order`` ``"worker"`` (a worker's
  rows together) or ``"effective_date"`` (all workers' rows interleaved by date).
- ``fail_next(n, status)`` (429 with ``Retry-After``, 5xx); ``during_paging(callback)`` changes
  the data between two pages of a walk.

The truth is the typed model (``Worker.jobs``, ``Worker.leaves``); the answers are rendered
from it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
import threading
import uuid
from dataclasses import dataclass, field, replace
from typing import Callable
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

from harvey_pipelines.mock_hrms.loopback import LoopbackJsonMock

TODAY = dt.date(2026, 11, 16)
ZONE = "America/Los_Angeles"
TERMINATED_REPORT = "Terminated_Workers"
JOB_HISTORY_REPORT = "Job_History"
REPORT_OWNER = "ISU_Harvey"
CHANGED_SINCE_PROMPT = "Changed_Since"
FIRST_NAMES = ["Logan", "Maria", "Steve", "Teresa", "Oliver", "Priya", "Kenji", "Amara", "Diego", "Hannah"]
LAST_NAMES = ["McNeil", "Cardoza", "Morgan", "Serrano", "Reynolds", "Nair", "Tanaka", "Okafor", "Alvarez", "Schmidt"]
DEPARTMENTS = ["Engineering", "Finance", "Human Resources", "Sales", "Support"]
TITLES = ["Software Engineer", "Senior Software Engineer", "Accountant", "HR Partner", "Account Executive",
          "Support Specialist", "Team Lead"]
LOCATIONS = ["San Francisco", "Pleasanton", "Boulder"]
PLANS = ["Vacation", "Sick", "Unpaid Leave"]


@dataclass
class Job:
    """What holds from ``start`` until the next job row (or the termination)."""

    start: dt.date
    title: str
    department: str
    location: str
    worker_type: str  # "Regular" | "Fixed Term"
    hours: float
    pay: float  # annual base pay, USD
    updated: dt.datetime  # when the row was entered or last corrected (or the termination ended it)


@dataclass
class Leave:
    request_id: str
    plan: str
    status: str  # "Approved" | "Submitted" | "Denied" | "Canceled"
    days: list[dt.date]


@dataclass
class Worker:
    id: str
    number: str
    first_name: str
    last_name: str
    emails: list[str]
    phone: str
    jobs: list[Job]
    updated: dt.datetime
    leaves: list[Leave] = field(default_factory=list)
    end: dt.date | None = None  # the last working day

    @property
    def hire(self) -> dt.date:
        return self.jobs[0].start

    def holding(self, day: dt.date) -> Job:
        held = [j for j in self.jobs if j.start <= day]
        return held[-1] if held else self.jobs[0]


class ApiError(Exception):
    def __init__(self, status: int, body: dict, headers: dict[str, str] | None = None):
        super().__init__(json.dumps(body))
        self.status, self.body, self.headers = status, body, headers or {}


class Tenant:
    def __init__(self, name: str, size: int, seed: int, today: dt.date, url: str, zone: str = ZONE):
        self.name, self.today, self.url, self.zone = name, today, url, ZoneInfo(zone)
        self.client_id = f"{name}-client-{seed}"
        self.client_secret = f"{name}-secret-{seed}-71c9"
        self.refresh_token = f"{name}-refresh-{seed}-a3f0"
        self.report_user = f"ISU_Harvey@{name}"
        self.report_password = f"{name}-isu-password-{seed}-5be2"
        self.rng = random.Random(seed)
        # the job-history report's order: "worker" (a worker's rows together, as a report sorted by
        # worker gives them) or "effective_date" (every worker's rows interleaved by date)
        self.report_order = "worker"
        self.workers: dict[str, Worker] = {}
        self.clock = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)  # moves on every change
        self._numbers = iter(range(21001, 10**9))
        for _ in range(size):
            self._history(self.hire(self.today - dt.timedelta(days=self.rng.randrange(200, 1500))))

    def _tick(self) -> dt.datetime:
        self.clock += dt.timedelta(minutes=1)
        return self.clock

    # -- the model ----------------------------------------------------------------------------
    def hire(self, start: dt.date, *, two_emails: bool | None = None) -> Worker:
        rng = self.rng
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        number = str(next(self._numbers))
        email = f"{first}.{last}.{number}@{self.name}.example".lower()
        emails = [email, f"{first}{number}@home.example".lower()] if (
            two_emails if two_emails is not None else rng.random() < 0.3) else [email]
        job = Job(start, rng.choice(TITLES), rng.choice(DEPARTMENTS), rng.choice(LOCATIONS),
                  "Fixed Term" if rng.random() < 0.2 else "Regular", rng.choice([40.0, 32.0, 20.0]),
                  float(rng.randrange(60_000, 160_000, 1000)), self._tick())
        worker = Worker(str(uuid.UUID(int=rng.getrandbits(128))).replace("-", ""), number, first, last, emails,
                        f"+1 (555) {rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}", [job], self._tick())
        self.workers[worker.id] = worker
        return worker

    def _history(self, worker: Worker) -> None:
        """Yearly raises, a promotion or transfer now and then, a raise dated ahead for some, a
        termination for some, and leave (days in summer and winter time, some over a weekend)."""
        rng = self.rng
        year = worker.hire.year + 1
        while dt.date(year, 3, 1) < self.today:
            self.change(worker.id, dt.date(year, 3, 1), pay=worker.holding(dt.date(year, 3, 1)).pay + 3000)
            year += 1
        if rng.random() < 0.4:
            day = worker.hire + dt.timedelta(days=rng.randrange(30, (self.today - worker.hire).days))
            self.change(worker.id, day, title=rng.choice(TITLES), department=rng.choice(DEPARTMENTS))
        if rng.random() < 0.2:
            ahead = self.today + dt.timedelta(days=rng.randrange(5, 60))
            self.change(worker.id, ahead, pay=worker.holding(ahead).pay + 5000)
        elif rng.random() < 0.15:
            self.terminate(worker.id, self.today - dt.timedelta(days=rng.randrange(1, 60)))
        for _ in range(rng.randrange(0, 4)):
            start = self.today - dt.timedelta(days=rng.randrange(1, 300))
            if start > worker.hire:
                self.take_leave(worker.id, start, rng.randrange(1, 6), plan=rng.choice(PLANS),
                                status=rng.choice(["Approved", "Approved", "Submitted", "Denied"]))

    def change(self, worker_id: str, start: dt.date, **values) -> Job:
        """From ``start`` on, ``values`` hold (a job row already starting that day is corrected)."""
        worker = self.workers[worker_id]
        worker.updated = self._tick()
        existing = next((j for j in worker.jobs if j.start == start), None)
        if existing is not None:
            for name, value in values.items():
                setattr(existing, name, value)
            existing.updated = worker.updated
            return existing
        job = replace(worker.holding(start), start=start, updated=worker.updated, **values)
        worker.jobs = sorted([*worker.jobs, job], key=lambda j: j.start)
        return job

    def terminate(self, worker_id: str, last_day: dt.date) -> None:
        worker = self.workers[worker_id]
        worker.end, worker.updated = last_day, self._tick()
        worker.jobs = [j for j in worker.jobs if j.start <= last_day]
        worker.jobs[-1].updated = worker.updated  # the termination ends the last row

    def take_leave(self, worker_id: str, start: dt.date, workdays: int, *, plan: str = "Vacation",
                   status: str = "Approved") -> Leave:
        """``workdays`` working days from ``start``: a request over a weekend has a gap in its days."""
        days: list[dt.date] = []
        day = start
        while len(days) < workdays:
            if day.weekday() < 5:
                days.append(day)
            day += dt.timedelta(days=1)
        leave = Leave(str(uuid.UUID(int=self.rng.getrandbits(128))).replace("-", ""), plan, status, days)
        self.workers[worker_id].leaves.append(leave)
        return leave

    def terminated(self, worker: Worker) -> bool:
        return worker.end is not None and worker.end < self.today

    def versions(self, worker: Worker) -> list[tuple[Job, dt.date | None]]:
        """The worker's job rows with their last day, consecutive rows equal in what the canonical
        employments hold (all but the location) merged."""
        def kept(job: Job) -> tuple:
            return job.title, job.department, job.worker_type, job.hours, job.pay

        merged: list[Job] = []
        for job in worker.jobs:
            if not merged or kept(merged[-1]) != kept(job):
                merged.append(job)
        return [(j, merged[n + 1].start - dt.timedelta(days=1) if n + 1 < len(merged) else worker.end)
                for n, j in enumerate(merged)]

    def local_midnight_utc(self, day: dt.date) -> str:
        instant = dt.datetime.combine(day, dt.time(), self.zone).astimezone(dt.timezone.utc)
        return instant.strftime("%Y-%m-%dT%H:%M:%S.000Z")

    # -- rendering ----------------------------------------------------------------------------
    def listing(self) -> list[Worker]:
        return sorted((w for w in self.workers.values() if not self.terminated(w)),
                      key=lambda w: (w.first_name, w.last_name, w.number))

    def rest_worker(self, worker: Worker) -> dict:
        job = worker.holding(self.today)
        return {
            "id": worker.id, "descriptor": f"{worker.first_name} {worker.last_name}",
            "href": f"{self.url}/ccx/api/v1/{self.name}/workers/{worker.id}",
            "primaryWorkEmail": worker.emails[0], "primaryWorkPhone": worker.phone,
            "businessTitle": job.title, "isManager": job.title == "Team Lead",
            "primarySupervisoryOrganization": {"id": job.department.lower().replace(" ", "_"),
                                               "descriptor": job.department, "href": None},
        }

    def time_off_entries(self, worker: Worker) -> list[dict]:
        return [{
            "id": f"{leave.request_id}-{n}", "date": self.local_midnight_utc(day), "units": 1,
            "unitOfTime": {"id": "days", "descriptor": "Days"},
            "employee": {"id": worker.id, "descriptor": f"{worker.first_name} {worker.last_name}"},
            "timeOffRequest": {"id": leave.request_id, "status": leave.status,
                               "descriptor": f"Time Off Request: {worker.first_name} {worker.last_name}"},
            "timeOff": {"id": leave.plan.lower(), "descriptor": leave.plan, "plan": {"descriptor": leave.plan}},
        } for leave in worker.leaves for n, day in enumerate(leave.days)]

    def _emails(self, worker: Worker) -> str | list[dict]:
        return worker.emails[0] if len(worker.emails) == 1 else [{"Email_Address": e} for e in worker.emails]

    def terminated_report(self) -> list[dict]:
        entries = []
        for w in self.workers.values():
            if self.terminated(w):
                job = w.jobs[-1]
                entries.append(_strings({
                    "Worker_ID": w.id, "Employee_ID": w.number, "First_Name": w.first_name,
                    "Last_Name": w.last_name, "Email_Address": self._emails(w), "Hire_Date": w.hire.isoformat(),
                    "Termination_Date": w.end.isoformat() if w.end else None, "Business_Title": job.title,
                    "Supervisory_Organization": job.department, "Location": job.location}))
        return entries

    def job_history_report(self, changed_since: dt.datetime | None) -> list[dict]:
        entries = [_strings({
            "Worker_ID": w.id, "Employee_ID": w.number, "First_Name": w.first_name, "Last_Name": w.last_name,
            "Hire_Date": w.hire.isoformat(), "Termination_Date": w.end.isoformat() if w.end else None,
            "Effective_Date": j.start.isoformat(), "Business_Title": j.title,
            "Supervisory_Organization": j.department, "Location": j.location, "Worker_Type": j.worker_type,
            "Scheduled_Weekly_Hours": j.hours, "Total_Base_Pay": f"{j.pay:.2f}", "Currency": "USD",
            "Frequency": "Annual", "Last_Functionally_Updated": j.updated.isoformat(timespec="seconds")})
            for w in self.workers.values() if changed_since is None or w.updated >= changed_since
            for j in w.jobs]
        if self.report_order == "effective_date":
            entries.sort(key=lambda e: e["Effective_Date"])
        return entries


def _strings(entry: dict) -> dict:
    """As RaaS renders an entry: every value a string, empty ones left out."""
    return {k: v if isinstance(v, (str, list)) else str(v) for k, v in entry.items() if v not in (None, "", [])}


class WorkdayMock(LoopbackJsonMock):
    def __init__(self, *, today: dt.date = TODAY):
        self.today = today
        self.lock = threading.RLock()
        self.tenants: dict[str, Tenant] = {}
        self.calls: list[str] = []  # method path?query of every request
        self.tokens: dict[str, str] = {}  # live access token -> tenant name
        self._expire_in: int | None = None  # API answers until every live token expires
        self._faults: list[int] = []
        self._paging_hooks: list[Callable[[], None]] = []

    def tenant(self, name: str, *, size: int = 20, seed: int = 1) -> Tenant:
        with self.lock:
            made = Tenant(name, size, seed, self.today, self.url)
            self.tenants[name] = made
            return made

    def fail_next(self, count: int, status: int = 500) -> None:
        with self.lock:
            self._faults.extend([status] * count)

    def during_paging(self, change: Callable[[], None]) -> None:
        """Run ``change`` once, after the next list page served that is not a walk's last."""
        with self.lock:
            self._paging_hooks.append(change)

    def expire_tokens_after(self, answers: int) -> None:
        """Every access token issued so far or until then stops working after ``answers`` more API answers."""
        with self.lock:
            self._expire_in = answers

    # -- HTTP ---------------------------------------------------------------------------------
    def token(self, path: str, form: dict[str, str], authorization: str | None) -> dict:
        parts = path.strip("/").split("/")
        with self.lock:
            tenant = self.tenants.get(parts[2]) if len(parts) == 4 and parts[3] == "token" else None
            if tenant is None:
                raise ApiError(404, {"error": "not found"})
            basic = "Basic " + base64.b64encode(f"{tenant.client_id}:{tenant.client_secret}".encode()).decode()
            if authorization != basic:
                raise ApiError(401, {"error": "invalid_client"})
            if form.get("grant_type") != "refresh_token" or form.get("refresh_token") != tenant.refresh_token:
                raise ApiError(400, {"error": "invalid_grant"})
            access = uuid.uuid4().hex
            self.tokens[access] = tenant.name
            return {"access_token": access, "token_type": "Bearer", "expires_in": 3600}

    def _fault(self) -> None:
        if self._faults:
            status = self._faults.pop(0)
            raise ApiError(status, {"error": "Too many requests" if status == 429 else "Server error"},
                           {"Retry-After": "0"} if status == 429 else None)

    def _expiry(self) -> None:
        if self._expire_in is not None:
            self._expire_in -= 1
            if self._expire_in <= 0:
                self.tokens.clear()
                self._expire_in = None

    def answer(self, path: str, query: dict[str, str], authorization: str | None):
        parts = path.strip("/").split("/")
        with self.lock:
            if parts[:2] == ["ccx", "service"] and len(parts) == 6 and parts[2] == "customreport2":
                tenant = self.tenants.get(parts[3])
                if tenant is None:
                    raise ApiError(404, {"error": "not found"})
                basic = "Basic " + base64.b64encode(
                    f"{tenant.report_user}:{tenant.report_password}".encode()).decode()
                if authorization != basic or parts[4] != REPORT_OWNER:
                    raise ApiError(401, {"error": "Invalid username or password"})
                self._fault()
                if query.get("format") != "json":
                    raise ApiError(400, {"error": "this mock renders format=json only"})
                if parts[5] == TERMINATED_REPORT:
                    entries = tenant.terminated_report()
                elif parts[5] == JOB_HISTORY_REPORT:
                    since = query.get(CHANGED_SINCE_PROMPT)
                    entries = tenant.job_history_report(dt.datetime.fromisoformat(since) if since else None)
                else:
                    raise ApiError(404, {"error": f"no report {parts[5]}"})
                return {"Report_Entry": entries}
            if parts[:3] != ["ccx", "api", "v1"] or len(parts) not in (5, 7) or parts[4] != "workers" \
                    or parts[3] not in self.tenants or (len(parts) == 7 and parts[6] != "timeOffEntries"):
                raise ApiError(404, {"error": "not found"})
            tenant = self.tenants[parts[3]]
            token = (authorization or "").removeprefix("Bearer ")
            if self.tokens.get(token) != tenant.name:
                raise ApiError(401, {"error": "invalid_token"})
            self._expiry()
            self._fault()
            try:
                limit, offset = int(query.get("limit", 20)), int(query.get("offset", 0))
            except ValueError:
                raise ApiError(400, {"error": "limit and offset must be integers"}) from None
            if not 1 <= limit <= 100 or offset < 0:
                raise ApiError(400, {"error": "limit must be 1..100 and offset 0 or more"})
            if len(parts) == 5:
                listed = tenant.listing()
                # only the page's workers rendered: a 10,000-worker walk stays linear
                rows, total = [tenant.rest_worker(w) for w in listed[offset: offset + limit]], len(listed)
            else:
                worker = tenant.workers.get(parts[5])
                if worker is None:
                    raise ApiError(404, {"error": "worker not found"})
                entries = tenant.time_off_entries(worker)
                rows, total = entries[offset: offset + limit], len(entries)
            body = {"data": rows, "total": total}
            more = offset + limit < total
            answer = json.loads(json.dumps(body))
        if more and self._paging_hooks:
            self._paging_hooks.pop(0)()
        return answer

    methods = ("GET", "POST")

    def respond(self, method, target, headers, body):
        url = urlsplit(target)
        self.calls.append(f"{method} {target}")
        try:
            if method == "POST":
                answer = self.token(url.path, dict(parse_qsl(body.decode())), headers.get("Authorization"))
            else:
                answer = self.answer(url.path, dict(parse_qsl(url.query)), headers.get("Authorization"))
        except ApiError as exc:
            return exc.status, exc.body, exc.headers
        return 200, answer, None
