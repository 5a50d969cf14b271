"""Employes.nl v4 (Dutch payroll): base URL ``https://connect.employes.nl/v4/{companyId}``, a
bearer token per company, 5 requests per second (../shared/vendor-apis.md; README "Employes.nl").

* employees: ``/employees?page=&per_page=`` -> ``{data, total, pages}`` (``PageNumbers``).
* employments: per employee (a fan-out over the synced employees),
  ``/employees/{id}/employments`` -> ``{data: [employment]}`` whose ``salary[]``, ``hours[]`` and
  ``contracts[]`` each carry their whole history with start dates. They become canonical
  ``employments`` rows: the maximal intervals over which pay, hours and contract stay the same,
  a new row on each date any of them starts a new entry (a renewal is a new contract entry, so a
  new row even on the same terms), rows dated ahead included. An employee's answer replaces its
  earlier rows, so a backdated correction replaces the rows it changes.
* No change stamp and no filter exist: the incremental is a full listing. Every sync reads
  every employee and every employment history again; the sync stores only the versions whose
  SHA-256 changed, so writes follow the changes, reads the company's size.
* No job title, department, location or manager exist in this API: those fields stay empty.

What could not be checked against an official reference (none was found; the shapes come from
public client code that called the production API) is in ``UNVERIFIED`` below, in one place.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from harvey_pipelines.sources.base import Endpoint, SourceAdapter
from harvey_pipelines.sources.errors import UnreadableResponse
from harvey_pipelines.sources.http import BearerAuth
from harvey_pipelines.sources.paging import PageNumbers

# Field names taken from public client code, not from an official reference: the mock serves
# them and the adapter reads them; change them here if the production API differs.
UNVERIFIED = {
    "employee": ("email", "start_date", "end_date", "date_of_birth", "initials"),
    "salary entry": ("month_wage", "hour_wage"),
    "hours entry": ("hours_per_week",),
    "contract entry": ("contract_duration: fixed | indefinite", "employee_type: fulltime | parttime"),
    "list order": ("by surname (a hire or a departure shifts later pages)",),
}
STATUSES = {"active": "active", "out of service": "terminated", "pending": "inactive"}
CONTRACT_TYPES = {"fixed": "fixed_term", "indefinite": "permanent"}
PARTS = ("salary", "hours", "contracts")


def text(value: Any) -> str | None:
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def day(value: Any) -> dt.date | Any:
    """``YYYY-MM-DDT00:00:00`` -> its date; anything else goes on as sent (validation names it)."""
    if value in (None, ""):
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return value


def dutch_surname(prefix: Any, surname: Any) -> str | None:
    """``van der`` + ``Berg`` -> ``van der Berg``: the prefix belongs to the last name."""
    return " ".join(p for p in (text(prefix), text(surname)) if p) or None


def employment_rows(employee_id: str, employment: dict) -> list[dict]:
    """One payload per maximal interval of constant salary, hours and contract: a row starts on
    each date an entry of any of the three starts and ends the day before the next row (the last
    on the employment's end). Each payload holds the contract in force as sent and the salary and
    hours values in force without their entries' dates: those move when a change elsewhere in the
    history splits or merges a run of equal values, which must not rewrite rows that did not
    change (the row's own start and end say where it holds)."""
    dated: dict[str, list[tuple[dt.date, dict]]] = {}
    for part in PARTS:
        entries = employment.get(part) or []
        dated[part] = sorted(((start, entry) for entry in entries if isinstance(entry, dict)
                              and isinstance(start := day(entry.get("start_date")), dt.date)), key=lambda p: p[0])
    points = sorted({start for pairs in dated.values() for start, _ in pairs})
    end = day(employment.get("end_date"))
    points = [p for p in points if not (isinstance(end, dt.date) and p > end)]

    def holding(part: str, on: dt.date) -> dict | None:
        held = [entry for start, entry in dated[part] if start <= on]
        if not held:
            return None
        # a contract's dates are its own; a salary or hours entry's are where a run of equal
        # values starts and ends, which a change elsewhere in the history moves
        return held[-1] if part == "contracts" else {k: v for k, v in held[-1].items()
                                                     if k not in ("start_date", "end_date")}

    rows = []
    for number, start in enumerate(points):
        last = points[number + 1] - dt.timedelta(days=1) if number + 1 < len(points) else end
        rows.append({
            "id": f"{employee_id}:{start.isoformat()}", "employee_id": employee_id,
            "employment_id": employment.get("id"), "start_date": start.isoformat(),
            "end_date": last.isoformat() if isinstance(last, dt.date) else None,
            **{part: holding(part, start) for part in PARTS},
        })
    return rows


class EmployesAdapter(SourceAdapter):
    hrms_type = "employes"
    rate_limit_per_second = 5.0  # Employes.nl's published limit per token
    fan_out_workers = 4  # at 5 requests/s more threads only wait on the limiter
    endpoints = {
        "employees": Endpoint("/employees"),
        "employments": Endpoint("/employees/{id}/employments", fan_out_over="employees"),
    }
    page_size = 100  # the most Employes gives per page

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self.zone = ZoneInfo(self.org.timezone)

    def auth(self):
        return BearerAuth(self.credential)

    def paginator(self):
        return PageNumbers(page_size=self.page_size)

    def fetch(self, engine, entity, since, state, context=None):
        # no filter exists: an incremental reads everything (the SHA-256 of each version keeps
        # the writes to what changed)
        if since is not None:
            state.notes.append(f"{entity}: Employes.nl has no change filter; listed everything")
        return super().fetch(engine, entity, None, state, context)

    def records_from_fan_out(self, entity, parent_id, body):
        employments = body.get("data") if isinstance(body, dict) else None
        if not isinstance(employments, list):
            raise UnreadableResponse(f"{self.org.id}/employes: the employments of employee {parent_id} are not a "
                                     "list under 'data'", orjson.dumps(body))
        return [row for employment in employments if isinstance(employment, dict)
                for row in employment_rows(parent_id, employment)]

    # -- mapping ----------------------------------------------------------------------------
    def _midnight(self, value: Any) -> dt.datetime | None:
        """No record has a change stamp: the start of its newest own date, where the company is,
        stands for one (it orders versions; no sync filters on it)."""
        return dt.datetime.combine(value, dt.time(), self.zone) if isinstance(value, dt.date) else None

    def to_canonical(self, entity: str, payload: dict) -> dict:
        return self._employee(payload) if entity == "employees" else self._employment(payload)

    def _employee(self, p: dict) -> dict:
        hired, left = day(p.get("start_date")), day(p.get("end_date"))
        status = STATUSES.get((text(p.get("status")) or "").lower(), text(p.get("status")))
        dates = [d for d in (hired, left) if isinstance(d, dt.date)]
        return {
            "id": p.get("id"), "updated_at": self._midnight(max(dates) if dates else None),
            "employee_id": text(p.get("employee_number")) or text(p.get("id")),
            "first_name": text(p.get("first_name")),
            "last_name": dutch_surname(p.get("surname_prefix"), p.get("surname")),
            "email": text(p.get("email")), "phone": text(p.get("phone_number")),
            "hire_date": hired, "employment_status": status,
            # the last working day, also when it lies ahead (the status says active until then)
            "termination_date": left,
        }

    def _employment(self, p: dict) -> dict:
        salary, hours, contract = (_object(p.get(part)) for part in PARTS)
        dates = [d for d in (day(p.get("start_date")), day(contract.get("sign_date"))) if isinstance(d, dt.date)]
        month, hour = salary.get("month_wage"), salary.get("hour_wage")
        return {
            "id": p.get("id"), "updated_at": self._midnight(max(dates) if dates else None),
            "employee_id": p.get("employee_id"), "start_date": day(p.get("start_date")),
            "end_date": day(p.get("end_date")),
            "contract_type": CONTRACT_TYPES.get(text(contract.get("contract_duration")) or "",
                                                text(contract.get("contract_duration"))),
            "hours_per_week": hours.get("hours_per_week"),
            "salary": month if month is not None else hour,
            "salary_period": "month" if month is not None else "hour" if hour is not None else None,
            "currency": "EUR" if month is not None or hour is not None else None,
        }


def _object(value: Any) -> dict:
    return value if isinstance(value, dict) else {}
