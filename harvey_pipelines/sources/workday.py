"""Workday: REST for the current workforce and time off, RaaS custom reports for terminated
workers and job history (../shared/vendor-apis.md "Workday"; README "Workday"). The base URL is
the tenant's host (``https://wd2-impl-services1.workday.com``); the tenant name, the reports'
owner and names come from the system's ``options`` (``vendors.WorkdayOptions``).

* Auth: the REST API takes an OAuth access token from the refresh-token grant (renewed ahead of
  its expiry and on a 401, also in the middle of a sync: ``OAuthClientAuth``); the reports take
  the integration user's Basic auth. One engine, one auth per path (``PathAuth``).
* employees: ``/workers`` (``OffsetLimit``, ``{data, total}``) lists only workers not
  terminated; the terminated ones come from the terminated-workers report. Neither the list nor
  that report has the employee number's history, so names, number and hire date come from the
  job-history report, read once per employees sync.
* employments: the job-history report (one entry per effective-dated job row, future-dated ones
  included) becomes the maximal intervals over which title, department, worker type, hours and
  pay stay the same; the last ends on the termination date. The report answers whole workers:
  a page of them replaces the workers' earlier rows (a fan-out's answer), so a backdated
  correction replaces what it changes. With ``changed_since_prompt`` configured an incremental
  asks the report only for workers changed since the cursor.
* leave_requests: ``/workers/{id}/timeOffEntries`` per worker, one entry per day whose ``date``
  is the tenant's local midnight in UTC: the day is that instant's date in the organization's
  timezone. The rule: a worker's entries of one time-off request on consecutive local days are
  one leave request, id ``<request id>:<first day>`` (a request over a weekend is two).
* No change filter on REST: every sync lists all workers again; the sync's SHA-256 of each
  version keeps the writes to what changed.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from itertools import groupby, islice
from typing import IO, Any, Iterator, cast
from zoneinfo import ZoneInfo

import orjson

from harvey_pipelines.sources.base import Endpoint, FanOutPage, FetchContext, SourceAdapter
from harvey_pipelines.sources.errors import UnreadableResponse
from harvey_pipelines.sources.http import BasicAuth, HttpEngine, OAuthClientAuth, PathAuth, json_items
from harvey_pipelines.sources.paging import OffsetLimit, PagingState, format_timestamp, parse_timestamp
from harvey_pipelines.vendors import WorkdayOptions

REPORTS = "/ccx/service/customreport2"
CONTRACT_TYPES = {"regular": "permanent", "fixed term": "fixed_term", "intern": "internship",
                  "contractor": "freelance", "contingent worker": "freelance"}
PAY_PERIODS = {"annual": "year", "monthly": "month", "hourly": "hour"}
# time-off plan names are each tenant's own; these words place one on the canonical leave types
# (first match wins; an unmatched plan is quarantined)
LEAVE_WORDS = (("sick", "sick"), ("unpaid", "unpaid"), ("maternity", "maternity"), ("paternity", "paternity"),
               ("parental", "paternity"), ("vacation", "annual"), ("pto", "annual"), ("annual", "annual"),
               ("personal", "casual"), ("floating", "casual"))
LEAVE_STATUS = {"approved": "approved", "submitted": "pending", "pending": "pending", "in progress": "pending",
                "denied": "rejected", "canceled": "cancelled", "cancelled": "cancelled", "rescinded": "cancelled"}
# the job attributes the canonical employments hold: a change of one of them starts a new row
JOB_FIELDS = ("Business_Title", "Supervisory_Organization", "Worker_Type", "Scheduled_Weekly_Hours",
              "Total_Base_Pay", "Currency", "Frequency")


def text(value: Any) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def values(field: Any) -> list[str]:
    """A RaaS multi-valued field as a list: a string when it holds one value, a list of objects
    (each holding the value under one key, or ``Descriptor``) when several, absent when none."""
    if field is None:
        return []
    if not isinstance(field, list):
        return [v] if (v := text(field)) else []
    found = []
    for item in field:
        if isinstance(item, dict):
            item = item.get("Descriptor", next(iter(item.values()), None) if len(item) == 1 else None)
        if (v := text(item)) is not None:
            found.append(v)
    return found


def day(value: Any) -> dt.date | Any:
    """``YYYY-MM-DD`` (RaaS may add a zone offset, ``2024-03-01-08:00``) -> its date; anything
    else goes on as sent (validation names it)."""
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return value


def local_day(value: Any, zone: ZoneInfo) -> dt.date | None:
    """A time-off entry's ``date``, the tenant's local midnight in UTC (``2024-10-26T07:00:00.000Z``
    at UTC-7), as the local date it stands for (2024-10-26)."""
    stamp = parse_timestamp(value.replace("Z", "+00:00")) if isinstance(value, str) else None
    return stamp.astimezone(zone).date() if stamp else None


def number(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _keyword(name: Any, words) -> str | None:
    lowered = str(name or "").lower()
    return next((value for word, value in words if word in lowered), None)


def employment_rows(worker_id: str, entries: list[dict]) -> list[dict]:
    """One payload per maximal interval of constant ``JOB_FIELDS``: a row starts on an effective
    date whose job differs from the one before and ends the day before the next row (the last on
    the termination date). A payload holds the job as the report sent it without its effective
    date, and as its change stamp the newest ``Last_Functionally_Updated`` of the entries it
    merges: an unchanged row hashes the same, whatever changed elsewhere in the history."""
    dated = sorted(((start, e) for e in entries if isinstance(start := day(e.get("Effective_Date")), dt.date)),
                   key=lambda p: p[0])
    end = next((d for e in entries if isinstance(d := day(e.get("Termination_Date")), dt.date)), None)
    runs: list[tuple[dt.date, dict, list[str]]] = []
    for start, entry in dated:
        if end is not None and start > end:
            continue
        job = {k: entry.get(k) for k in JOB_FIELDS}
        if not runs or runs[-1][1] != job:
            runs.append((start, job, []))
        runs[-1][2].append(text(entry.get("Last_Functionally_Updated")) or "")
    return [{"id": f"{worker_id}:{start.isoformat()}", "employee_id": worker_id, "start_date": start.isoformat(),
             "end_date": (runs[n + 1][0] - dt.timedelta(days=1)).isoformat() if n + 1 < len(runs)
             else end.isoformat() if end else None, "updated_at": max(stamps) or None, **job}
            for n, (start, job, stamps) in enumerate(runs)]


def leave_requests(worker_id: str, entries: list[dict], zone: ZoneInfo) -> list[dict]:
    """One payload per run of a time-off request's entries on consecutive local days."""
    dated = []
    for entry in entries:
        request = entry.get("timeOffRequest")
        request = request if isinstance(request, dict) else {}
        local = local_day(entry.get("date"), zone)
        if local is not None:
            dated.append((text(request.get("id")) or worker_id, local, entry))
    dated.sort(key=lambda d: (d[0], d[1]))
    runs: list[list[tuple[str, dt.date, dict]]] = []
    for item in dated:
        last = runs[-1][-1] if runs else None
        if last is not None and last[0] == item[0] and item[1] - last[1] == dt.timedelta(days=1):
            runs[-1].append(item)
        else:
            runs.append([item])
    rows = []
    for run in runs:
        request_id, first, entry = run[0]
        units = [number(e.get("units")) for _, _, e in run]
        per_day = text((entry.get("unitOfTime") or {}).get("descriptor"))
        rows.append({
            "id": f"{request_id}:{first.isoformat()}", "employee_id": worker_id,
            "employee_name": text((entry.get("employee") or {}).get("descriptor")),
            "request": entry.get("timeOffRequest"), "plan": (entry.get("timeOff") or {}).get("plan"),
            "start_date": first.isoformat(), "end_date": run[-1][1].isoformat(),
            "days": sum(u for u in units if u is not None) if per_day == "Days" and None not in units else None,
        })
    return rows


class Report:
    """A RaaS report's JSON answer in a file: its entries streamed, one at a time."""

    def __init__(self, body: IO[bytes], what: str):
        self.body, self.what = body, what
        self._grouped: bool | None = None

    def entries(self) -> Iterator[dict]:
        return (e for e in json_items(self.body, "Report_Entry", self.what) if isinstance(e, dict))

    def _keyed(self) -> Iterator[tuple[str, dict]]:
        """(worker id, entry) of every entry that names its worker."""
        for entry in self.entries():
            if (worker := text(entry.get("Worker_ID"))) is not None:
                yield worker, entry

    def grouped_by_worker(self) -> bool:
        """Whether each worker's entries come one after another (a report sorted by worker, as
        the usual job-history report is): then a worker's rows are whole when the next worker's
        begin, and the report can be read a worker at a time."""
        if self._grouped is None:
            done: set[str] = set()
            current = None
            self._grouped = True
            for worker, _ in self._keyed():
                if worker != current:
                    if worker in done:
                        self._grouped = False
                        break
                    if current is not None:
                        done.add(current)
                    current = worker
        return self._grouped

    def by_worker(self) -> Iterator[tuple[str, list[dict]]]:
        """(worker id, the worker's entries), each worker once, a worker at a time when the report
        is grouped by worker; otherwise the whole report is held to group it."""
        if self.grouped_by_worker():
            for worker, keyed in groupby(self._keyed(), key=lambda pair: pair[0]):
                yield worker, [entry for _, entry in keyed]
            return
        held: dict[str, list[dict]] = {}
        for worker, entry in self._keyed():
            held.setdefault(worker, []).append(entry)
        yield from held.items()


class WorkdayAdapter(SourceAdapter):
    hrms_type = "workday"
    rate_limit_per_second = 10.0  # Workday throttles per tenant; no published number
    endpoints = {
        "employees": Endpoint("/workers"),
        "employments": Endpoint("/job-history-report"),
        "leave_requests": Endpoint("/workers/{id}/timeOffEntries", fan_out_over="employees"),
    }
    page_size = 100  # the most Workday REST gives per page
    workers_per_page = 500  # workers of the job-history report per page handed to the sync

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.zone = ZoneInfo(self.org.timezone)
        self.options = cast(WorkdayOptions, self.system.vendor_options())
        self.rest = f"/ccx/api/v1/{self.options.tenant}"
        self._engine: HttpEngine | None = None

    def auth(self):
        base = self.system.base_url.rstrip("/")
        return PathAuth(
            default=OAuthClientAuth(f"{base}/ccx/oauth2/{self.options.tenant}/token", self.credentials["client_id"],
                                    self.credentials["client_secret"], self.credentials["refresh_token"],
                                    client_auth="basic"),
            by_prefix={REPORTS: BasicAuth(self.credentials["report_user"], self.credentials["report_password"])})

    def paginator(self):
        return OffsetLimit(page_size=self.page_size)

    @contextmanager
    def report(self, engine: HttpEngine, name: str, prompts: dict[str, str] | None = None) -> Iterator[Report]:
        """The report's answer, downloaded once, to be read (streamed) as often as needed: RaaS
        answers one JSON document of every entry (tens of MB for a large tenant)."""
        path = f"{REPORTS}/{self.options.tenant}/{self.options.report_owner}/{name}"
        body = engine.get_file(path, {**(prompts or {}), "format": "json"}).body
        try:
            yield Report(body, f"{engine.name}: report {name}")
        finally:
            body.close()

    def fetch(self, engine, entity, since, state, context=None):
        self._engine = engine  # the time-off fan-out pages a worker's entries past the first answer
        if entity == "employees":
            return self._employees(engine, state)
        if entity == "employments":
            return self._employments(engine, since, state)
        endpoint = self.endpoints[entity]
        path = f"{self.rest}{endpoint.path}?limit={self.page_size}"
        return self._fan_out(engine, entity, Endpoint(path, fan_out_over=endpoint.fan_out_over),
                             context or FetchContext(), state)

    def _employees(self, engine: HttpEngine, state: PagingState) -> Iterator[list[dict]]:
        # no change filter on REST: a full listing every sync (the SHA-256 dedup keeps writes to changes)
        people = self._people(engine)
        unknown: list[dict] = []  # hired after the report was read: read it again after the walk
        for page in self.paginator().pages(engine, f"{self.rest}/workers", None, state):
            known = []
            for w in page:
                wid = text(w.get("id")) if isinstance(w, dict) else None
                if wid is not None and wid not in people:
                    unknown.append(w)
                else:
                    known.append({"id": wid, "worker": w, "person": people.get(wid or "")}
                                 if isinstance(w, dict) else w)
            if known:
                yield known
        if unknown:
            people = self._people(engine)
            yield [{"id": text(w.get("id")), "worker": w, "person": people.get(text(w.get("id")) or "")}
                   for w in unknown]
        # after the walk: a worker terminated while it was read comes again, terminated (the later version stands)
        with self.report(engine, self.options.terminated_workers_report) as report:
            gone = ({"id": (wid := text(e.get("Worker_ID"))), "terminated": e, "person": people.get(wid or "")}
                    for e in report.entries())
            while page := list(islice(gone, self.workers_per_page)):
                yield page

    def _people(self, engine: HttpEngine) -> dict[str, dict]:
        """Worker id -> number, names and hire date, from the job-history report (the REST list
        has none of them)."""
        people: dict[str, dict] = {}
        with self.report(engine, self.options.job_history_report) as report:
            for entry in report.entries():
                worker = text(entry.get("Worker_ID"))
                if worker and worker not in people:
                    # not the change stamp: it moves with every job change, which must not rewrite the employee
                    people[worker] = {k: entry.get(k) for k in ("Employee_ID", "First_Name", "Last_Name", "Hire_Date")}
        return people

    def _employments(self, engine: HttpEngine, since: dt.datetime | None, state: PagingState) -> Iterator[list]:
        prompts = {}
        if since is not None:
            if self.options.changed_since_prompt:
                prompts[self.options.changed_since_prompt] = format_timestamp(since.astimezone(dt.timezone.utc))
            else:
                state.notes.append("employments: no changed_since_prompt configured; read the whole job history")
        with self.report(engine, self.options.job_history_report, prompts) as report:
            if not report.grouped_by_worker():
                state.notes.append(
                    f"employments: the report {self.options.job_history_report} lists a worker's rows apart from "
                    "each other: read whole into memory; sort it by worker to keep a large tenant's sync small")
            chunk: list[str] = []
            rows: list[dict] = []
            for worker, entries in report.by_worker():
                chunk.append(worker)
                rows += employment_rows(worker, entries)
                if len(chunk) == self.workers_per_page:
                    # each worker's rows as a whole: they replace the worker's earlier ones
                    yield FanOutPage(rows, "employees", chunk)
                    chunk, rows = [], []
            if chunk:
                yield FanOutPage(rows, "employees", chunk)

    def records_from_fan_out(self, entity, parent_id, body):
        entries = self._all_entries(parent_id, body)
        return leave_requests(parent_id, entries, self.zone)

    def _all_entries(self, parent_id: str, body: Any) -> list[dict]:
        """The first answer's entries and, when ``total`` says there are more, the following pages."""
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise UnreadableResponse(f"{self.org.id}/workday: the time-off entries of worker {parent_id} are not a "
                                     "list under 'data'", orjson.dumps(body))
        entries = list(body["data"])
        total = body.get("total")
        if isinstance(total, int) and len(entries) < total and self._engine is not None:
            entries = []
            for page in self.paginator().pages(self._engine, f"{self.rest}/workers/{parent_id}/timeOffEntries",
                                               None, PagingState()):
                entries += page
        return [e for e in entries if isinstance(e, dict)]

    # -- mapping ----------------------------------------------------------------------------
    def to_canonical(self, entity: str, payload: dict) -> dict:
        if entity == "employees":
            return self._employee(payload)
        return self._employment(payload) if entity == "employments" else self._leave(payload)

    def _employee(self, p: dict) -> dict:
        person, worker, gone = p.get("person") or {}, p.get("worker") or {}, p.get("terminated") or {}
        organization = worker.get("primarySupervisoryOrganization") or {}
        hired, left = day(person.get("Hire_Date") or gone.get("Hire_Date")), day(gone.get("Termination_Date"))
        dates = [d for d in (hired, left) if isinstance(d, dt.date)]
        return {
            # the list has no change stamp: the start of the worker's newest own date, where the
            # organization is, orders versions (no sync filters on it)
            "id": p.get("id"), "updated_at": dt.datetime.combine(max(dates), dt.time(), self.zone) if dates else None,
            "employee_id": text(person.get("Employee_ID") or gone.get("Employee_ID")),
            "first_name": text(person.get("First_Name") or gone.get("First_Name")),
            "last_name": text(person.get("Last_Name") or gone.get("Last_Name")),
            "email": text(worker.get("primaryWorkEmail")) or next(iter(values(gone.get("Email_Address"))), None),
            "phone": text(worker.get("primaryWorkPhone")),
            "department": text(organization.get("descriptor") if worker else gone.get("Supervisory_Organization")),
            "job_title": text(worker.get("businessTitle") if worker else gone.get("Business_Title")),
            "hire_date": hired, "employment_status": "active" if worker else "terminated",
            "termination_date": left if gone else None,
        }

    def _employment(self, p: dict) -> dict:
        period = PAY_PERIODS.get((text(p.get("Frequency")) or "").lower())
        return {
            "id": p.get("id"), "updated_at": p.get("updated_at"), "employee_id": p.get("employee_id"),
            "start_date": day(p.get("start_date")), "end_date": day(p.get("end_date")),
            "contract_type": CONTRACT_TYPES.get((text(p.get("Worker_Type")) or "").lower(), text(p.get("Worker_Type"))),
            "hours_per_week": number(p.get("Scheduled_Weekly_Hours")),
            "salary": number(p.get("Total_Base_Pay")), "salary_period": period or text(p.get("Frequency")),
            "currency": text(p.get("Currency")),
            "job_title": text(p.get("Business_Title")), "department": text(p.get("Supervisory_Organization")),
        }

    def _leave(self, p: dict) -> dict:
        request, plan = p.get("request") or {}, p.get("plan") or {}
        status = text(request.get("status") if not isinstance(request.get("status"), dict)
                      else request["status"].get("descriptor"))
        start = day(p.get("start_date"))
        return {
            "id": p.get("id"), "leave_request_id": p.get("id"), "employee_id": p.get("employee_id"),
            "employee_name": p.get("employee_name"),
            "leave_type": _keyword(plan.get("descriptor"), LEAVE_WORDS) or text(plan.get("descriptor")),
            "start_date": start, "end_date": day(p.get("end_date")), "total_days": p.get("days"),
            "status": LEAVE_STATUS.get((status or "").lower(), status),
            # no change stamp on time-off entries: the local midnight of the leave's first day orders versions
            "updated_at": dt.datetime.combine(start, dt.time(), self.zone) if isinstance(start, dt.date) else None,
        }
