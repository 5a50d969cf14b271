"""A mock of BambooHR's API (legacy gateway URLs) on loopback, for the tests of the BambooHR adapter.

It speaks what ``/work/shared/vendor-apis.md`` (section BambooHR) and BambooHR's public
documentation say the real API answers: ``/api/gateway.php/{companyDomain}/v1/...``, Basic auth
with the API key as user, JSON only with ``Accept: application/json`` (XML otherwise), every
value a string, ``0000-00-00`` for an empty date, ``"true"``/``"false"``, custom fields by id
(``4001``, ``customField4001``) or alias; the custom report, the changed feeds (a map keyed by
id), the effective-dated tables (all rows of each changed employee), time-off requests filtered
by when the leave occurs, the balance calculator, 429 + ``Retry-After``, 503 outages.

Its truth is typed: each employee is a list of ``Version``s (what holds from a date on), and the
three tables are derived from them (a row where a table's values change), so a test can compare
what the adapter rebuilt from the tables with the versions themselves. Time is the company's own
``now`` (``advance``), sent in each answer's ``Date`` header. Tests change a company directly
(``raise_salary``, ``terminate``, ``delete_employee``, ``set_leave_status``...), also from
``on_call`` while a sync runs.
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import json
import random
import threading
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc
EMPTY_DATE = "0000-00-00"
TABLES = ("jobInfo", "compensation", "employmentStatus")
DEPARTMENTS = ("Engineering", "Sales", "Finance", "People", "Support")
LOCATIONS = ("Amsterdam", "Remote", "Salt Lake City")
TITLES = ("Engineer", "Senior Engineer", "Account Executive", "Analyst", "Recruiter", "Support Agent")
STATUSES = ("Full-Time", "Part-Time", "Contractor", "Intern")
BANDS = ("B1", "B2", "B3", "B4")
# BambooHR's time-off types of the mock company: id -> (name, yearly allocation in days)
TIME_OFF_TYPES = {"78": ("Vacation", 20.0), "79": ("Sick", 10.0), "80": ("Personal", 5.0)}
LEAVE_STATUSES = ("approved", "denied", "superceded", "requested", "canceled")
SALARY_BAND_FIELD = {"id": "4001", "name": "Salary Band", "type": "list", "alias": "customSalaryBand"}


@dataclass(frozen=True)
class Version:
    """What holds for an employee from ``start`` on (until the next version or the termination)."""

    start: dt.date
    job_title: str
    department: str
    location: str
    salary: float
    currency: str
    paid_per: str  # Year | Hour | Month
    status: str  # Full-Time | Part-Time | Contractor | Intern

    def table_values(self, table: str) -> tuple:
        if table == "jobInfo":
            return (self.job_title, self.department, self.location)
        if table == "compensation":
            return (self.salary, self.currency, self.paid_per)
        return (self.status,)


@dataclass
class Employee:
    id: str
    number: str
    first_name: str
    last_name: str
    email: str
    phone: str
    supervisor_id: str | None
    salary_band: str
    versions: list[Version]
    termination: dt.date | None = None
    last_changed: dt.datetime = field(default_factory=lambda: dt.datetime.now(UTC))
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now(UTC))
    table_changed: dict[str, dt.datetime] = field(default_factory=dict)

    @property
    def hire_date(self) -> dt.date:
        return self.versions[0].start

    def current(self, today: dt.date) -> Version:
        return [v for v in self.versions if v.start <= today][-1] if self.versions[0].start <= today \
            else self.versions[0]


@dataclass
class LeaveRequest:
    id: str
    employee_id: str
    type_id: str
    start: dt.date
    end: dt.date
    status: str
    created: dt.date
    last_changed: dt.date
    note: str

    @property
    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(n) for n in range((self.end - self.start).days + 1)]


@dataclass
class Faults:
    rate_limit_every: int = 0  # every n-th API call answers 429 with Retry-After
    retry_after: str = "0"
    outage_calls: int = 0  # the next n API calls answer 503 without Retry-After (an outage)


class Company:
    """One BambooHR company (``companyDomain``), its API key, clock, data and faults."""

    def __init__(self, domain: str, api_key: str, size: int = 30, seed: int = 1, timezone: str = "America/Denver",
                 now: dt.datetime | None = None, salary_band_field_id: str = SALARY_BAND_FIELD["id"]):
        self.domain, self.api_key, self.zone = domain, api_key, ZoneInfo(timezone)
        # custom field ids are the company's own: another company's salary band has another id
        self.salary_band_field = {**SALARY_BAND_FIELD, "id": salary_band_field_id}
        self.now = (now or dt.datetime.now(UTC)).replace(microsecond=0)
        self.lock = threading.RLock()
        self.faults = Faults()
        self.calls: list[tuple[str, str, dict]] = []  # (method, path below v1, query) of each API call
        self.on_call: Callable[["Company", str], None] | None = None  # after each answered call (a live list)
        self.employees: dict[str, Employee] = {}
        self.deleted: dict[str, dt.datetime] = {}
        self.requests: dict[str, LeaveRequest] = {}
        self._row_ids = 0
        self._generate(size, random.Random(seed))

    # -- time -------------------------------------------------------------------------
    @property
    def today(self) -> dt.date:
        return self.now.astimezone(self.zone).date()

    def advance(self, days: float = 1) -> None:
        with self.lock:
            self.now += dt.timedelta(days=days)

    def _tick(self) -> dt.datetime:
        """A change's time: a second later than the one before, so changes keep their order."""
        self.now += dt.timedelta(seconds=1)
        return self.now

    # -- generation -------------------------------------------------------------------
    def _generate(self, size: int, rng: random.Random) -> None:
        stamp = self.now - dt.timedelta(days=30)
        for n in range(1, size + 1):
            hire = self.today - dt.timedelta(days=rng.randint(60, 2000))
            first = Version(hire, rng.choice(TITLES), rng.choice(DEPARTMENTS), rng.choice(LOCATIONS),
                            float(rng.randrange(40_000, 150_000, 500)), "USD", "Year",
                            rng.choices(STATUSES, (6, 2, 1, 1))[0])
            if first.status in ("Contractor", "Intern"):
                first = replace(first, salary=float(rng.randrange(20, 80)), paid_per="Hour")
            versions = [first]
            for _ in range(rng.randint(0, 2)):  # raises and moves since the hire
                start = versions[-1].start + dt.timedelta(days=rng.randint(20, 300))
                if start >= self.today:
                    break
                versions.append(self._changed(versions[-1], start, rng))
            eid = str(100 + n)
            stamp += dt.timedelta(seconds=37)
            employee = Employee(
                eid, f"E{1000 + n}", f"First{n}", f"Last{n}", f"person{n}@{self.domain}.example.com",
                rng.choice(("", f"+1 801 555 {n:04d}")), None if n == 1 else str(100 + rng.randint(1, max(1, n - 1))),
                rng.choice(BANDS), versions, last_changed=stamp, created=stamp - dt.timedelta(days=1),
                table_changed=dict.fromkeys(TABLES, stamp))
            if n % 10 == 0:  # a few have left
                employee.termination = self.today - dt.timedelta(days=rng.randint(1, 50))
                employee.versions = [v for v in versions if v.start < employee.termination]
            if n % 7 == 0 and employee.termination is None:  # a raise ahead: no change-feed entry on its day
                employee.versions.append(replace(employee.versions[-1], start=self.today + dt.timedelta(days=3),
                                                 salary=employee.versions[-1].salary + 1000))
            self.employees[eid] = employee
        number = 0
        for employee in self.employees.values():
            for _ in range(2):
                number += 1
                start = max(self.today + dt.timedelta(days=rng.randint(-120, 120)), employee.hire_date)
                # asked for two weeks ahead, decided since: both in the past
                created = min(start - dt.timedelta(days=14), self.today - dt.timedelta(days=1))
                decided = max(created, min(start - dt.timedelta(days=rng.randint(1, 13)), self.today))
                request = LeaveRequest(
                    str(5000 + number), employee.id, rng.choice(list(TIME_OFF_TYPES)), start,
                    start + dt.timedelta(days=rng.randint(0, 4)),
                    rng.choices(LEAVE_STATUSES, (6, 1, 1, 2, 1))[0], created, decided,
                    rng.choice(("", "family", "trip")))
                self.requests[request.id] = request

    @staticmethod
    def _changed(before: Version, start: dt.date, rng: random.Random) -> Version:
        """The next version: a different value in at least one table, so the tables show it."""
        which = rng.choice(("raise", "move", "title"))
        if which == "raise":
            return replace(before, start=start, salary=before.salary + rng.randrange(1000, 9000, 500))
        if which == "move":
            return replace(before, start=start, department=rng.choice([d for d in DEPARTMENTS
                                                                        if d != before.department]))
        return replace(before, start=start, job_title=rng.choice([t for t in TITLES if t != before.job_title]))

    # -- changes tests make (each stamps the employee and the tables it touches) -----------
    def _touch(self, employee: Employee, *tables: str) -> None:
        stamp = self._tick()
        employee.last_changed = stamp
        for table in tables:
            employee.table_changed[table] = stamp

    def add_version(self, employee_id: str, start: dt.date, **values: Any) -> Version:
        """A new effective-dated row (a raise, a move...) from ``start``, which may lie ahead."""
        with self.lock:
            employee = self.employees[employee_id]
            base = [v for v in employee.versions if v.start < start][-1]
            version = replace(base, start=start, **values)
            employee.versions = sorted([v for v in employee.versions if v.start != start] + [version],
                                       key=lambda v: v.start)
            self._touch(employee, *[t for t in TABLES if version.table_values(t) != base.table_values(t)])
            return version

    def terminate(self, employee_id: str, on: dt.date) -> None:
        with self.lock:
            employee = self.employees[employee_id]
            employee.termination = on
            self._touch(employee, "employmentStatus")

    def update_employee(self, employee_id: str, **values: Any) -> None:
        """Change fields of the employee record itself (first_name, email, salary_band...)."""
        with self.lock:
            employee = self.employees[employee_id]
            for name, value in values.items():
                setattr(employee, name, value)
            self._touch(employee)

    def hire(self, first_name: str, last_name: str, version: Version) -> Employee:
        with self.lock:
            eid = str(max(int(i) for i in [*self.employees, *self.deleted]) + 1)
            stamp = self._tick()
            employee = Employee(eid, f"E{900 + int(eid)}", first_name, last_name,
                                f"{first_name.lower()}.{last_name.lower()}@{self.domain}.example.com", "", None,
                                "B1", [version], last_changed=stamp, created=stamp,
                                table_changed=dict.fromkeys(TABLES, stamp))
            self.employees[eid] = employee
            return employee

    def delete_employee(self, employee_id: str) -> None:
        """A hard delete: gone from every list; the changed feed says ``Deleted``."""
        with self.lock:
            del self.employees[employee_id]
            self.deleted[employee_id] = self._tick()
            self.requests = {k: r for k, r in self.requests.items() if r.employee_id != employee_id}

    def set_leave_status(self, request_id: str, status: str) -> None:
        """A request's status changes; no change feed shows it (the time-off list filters by when
        the leave occurs)."""
        with self.lock:
            request = self.requests[request_id]
            request.status = status
            request.last_changed = self.today

    # -- what the API answers -----------------------------------------------------------
    def _employment_status(self, employee: Employee) -> str:
        if employee.termination is not None and employee.termination <= self.today:
            return "Terminated"
        return employee.current(self.today).status

    def report_value(self, employee: Employee, name: str) -> str:
        current = employee.current(self.today)
        custom = self.salary_band_field
        if name in (custom["id"], f"customField{custom['id']}", custom["alias"]):
            return employee.salary_band
        values = {
            "id": employee.id, "employeeNumber": employee.number, "firstName": employee.first_name,
            "lastName": employee.last_name, "workEmail": employee.email, "mobilePhone": employee.phone,
            "hireDate": employee.hire_date.isoformat(),
            "terminationDate": employee.termination.isoformat() if employee.termination else EMPTY_DATE,
            "status": "Inactive" if self._employment_status(employee) == "Terminated" else "Active",
            "employmentHistoryStatus": self._employment_status(employee),
            "department": current.department, "jobTitle": current.job_title, "location": current.location,
            "supervisorEId": employee.supervisor_id or "",
            "payRate": f"{current.salary:.2f} {current.currency}", "payPer": current.paid_per,
            "lastChanged": employee.last_changed.isoformat(),
            "isPhotoUploaded": "false",
        }
        if name not in values:
            raise ApiError(400, f"unknown field {name!r}")
        return values[name]

    def table_rows(self, employee: Employee, table: str) -> list[dict[str, Any]]:
        """The table's rows: one where its values change; employmentStatus ends with the termination."""
        rows: list[dict[str, Any]] = []
        before: tuple | None = None
        for version in employee.versions:
            values = version.table_values(table)
            if values == before:
                continue
            before = values
            row: dict[str, Any] = {"id": "", "employeeId": employee.id}
            if table == "jobInfo":
                row |= {"date": version.start.isoformat(), "location": version.location,
                        "department": version.department, "division": "", "jobTitle": version.job_title,
                        "reportsTo": ""}
            elif table == "compensation":
                row |= {"startDate": version.start.isoformat(), "endDate": EMPTY_DATE,
                        "rate": {"currency": version.currency, "value": f"{version.salary:.2f}"},
                        "type": "Hourly" if version.paid_per == "Hour" else "Salary",
                        "exempt": "Non-exempt" if version.paid_per == "Hour" else "Exempt",
                        "reason": "", "comment": "", "paidPer": version.paid_per, "paySchedule": "Monthly"}
            else:
                row |= {"date": version.start.isoformat(), "employmentStatus": version.status, "comment": "",
                        "terminationReasonId": None, "benefitsTerminationDate": EMPTY_DATE}
            rows.append(row)
        if table == "employmentStatus" and employee.termination is not None:
            rows.append({"id": "", "employeeId": employee.id, "date": employee.termination.isoformat(),
                         "employmentStatus": "Terminated", "comment": "", "terminationReasonId": "17",
                         "benefitsTerminationDate": employee.termination.isoformat()})
        for number, row in enumerate(rows, 1):
            row["id"] = f"{employee.id}{table[:1]}{number}"
        return rows

    def request_answer(self, request: LeaveRequest) -> dict[str, Any]:
        employee = self.employees[request.employee_id]
        name, _ = TIME_OFF_TYPES[request.type_id]
        return {
            "id": request.id, "employeeId": request.employee_id,
            "name": f"{employee.first_name} {employee.last_name}",
            "start": request.start.isoformat(), "end": request.end.isoformat(),
            "created": request.created.isoformat(),
            "status": {"lastChanged": request.last_changed.isoformat(), "lastChangedByUserId": "2369",
                       "status": request.status},
            "type": {"id": request.type_id, "name": name, "icon": "palm-trees"},
            "amount": {"unit": "days", "amount": str(len(request.days))},
            "actions": {"view": "true", "edit": "false", "cancel": "false", "approve": "false",
                        "deny": "false", "bypass": "false"},
            "dates": {day.isoformat(): "1" for day in request.days},
            "notes": {"employee": request.note, "manager": ""},
        }

    def calculator(self, employee: Employee, end: dt.date) -> list[dict[str, str]]:
        """Balances at ``end`` per type: the year's allocation less the approved days up to ``end``."""
        answer = []
        for type_id, (name, allocation) in TIME_OFF_TYPES.items():
            approved = [d for r in self.requests.values()
                        if r.employee_id == employee.id and r.type_id == type_id and r.status == "approved"
                        for d in r.days if d.year == end.year]
            used = sum(1 for d in approved if d <= self.today)
            taken = sum(1 for d in approved if d <= end)
            answer.append({"timeOffType": type_id, "name": name, "units": "days",
                           "balance": f"{allocation - taken:.1f}", "end": end.isoformat(),
                           "policyType": "accruing", "usedYearToDate": f"{used:.1f}"})
        return answer


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


def _date(text: str | None, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text or "")
    except ValueError:
        raise ApiError(400, f"{name} must be a date YYYY-MM-DD") from None


def _since(query: dict[str, str]) -> dt.datetime:
    try:
        since = dt.datetime.fromisoformat(query.get("since", ""))
    except ValueError:
        raise ApiError(400, "since must be an ISO 8601 timestamp") from None
    return since if since.tzinfo else since.replace(tzinfo=UTC)


def answer(company: Company, method: str, path: str, query: dict[str, str], body: bytes) -> Any:
    """The JSON answer of one API call (``path`` below ``/v1``)."""
    parts = [p for p in path.split("/") if p]
    now = company.now.isoformat()
    if method == "POST" and parts == ["reports", "custom"]:
        if query.get("format", "").upper() != "JSON":
            raise ApiError(400, "format must be JSON here")
        try:
            fields = json.loads(body or b"{}")["fields"]
        except (ValueError, KeyError, TypeError):
            raise ApiError(400, "the body must be JSON with a list of fields") from None
        employees = sorted(company.employees.values(), key=lambda e: int(e.id))
        return {"title": "harvey", "fields": [{"id": f, "type": "text", "name": f} for f in fields],
                "employees": [{f: company.report_value(e, f) for f in ["id", *fields]} for e in employees]}
    if method != "GET":
        raise ApiError(405, "method not allowed")
    if parts == ["meta", "fields"]:
        return [{"id": "1", "name": "Employment Status", "type": "status", "alias": "status"},
                {"id": "4", "name": "Department", "type": "list", "alias": "department"},
                {"id": f"{company.salary_band_field['id']}.0", "name": company.salary_band_field["name"],
                 "type": "list", "alias": company.salary_band_field["alias"]}]
    if parts == ["meta", "time_off", "types"]:
        return {"timeOffTypes": [{"id": i, "name": n, "units": "days", "color": None, "icon": "palm-trees"}
                                 for i, (n, _) in TIME_OFF_TYPES.items()],
                "defaultHours": [{"name": "Saturday", "amount": "0"}]}
    if parts == ["employees", "changed"]:
        since = _since(query)
        changed = {e.id: {"id": e.id, "action": "Inserted" if e.created > since else "Updated",
                          "lastChanged": e.last_changed.isoformat()}
                   for e in company.employees.values() if e.last_changed > since}
        changed |= {i: {"id": i, "action": "Deleted", "lastChanged": at.isoformat()}
                    for i, at in company.deleted.items() if at > since}
        return {"latest": now, "employees": changed}
    if len(parts) == 4 and parts[:3] == ["employees", "changed", "tables"]:
        table, since = parts[3], _since(query)
        if table not in TABLES:
            raise ApiError(404, f"unknown table {table}")
        return {"latest": now, "employees": {
            e.id: {"lastChanged": e.table_changed[table].isoformat(), "rows": company.table_rows(e, table)}
            for e in company.employees.values() if e.table_changed[table] > since}}
    if len(parts) == 4 and parts[0] == "employees" and parts[2] == "tables":
        employee = company.employees.get(parts[1])
        if employee is None or parts[3] not in TABLES:
            raise ApiError(404, "not found")
        return company.table_rows(employee, parts[3])
    if len(parts) == 4 and parts[0] == "employees" and parts[2:] == ["time_off", "calculator"]:
        employee = company.employees.get(parts[1])
        if employee is None:
            raise ApiError(404, "not found")
        return company.calculator(employee, _date(query.get("end") or company.today.isoformat(), "end"))
    if parts == ["time_off", "requests"]:
        start, end = _date(query.get("start"), "start"), _date(query.get("end"), "end")
        return [company.request_answer(r) for r in sorted(company.requests.values(), key=lambda r: int(r.id))
                if r.start <= end and r.end >= start]
    raise ApiError(404, "not found")


def _xml(value: Any, tag: str = "response") -> str:
    """A crude XML rendering: what BambooHR answers a client that did not ask for JSON."""
    if isinstance(value, dict):
        inner = "".join(_xml(v, str(k)) for k, v in value.items())
    elif isinstance(value, list):
        inner = "".join(_xml(v, "item") for v in value)
    else:
        inner = "" if value is None else str(value)
    return f"<{tag}>{inner}</{tag}>"


class BambooHrMock:
    """The mock on a loopback port in a thread; ``company(domain, api_key, ...)`` adds a company,
    reachable at ``base_url(domain)`` (the legacy gateway URL up to ``/v1``)."""

    def __init__(self) -> None:
        self.companies: dict[str, Company] = {}
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, headers, data = mock.handle(self.command, url.path, dict(parse_qsl(url.query)),
                                                    dict(self.headers.items()), body)
                self.log_request(status)
                self.send_response_only(status)  # without the server's own Date: the company's clock is sent
                for name, value in {"Date": self.date_time_string(), **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                try:
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _serve

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def __enter__(self) -> "BambooHrMock":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def company(self, domain: str, api_key: str, **kw: Any) -> Company:
        self.companies[domain] = Company(domain, api_key, **kw)
        return self.companies[domain]

    def base_url(self, domain: str) -> str:
        return f"{self.origin}/api/gateway.php/{domain}/v1"

    def handle(self, method: str, path: str, query: dict[str, str], headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, str], bytes]:
        parts = path.split("/")
        # /api/gateway.php/{domain}/v1/...
        if len(parts) < 5 or parts[1:3] != ["api", "gateway.php"] or parts[4] != "v1" \
                or parts[3] not in self.companies:
            return 404, {}, b""
        company = self.companies[parts[3]]
        with company.lock:
            date = {"Date": email.utils.format_datetime(company.now, usegmt=True)}
            lower = {k.lower(): v for k, v in headers.items()}
            if not self._authorized(company, lower.get("authorization", "")):
                # BambooHR: an empty body, the reason in a header
                return 401, {**date, "X-BambooHR-Error-Message": "Invalid API key"}, b""
            below = "/" + "/".join(parts[5:])
            company.calls.append((method, below, query))
            faults = company.faults
            if faults.outage_calls > 0:
                faults.outage_calls -= 1
                return 503, date, b"Service Unavailable"
            if faults.rate_limit_every and len(company.calls) % faults.rate_limit_every == 0:
                return 429, {**date, "Retry-After": faults.retry_after}, b""
            try:
                result = answer(company, method, below, query, body)
            except ApiError as exc:
                return exc.status, {**date, "X-BambooHR-Error-Message": exc.message, **exc.headers}, b""
            if "application/json" in lower.get("accept", ""):
                status, out = 200, ({**date, "Content-Type": "application/json"}, json.dumps(result).encode())
            else:
                status, out = 200, ({**date, "Content-Type": "text/xml"}, _xml(result).encode())
        if company.on_call is not None:
            company.on_call(company, below)
        return status, *out

    @staticmethod
    def _authorized(company: Company, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user = base64.b64decode(encoded).decode().partition(":")[0]
        except ValueError:
            return False
        return user == company.api_key
