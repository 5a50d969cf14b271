"""A mock of SAP SuccessFactors OData v2 (../shared/vendor-apis.md "SAP SuccessFactors") for the
tests, on loopback in a thread::

    with SuccessFactorsMock() as mock:
        company = mock.company("ACME01", "apiuser", "secret", size=20)
        company.url  # the organization's base_url: <server>/odata/v2

What it reproduces, because the adapter must cope with it:
- Basic auth ``user@companyId``; a wrong one answers 401; errors are
  ``{"error": {"code", "message": {"lang", "value"}}}``. JSON only with ``$format=json``
  (without it: 406, standing in for the Atom XML the server would send).
- ``{"d": {"results": [...], "__next": "<absolute url>"}}``; ``customPageSize`` (default 1000);
  ``paging=snapshot`` (the result set is fixed at the first request: stable under change),
  ``paging=cursor`` (keyed on the entity's key: stable too); without a paging parameter the
  ``__next`` carries an offset ``$skiptoken`` and ``$top/$skip`` page by offset: both miss and
  repeat rows while the data changes (SAP KBA 2723468), which is what the adapter must avoid.
- ``/Date(ms)/`` for Edm.DateTime (dates; ``9999-12-31`` for an open end; negative before 1970)
  and ``/Date(ms+0000)/`` for ``lastModifiedDateTime``; Decimal and Int64 values as strings.
- ``$filter`` with ``lastModifiedDateTime ge datetime'...'``, ``<key> in 'a','b'``,
  ``status in 't','f'``, joined by ``and``.
- Effective dating (``EmpJob``, ``EmpCompensation``, ``PerPersonal``): slices overlapping
  ``fromDate``..``toDate`` (``fromDate=1900-01-01&toDate=9999-12-31``: all of them), the slice in
  force on ``asOfDate``, or today's slice when neither is given (both: 400). A filter is
  evaluated per slice, then the window picks which of the matching slices come back: a
  ``lastModifiedDateTime`` filter alone returns today's slice only, and never the unchanged
  slices of a changed employee.
- ``User`` lists active users only unless the filter names ``status``.
- Termination: ``EmpEmployment.endDate`` = the last day, and an ``EmpJob`` slice from the next
  day with the terminated ``emplStatus``; the user becomes inactive once that day has passed.
- Picklists: ``EmpJob.emplStatus`` and ``EmpJob.contractType`` hold option ids (Int64 strings);
  their labels come from ``/PickListValueV2`` (``PickListV2_id``, ``optionId``,
  ``externalCode``, ``label_defaultValue``).
- Pay: ``EmpCompensation`` slices with ``$expand=empPayCompRecurringNav`` carry the recurring
  pay components inline (``paycompvalue`` Decimal string, ``currencyCode``, ``frequency``
  ANN|MON); without the expand the navigation is ``{"__deferred": {"uri"}}``.
- Departments: ``FODepartment`` (effective-dated foundation object keyed on ``externalCode`` and
  ``startDate``: ``name``, ``description``, ``parent``, ``headOfUnit``, ``status`` ``A``/``I``);
  ``EmpJob.department`` holds its code. A department may end (its last slice's ``endDate``).
- Leave: ``EmployeeTime`` (not effective-dated; ``externalCode``, ``userId``, ``timeType``,
  ``timeRecordType`` ``ABSENCE`` or ``ATTENDANCE``, ``startDate``/``endDate`` dates,
  ``quantityInDays``/``quantityInHours``/``deductionQuantity`` Decimal strings,
  ``approvalStatus``, ``comment``); a status change moves its ``lastModifiedDateTime``.
- ``rate_limit`` requests per second per company, then 429 with ``Retry-After``;
  ``fail_next(n, status)``; ``during_paging(callback)`` changes the data after a page that is
  not a walk's last.

The truth is the typed model (``Worker.jobs``, ``Worker.pays``, ``Department.slices``,
``Company.leaves``): what holds from each date on.
"""

from __future__ import annotations

import base64
import calendar
import datetime as dt
import json
import math
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit

from harvey_pipelines.mock_hrms.loopback import LoopbackJsonMock

TODAY = dt.date(2026, 11, 16)
OPEN_END = dt.date(9999, 12, 31)
FIRST_NAMES = ["Anna", "Lukas", "Marie", "Jonas", "Lea", "Felix", "Sofia", "Paul", "Emma", "Noah", "Mia", "Elias"]
LAST_NAMES = ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Hoffmann"]
TITLES = ["Analyst", "Engineer", "Senior Engineer", "Team Lead", "Accountant", "Recruiter"]
DEPARTMENTS = ["FIN", "ENG", "HR", "OPS"]
DEPARTMENT_NAMES = {"FIN": "Finance", "ENG": "Engineering", "HR": "Human Resources", "OPS": "Operations"}
# time type codes of the mock's tenant (the adapter's defaults map them)
TIME_TYPES = ("TT_VAC_REC", "TT_VAC_REC", "SICKNESS", "UNPAID", "MATERNITY")
LEAVE_STATUSES = ["APPROVED", "APPROVED", "APPROVED", "PENDING", "CANCELLED", "REJECTED"]
# picklist -> (optionId, externalCode, label)
PICKLISTS = {
    "employee-status": [("3671", "A", "Active"), ("3672", "U", "Unpaid Leave"), ("3673", "T", "Terminated")],
    "contractType": [("9001", "regular", "Regular"), ("9002", "fixed", "Fixed Term"),
                     ("9003", "intern", "Internship")],
}
STATUS_OPTION = {code: option for option, code, _ in PICKLISTS["employee-status"]}
CONTRACT_OPTION = {code: option for option, code, _ in PICKLISTS["contractType"]}
# entity -> key fields, in order (paging=cursor walks by them)
KEYS = {"User": ("userId",), "PerPersonal": ("personIdExternal", "startDate"), "EmpEmployment": ("userId",),
        "EmpJob": ("userId", "startDate", "seqNumber"), "EmpCompensation": ("userId", "startDate", "seqNumber"),
        "PickListValueV2": ("PickListV2_id", "externalCode"), "FODepartment": ("externalCode", "startDate"),
        "EmployeeTime": ("externalCode",)}
EFFECTIVE_DATED = ("EmpJob", "EmpCompensation", "PerPersonal", "FODepartment")


def odata_date(day: dt.date) -> str:
    return f"/Date({calendar.timegm(day.timetuple()) * 1000})/"


def odata_stamp(moment: dt.datetime) -> str:
    return f"/Date({int(moment.timestamp() * 1000)}+0000)/"


@dataclass
class Job:
    """An EmpJob slice: what holds from ``start`` until the next slice."""

    start: dt.date
    title: str
    department: str
    hours: float
    contract: str  # contractType externalCode
    status: str = "A"  # employee-status externalCode
    modified: dt.datetime = field(default_factory=lambda: dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
    manager: str | None = None  # managerId: the manager's userId


@dataclass
class Pay:
    start: dt.date
    amount: float
    currency: str = "EUR"
    frequency: str = "ANN"
    modified: dt.datetime = field(default_factory=lambda: dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))


@dataclass
class Worker:
    user_id: str
    first_name: str
    last_name: str
    email: str
    hire: dt.date
    jobs: list[Job]
    pays: list[Pay]
    end: dt.date | None = None  # EmpEmployment.endDate: the last day
    modified: dt.datetime = field(default_factory=lambda: dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc))
    # PerPersonal slices: (start, first name, last name, modified)
    names: list[tuple[dt.date, str, str, dt.datetime]] = field(default_factory=list)


@dataclass
class Unit:
    """An FODepartment slice: what holds from ``start`` until the next slice."""

    start: dt.date
    name: str
    head: str | None = None
    status: str = "A"  # I: inactive
    parent: str | None = None
    modified: dt.datetime = field(default_factory=lambda: dt.datetime(2019, 6, 1, tzinfo=dt.timezone.utc))


@dataclass
class Department:
    code: str
    slices: list[Unit]
    end: dt.date | None = None  # the last slice's endDate: the department's last day


@dataclass
class Leave:
    """An EmployeeTime record."""

    code: str
    user_id: str
    time_type: str
    start: dt.date
    end: dt.date
    status: str  # approvalStatus
    modified: dt.datetime
    record_type: str = "ABSENCE"
    hours_only: bool = False  # a time type recorded in hours: no quantityInDays


def holding(slices: list, day: dt.date):
    held = [s for s in slices if s.start <= day]
    return held[-1] if held else None


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None, code: str = "COE_GENERAL"):
        super().__init__(message)
        self.status, self.headers, self.code = status, headers or {}, code


class Company:
    def __init__(self, company_id: str, user: str, password: str, size: int, seed: int, today: dt.date, url: str):
        self.id, self.user, self.password, self.today, self.url = company_id, user, password, today, url
        self.rng = random.Random(seed)
        # the company's clock: each change made through the methods below is entered an hour
        # after the one before, from 08:00 UTC of ``today`` (past the sync's overlap, and
        # deterministic)
        self.clock = dt.datetime.combine(today, dt.time(8), dt.timezone.utc)
        self.workers: dict[str, Worker] = {}
        self._numbers = iter(range(1, 10**9))
        for _ in range(size):
            self._generated(self.today - dt.timedelta(days=self.rng.randrange(120, 1800)))
        self.departments: dict[str, Department] = {}
        self.leaves: dict[str, Leave] = {}
        self._leave_numbers = iter(range(1, 10**9))
        self._generated_units()
        for worker in list(self.workers.values()):
            for _ in range(self.rng.randrange(0, 4)):
                self._generated_leave(worker)

    def _generated_units(self) -> None:
        heads = sorted(self.workers)
        founded = dt.date(2015, 1, 1)
        for n, (code, name) in enumerate(DEPARTMENT_NAMES.items()):
            head = heads[n % len(heads)] if heads else None
            parent = None if code == "OPS" else "OPS"
            self.departments[code] = Department(code, [Unit(founded, name, head, parent=parent)])
        # one renamed in the past, one gone inactive, one ended, one only dated ahead
        self.departments["FIN"].slices.append(Unit(dt.date(2021, 7, 1), "Finance & Controlling",
                                                   self.departments["FIN"].slices[0].head, parent="OPS"))
        self.departments["LEGAL"] = Department("LEGAL", [Unit(founded, "Legal"),
                                                         Unit(dt.date(2024, 1, 1), "Legal", status="I")])
        self.departments["PMO"] = Department("PMO", [Unit(founded, "Project Office")], end=dt.date(2023, 12, 31))
        self.departments["LAB"] = Department("LAB", [Unit(self.today + dt.timedelta(days=40), "Research Lab")])

    def _generated_leave(self, worker: Worker) -> None:
        rng = self.rng
        first = max(worker.hire, self.today - dt.timedelta(days=400))
        start = first + dt.timedelta(days=rng.randrange(0, max(1, (self.today - first).days + 60)))
        days = rng.randrange(1, 11)
        kind = rng.choice(TIME_TYPES)
        self.request_leave(worker.user_id, start, start + dt.timedelta(days=days - 1), kind,
                           status=rng.choice(LEAVE_STATUSES), modified=self._past(start))
        if rng.random() < 0.1:  # a time sheet record: not leave
            self.request_leave(worker.user_id, start, start, "WORK", record_type="ATTENDANCE",
                               modified=self._past(start))

    # -- the model ----------------------------------------------------------------------------
    def now(self) -> dt.datetime:
        self.clock += dt.timedelta(hours=1)
        return self.clock

    def _past(self, day: dt.date) -> dt.datetime:
        """When a generated slice was entered: before its date and before today, in the past."""
        entered = min(day, self.today) - dt.timedelta(days=self.rng.randrange(1, 30))
        return dt.datetime.combine(entered, dt.time(9, self.rng.randrange(60)), dt.timezone.utc)

    def hire(self, start: dt.date, *, amount: float = 50000.0, hours: float = 40.0, contract: str = "regular",
             title: str = "Engineer", department: str = "ENG", modified: dt.datetime | None = None) -> Worker:
        number = next(self._numbers)
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        stamp = modified or self.now()
        worker = Worker(f"u{number:05d}", first, last, f"{first}.{last}.{number}@acme.example".lower(), start,
                        [Job(start, title, department, hours, contract, modified=stamp)],
                        [Pay(start, amount, modified=stamp)], modified=stamp)
        worker.names.append((start, first, last, stamp))
        self.workers[worker.user_id] = worker
        return worker

    def _generated(self, start: dt.date) -> None:
        rng = self.rng
        worker = self.hire(start, amount=float(rng.randrange(40000, 90000, 500)),
                           hours=rng.choice([20.0, 32.0, 40.0]), contract=rng.choice(["regular", "fixed", "intern"]),
                           title=rng.choice(TITLES), department=rng.choice(DEPARTMENTS), modified=self._past(start))
        year = start.year + 1
        while dt.date(year, 4, 1) < self.today:
            day = dt.date(year, 4, 1)
            self.raise_pay(worker.user_id, day, holding(worker.pays, day).amount + rng.randrange(1000, 3000, 250),
                           modified=self._past(day))
            year += 1
        if rng.random() < 0.4:
            day = start + dt.timedelta(days=rng.randrange(30, max(31, (self.today - start).days)))
            self.change_job(worker.user_id, day, modified=self._past(day),
                            title=rng.choice([t for t in TITLES if t != holding(worker.jobs, day).title]))
        if rng.random() < 0.2:
            ahead = self.today + dt.timedelta(days=rng.randrange(5, 60))
            self.raise_pay(worker.user_id, ahead, holding(worker.pays, ahead).amount + 2000, modified=self._past(ahead))
        elif rng.random() < 0.15:
            self.terminate(worker.user_id, self.today - dt.timedelta(days=rng.randrange(1, 60)),
                           modified=self._past(self.today))

    def change_job(self, user_id: str, start: dt.date, *, modified: dt.datetime | None = None, **values) -> Job:
        """From ``start`` on, ``values`` (title, department, hours, contract, status, manager) hold; a slice
        already starting that day is corrected (a backdated correction). Later slices keep theirs."""
        worker = self.workers[user_id]
        stamp = modified or self.now()
        existing = next((j for j in worker.jobs if j.start == start), None)
        if existing is not None:
            for name, value in values.items():
                setattr(existing, name, value)
            existing.modified = stamp
            return existing
        job = replace(holding(worker.jobs, start) or worker.jobs[0], start=start, modified=stamp, **values)
        worker.jobs = sorted([*worker.jobs, job], key=lambda j: j.start)
        return job

    def raise_pay(self, user_id: str, start: dt.date, amount: float, *, modified: dt.datetime | None = None) -> Pay:
        """The pay from ``start`` on (a slice starting that day is corrected)."""
        worker = self.workers[user_id]
        stamp = modified or self.now()
        existing = next((p for p in worker.pays if p.start == start), None)
        if existing is not None:
            existing.amount, existing.modified = amount, stamp
            return existing
        pay = replace(holding(worker.pays, start) or worker.pays[0], start=start, amount=amount, modified=stamp)
        worker.pays = sorted([*worker.pays, pay], key=lambda p: p.start)
        return pay

    def rename(self, user_id: str, start: dt.date, last_name: str) -> None:
        """A PerPersonal slice from ``start`` (a marriage); ``User`` follows once it holds."""
        worker = self.workers[user_id]
        worker.names = sorted([*[n for n in worker.names if n[0] != start],
                               (start, worker.first_name, last_name, self.now())], key=lambda n: n[0])
        if start <= self.today:
            worker.last_name, worker.modified = last_name, self.now()

    def terminate(self, user_id: str, last_day: dt.date, *, modified: dt.datetime | None = None) -> None:
        """``EmpEmployment.endDate`` and a terminated EmpJob slice from the next day; slices
        after it go, as SuccessFactors' termination transaction removes them."""
        worker = self.workers[user_id]
        stamp = modified or self.now()
        worker.end, worker.modified = last_day, stamp
        worker.jobs = [j for j in worker.jobs if j.start <= last_day]
        worker.pays = [p for p in worker.pays if p.start <= last_day]
        self.change_job(user_id, last_day + dt.timedelta(days=1), status="T", modified=stamp)

    def request_leave(self, user_id: str, start: dt.date, end: dt.date, time_type: str = "TT_VAC_REC", *,
                      status: str = "PENDING", record_type: str = "ABSENCE", hours_only: bool = False,
                      modified: dt.datetime | None = None) -> Leave:
        leave = Leave(f"ET{next(self._leave_numbers):06d}", user_id, time_type, start, end, status,
                      modified or self.now(), record_type, hours_only)
        self.leaves[leave.code] = leave
        return leave

    def decide_leave(self, code: str, status: str) -> Leave:
        """A new approvalStatus (APPROVED, REJECTED, CANCELLED...), entered now."""
        leave = self.leaves[code]
        leave.status, leave.modified = status, self.now()
        return leave

    def reorganize(self, code: str, start: dt.date, *, modified: dt.datetime | None = None, **values) -> Unit:
        """From ``start`` on, ``values`` (name, head, status, parent) hold for the department ``code``
        (a new one when unknown); a slice starting that day is corrected."""
        stamp = modified or self.now()
        department = self.departments.setdefault(code, Department(code, []))
        existing = next((u for u in department.slices if u.start == start), None)
        if existing is not None:
            for name, value in values.items():
                setattr(existing, name, value)
            existing.modified = stamp
            return existing
        base = holding(department.slices, start) or Unit(start, code)
        unit = replace(base, start=start, modified=stamp, **values)
        department.slices = sorted([*department.slices, unit], key=lambda u: u.start)
        return unit

    def close_department(self, code: str, last_day: dt.date) -> None:
        department = self.departments[code]
        department.end = last_day
        department.slices[-1].modified = self.now()

    def department_today(self, department: Department) -> Unit | None:
        """The slice in force today, None when none is (not begun, or ended)."""
        if department.end is not None and department.end < self.today:
            return None
        return holding(department.slices, self.today)

    def advance(self, days: int) -> None:
        self.today += dt.timedelta(days=days)
        self.clock = max(self.clock, dt.datetime.combine(self.today, dt.time(8), dt.timezone.utc))

    def active(self, worker: Worker) -> bool:
        job = holding(worker.jobs, self.today)
        return job is None or job.status != "T"

    def versions(self, worker: Worker) -> list[tuple[dt.date, dt.date | None, Job, Pay]]:
        """The maximal intervals of constant job and pay up to the termination: what the
        canonical employments must hold (start, last day, the job and pay in force)."""
        points = sorted({s.start for s in (*worker.jobs, *worker.pays)})
        rows: list[tuple[dt.date, Job, Pay]] = []
        for day in points:
            job, pay = holding(worker.jobs, day), holding(worker.pays, day)
            if job.status == "T":
                continue
            if rows and _terms(rows[-1][1], rows[-1][2]) == _terms(job, pay):
                continue
            rows.append((day, job, pay))
        ends = [worker.end if worker.end is not None else None] * len(rows)
        for n in range(len(rows) - 1):
            ends[n] = rows[n + 1][0] - dt.timedelta(days=1)
        return [(start, end, job, pay) for (start, job, pay), end in zip(rows, ends)]

    # -- rendering ----------------------------------------------------------------------------
    def rows(self, entity: str, users: set[str] | None = None) -> list[dict]:
        """Every record of ``entity`` (every slice of an effective-dated one) with its slice
        window as ``_from``/``_to`` (dates), which the window selection reads and strips;
        ``users``: only theirs (a filter naming them: the rest are not rendered)."""
        out: list[dict] = []
        for w in self.workers.values() if users is None else (self.workers[u] for u in users if u in self.workers):
            if entity == "User":
                job = holding(w.jobs, self.today) or w.jobs[0]
                out.append({"userId": w.user_id, "username": w.user_id.upper(), "firstName": w.first_name,
                            "lastName": w.last_name, "email": w.email,
                            "status": "t" if self.active(w) else "f", "title": job.title,
                            "department": job.department, "lastModifiedDateTime": w.modified})
            elif entity == "EmpEmployment":
                out.append({"personIdExternal": w.user_id, "userId": w.user_id, "startDate": w.hire,
                            "endDate": w.end, "lastModifiedDateTime": w.modified})
            elif entity == "PerPersonal":
                for n, (start, first, last, stamp) in enumerate(w.names):
                    end = w.names[n + 1][0] - dt.timedelta(days=1) if n + 1 < len(w.names) else OPEN_END
                    out.append({"personIdExternal": w.user_id, "startDate": start, "endDate": end,
                                "firstName": first, "lastName": last, "lastModifiedDateTime": stamp})
            elif entity == "EmpJob":
                for n, j in enumerate(w.jobs):
                    end = w.jobs[n + 1].start - dt.timedelta(days=1) if n + 1 < len(w.jobs) else OPEN_END
                    out.append({"userId": w.user_id, "startDate": j.start, "endDate": end, "seqNumber": "1",
                                "jobTitle": j.title, "department": j.department, "standardHours": f"{j.hours:.1f}",
                                "emplStatus": STATUS_OPTION[j.status], "contractType": CONTRACT_OPTION[j.contract],
                                "managerId": j.manager, "lastModifiedDateTime": j.modified})
            elif entity == "EmpCompensation":
                for n, p in enumerate(w.pays):
                    end = w.pays[n + 1].start - dt.timedelta(days=1) if n + 1 < len(w.pays) else OPEN_END
                    out.append({"userId": w.user_id, "startDate": p.start, "endDate": end, "seqNumber": "1",
                                "eventReason": "PAYRAISE", "lastModifiedDateTime": p.modified,
                                "empPayCompRecurringNav": [{"payComponent": "BASE", "paycompvalue": f"{p.amount:.2f}",
                                                            "currencyCode": p.currency, "frequency": p.frequency,
                                                            "startDate": p.start, "endDate": end}]})
        if entity == "FODepartment":
            for d in self.departments.values():
                for n, u in enumerate(d.slices):
                    end = (d.slices[n + 1].start - dt.timedelta(days=1) if n + 1 < len(d.slices)
                           else d.end or OPEN_END)
                    out.append({"externalCode": d.code, "startDate": u.start, "endDate": end, "name": u.name,
                                "name_defaultValue": u.name, "description": f"{u.name} ({d.code})",
                                "parent": u.parent, "headOfUnit": u.head, "status": u.status,
                                "lastModifiedDateTime": u.modified})
        if entity == "EmployeeTime":
            for leave in self.leaves.values():
                days = (leave.end - leave.start).days + 1
                out.append({"externalCode": leave.code, "userId": leave.user_id, "timeType": leave.time_type,
                            "timeRecordType": leave.record_type, "startDate": leave.start, "endDate": leave.end,
                            "quantityInDays": None if leave.hours_only else f"{days:.1f}",
                            "quantityInHours": f"{days * 8:.1f}", "deductionQuantity": f"{days:.1f}",
                            "approvalStatus": leave.status, "comment": None,
                            "lastModifiedDateTime": leave.modified})
        if entity == "PickListValueV2":
            out = [{"PickListV2_id": picklist, "optionId": option, "externalCode": code, "label_defaultValue": label,
                    "lastModifiedDateTime": dt.datetime(2019, 1, 1, tzinfo=dt.timezone.utc)}
                   for picklist, options in PICKLISTS.items() for option, code, label in options]
        return out


def _terms(job: Job, pay: Pay) -> tuple:
    return (job.title, job.department, job.hours, job.contract, job.status, job.manager, pay.amount, pay.currency,
            pay.frequency)


# -- $filter ---------------------------------------------------------------------------------
_IN = re.compile(r"^(\w+) in (.+)$")
_GE = re.compile(r"^lastModifiedDateTime (ge|gt) datetime'([^']+)'$")
_EQ = re.compile(r"^(\w+) eq '([^']*)'$")
# a filter naming users by key: only theirs need rendering (the predicates still decide)
_USERS = re.compile(r"\b(?:userId|personIdExternal) in ((?:'[^']*',?\s*)+)")


def _predicates(text: str) -> list[Callable[[dict], bool]]:
    found: list[Callable[[dict], bool]] = []
    for clause in (c.strip().strip("()") for c in re.split(r"\s+and\s+", text.strip()) if c.strip()):
        if match := _GE.match(clause):
            op, value = match.groups()
            moment = dt.datetime.fromisoformat(value)
            moment = moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
            found.append(lambda r, m=moment, o=op: r["lastModifiedDateTime"] > m if o == "gt"
                         else r["lastModifiedDateTime"] >= m)
        elif match := _IN.match(clause):
            name, values = match.groups()
            wanted = set(re.findall(r"'([^']*)'", values))
            found.append(lambda r, n=name, w=wanted: str(r.get(n)) in w)
        elif match := _EQ.match(clause):
            name, value = match.groups()
            found.append(lambda r, n=name, v=value: str(r.get(n)) == v)
        else:
            raise ApiError(400, f"[COE0019]Invalid filter: {clause}", code="COE_PROPERTY_NOT_FILTERABLE")
    return found


def _encode(row: dict) -> dict:
    def value(v):
        if isinstance(v, dt.datetime):
            return odata_stamp(v)
        if isinstance(v, dt.date):
            return odata_date(v)
        if isinstance(v, list):
            return {"results": [_encode(x) for x in v]}
        return v
    return {k: value(v) for k, v in row.items()}


class SuccessFactorsMock(LoopbackJsonMock):
    def __init__(self, *, rate_limit: int = 10_000, today: dt.date = TODAY):
        self.rate_limit, self.today = rate_limit, today
        self.lock = threading.RLock()
        self.companies: dict[str, Company] = {}
        self.calls: list[str] = []  # path?query of every request
        self._recent: dict[str, list[float]] = {}
        self._faults: list[int] = []
        self._paging_hooks: list[Callable[[], None]] = []
        self._snapshots: dict[str, list[dict]] = {}

    def company(self, company_id: str, user: str, password: str, *, size: int = 20, seed: int = 1) -> Company:
        with self.lock:
            made = Company(company_id, user, password, size, seed, self.today, f"{self.url}/odata/v2")
            self.companies[company_id] = made
            return made

    def fail_next(self, count: int, status: int = 500) -> None:
        with self.lock:
            self._faults.extend([status] * count)

    def during_paging(self, change: Callable[[], None]) -> None:
        """Run ``change`` once, after the next page served that is not a walk's last."""
        with self.lock:
            self._paging_hooks.append(change)

    # -- HTTP ---------------------------------------------------------------------------------
    def _admit(self, authorization: str | None) -> Company:
        try:
            user, _, password = base64.b64decode((authorization or "").removeprefix("Basic ")).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user = password = ""
        name, _, company_id = user.partition("@")
        company = self.companies.get(company_id)
        if company is None or name != company.user or password != company.password:
            raise ApiError(401, "[LGN0022]Credential is rejected. Either the username or password is wrong.",
                           code="COE_AUTHENTICATION_FAILED")
        now = time.monotonic()
        recent = [t for t in self._recent.get(company.id, []) if now - t < 1.0]
        if len(recent) >= self.rate_limit:
            self._recent[company.id] = recent
            raise ApiError(429, "Rate limit exceeded", {"Retry-After": str(max(1, math.ceil(1.0 - (now - recent[0]))))})
        self._recent[company.id] = [*recent, now]
        if self._faults:
            raise ApiError(self._faults.pop(0), "Internal Server Error")
        return company

    def answer(self, path: str, query: dict[str, str], authorization: str | None) -> dict:
        parts = path.strip("/").split("/")
        with self.lock:
            company = self._admit(authorization)
            if len(parts) != 3 or parts[:2] != ["odata", "v2"] or parts[2] not in KEYS:
                raise ApiError(404, f"[COE0020]Entity not found: {'/'.join(parts[2:])}", code="COE_ENTITY_NOT_FOUND")
            if query.get("$format") != "json":
                raise ApiError(406, "this mock answers JSON only: ask with $format=json")
            entity = parts[2]
            size = int(query.get("customPageSize", 1000))
            token = query.get("$skiptoken")
            paging = query.get("paging")
            if paging == "snapshot" and token:
                snapshot_id, _, offset_text = token.partition(":")
                rows = self._snapshots.get(snapshot_id)
                if rows is None:
                    raise ApiError(400, "[COE0030]The snapshot has expired", code="COE_SNAPSHOT_EXPIRED")
                offset = int(offset_text)
            else:
                rows = self._select(company, entity, query)
                offset = int(token) if token and paging != "cursor" else int(query.get("$skip", 0))
                if paging == "snapshot":
                    snapshot_id = uuid.uuid4().hex
                    self._snapshots[snapshot_id] = rows
                if paging == "cursor" and token:
                    after = tuple(json.loads(token))
                    rows = [r for r in rows if _key(entity, r) > after]
                    offset = 0
            top = int(query["$top"]) if "$top" in query else None
            chunk = rows[offset: offset + (min(size, top) if top is not None else size)]
            following = offset + len(chunk)
            more = following < len(rows) and top is None
            body: dict = {"results": [_encode(r) for r in chunk]}
            if more:
                ask = {k: v for k, v in query.items() if k != "$skiptoken"}
                if paging == "snapshot":
                    ask["$skiptoken"] = f"{snapshot_id}:{following}"
                elif paging == "cursor":
                    ask["$skiptoken"] = json.dumps(list(_key(entity, chunk[-1])))
                else:
                    ask["$skiptoken"] = str(following)
                body["__next"] = f"{company.url}/{entity}?{urlencode(ask)}"
            answer = json.loads(json.dumps({"d": body}))
        if more and self._paging_hooks:
            self._paging_hooks.pop(0)()
        return answer

    def _select(self, company: Company, entity: str, query: dict[str, str]) -> list[dict]:
        text = query.get("$filter", "")
        predicates = _predicates(text)
        named = _USERS.search(text)
        users = set(re.findall(r"'([^']*)'", named.group(1))) if named and entity != "PickListValueV2" else None
        rows = [r for r in company.rows(entity, users) if all(p(r) for p in predicates)]
        if entity == "User" and "status" not in text:
            rows = [r for r in rows if r["status"] == "t"]
        if entity in EFFECTIVE_DATED:
            as_of, first, last = query.get("asOfDate"), query.get("fromDate"), query.get("toDate")
            if as_of and (first or last):
                raise ApiError(400, "[COE0019]asOfDate cannot be used together with fromDate or toDate")
            if first or last:
                low = dt.date.fromisoformat(first or "1900-01-01")
                high = dt.date.fromisoformat(last or "9999-12-31")
                rows = [r for r in rows if r["startDate"] <= high and r["endDate"] >= low]
            else:
                day = dt.date.fromisoformat(as_of) if as_of else company.today
                rows = [r for r in rows if r["startDate"] <= day <= r["endDate"]]
        return sorted(rows, key=lambda r: _key(entity, r))

    content_type = "application/json;charset=utf-8"

    def respond(self, method, target, headers, body):
        url = urlsplit(target)
        self.calls.append(target)
        try:
            return 200, self.answer(url.path, dict(parse_qsl(url.query)), headers.get("Authorization")), None
        except ApiError as exc:
            return exc.status, {"error": {"code": exc.code, "message": {"lang": "en-US", "value": str(exc)}}}, \
                exc.headers


def _key(entity: str, row: dict) -> tuple:
    return tuple(str(row[k]) if not isinstance(row[k], dt.date) else row[k].isoformat() for k in KEYS[entity])
