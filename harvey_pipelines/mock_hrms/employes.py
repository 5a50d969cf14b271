"""A mock of Employes.nl v4 (../shared/vendor-apis.md "Employes.nl v4") for the tests and
benchmarks, on loopback in a thread::

    with EmployesMock() as mock:
        company = mock.company("b2328cd9-...", "token", size=20)
        company.url  # the organization's base_url: <server>/v4/<companyId>

What it reproduces, because the adapter must cope with it:
- ``GET /v4/{companyId}/employees?page=&per_page=`` -> ``{data, total, pages}`` (ordered by
  surname, as a listing for people is: a hire or a departure shifts the pages after it);
  ``GET /v4/{companyId}/employees/{id}`` -> the employee, a bare object;
  ``GET /v4/{companyId}/employees/{id}/employments`` -> ``{data: [employment]}`` whose
  ``salary[]``, ``hours[]`` and ``contracts[]`` hold the whole history with start and end dates
  (an entry per value: consecutive equal values are one entry, as a payroll shows them).
- Dutch names (``surname_prefix``: van, de, van der), dates as ``YYYY-MM-DDT00:00:00``, status
  ``active`` | ``out of service`` | ``pending``; an employee out of service has no current
  ``employment``. No job title, department or manager exist.
- A bearer token per company (a wrong one: 401 ``{"message"}``); unknown routes answer 403 with
  the API gateway's message about the Authorization header; ``rate_limit`` requests per second
  per token, then 429 with ``Retry-After``; ``fail_next(n, status)`` for 5xx;
  ``during_paging(callback)`` changes the data between two pages of a walk.
- No change stamp and no filter: a client re-reads everything.

The truth is the typed model (``Worker.periods``): what holds from each date on. The answers
are rendered from it, so a client must rebuild the periods from three separate histories.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import threading
import time
import uuid
from dataclasses import dataclass, replace
from typing import Callable
from urllib.parse import parse_qsl, urlsplit

from harvey_pipelines.mock_hrms.loopback import LoopbackJsonMock

TODAY = dt.date(2026, 11, 16)
FIRST_NAMES = ["Daan", "Sanne", "Lotte", "Bram", "Femke", "Joris", "Noor", "Sem", "Eva", "Thijs", "Iris", "Ruben"]
# (prefix, surname): Dutch name parts, the prefix sorted under the surname
SURNAMES = [("van", "Dijk"), ("de", "Vries"), ("van der", "Berg"), ("", "Jansen"), ("", "Bakker"),
            ("van den", "Heuvel"), ("de", "Boer"), ("", "Visser"), ("van", "Leeuwen"), ("", "Smit")]
GATEWAY_MESSAGE = ("Authorization header requires 'Credential' parameter. Authorization header requires "
                   "'Signature' parameter. Authorization header requires 'SignedHeaders' parameter.")


def stamp(day: dt.date | None) -> str | None:
    return None if day is None else f"{day.isoformat()}T00:00:00"


@dataclass
class Contract:
    start: dt.date
    end: dt.date | None  # a fixed-term contract's last day
    duration: str  # "fixed" | "indefinite"
    employee_type: str  # "fulltime" | "parttime"
    sign_date: dt.date | None = None


@dataclass
class Period:
    """What holds from ``start`` until the next period (or the employment's end)."""

    start: dt.date
    month_wage: float
    hours: float
    contract: int  # index into Worker.contracts


@dataclass
class Worker:
    id: str
    number: int
    first_name: str
    prefix: str
    surname: str
    email: str
    birth: dt.date
    employment_id: str
    contracts: list[Contract]
    periods: list[Period]
    end: dt.date | None = None  # the employment's last day (a termination)

    @property
    def hire(self) -> dt.date:
        return self.periods[0].start

    def holding(self, day: dt.date) -> Period:
        held = [p for p in self.periods if p.start <= day]
        return held[-1] if held else self.periods[0]


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers or {}


class Company:
    def __init__(self, company_id: str, token: str, size: int, seed: int, today: dt.date, url: str):
        self.id, self.token, self.today, self.url = company_id, token, today, url
        self.rng = random.Random(seed)
        self.workers: dict[str, Worker] = {}
        self._numbers = iter(range(1, 10**9))
        for _ in range(size):
            self.hire(self.today - dt.timedelta(days=self.rng.randrange(120, 1800)), generated=True)

    # -- the model ----------------------------------------------------------------------------
    def hire(self, start: dt.date, *, month_wage: float | None = None, hours: float | None = None,
             fixed: bool | None = None, generated: bool = False) -> Worker:
        rng = self.rng
        number = next(self._numbers)
        first = rng.choice(FIRST_NAMES)
        prefix, surname = rng.choice(SURNAMES)
        hours = hours if hours is not None else rng.choice([24.0, 32.0, 36.0, 40.0])
        wage = month_wage if month_wage is not None else float(rng.randrange(2500, 5000, 50))
        fixed = fixed if fixed is not None else rng.random() < 0.7
        kind = "fulltime" if hours >= 36 else "parttime"
        contract = Contract(start, start + dt.timedelta(days=364) if fixed else None,
                            "fixed" if fixed else "indefinite", kind, start - dt.timedelta(days=14))
        worker = Worker(str(uuid.UUID(int=rng.getrandbits(128))), number, first, prefix, surname,
                        f"{first}.{surname}.{number}@mail.example".lower(),
                        dt.date(rng.randrange(1960, 2002), rng.randrange(1, 13), rng.randrange(1, 29)),
                        str(uuid.UUID(int=rng.getrandbits(128))), [contract], [Period(start, wage, hours, 0)])
        self.workers[worker.id] = worker
        if generated:
            self._history(worker)
        return worker

    def _history(self, worker: Worker) -> None:
        """Renewals of a fixed-term contract, yearly raises, an hours change now and then, a raise
        dated ahead for some, a termination for some."""
        rng = self.rng
        contract = worker.contracts[0]
        while contract.duration == "fixed" and contract.end is not None and contract.end < self.today:
            # renewed for a year more, the second time indefinitely
            again = len(worker.contracts) < 2 and rng.random() < 0.6
            self.renew(worker.id, contract.end + dt.timedelta(days=1), fixed=again)
            contract = worker.contracts[-1]
        year = worker.hire.year + 1
        while dt.date(year, 1, 1) < self.today:
            self.change(worker.id, dt.date(year, 1, 1), month_wage=self.wage_at(worker, dt.date(year, 1, 1))
                        + rng.randrange(100, 300, 25))
            year += 1
        if rng.random() < 0.4:
            day = worker.hire + dt.timedelta(days=rng.randrange(30, max(31, (self.today - worker.hire).days)))
            self.change(worker.id, day, hours=rng.choice([h for h in (24.0, 32.0, 36.0, 40.0)
                                                          if h != worker.holding(day).hours]))
        if rng.random() < 0.2:
            ahead = self.today + dt.timedelta(days=rng.randrange(5, 60))
            self.change(worker.id, ahead, month_wage=self.wage_at(worker, ahead) + 150)
        elif rng.random() < 0.15:
            self.terminate(worker.id, self.today - dt.timedelta(days=rng.randrange(1, 60)))

    def wage_at(self, worker: Worker, day: dt.date) -> float:
        return worker.holding(day).month_wage

    def change(self, worker_id: str, start: dt.date, **values) -> Period:
        """From ``start`` on, ``values`` (month_wage, hours) hold; the periods after it keep theirs.
        A period already starting that day is corrected (a backdated correction)."""
        worker = self.workers[worker_id]
        existing = next((p for p in worker.periods if p.start == start), None)
        if existing is not None:
            for name, value in values.items():
                setattr(existing, name, value)
            return existing
        period = replace(worker.holding(start), start=start, **values)
        worker.periods = sorted([*worker.periods, period], key=lambda p: p.start)
        return period

    def renew(self, worker_id: str, start: dt.date, *, fixed: bool) -> Period:
        """A new contract from ``start`` (the previous one's end + 1), on the same terms."""
        worker = self.workers[worker_id]
        held = worker.holding(start)
        previous = worker.contracts[held.contract]
        worker.contracts.append(Contract(start, start + dt.timedelta(days=364) if fixed else None,
                                         "fixed" if fixed else "indefinite", previous.employee_type,
                                         start - dt.timedelta(days=10)))
        return self.change(worker_id, start, contract=len(worker.contracts) - 1)

    def terminate(self, worker_id: str, last_day: dt.date) -> None:
        worker = self.workers[worker_id]
        worker.end = last_day
        worker.periods = [p for p in worker.periods if p.start <= last_day]

    def delete(self, worker_id: str) -> None:
        del self.workers[worker_id]

    def advance(self, days: int) -> None:
        self.today += dt.timedelta(days=days)

    def versions(self, worker: Worker) -> list[tuple[Period, dt.date | None]]:
        """The worker's periods with their last day, consecutive equal ones merged: what the
        canonical employments must hold."""
        merged: list[Period] = []
        for period in worker.periods:
            if merged and (merged[-1].month_wage, merged[-1].hours, merged[-1].contract) == (
                    period.month_wage, period.hours, period.contract):
                continue
            merged.append(period)
        return [(p, merged[n + 1].start - dt.timedelta(days=1) if n + 1 < len(merged) else worker.end)
                for n, p in enumerate(merged)]

    def status(self, worker: Worker) -> str:
        if worker.end is not None and worker.end < self.today:
            return "out of service"
        return "pending" if worker.hire > self.today else "active"

    # -- rendering ----------------------------------------------------------------------------
    def employee(self, worker: Worker) -> dict:
        status = self.status(worker)
        return {
            "id": worker.id, "employee_number": worker.number, "first_name": worker.first_name,
            "initials": worker.first_name[0] + ".", "surname_prefix": worker.prefix or None,
            "surname": worker.surname, "email": worker.email, "date_of_birth": stamp(worker.birth),
            "status": status, "start_date": stamp(worker.hire), "end_date": stamp(worker.end),
            "employment": None if status == "out of service" else {
                "id": worker.employment_id, "start_date": stamp(worker.hire), "end_date": stamp(worker.end)},
        }

    def employment(self, worker: Worker) -> dict:
        def entries(value: Callable[[Period], dict]) -> list[dict]:
            runs: list[tuple[dt.date, dict]] = []
            for period in worker.periods:
                if not runs or runs[-1][1] != value(period):
                    runs.append((period.start, value(period)))
            return [{"start_date": stamp(start), "end_date": stamp(
                runs[n + 1][0] - dt.timedelta(days=1) if n + 1 < len(runs) else worker.end), **values}
                for n, (start, values) in enumerate(runs)]

        return {
            "id": worker.employment_id, "employee_id": worker.id, "start_date": stamp(worker.hire),
            "end_date": stamp(worker.end),
            "salary": entries(lambda p: {"month_wage": p.month_wage, "hour_wage": None}),
            "hours": entries(lambda p: {"hours_per_week": p.hours}),
            "contracts": [{"start_date": stamp(c.start), "end_date": stamp(c.end), "contract_duration": c.duration,
                           "employee_type": c.employee_type, "is_signed": c.sign_date is not None,
                           "sign_date": stamp(c.sign_date)}
                          for n, c in enumerate(worker.contracts) if any(p.contract == n for p in worker.periods)],
        }

    def listing(self) -> list[Worker]:
        return sorted(self.workers.values(), key=lambda w: (w.surname, w.prefix, w.first_name, w.number))


class EmployesMock(LoopbackJsonMock):
    def __init__(self, *, rate_limit: int = 5, today: dt.date = TODAY):
        self.rate_limit, self.today = rate_limit, today
        self.lock = threading.RLock()
        self.companies: dict[str, Company] = {}
        self.calls: list[str] = []  # path?query of every request
        self._recent: dict[str, list[float]] = {}
        self._faults: list[int] = []
        self._paging_hooks: list[Callable[[], None]] = []

    def company(self, company_id: str, token: str, *, size: int = 20, seed: int = 1) -> Company:
        with self.lock:
            made = Company(company_id, token, size, seed, self.today, f"{self.url}/v4/{company_id}")
            self.companies[company_id] = made
            return made

    def fail_next(self, count: int, status: int = 500) -> None:
        with self.lock:
            self._faults.extend([status] * count)

    def during_paging(self, change: Callable[[], None]) -> None:
        """Run ``change`` once, after the next list page served that is not a walk's last."""
        with self.lock:
            self._paging_hooks.append(change)

    # -- HTTP ---------------------------------------------------------------------------------
    def _admit(self, company: Company, authorization: str | None) -> None:
        if authorization != f"Bearer {company.token}":
            raise ApiError(401, "Unauthenticated.")
        now = time.monotonic()
        recent = [t for t in self._recent.get(company.token, []) if now - t < 1.0]
        if len(recent) >= self.rate_limit:
            self._recent[company.token] = recent
            raise ApiError(429, "Too Many Attempts.", {"Retry-After": str(max(1, math.ceil(1.0 - (now - recent[0]))))})
        self._recent[company.token] = [*recent, now]
        if self._faults:
            raise ApiError(self._faults.pop(0), "Server Error")

    def answer(self, path: str, query: dict[str, str], authorization: str | None):
        parts = path.strip("/").split("/")
        with self.lock:
            if len(parts) < 3 or parts[0] != "v4" or parts[1] not in self.companies or parts[2] != "employees" \
                    or len(parts) > 5 or (len(parts) == 5 and parts[4] != "employments"):
                raise ApiError(403, GATEWAY_MESSAGE)
            company = self.companies[parts[1]]
            self._admit(company, authorization)
            if len(parts) == 3:
                try:
                    page, per_page = int(query.get("page", 1)), int(query.get("per_page", 25))
                except ValueError:
                    raise ApiError(422, "page and per_page must be integers") from None
                if page < 1 or not 1 <= per_page <= 100:
                    raise ApiError(422, "page must be 1 or more and per_page 1..100")
                listing = company.listing()
                pages = max(1, math.ceil(len(listing) / per_page))
                chunk = listing[(page - 1) * per_page: page * per_page]
                body = {"data": [company.employee(w) for w in chunk], "total": len(listing), "pages": pages}
                more = page < pages
            else:
                worker = company.workers.get(parts[3])
                if worker is None:
                    raise ApiError(404, "Employee not found.")
                body = company.employee(worker) if len(parts) == 4 else {"data": [company.employment(worker)]}
                more = False
            answer = json.loads(json.dumps(body))
        if more and self._paging_hooks:
            self._paging_hooks.pop(0)()
        return answer

    def respond(self, method, target, headers, body):
        url = urlsplit(target)
        self.calls.append(target)
        try:
            return 200, self.answer(url.path, dict(parse_qsl(url.query)), headers.get("Authorization")), None
        except ApiError as exc:
            return exc.status, {"message": str(exc)}, exc.headers

