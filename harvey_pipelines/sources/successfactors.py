"""SAP SuccessFactors OData v2: base URL ``https://<api host>/odata/v2``, Basic auth
``username@companyId`` with the API user's password (the username and company id are the
system's options, the password its secret; README "SAP SuccessFactors").

* Every list is walked with server paging (``paging=snapshot``, following ``__next``:
  ``paging.ODataNextLink``), never ``$top/$skip``, which misses and repeats rows under change.
* employees: ``User`` (with ``status in 't','f'``: inactive users are hidden otherwise), and for
  each page of users their ``PerPersonal`` (names), ``EmpEmployment`` (hire and end dates) and
  today's ``EmpJob`` slice (title, department, manager, status), read by ``userId in (...)``.
* employments: the full history (``fromDate=1900-01-01&toDate=9999-12-31``) of ``EmpJob`` and
  of ``EmpCompensation`` with its recurring pay components (``$expand=empPayCompRecurringNav``)
  become one row per maximal interval of constant job, pay and contract attributes, rows dated
  ahead included; the last ends on ``EmpEmployment.endDate`` (the terminated ``EmpJob`` slice
  from the next day is no row). An employee's rows replace their earlier ones (a fan-out
  answer), so a backdated correction replaces what it changes.
* incremental: ``lastModifiedDateTime ge`` the cursor finds the changed employees (over all
  slices: the full window is asked, or only today's slice would be searched), then their whole
  history is read again, since a filter returns the changed slices only. employees are also
  re-read when a synced employment row starts on or after the cursor's day: its job takes
  effect on its date without any change stamp.
* picklists (``emplStatus``, ``contractType`` hold option ids) are resolved to their codes and
  labels through ``/PickListValueV2``, read once per sync.
* departments: ``FODepartment``, today's slice of every department (no window: the slice in
  force on the company's today), read whole at every sync: departments are few, and a slice dated
  ahead (a rename) takes effect on its date without a change stamp, so its start counts as its
  stamp. A department whose slice today is inactive (``status`` ``I``), or which has slices but
  none today (ended), is flagged deleted (``DeletionsPage``), as a change feed's deletions are.
* The employee's and employment rows' ``department`` is the name of ``EmpJob.department``'s code:
  the department's slice today, or its last slice when it ended (the code when unknown), the
  history included (one department, one name: a rename is no department change). Incrementals
  also re-read the employees of a department with a slice changed since the cursor, or taking
  effect from the cursor's day on.
* leave_requests: ``EmployeeTime`` absences (``timeRecordType eq 'ABSENCE'``), incremental by
  ``lastModifiedDateTime ge``; ``timeType`` codes become leave types through the system's
  ``time_types`` option over ``vendors.DEFAULT_TIME_TYPES``; an unmapped code is quarantined
  with a reason naming it.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, Iterable, Iterator, cast

from pydantic_core import PydanticCustomError, ValidationError

from harvey_pipelines.sources.base import DeletionsPage, Endpoint, FanOutPage, FetchContext, SourceAdapter
from harvey_pipelines.sources.http import BasicAuth, HttpEngine, Secret
from harvey_pipelines.sources.paging import ODataNextLink, PagingState
from harvey_pipelines.vendors import SuccessFactorsOptions

FULL_HISTORY = {"fromDate": "1900-01-01", "toDate": "9999-12-31"}
OPEN_END = dt.date(9999, 12, 31)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
ALL_USERS = "status in 't','f'"  # naming status is what lists inactive users too
PICKLISTS = ("employee-status", "contractType")
# emplStatus externalCode -> Employee.employment_status; a code not listed with a terminated
# label is active, unless the user is inactive
STATUSES = {"A": "active", "U": "on_leave", "P": "on_leave", "T": "terminated", "R": "terminated",
            "RP": "terminated", "D": "terminated"}
CONTRACT_TYPES = {"regular": "permanent", "permanent": "permanent", "fixed": "fixed_term",
                  "fixed_term": "fixed_term", "temporary": "fixed_term", "intern": "internship",
                  "contractor": "freelance"}
FREQUENCIES = {"ANN": "year", "MON": "month", "HOURLY": "hour", "HOUR": "hour"}
JOB_FIELDS = ("jobTitle", "department", "standardHours", "emplStatus", "contractType", "managerId", "location")
PAY_FIELDS = ("payComponent", "paycompvalue", "currencyCode", "frequency")
ABSENCES = "timeRecordType eq 'ABSENCE'"  # EmployeeTime also holds time sheet (attendance) records
# EmployeeTime.approvalStatus -> LeaveRequest.status; a cancellation awaiting approval leaves
# the leave approved until it is approved
LEAVE_STATUSES = {"APPROVED": "approved", "PENDING": "pending", "PENDING_CANCELLATION": "approved",
                  "CANCELLED": "cancelled", "REJECTED": "rejected"}

_DATE = re.compile(r"^/Date\((-?\d+)(?:([+-])(\d{4}))?\)/$")


def odata_instant(value: Any) -> dt.datetime | None:
    """``/Date(1587072082000+0000)/`` or ``/Date(-86400000)/`` -> the instant in UTC (the
    milliseconds count from the epoch in UTC; the offset only says where it was entered)."""
    match = _DATE.match(value) if isinstance(value, str) else None
    if match is None:
        return None
    return EPOCH + dt.timedelta(milliseconds=int(match.group(1)))


def odata_date(value: Any) -> dt.date | None:
    """An Edm.DateTime date (``/Date(ms)/`` at UTC midnight) -> the date; ``9999-12-31``, the
    open end of a slice, -> None."""
    instant = odata_instant(value)
    day = instant.date() if instant is not None else None
    return None if day == OPEN_END else day


def text(value: Any) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def number(value: Any) -> float | None:
    """Decimal and Int64 come as strings."""
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _results(value: Any) -> list[dict]:
    """An expanded navigation: ``{"results": [...]}``, a bare list, or nothing."""
    if isinstance(value, dict):
        value = value.get("results")
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _latest_per_start(slices: Iterable[dict]) -> list[tuple[dt.date, dict]]:
    """Slices by start date, the highest ``seqNumber`` of a day standing (several events on one day)."""
    by_day: dict[dt.date, dict] = {}
    for row in sorted(slices, key=lambda r: number(r.get("seqNumber")) or 0):
        day = odata_date(row.get("startDate"))
        if day is not None:
            by_day[day] = row
    return sorted(by_day.items(), key=lambda pair: pair[0])


def employment_rows(user_id: str, employment: dict | None, jobs: list[dict], pays: list[dict],
                    labels: dict[str, dict]) -> list[dict]:
    """One payload per maximal interval of constant job, pay and contract: a row starts where an
    ``EmpJob`` or ``EmpCompensation`` slice changes any of them and ends the day before the next
    row, or on the employment's end. Slices in a terminated status are no row. Each payload holds
    the values in force (picklists resolved) without the slices' own dates, which a change
    elsewhere in the history moves; ``lastModifiedDateTime`` is the newest of its slices'."""
    job_slices, pay_slices = _latest_per_start(jobs), _latest_per_start(pays)
    points = sorted({day for day, _ in (*job_slices, *pay_slices)})
    end = odata_date((employment or {}).get("endDate"))

    def holding(slices: list[tuple[dt.date, dict]], day: dt.date) -> dict | None:
        held = [row for start, row in slices if start <= day]
        return held[-1] if held else None

    rows: list[dict] = []
    for day in points:
        job, pay = holding(job_slices, day) or {}, holding(pay_slices, day) or {}
        terms = {
            "job": {k: _resolved(k, job.get(k), labels) for k in JOB_FIELDS if k in job},
            "pay": [{k: p.get(k) for k in PAY_FIELDS} for p in _results(pay.get("empPayCompRecurringNav"))],
        }
        stamps = [s for s in (odata_instant(job.get("lastModifiedDateTime")),
                              odata_instant(pay.get("lastModifiedDateTime"))) if s is not None]
        status = _code(job.get("emplStatus"), labels)
        if STATUSES.get(status or "") == "terminated" or (end is not None and day > end):
            if rows:  # the termination's own slice: its stamp is the history's newest change
                rows[-1]["_stamps"] += stamps
            continue
        if rows and {k: rows[-1][k] for k in terms} == terms:
            rows[-1]["_stamps"] += stamps
            continue
        rows.append({"id": f"{user_id}:{day.isoformat()}", "userId": user_id, "startDate": day.isoformat(),
                     **terms, "_stamps": stamps})
    employment_stamp = odata_instant((employment or {}).get("lastModifiedDateTime"))
    for n, row in enumerate(rows):
        last = dt.date.fromisoformat(rows[n + 1]["startDate"]) - dt.timedelta(1) if n + 1 < len(rows) else end
        row["endDate"] = last.isoformat() if last else None
        stamps = row.pop("_stamps") + ([employment_stamp] if n + 1 == len(rows) and employment_stamp else [])
        row["lastModifiedDateTime"] = max(stamps).isoformat() if stamps else None
    return rows


def _resolved(name: str, value: Any, labels: dict[str, dict]) -> Any:
    """A picklist option id -> ``{optionId, externalCode, label}``; other values as sent."""
    if name in ("emplStatus", "contractType") and value is not None:
        return labels.get(str(value), {"optionId": str(value), "externalCode": None, "label": None})
    return value


def _code(value: Any, labels: dict[str, dict]) -> str | None:
    if isinstance(value, dict):
        return value.get("externalCode")
    return labels.get(str(value), {}).get("externalCode") if value is not None else None


class SuccessFactorsAdapter(SourceAdapter):
    hrms_type = "successfactors"
    endpoints = {"employees": Endpoint("/User"), "employments": Endpoint("/EmpJob"),
                 "departments": Endpoint("/FODepartment"), "leave_requests": Endpoint("/EmployeeTime")}
    page_size = 1000  # the most SuccessFactors pages by
    ids_per_request = 100  # users named in one `userId in (...)` filter: keeps URLs short

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.options = cast(SuccessFactorsOptions, self.system.vendor_options())
        self._units: dict[str, dict] = {}  # department code -> the FODepartment slice naming it
        self._unit_history: list[dict] = []  # every FODepartment slice

    def auth(self):
        return BasicAuth(Secret(f"{self.options.username}@{self.options.company_id}"), self.credentials["password"])

    def paginator(self):
        return ODataNextLink(page_size=self.page_size)

    # -- reading ------------------------------------------------------------------------------
    def _list(self, engine: HttpEngine, entity: str, state: PagingState, since: dt.datetime | None = None,
              **params: Any) -> Iterator[list[dict]]:
        yield from self.paginator().pages(engine, f"/{entity}", since, state, params)

    def _all(self, engine, entity, state, **params) -> list[dict]:
        return [row for page in self._list(engine, entity, state, **params) for row in page if isinstance(row, dict)]

    def _of_users(self, engine, entity, state, ids: list[str], key: str = "userId", extra: str = "",
                  **params) -> dict[str, list[dict]]:
        """``entity``'s rows of the users ``ids``, by user."""
        found: dict[str, list[dict]] = {i: [] for i in ids}
        named = ",".join(f"'{i}'" for i in ids)
        for row in self._all(engine, entity, state, **{"$filter": f"{key} in {named}{extra}", **params}):
            found.setdefault(str(row.get(key)), []).append(row)
        return found

    def _labels(self, engine, state) -> dict[str, dict]:
        named = ",".join(f"'{p}'" for p in PICKLISTS)
        rows = self._all(engine, "PickListValueV2", state, **{"$filter": f"PickListV2_id in {named}"})
        return {str(row.get("optionId")): {"optionId": str(row.get("optionId")),
                                           "externalCode": row.get("externalCode"),
                                           "label": row.get("label_defaultValue")} for row in rows}

    def _changed(self, engine, state, since, sources: dict[str, tuple[str, dict]]) -> set[str]:
        """Users with a record of any of ``sources`` (entity -> (user key, params)) changed since."""
        return {str(row.get(key)) for entity, (key, params) in sources.items()
                for page in self._list(engine, entity, state, since, **params) for row in page
                if isinstance(row, dict)}

    def fetch(self, engine, entity, since, state, context=None):
        if entity not in self.endpoints:
            return super().fetch(engine, entity, since, state, context)
        fetchers = {"employees": self._employees, "employments": self._employments,
                    "departments": self._departments, "leave_requests": self._leave_requests}
        pages = fetchers[entity](engine, since, state, context or FetchContext())
        return self._department_named(engine, state, pages) if entity in ("employees", "employments") else pages

    def _read_units(self, engine, state) -> list[dict]:
        """``FODepartment``'s slices today (returned) and of the full window (``_unit_history``); the
        slice naming each code (``_units``): today's, or the last one of a department without one
        today (ended)."""
        today = self._all(engine, "FODepartment", state)
        self._unit_history = self._all(engine, "FODepartment", state, **FULL_HISTORY)
        latest = {}
        for row in sorted(self._unit_history, key=lambda r: odata_instant(r.get("startDate")) or EPOCH):
            if code := text(row.get("externalCode")):
                latest[code] = row
        self._units = {**latest, **{code: row for row in today if (code := text(row.get("externalCode")))}}
        return today

    def _department_named(self, engine, state, pages: Iterator[list[dict]]) -> Iterator[list[dict]]:
        """``pages`` of employees or employment rows, each with its ``EmpJob.department`` code's name
        as ``departmentName`` (``_units``)."""
        self._read_units(engine, state)
        for page in pages:
            for row in page:
                job = row.get("job") if isinstance(row, dict) else None
                unit = self._units.get(text(job.get("department")) or "") if isinstance(job, dict) else None
                if unit is not None:
                    row["departmentName"] = text(unit.get("name")) or text(unit.get("name_defaultValue"))
            yield page

    def _in_renamed_departments(self, engine, state, since: dt.datetime, **window) -> set[str]:
        """Users (in ``window``'s ``EmpJob`` slices) of a department with a slice changed since, or
        taking effect on or after the cursor's day (without a stamp): its name may have changed."""
        first = since.astimezone(dt.timezone.utc).date() - dt.timedelta(days=1)
        codes = sorted({code for row in self._unit_history if (code := text(row.get("externalCode"))) and (
            ((stamp := odata_instant(row.get("lastModifiedDateTime"))) and stamp >= since)
            or ((start := odata_date(row.get("startDate"))) and start >= first))})
        return {str(row.get("userId")) for chunk in self._chunks(codes) for row in self._all(
            engine, "EmpJob", state, **{"$filter": "department in " + ",".join(f"'{c}'" for c in chunk), **window})}

    def _chunks(self, ids: Iterable[str]) -> Iterator[list[str]]:
        ids = sorted(ids)
        for start in range(0, len(ids), self.ids_per_request):
            yield ids[start:start + self.ids_per_request]

    def _employees(self, engine, since, state, context):
        labels = self._labels(engine, state)
        if since is None:
            for page in self._list(engine, "User", state, **{"$filter": ALL_USERS}):
                for chunk in range(0, len(page), self.ids_per_request):
                    yield self._people(engine, state, page[chunk:chunk + self.ids_per_request], labels)
            return
        changed = self._changed(engine, state, since, {
            "User": ("userId", {"$filter": ALL_USERS}), "PerPersonal": ("personIdExternal", FULL_HISTORY),
            "EmpEmployment": ("userId", {}), "EmpJob": ("userId", FULL_HISTORY)})
        changed |= self._taking_effect(context, since) | self._in_renamed_departments(engine, state, since)
        for ids in self._chunks(changed):
            users = self._of_users(engine, "User", state, ids, extra=f" and {ALL_USERS}")
            yield self._people(engine, state, [u for rows in users.values() for u in rows], labels)

    def _taking_effect(self, context: FetchContext, since: dt.datetime) -> set[str]:
        """Users with a synced employment row starting on or after the cursor's day: their job
        may have taken effect since without a change stamp (rows ahead are re-read until then)."""
        first = since.astimezone(dt.timezone.utc).date() - dt.timedelta(days=1)
        found = set()
        for row_id in context.parent_ids("employments"):
            user, _, start = str(row_id).rpartition(":")
            try:
                if user and dt.date.fromisoformat(start) >= first:
                    found.add(user)
            except ValueError:
                continue
        return found

    def _people(self, engine, state, users: list[dict], labels) -> list[dict]:
        ids = [str(u.get("userId")) for u in users if isinstance(u, dict)]
        if not ids:
            return []
        personal = self._of_users(engine, "PerPersonal", state, ids, key="personIdExternal")
        employment = self._of_users(engine, "EmpEmployment", state, ids)
        jobs = self._of_users(engine, "EmpJob", state, ids)  # today's slice: no window asked
        people = []
        for user in users:
            uid = str(user.get("userId"))
            slices = _latest_per_start(jobs.get(uid, []))
            job = slices[-1][1] if slices else None
            people.append({
                **user, "id": uid, "personal": _last(personal.get(uid)), "employment": _last(employment.get(uid)),
                "job": {k: _resolved(k, v, labels) for k, v in job.items()} if job else None,
            })
        return people

    def _employments(self, engine, since, state, context):
        labels = self._labels(engine, state)
        if since is None:
            pages: Iterable[list[str]] = ([str(r.get("userId")) for r in page if isinstance(r, dict)]
                                          for page in self._list(engine, "EmpEmployment", state))
        else:
            pages = self._chunks(self._changed(engine, state, since, {
                "EmpJob": ("userId", FULL_HISTORY), "EmpCompensation": ("userId", FULL_HISTORY),
                "EmpEmployment": ("userId", {})}) | self._in_renamed_departments(engine, state, since, **FULL_HISTORY))
        for page in pages:
            for start in range(0, len(page), self.ids_per_request):
                ids = page[start:start + self.ids_per_request]
                employment = self._of_users(engine, "EmpEmployment", state, ids)
                jobs = self._of_users(engine, "EmpJob", state, ids, **FULL_HISTORY)
                pays = self._of_users(engine, "EmpCompensation", state, ids, **FULL_HISTORY,
                                      **{"$expand": "empPayCompRecurringNav"})
                rows = [row for uid in ids for row in employment_rows(
                    uid, _last(employment.get(uid)), jobs.get(uid, []), pays.get(uid, []), labels)]
                yield FanOutPage(rows, "employees", [uid for uid in ids if employment.get(uid)])

    def _departments(self, engine, since, state, context):
        # every sync reads all of today's slices (`since` is not asked): see the module's docstring
        today = self._read_units(engine, state)
        ever = {text(r.get("externalCode")) for r in self._unit_history}
        live = {code: row for row in today if (code := text(row.get("externalCode")))
                and (text(row.get("status")) or "A").upper() != "I"}
        gone = sorted(code for code in ever | {text(r.get("externalCode")) for r in today}
                      if code and code not in live)
        # without the slice's endDate: entering a slice ahead moves it, and the department today is the same
        yield DeletionsPage([{**{k: v for k, v in row.items() if k != "endDate"}, "id": code}
                             for code, row in sorted(live.items())], gone)

    def _leave_requests(self, engine, since, state, context):
        for page in self._list(engine, "EmployeeTime", state, since, **{"$filter": ABSENCES}):
            yield [{**row, "id": row.get("externalCode")} if isinstance(row, dict) else row for row in page]

    # -- mapping ----------------------------------------------------------------------------
    def to_canonical(self, entity: str, payload: dict) -> dict:
        mappers = {"employees": self._employee, "employments": self._employment,
                   "departments": self._department, "leave_requests": self._leave}
        return mappers[entity](payload)

    def _employee(self, p: dict) -> dict:
        personal, employment, job = (_object(p.get(k)) for k in ("personal", "employment", "job"))
        stamps = [s for s in (odata_instant(r.get("lastModifiedDateTime")) for r in (p, personal, employment, job))
                  if s is not None]
        # a slice entered ahead takes effect on its date with its older stamp: the version must
        # not date before the one it replaces, so its start counts as a change too
        if (took_effect := odata_instant(job.get("startDate"))) is not None:
            stamps.append(took_effect)
        status = STATUSES.get(_code(job.get("emplStatus"), {}) or "")
        if status is None:
            status = "inactive" if text(p.get("status")) == "f" else "active"
        return {
            "id": p.get("id"), "updated_at": max(stamps) if stamps else None,
            "employee_id": text(p.get("empId")) or text(p.get("userId")),
            "first_name": text(personal.get("firstName")) or text(p.get("firstName")),
            "last_name": text(personal.get("lastName")) or text(p.get("lastName")),
            "email": text(p.get("email")), "phone": text(p.get("businessPhone")),
            "department": text(p.get("departmentName")) or text(job.get("department")) or text(p.get("department")),
            "job_title": text(job.get("jobTitle")) or text(p.get("title")),
            "manager_id": text(job.get("managerId")), "location": text(job.get("location")),
            "hire_date": odata_date(employment.get("startDate")),
            "termination_date": odata_date(employment.get("endDate")), "employment_status": status,
        }

    def _employment(self, p: dict) -> dict:
        job = _object(p.get("job"))
        pays = [x for x in p.get("pay") or [] if isinstance(x, dict)]
        pay = pays[0] if len(pays) == 1 else {}  # several components: no one salary to name
        contract = _object(job.get("contractType"))
        return {
            "id": p.get("id"), "updated_at": p.get("lastModifiedDateTime"), "employee_id": p.get("userId"),
            "start_date": p.get("startDate"), "end_date": p.get("endDate"),
            "contract_type": CONTRACT_TYPES.get(text(contract.get("externalCode")) or ""),
            "hours_per_week": number(job.get("standardHours")),
            "salary": number(pay.get("paycompvalue")), "currency": text(pay.get("currencyCode")),
            "salary_period": FREQUENCIES.get(text(pay.get("frequency")) or ""),
            "job_title": text(job.get("jobTitle")),
            "department": text(p.get("departmentName")) or text(job.get("department")),
            "manager_id": text(job.get("managerId")),
        }

    def _department(self, p: dict) -> dict:
        # a slice dated ahead takes effect on its date with its older stamp: its start counts too
        stamps = [s for s in (odata_instant(p.get("lastModifiedDateTime")), odata_instant(p.get("startDate")))
                  if s is not None]
        return {
            "id": p.get("id"), "updated_at": max(stamps) if stamps else None,
            "department_id": text(p.get("externalCode")),
            "name": text(p.get("name")) or text(p.get("name_defaultValue")),
            "head_id": text(p.get("headOfUnit")),
        }

    def _leave(self, p: dict) -> dict:
        time_type, status = text(p.get("timeType")), text(p.get("approvalStatus"))
        leave_type = self.options.leave_type(time_type)
        unmapped = ([("leave_type", time_type, "time type {code} maps to no leave type: add it to the "
                      "system's time_types option")] if leave_type is None else [])
        if LEAVE_STATUSES.get((status or "").upper()) is None:
            unmapped.append(("status", status, f"approvalStatus {{code}} is none of {', '.join(LEAVE_STATUSES)}"))
        if unmapped:  # quarantined with a reason naming the code, which validation alone would not
            raise ValidationError.from_exception_data("LeaveRequest", [
                {"type": PydanticCustomError("unmapped_code", message, {"code": repr(code)}), "loc": (name,),
                 "input": code} for name, code, message in unmapped])
        return {
            "id": p.get("id"), "updated_at": odata_instant(p.get("lastModifiedDateTime")),
            "leave_request_id": text(p.get("externalCode")), "employee_id": text(p.get("userId")),
            "leave_type": leave_type,
            "start_date": odata_date(p.get("startDate")), "end_date": odata_date(p.get("endDate")),
            # hours-only time types carry quantityInHours alone: no day count then
            "total_days": number(p.get("quantityInDays")),
            "status": LEAVE_STATUSES[(status or "").upper()],
            "reason": text(p.get("comment")),
        }


def _last(rows: list[dict] | None) -> dict | None:
    return rows[-1] if rows else None


def _object(value: Any) -> dict:
    return value if isinstance(value, dict) else {}
