"""The BambooHR adapter (legacy gateway URL ``https://api.bamboohr.com/api/gateway.php/{company}/v1``).

What BambooHR answers and how it maps onto the canonical records lives here, in one place:
the field maps below, the string parsing (every value is a string, ``0000-00-00`` is no date,
booleans are ``"true"``/``"false"``, which no canonical field needs) and the few rules the
vendor needs code for:

* employees: one custom report (``POST /reports/custom?format=JSON``) with the fields the
  directory lacks and the company's custom fields (the ``custom_fields`` option of its system in
  the registry, vendors.BambooHrOptions: by id or alias, checked against ``/meta/fields`` so that
  a wrong one fails instead of arriving empty).
  Incremental: the report rows changed since the cursor (its ``lastChanged``), the ids the
  change feed ``/employees/changed`` names, and the employees whose effective-dated row takes
  effect since the cursor (below). The feed's ``Deleted`` employees are flagged deleted by the
  same sync (a ``DeletionsPage``); their employments by the employments sync, which answers for
  them with no rows (their versions go).
* employments: the effective-dated tables ``jobInfo``, ``compensation`` and ``employmentStatus``
  (``/employees/changed/tables/{table}``: every row of each changed employee) become one
  version per date on which any of them changes, ending the day before the next one, or on the
  termination day (an ``employmentStatus`` row ``Terminated``). An employee's versions replace
  their earlier ones (a fan-out answer), never merge.
* future-dated rows: a version may start after today (a raise entered ahead). It is synced at
  once; on its date the employee's current job, pay and department change without any
  change-feed entry. The re-read rule: each incremental employees sync re-reads the employees
  whose synced employment version starts between the cursor and the server's today (version
  ids are ``{employee}:{start date}``, so the warehouse's ids are the memory of the dates).
* departments: derived from ``jobInfo`` (BambooHR has no department records in this API).
* time off: ``/time_off/requests`` filters by when the leave occurs, not by change, and a status
  change shows in no feed: each sync reads windows of ``WINDOW_DAYS`` from ``LOOKBACK_DAYS``
  before the cursor (all of ``HISTORY_DAYS`` on a full sync) to ``LOOKAHEAD_DAYS`` after
  today; a status change of leave that lies further back than the lookback is caught by the
  weekly reconcile.
* balances: ``/employees/{id}/time_off/calculator?end=<31 Dec of this year>`` per employee.

"Today" is the server's (its ``Date`` header) in the organization's time zone.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, cast
from zoneinfo import ZoneInfo

import orjson

from harvey_pipelines.sources.base import DeletionsPage, Endpoint, FanOutPage, FetchContext, SourceAdapter
from harvey_pipelines.sources.errors import ConfigurationError, UnreadableResponse
from harvey_pipelines.sources.http import BasicAuth, Response, Secret
from harvey_pipelines.sources.paging import Paginator, format_timestamp
from harvey_pipelines.vendors import BambooHrOptions

TABLES = ("jobInfo", "compensation", "employmentStatus")
EMPTY_DATES = ("", "0000-00-00")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
REPORT_PATH = "/reports/custom"

# -- the mapping: BambooHR's values and names -> the canonical ones ------------------------
# report field -> Employee field, taken as the string it is (parsed ones are in _employee)
EMPLOYEE_TEXT_FIELDS = {
    "firstName": "first_name", "lastName": "last_name", "workEmail": "email", "mobilePhone": "phone",
    "department": "department", "jobTitle": "job_title", "supervisorEId": "manager_id", "location": "location",
}
# the report's fields: the directory lacks hire and termination dates, status, pay and lastChanged
REPORT_FIELDS = ("employeeNumber", *EMPLOYEE_TEXT_FIELDS, "hireDate", "terminationDate", "status",
                 "employmentHistoryStatus", "payRate", "payPer", "lastChanged")
# employmentStatus values
WORK_TYPES = {"full-time": "full_time", "part-time": "part_time", "contractor": "contract", "intern": "intern"}
CONTRACT_TYPES = {"contractor": "freelance", "intern": "internship", "fixed term": "fixed_term",
                  "temporary": "fixed_term"}
TERMINATED = "terminated"
SALARY_PERIODS = {"year": "year", "month": "month", "hour": "hour"}
# time-off type names (lowercase) -> canonical leave types; an unlisted one is quarantined
LEAVE_TYPES = {"vacation": "annual", "pto": "annual", "paid time off": "annual", "annual leave": "annual",
               "sick": "sick", "sick leave": "sick", "personal": "casual", "casual": "casual",
               "maternity": "maternity", "maternity leave": "maternity", "paternity": "paternity",
               "paternity leave": "paternity", "unpaid": "unpaid", "unpaid leave": "unpaid"}
# BambooHR spells "superceded" in answers, "superseded" in its documentation
LEAVE_STATUSES = {"approved": "approved", "requested": "pending", "denied": "rejected", "declined": "rejected",
                  "canceled": "cancelled", "cancelled": "cancelled", "superceded": "cancelled",
                  "superseded": "cancelled"}


# -- parsing BambooHR's strings --------------------------------------------------------------
def text(value: Any) -> str | None:
    """A string value; BambooHR's empty string is no value."""
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def date(value: Any) -> dt.date | None:
    """``YYYY-MM-DD``; ``0000-00-00`` and ``""`` are no date. Anything else stays as sent, so that
    validation quarantines it with its reason."""
    if value is None or value in EMPTY_DATES:
        return None
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError):
        return value


def number(value: Any) -> float | None:
    """``"85000.00"``, ``"16"``; an empty string is no value."""
    value = text(value)
    if value is None:
        return None
    try:
        return float(value.replace(",", ""))
    except ValueError:
        return value  # type: ignore[return-value] # left to validation, which names it


def money(value: Any) -> tuple[float | None, str | None]:
    """``payRate`` ``"85000.00 USD"`` -> (85000.0, "USD")."""
    amount, _, currency = (text(value) or "").partition(" ")
    return number(amount), text(currency)


def local_midnight(day: dt.date | None, zone: ZoneInfo) -> dt.datetime | None:
    """A date-only change stamp as the start of that day where the company is."""
    return dt.datetime.combine(day, dt.time(), zone) if isinstance(day, dt.date) else None


def lowered(mapping: Mapping[str, str], value: Any) -> str | None:
    """The canonical value of a vendor one; an unknown one goes on as sent (validation names it)."""
    value = text(value)
    return None if value is None else mapping.get(value.lower(), value)


def _field_id(value: Any) -> str:
    """``4001``, ``4001.0`` and ``customField4001`` name the same field."""
    value = str(value).removeprefix("customField")
    return value[:-2] if value.endswith(".0") else value


def employment_versions(employee_id: str, rows: Mapping[str, list[dict]], last_changed: str | None) -> list[dict]:
    """One payload per date on which any of the three tables changes: the rows that hold from
    then on, ``start`` and ``end`` (the day before the next version, or the termination day)."""
    dated: dict[str, list[tuple[dt.date, dict]]] = {}
    for table in TABLES:
        key = "startDate" if table == "compensation" else "date"
        dated[table] = sorted(((d, row) for row in rows.get(table) or () if isinstance(row, dict)
                               and isinstance(d := date(row.get(key)), dt.date)), key=lambda pair: pair[0])
    points = sorted({d for pairs in dated.values() for d, _ in pairs})

    def holding(table: str, day: dt.date) -> dict | None:
        held = [row for d, row in dated[table] if d <= day]
        return held[-1] if held else None

    def terminated(day: dt.date) -> bool:
        status = holding("employmentStatus", day)
        return (text((status or {}).get("employmentStatus")) or "").lower() == TERMINATED

    versions = []
    for number_, start in enumerate(points):
        if terminated(start):
            continue
        following = points[number_ + 1] if number_ + 1 < len(points) else None
        end = None if following is None else following if terminated(following) else following - dt.timedelta(1)
        versions.append({
            "id": f"{employee_id}:{start.isoformat()}", "employeeId": employee_id, "start": start.isoformat(),
            "end": end.isoformat() if end else None, "lastChanged": last_changed,
            **{table: holding(table, start) for table in TABLES},
        })
    return versions


@dataclass
class DateWindows(Paginator):
    """Lists that take a required date range (``start``/``end``) and answer one unpaged array of
    what falls in it: walked window by window from ``first`` to ``last``; a record met in two
    windows (leave across a boundary) is yielded once."""

    first: dt.date
    last: dt.date
    days: int = 31
    start_param: str = "start"
    end_param: str = "end"

    def pages(self, engine, path, since, state, params=None):
        seen: set[str] = set()
        start = self.first
        while start <= self.last:
            end = min(start + dt.timedelta(self.days - 1), self.last)
            body = engine.get_json(path, {**(params or {}), self.start_param: start.isoformat(),
                                          self.end_param: end.isoformat()}).body
            if not isinstance(body, list):
                raise UnreadableResponse(f"{engine.name}: GET {path} did not answer a list", orjson.dumps(body))
            fresh = [r for r in body if not (isinstance(r, dict) and str(r.get("id")) in seen)]
            seen.update(str(r.get("id")) for r in fresh if isinstance(r, dict))
            if fresh:
                yield fresh
            start = end + dt.timedelta(1)


class BambooHrAdapter(SourceAdapter):
    hrms_type = "bamboohr"
    # BambooHR publishes no number; it answers 429 with Retry-After when we go too fast
    rate_limit_per_second = 10.0
    endpoints = {
        "employees": Endpoint(REPORT_PATH),
        "departments": Endpoint("/employees/changed/tables/jobInfo"),
        "employments": Endpoint("/employees/changed/tables/{table}"),
        "leave_requests": Endpoint("/time_off/requests"),
        "leave_balances": Endpoint("/employees/{id}/time_off/calculator", fan_out_over="employees"),
    }
    WINDOW_DAYS = 92
    LOOKBACK_DAYS = 92
    LOOKAHEAD_DAYS = 366
    HISTORY_DAYS = 5 * 366
    TABLE_FETCH_CHUNK = 200

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.zone = ZoneInfo(self.org.timezone)
        # this company's custom fields (its system's options in the registry)
        self.custom_fields = cast(BambooHrOptions, self.system.vendor_options()).custom_fields

    def auth(self):
        return BasicAuth(self.credential, Secret("x"))  # the API key is the user; the password is ignored

    def fetch(self, engine, entity, since, state, context=None):
        fetchers: dict[str, Callable[..., Iterator[list[dict]]]] = {
            "employees": self._employees, "departments": self._departments, "employments": self._employments,
            "leave_requests": self._leave_requests, "leave_balances": self._leave_balances,
        }
        if entity not in fetchers:
            raise ConfigurationError(f"{engine.name}: BambooHR has no {entity} (an HR system: employees, "
                                     "departments, employments, leave requests and balances)")
        return fetchers[entity](engine, since, state, context or FetchContext())

    # -- fetching ------------------------------------------------------------------------
    def _today(self, answer: Response) -> dt.date:
        stamp = answer.headers.get("date")
        moment = email.utils.parsedate_to_datetime(stamp) if stamp else dt.datetime.now(dt.timezone.utc)
        return moment.astimezone(self.zone).date()

    def _custom_report_keys(self, meta: Any) -> dict[str, str]:
        """The configured custom fields, each checked against ``/meta/fields``: {field: report key}."""
        if not isinstance(meta, list):
            raise UnreadableResponse(f"{self.org.id}/bamboohr: /meta/fields did not answer a list", orjson.dumps(meta))
        known = {}
        for item in meta:
            if isinstance(item, dict):
                for name in (_field_id(item.get("id")), item.get("alias"), item.get("name")):
                    if name:
                        known[str(name).lower()] = item
        missing = [f"{name}={ref}" for name, ref in self.custom_fields.items()
                   if known.get(_field_id(ref).lower()) is None and known.get(ref.lower()) is None]
        if missing:
            raise ConfigurationError(
                f"{self.org.id}/bamboohr: no field {', '.join(missing)} in this company's /meta/fields; check "
                f"the custom_fields option of its bamboohr system (`harvey orgs show {self.org.id}`)")
        return {name: ref for name, ref in self.custom_fields.items()}

    def _employees(self, engine, since, state, context):
        meta = engine.get_json("/meta/fields")
        today = self._today(meta)
        keys = self._custom_report_keys(meta.body)
        wanted: set[str] = set()
        deleted: list[str] = []
        if since is not None:
            feed = self._feed(engine, "/employees/changed", since)
            deleted = sorted(i for i, entry in feed.items() if entry.get("action") == "Deleted")
            wanted = {i for i, entry in feed.items() if entry.get("action") != "Deleted"}
            wanted |= self._taking_effect(context, since, today)
        report = {"title": "harvey", "fields": [*REPORT_FIELDS, *keys.values()]}
        body = engine.post_json(REPORT_PATH, report, {"format": "JSON"}).body
        rows = body.get("employees") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise UnreadableResponse(f"{engine.name}: the custom report has no list under 'employees'",
                                     orjson.dumps(body))
        if since is not None:
            # the report is read after the feed: a change in between is in it with its lastChanged
            rows = [r for r in rows if not isinstance(r, dict) or str(r.get("id")) in wanted
                    or _stamp(r.get("lastChanged")) is None or _stamp(r.get("lastChanged")) >= since]
        if rows or deleted:
            yield DeletionsPage(rows, deleted)  # the feed's deleted employees are flagged at once

    def _taking_effect(self, context: FetchContext, since: dt.datetime, today: dt.date) -> set[str]:
        """Employees with a synced employment version that starts after ``since`` and by today."""
        first = since.astimezone(self.zone).date()
        found = set()
        for version_id in context.parent_ids("employments"):
            employee, _, start = str(version_id).rpartition(":")
            if employee and first <= (date(start) or first - dt.timedelta(1)) <= today:  # type: ignore[operator]
                found.add(employee)
        return found

    def _feed(self, engine, path: str, since: dt.datetime | None, latest: list | None = None) -> dict[str, dict]:
        body = engine.get_json(path, {"since": format_timestamp(since or EPOCH)}).body
        employees = body.get("employees") if isinstance(body, dict) else None
        if isinstance(employees, list) and not employees:
            employees = {}  # PHP's empty map
        if not isinstance(employees, dict):
            raise UnreadableResponse(f"{engine.name}: GET {path} did not answer a map under 'employees'",
                                     orjson.dumps(body))
        if latest is not None:
            latest.append(_stamp(body.get("latest")))
        return {str(k): v for k, v in employees.items() if isinstance(v, dict)}

    def _employments(self, engine, since, state, context):
        latest: list = []
        feeds = {table: self._feed(engine, f"/employees/changed/tables/{table}", since, latest) for table in TABLES}
        # a change made while the feeds were read is after the first feed's `latest`: no version's
        # updated_at goes past it, so the cursor stays where the next sync meets that change
        ceiling = min((s for s in latest if s is not None), default=None)
        deleted: list[str] = []
        if since is not None:
            deleted = sorted(i for i, e in self._feed(engine, "/employees/changed", since).items()
                             if e.get("action") == "Deleted")
        changed = sorted({i for feed in feeds.values() for i in feed} - set(deleted), key=_id_order)
        for offset in range(0, len(changed), self.TABLE_FETCH_CHUNK):
            payloads: list[dict] = []
            answered = []
            for employee in changed[offset:offset + self.TABLE_FETCH_CHUNK]:
                rows, stamps = {}, []
                for table in TABLES:
                    if employee in feeds[table]:
                        rows[table] = feeds[table][employee].get("rows") or []
                        stamps.append(_stamp(feeds[table][employee].get("lastChanged")))
                    else:  # unchanged in this table: its rows complete the versions
                        rows[table] = self._table(engine, employee, table)
                        if rows[table] is None:
                            break  # deleted since the feed: nothing to answer for
                else:
                    newest = max((s for s in stamps if s is not None), default=None)
                    if newest is not None and ceiling is not None:
                        newest = min(newest, ceiling)
                    payloads += employment_versions(employee, rows, newest.isoformat() if newest else None)
                    answered.append(employee)
            yield FanOutPage(payloads, "employees", answered)
        if deleted:  # their versions go: an answer with no rows
            yield FanOutPage([], "employees", deleted)

    def _table(self, engine, employee: str, table: str) -> list | None:
        try:
            body = engine.get_json(f"/employees/{employee}/tables/{table}").body
        except ConfigurationError as exc:
            if exc.status == 404:
                return None
            raise
        if not isinstance(body, list):
            raise UnreadableResponse(f"{engine.name}: table {table} of employee {employee} is not a list",
                                     orjson.dumps(body))
        return body

    def _departments(self, engine, since, state, context):
        # every jobInfo row: the department's first effective date stands for when it appeared
        feed = self._feed(engine, "/employees/changed/tables/jobInfo", None)
        first: dict[str, dt.date] = {}
        for entry in feed.values():
            for row in entry.get("rows") or ():
                name, day = text(row.get("department")), date(row.get("date"))
                if name and isinstance(day, dt.date) and (name not in first or day < first[name]):
                    first[name] = day
        if first:
            yield [{"id": name, "name": name, "firstDate": day.isoformat()} for name, day in sorted(first.items())]

    def _leave_requests(self, engine, since, state, context):
        types = engine.get_json("/meta/time_off/types")
        today = self._today(types)
        first = (today - dt.timedelta(self.HISTORY_DAYS) if since is None
                 else since.astimezone(self.zone).date() - dt.timedelta(self.LOOKBACK_DAYS))
        windows = DateWindows(first, today + dt.timedelta(self.LOOKAHEAD_DAYS), self.WINDOW_DAYS)
        yield from windows.pages(engine, "/time_off/requests", since, state)

    def _leave_balances(self, engine, since, state, context):
        today = self._today(engine.get_json("/meta/time_off/types"))
        path = f"{self.endpoints['leave_balances'].path}?end={today.year}-12-31"
        yield from self._fan_out(engine, "leave_balances", Endpoint(path, fan_out_over="employees"), context, state)

    def records_from_fan_out(self, entity, parent_id, body):
        if not isinstance(body, list):
            raise UnreadableResponse(f"{self.org.id}/bamboohr: the time-off calculator of employee {parent_id} "
                                     "is not a list", orjson.dumps(body))
        return [{**row, "id": f"{parent_id}:{str(row.get('end'))[:4]}:{row.get('timeOffType')}",
                 "employeeId": parent_id} if isinstance(row, dict) else row for row in body]

    # -- mapping ---------------------------------------------------------------------------
    def to_canonical(self, entity: str, payload: dict) -> dict:
        return getattr(self, f"_{entity}_map")(payload)

    def _employees_map(self, p: dict) -> dict:
        status = (text(p.get("employmentHistoryStatus")) or "").lower()
        salary, currency = money(p.get("payRate"))
        record = {
            "id": p.get("id"), "updated_at": p.get("lastChanged"),
            "employee_id": text(p.get("employeeNumber")) or text(p.get("id")),
            **{canonical: text(p.get(field)) for field, canonical in EMPLOYEE_TEXT_FIELDS.items()},
            "hire_date": date(p.get("hireDate")), "termination_date": date(p.get("terminationDate")),
            "employment_status": TERMINATED if status == TERMINATED
            else "inactive" if (text(p.get("status")) or "").lower() == "inactive" else "active",
            "work_type": WORK_TYPES.get(status), "salary": salary, "currency": currency,
        }
        for name, ref in self.custom_fields.items():
            record[name] = text(p.get(ref))
        return record

    def _departments_map(self, p: dict) -> dict:
        return {"id": p.get("id"), "department_id": p.get("id"), "name": p.get("name"),
                "updated_at": local_midnight(date(p.get("firstDate")), self.zone)}  # type: ignore[arg-type]

    def _employments_map(self, p: dict) -> dict:
        job, pay, status = (_object(p.get(table)) for table in TABLES)
        rate = _object(pay.get("rate"))
        return {
            "id": p.get("id"), "updated_at": p.get("lastChanged"), "employee_id": p.get("employeeId"),
            "start_date": date(p.get("start")), "end_date": date(p.get("end")),
            "contract_type": CONTRACT_TYPES.get((text(status.get("employmentStatus")) or "").lower()),
            "salary": number(rate.get("value")), "currency": text(rate.get("currency")),
            "salary_period": lowered(SALARY_PERIODS, pay.get("paidPer")),
            "job_title": text(job.get("jobTitle")), "department": text(job.get("department")),
        }

    def _leave_requests_map(self, p: dict) -> dict:
        status = _object(p.get("status"))
        amount = _object(p.get("amount"))
        kind = _object(p.get("type"))
        notes = _object(p.get("notes"))
        return {
            "id": p.get("id"), "leave_request_id": text(p.get("id")), "employee_id": text(p.get("employeeId")),
            "updated_at": local_midnight(date(status.get("lastChanged")), self.zone),  # type: ignore[arg-type]
            "employee_name": text(p.get("name")), "leave_type": lowered(LEAVE_TYPES, kind.get("name")),
            "start_date": date(p.get("start")), "end_date": date(p.get("end")),
            "total_days": number(amount.get("amount")) if text(amount.get("unit")) == "days" else None,
            "status": lowered(LEAVE_STATUSES, status.get("status")), "applied_date": date(p.get("created")),
            "reason": text(notes.get("employee")),
        }

    def _leave_balances_map(self, p: dict) -> dict:
        in_days = text(p.get("units")) == "days"
        end = date(p.get("end"))
        return {
            "id": p.get("id"), "employee_id": p.get("employeeId"),
            "year": end.year if isinstance(end, dt.date) else None,
            "leave_type": lowered(LEAVE_TYPES, p.get("name")),
            "used": number(p.get("usedYearToDate")) if in_days else None,
            "available": number(p.get("balance")) if in_days else None,
        }


def _object(value: Any) -> dict:
    """A nested object of an answer; anything else (absent, null) as an empty one."""
    return value if isinstance(value, dict) else {}


def _stamp(value: Any) -> dt.datetime | None:
    try:
        stamp = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)


def _id_order(value: str) -> tuple[int, str]:
    return (int(value), value) if value.isdigit() else (1 << 62, value)
