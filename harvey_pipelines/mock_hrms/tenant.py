"""Tenant state of the mock HRMS: tables, clock, changes (advance / control / API writes), faults,
stats and change log. Pure Python, no HTTP: ``app.py`` maps it onto the REST contract."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import gc
import heapq
import math
import re
import threading
import time
import zlib
from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass
from random import Random
from typing import Any, Iterable, Mapping

from . import vocab
from .clock import (
    CLOCK_START_DATE,
    TimeFormatter,
    add_working_days,
    clock_start_ts,
    is_working_day,
    next_working_day,
    today_in,
    validate_timezone,
    working_days_between,
)
from .generate import BALANCED_LEAVE_TYPES, DAY, INTERVIEW_TYPES, STAGE_ORDER, Generator, allocation, populate
from .tables import EntityTable, Record

DEFAULT_TOKEN = "mock-hrms-token-12345"
DEFAULT_TIMEZONE = "Asia/Kolkata"

ENTITIES = ("employees", "departments", "employments", "job_requisitions", "candidates",
            "interviews", "leave_requests", "leave_balances", "attendance")
LIST_ENTITIES = tuple(e for e in ENTITIES if e != "leave_balances")
# entity -> URL segment under /api/v1
API_PATHS = {"employees": "employees", "departments": "departments", "employments": "employments",
             "job_requisitions": "job-requisitions", "candidates": "candidates",
             "interviews": "interviews", "leave_requests": "leave-requests", "attendance": "attendance"}
# entity -> (id prefix, human code field, human code prefix)
_TABLE_META = {
    "employees": ("emp-", "employee_id", "EMP-"),
    "departments": ("dep-", "department_id", "DEPT-"),
    "employments": ("", None, None),
    "job_requisitions": ("req-", "requisition_id", "REQ-"),
    "candidates": ("cand-", "candidate_id", "CAND-"),
    "interviews": ("int-", "interview_id", "INT-"),
    "leave_requests": ("lr-", "leave_request_id", "LR-"),
    "attendance": ("", None, None),
}
INVALID_ENTITIES = ("employees", "candidates", "leave_requests")
_TIMESTAMPS = {"updated_at", "created_at", "approved_at", "scheduled_date", "check_in_time", "check_out_time"}
_ORG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# fields a control update may not touch (ids and the keys the tenant indexes on)
_FROZEN_FIELDS = {"id", "updated_at", "created_at"}
_INDEXED_FIELDS = {"employments": {"employee_id"}, "leave_requests": {"employee_id"},
                   "attendance": {"employee_id", "date"}, "interviews": {"candidate_id"}}
# which key a served reference holds: the referenced record's ``id``, its business key
# (``EMP-000001``), or either, decided per referencing record
REFERENCE_STYLES = ("id", "business_key", "mixed")
# entity -> ((reference field, referenced entity), ...); stored values are always ids
REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "employees": (("manager_id", "employees"),),
    "departments": (("head_id", "employees"),),
    "employments": (("employee_id", "employees"),),
    "job_requisitions": (("hiring_manager_id", "employees"),),
    "candidates": (("applied_for_job_id", "job_requisitions"),),
    "interviews": (("candidate_id", "candidates"), ("job_id", "job_requisitions"),
                   ("interviewer_id", "employees")),
    "leave_requests": (("employee_id", "employees"), ("approved_by", "employees")),
    "attendance": (("employee_id", "employees"),),
    "leave_balances": (("employee_id", "employees"),),
}


def _utc(stamp: str) -> str:
    return dt.datetime.fromisoformat(stamp).astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class ApiError(Exception):
    """An error answered as ``{"detail": ...}`` with ``status``."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class TenantSpec:
    org_id: str
    seed: int
    size: int
    token: str = DEFAULT_TOKEN
    timezone: str = DEFAULT_TIMEZONE
    attendance_days: int = 5
    realtime_clock: bool = True
    reference_style: str = "id"
    # full-time days per leave type, overriding ``generate.allocation``; kept as sorted pairs so
    # equal options compare (and hash) equal; {} means none
    leave_allocations: Any = None
    # the date the clock starts on (None: CLOCK_START_DATE); "today" or "YYYY-MM-DD" become a date,
    # "today" in the tenant's timezone (the demo's: its data end yesterday)
    clock_start: Any = None
    # attendance for every working day since the first of the month this many months before
    # the clock start's month, instead of the last ``attendance_days`` working days
    attendance_months: int | None = None

    def __post_init__(self) -> None:
        start = self.clock_start
        if isinstance(start, str):
            try:
                start = today_in(self.timezone) if start == "today" else dt.date.fromisoformat(start)
            except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError: validate() says which
                pass
            object.__setattr__(self, "clock_start", start)
        la = self.leave_allocations
        if isinstance(la, Mapping):
            order = {lt: i for i, lt in enumerate(BALANCED_LEAVE_TYPES)}
            la = tuple(sorted(la.items(), key=lambda kv: (order.get(kv[0], 99), str(kv[0])))) or None
            object.__setattr__(self, "leave_allocations", la)

    def validate(self) -> None:
        if not isinstance(self.org_id, str) or not _ORG_RE.match(self.org_id):
            raise ValueError("org_id must be a slug: lowercase letters, digits, '-' or '_' (max 63)")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError("seed must be an integer")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 1 <= self.size <= 2_000_000:
            raise ValueError("size must be an integer between 1 and 2000000")
        if not isinstance(self.token, str) or not self.token:
            raise ValueError("token must be a non-empty string")
        if not isinstance(self.attendance_days, int) or not 0 <= self.attendance_days <= 260:
            raise ValueError("attendance_days must be an integer between 0 and 260")
        months = self.attendance_months
        if months is not None and (isinstance(months, bool) or not isinstance(months, int) or not 0 <= months <= 12):
            raise ValueError("attendance_months must be an integer between 0 and 12")
        validate_timezone(self.timezone)
        start = self.clock_start
        if start is not None and (not isinstance(start, dt.date) or isinstance(start, dt.datetime)
                                  or not dt.date(2016, 1, 1) <= start <= dt.date(2099, 12, 31)):
            raise ValueError(f"clock_start must be 'today' or a date YYYY-MM-DD from 2016-01-01, got {start!r}")
        if self.reference_style not in REFERENCE_STYLES:
            raise ValueError(f"reference_style must be one of {', '.join(REFERENCE_STYLES)}, "
                             f"got {self.reference_style!r}")
        la = self.leave_allocations
        if la is not None:
            if not isinstance(la, tuple) or not all(isinstance(p, tuple) and len(p) == 2 for p in la):
                raise ValueError('leave_allocations must be an object, e.g. {"annual": 24, "sick": 12, "casual": 6}')
            for lt, days in la:
                if lt not in BALANCED_LEAVE_TYPES:
                    raise ValueError(f"leave_allocations: unknown leave type {lt!r}; "
                                     f"one of {', '.join(BALANCED_LEAVE_TYPES)}")
                if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= 366:
                    raise ValueError(f"leave_allocations: {lt} must be an integer between 0 and 366")

    def allocations_dict(self) -> dict[str, int] | None:
        return dict(self.leave_allocations) if self.leave_allocations else None

    @classmethod
    def parse(cls, text: str, **kw: Any) -> "TenantSpec":
        """``org:seed:size`` (as on the command line)."""
        parts = text.split(":")
        if len(parts) != 3:
            raise ValueError(f"tenant must be org:seed:size, got {text!r}")
        return cls(org_id=parts[0], seed=int(parts[1]), size=int(parts[2]), **kw)


@dataclass
class FaultConfig:
    """Injected faults, all off by default. ``*_every = N`` fires on every Nth API request of the
    tenant (counted since the last ``PUT faults``); 0 means off."""

    rate_limit_every: int = 0
    retry_after_seconds: int = 1
    error_5xx_every: int = 0
    slow_every: int = 0
    slow_seconds: float = 1.0
    truncate_every: int = 0
    mutate_between_pages: int = 0
    invalid_records: bool = False
    ignore_updated_since: bool = False
    # N stable real records of each INVALID_ENTITIES list served with "id": null (still in total)
    null_id_records: int = 0
    corrupt_once: str = ""  # "<record id>:<field>": the next list page serving it sends that field null
    utc_timestamps: bool = False  # list pages send timestamps in UTC ("...T03:30:00.000Z"): same instants

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def updated(self, changes: dict[str, Any]) -> "FaultConfig":
        names = {f.name: f for f in dataclasses.fields(self)}
        out = dataclasses.replace(self)
        for key, value in changes.items():
            if key not in names:
                raise ValueError(f"unknown fault setting {key!r}")
            kind = names[key].type
            if kind in ("bool", bool):
                if not isinstance(value, bool):
                    raise ValueError(f"{key} must be a boolean")
            elif kind in ("str", str):
                if not isinstance(value, str) or (value and ":" not in value):
                    raise ValueError(f"{key} must be a string '<record id>:<field>'")
            elif kind in ("float", float):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                    raise ValueError(f"{key} must be a number >= 0")
                value = float(value)
            else:
                if value is None:
                    value = 0
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ValueError(f"{key} must be an integer >= 0")
            setattr(out, key, value)
        return out


class ChangeLog:
    """created / updated / deleted ids per entity (ordered, without duplicates per kind)."""

    KINDS = ("created", "updated", "deleted")

    def __init__(self) -> None:
        self._d: dict[str, dict[str, dict[str, None]]] = {k: {e: {} for e in ENTITIES} for k in self.KINDS}

    def add(self, kind: str, entity: str, rid: str) -> None:
        self._d[kind][entity][rid] = None

    def clear(self) -> None:
        for per_entity in self._d.values():
            for ids in per_entity.values():
                ids.clear()

    def to_dict(self) -> dict[str, dict[str, list[str]]]:
        return {k: {e: list(ids) for e, ids in per.items()} for k, per in self._d.items()}


ARRIVALS_KEPT = 10_000  # enough to judge a client's request rate, bounded for long benchmarks


def _stats_zero() -> dict[str, Any]:
    return {"requests": 0, "by_path": {}, "by_status": {},
            "faults_fired": {"rate_limit": 0, "error_5xx": 0, "slow": 0, "truncate": 0,
                             "mutate_between_pages": 0, "invalid_records": 0,
                             "null_id_records": 0}}


class Tenant:
    """One organization of the mock HRMS. All public methods are thread-safe (``self.lock``)."""

    def __init__(self, spec: TenantSpec) -> None:
        spec.validate()
        self.spec = spec
        self.lock = threading.RLock()
        self.fmt = TimeFormatter(spec.timezone)
        self.t0 = clock_start_ts(self.fmt, spec.clock_start or CLOCK_START_DATE)
        self._mono0 = time.monotonic()
        self._offset = 0.0
        self.balance_year = self.fmt.local_date(self.t0).year
        self.tables = {name: EntityTable(name, *_TABLE_META[name]) for name in LIST_ENTITIES}
        self.dept_info: dict[str, dict[str, str]] = {}
        self.dept_by_name: dict[str, str] = {}
        self.employments_by_emp: dict[str, list[str]] = {}
        self.employment_seq: dict[str, int] = {}
        self.leaves_by_emp: dict[str, list[str]] = {}
        self.interviews_by_cand: dict[str, list[str]] = {}
        self.attendance_dates: list[dt.date] = []
        self.next_employee = self.next_requisition = self.next_candidate = 1
        self.next_interview = self.next_leave_request = 1
        self.advance_count = 0
        self.changes = ChangeLog()
        self._batch: ChangeLog | None = None
        self.faults = FaultConfig()
        self._fault_counter = 0
        self._prev_failed = False
        self._n5xx = 0
        self._mut_counter: dict[str, int] = {}
        self._mut_rng = Random(f"{spec.seed}:mutate")
        self.stats = _stats_zero()
        self.arrivals: deque[float] = deque(maxlen=ARRIVALS_KEPT)
        self._views: dict[tuple, tuple[int, list]] = {}
        self._candidate_extra: dict[str, dict[str, Any]] = {}
        self._null_ids: dict[str, set[str]] = {}
        # employee id -> the leave types its balance answer lists (when not all of them)
        self._leave_types: dict[str, tuple[str, ...]] = {}
        self._alloc = dict(spec.leave_allocations or ())
        self._style = spec.reference_style
        self._refs = {entity: tuple((field, self.tables[target]) for field, target in refs)
                      for entity, refs in REFERENCES.items()}
        self.gen = Generator(self)
        for table in self.tables.values():
            table.invalidate()  # bulk load: sort once, lazily
        # millions of new dicts would trigger ever longer full GC passes: pause the cyclic GC
        # (the records hold no cycles) and park the loaded objects outside its generations
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            populate(self)
            for table in self.tables.values():
                table.order()
        finally:
            if gc_was_enabled:
                gc.enable()
        gc.freeze()
        self._mono0 = time.monotonic()  # the clock starts at clock start once the data exist
        self._invalid = self._build_invalid()

    # ================================================================== clock
    def now(self) -> int:
        real = (time.monotonic() - self._mono0) if self.spec.realtime_clock else 0.0
        return int(self.t0 + real + self._offset)

    def iso(self, ts: int) -> str:
        return self.fmt.iso(ts)

    def today(self, ts: int | None = None) -> dt.date:
        return self.fmt.local_date(self.now() if ts is None else ts)

    # ================================================================== info
    def counts(self) -> dict[str, int]:
        out = {e: len(self.tables[e]) for e in LIST_ENTITIES}
        emps = self.tables["employees"].recs
        out["leave_balances"] = len(emps) * len(BALANCED_LEAVE_TYPES) - sum(
            len(BALANCED_LEAVE_TYPES) - len(types) for emp_id, types in self._leave_types.items() if emp_id in emps)
        return {e: out[e] for e in ENTITIES}

    def info(self) -> dict[str, Any]:
        s = self.spec
        return {"org_id": s.org_id, "base_path": f"/orgs/{s.org_id}", "seed": s.seed, "size": s.size,
                "timezone": s.timezone, "attendance_days": s.attendance_days,
                "attendance_months": s.attendance_months,
                "realtime_clock": s.realtime_clock, "reference_style": s.reference_style,
                "leave_allocations": s.allocations_dict(), "clock_start": self.iso(self.t0),
                "now": self.iso(self.now()), "advances": self.advance_count, "counts": self.counts()}

    # ================================================================== change recording
    def _log(self, kind: str, entity: str, rid: str) -> None:
        self.changes.add(kind, entity, rid)
        if self._batch is not None:
            self._batch.add(kind, entity, rid)

    def _stamp(self, entity: str, rec: Record, ts: int, kind: str = "updated") -> None:
        rec["updated_at"] = self.iso(ts)
        self.tables[entity].put(rec, ts)
        self._log(kind, entity, rec["id"])

    def balance_id(self, emp_id: str, leave_type: str) -> str:
        """Id of a leave balance row in change logs: ``<employee id>:<year>:<leave type>``, the
        employee as the balance answer serves it (its id or business key, by reference style)."""
        return f"{self.served_ref(emp_id, 'employees', emp_id)}:{self.balance_year}:{leave_type}"

    def _balance_touched(self, lr: Record, kind: str = "updated") -> None:
        if (lr["leave_type"] in self.leave_types_of(lr["employee_id"])
                and lr["start_date"][:4] == str(self.balance_year)):
            self._log(kind, "leave_balances", self.balance_id(lr["employee_id"], lr["leave_type"]))

    def _balances_logged(self, emp_id: str, kind: str) -> None:
        for lt in self.leave_types_of(emp_id):
            self._log(kind, "leave_balances", self.balance_id(emp_id, lt))

    # ================================================================== references as served
    def _by_key(self, rid: str) -> bool:
        """Whether the references of record ``rid`` are served as business keys."""
        style = self._style
        if style == "id":
            return False
        if style == "business_key":
            return True
        return zlib.crc32(rid.encode()) & 1 == 1  # mixed: stable, about half

    def served_ref(self, rid: str, target: str, value: Any) -> Any:
        """A reference to ``target`` record ``value`` as record ``rid`` serves it."""
        if self._style == "id" or type(value) is not str or not self._by_key(rid):
            return value
        code = self.tables[target].code_of(value)
        return code if code is not None else value  # unknown: the raw id

    def served(self, entity: str, rec: Record) -> Record:
        """``rec`` as the API serves it: itself in ``id`` style (no copy), else a copy whose
        references hold business keys where the style says so."""
        return rec if self._style == "id" else self.served_many(entity, (rec,))[0]

    def served_many(self, entity: str, recs: Iterable[Record]) -> list[Record]:
        """``served`` for many records (the hot path of lists and control records)."""
        if self._style == "id":
            return list(recs)
        refs = [(field, table.recs, table.code_field, table.deleted_codes) for field, table in self._refs[entity]]
        mixed = self._style == "mixed"
        crc32 = zlib.crc32
        out = []
        for rec in recs:
            if mixed and not crc32((rec.get("id") or "").encode()) & 1:
                out.append(rec)
                continue
            new = None
            for field, target, code_field, deleted in refs:
                value = rec.get(field)
                if type(value) is not str:
                    continue
                ref = target.get(value)
                code = ref.get(code_field) if ref is not None else deleted.get(value)
                if code is not None and code != value:
                    if new is None:
                        new = rec.copy()
                    new[field] = code
            out.append(rec if new is None else new)
        return out

    def _stored_ref(self, target: str, value: Any) -> Any:
        """An incoming reference (id or business key) as stored: the referenced record's id; a
        deleted record's id; anything else unchanged."""
        if type(value) is not str:
            return value
        table = self.tables[target]
        rec = table.resolve(value)
        if rec is not None:
            return rec["id"]
        return table.resolve_deleted(value) or value

    # ================================================================== reads
    def _invalid_entries(self, entity: str) -> list[tuple[tuple[int, str], Record]]:
        return self._invalid.get(entity, [])

    def view(self, entity: str, date_from: str | None = None, date_to: str | None = None) -> list[tuple[int, str]]:
        """The ordered (updated_at, id) entries a list endpoint pages through: the table order,
        or a cached derived list (date filter, invalid records merged in) patched with the
        table's recent changes."""
        table = self.tables[entity]
        invalid = self.faults.invalid_records and entity in INVALID_ENTITIES
        if not invalid and date_from is None and date_to is None:
            return table.order()
        filtered = date_from is not None or date_to is not None
        lo, hi = date_from or "", date_to or "9999-99-99"
        recs = table.recs
        ck = (entity, date_from, date_to, invalid)
        hit = self._views.get(ck)
        if hit is not None:
            version, base = hit
            if version == table.version:
                return base
            delta = table.changes_since(version)
            if delta is not None and len(delta) <= 4096:
                for old, new in delta:
                    if old is not None:
                        i = bisect_left(base, old)
                        if i < len(base) and base[i] == old:
                            del base[i]
                    if new is not None:
                        rec = recs.get(new[1])  # None: deleted by a later change
                        if rec is not None and (not filtered or lo <= rec["date"] <= hi):
                            insort(base, new)
                self._views[ck] = (table.version, base)
                return base
        base = table.order()
        if filtered:  # attendance ids end in the day: att-<employee>-<yyyymmdd>
            lo8, hi8 = lo.replace("-", ""), hi.replace("-", "")
            base = [e for e in base if lo8 <= e[1][-8:] <= hi8]
        if invalid:
            base = list(base) if not filtered else base
            for sk, _ in self._invalid_entries(entity):
                insort(base, sk)
        if len(self._views) > 64:
            self._views.clear()
        self._views[ck] = (table.version, base)
        return base

    def lookup(self, entity: str, sort_id: str) -> Record:
        rec = self.tables[entity].recs.get(sort_id)
        if rec is None:
            for (_, sid), r in self._invalid_entries(entity):
                if sid == sort_id:
                    return r
            raise KeyError(sort_id)
        return rec

    @staticmethod
    def page_of(entries: list[tuple[int, str]], page: int, page_size: int, since: float | None
                ) -> tuple[list[tuple[int, str]], int]:
        start = bisect_left(entries, (math.ceil(since),)) if since is not None else 0
        total = len(entries) - start
        lo = start + (page - 1) * page_size
        return entries[lo:lo + page_size], total

    def list_page(self, entity: str, page: int, page_size: int, since: float | None,
                  date_from: str | None = None, date_to: str | None = None) -> dict[str, Any]:
        with self.lock:
            if self.faults.ignore_updated_since:
                since = None
            entries = self.view(entity, date_from, date_to)
            chunk, total = self.page_of(entries, page, page_size, since)
            recs = self.tables[entity].recs
            data = []
            for _, rid in chunk:
                rec = recs.get(rid)
                data.append(rec if rec is not None else self.lookup(entity, rid))
            if len(data) != sum(1 for _, rid in chunk if rid in recs):
                self.stats["faults_fired"]["invalid_records"] += 1
            if self._style != "id":
                data = self.served_many(entity, data)
            nulls = self._null_ids.get(entity)
            if nulls:
                for j, rec in enumerate(data):
                    if rec.get("id") in nulls:
                        data[j] = {**rec, "id": None}
                        self.stats["faults_fired"]["null_id_records"] += 1
            if self.faults.corrupt_once or self.faults.utc_timestamps:
                data = self._in_transit(data)
            return {"data": data, "total": total, "page": page, "page_size": page_size}

    def _in_transit(self, data: list[Record]) -> list[Record]:
        """Faults of the answer only: the records at the source stay as they are."""
        rid, _, field_ = self.faults.corrupt_once.rpartition(":")
        out = []
        for rec in data:
            if rid and rec.get("id") == rid:
                rec, self.faults.corrupt_once = {**rec, field_: None}, ""
                fired = self.stats["faults_fired"]
                fired["corrupt_once"] = fired.get("corrupt_once", 0) + 1
            if self.faults.utc_timestamps:
                rec = {k: _utc(v) if k in _TIMESTAMPS and v else v for k, v in rec.items()}
            out.append(rec)
        return out

    def records(self, entity: str) -> list[Record]:
        """All current records in list order as the list serves them (no invalid records, real
        ids); leave balances flattened, with the ``employee_id`` the balance answer serves."""
        with self.lock:
            if entity == "leave_balances":
                out = []
                for emp_id in sorted(self.tables["employees"].recs):
                    served_id = self.served_ref(emp_id, "employees", emp_id)
                    for b in self.served_balances(emp_id):
                        out.append({"employee_id": served_id, "year": self.balance_year, **b})
                return out
            return self.served_many(entity, self.tables[entity].ordered_records())

    def get(self, entity: str, key: str) -> Record:
        rec = self.tables[entity].resolve(key)
        if rec is None:
            raise ApiError(404, f"{entity[:-1] if entity.endswith('s') else entity} {key!r} not found")
        return rec

    def detail(self, entity: str, key: str) -> Record:
        """A plain detail endpoint's answer."""
        with self.lock:
            return self.served(entity, self.get(entity, key))

    def _detail_rng(self, rid: str) -> Random:
        return Random(f"{self.spec.seed}:detail:{rid}")

    def employee_detail(self, key: str) -> Record:
        with self.lock:
            rec = self.get("employees", key)
            rng = self._detail_rng(rec["id"])
            mgr = self.tables["employees"].recs.get(rec["manager_id"] or "")
            out = dict(self.served("employees", rec))
            out["manager_name"] = f"{mgr['first_name']} {mgr['last_name']}" if mgr else None
            out["skills"] = rng.sample(vocab.SKILLS, rng.randint(2, 6))
            out["certifications"] = rng.sample(vocab.CERTIFICATIONS, rng.randint(0, 2))
            out["performance_rating"] = round(rng.uniform(2.5, 5.0) * 2) / 2
            return out

    def balances(self, emp_id: str, year: int | None = None) -> list[dict[str, Any]]:
        emp = self.tables["employees"].recs[emp_id]
        year = self.balance_year if year is None else year
        ys = str(year)
        used = dict.fromkeys(BALANCED_LEAVE_TYPES, 0)
        pending = dict.fromkeys(BALANCED_LEAVE_TYPES, 0)
        lrs = self.tables["leave_requests"].recs
        for lr_id in self.leaves_by_emp.get(emp_id, ()):
            r = lrs.get(lr_id)
            if r is None or r["leave_type"] not in used or r["start_date"][:4] != ys:
                continue
            if r["status"] == "approved":
                used[r["leave_type"]] += r["total_days"]
            elif r["status"] == "pending":
                pending[r["leave_type"]] += r["total_days"]
        out = []
        for lt in BALANCED_LEAVE_TYPES:
            alloc = self.allocation(emp["work_type"], lt)
            out.append({"leave_type": lt, "total_allocated": alloc, "used": used[lt],
                        "pending": pending[lt], "available": alloc - used[lt] - pending[lt]})
        return out

    def allocation(self, work_type: str, leave_type: str) -> int:
        """Days of ``leave_type`` granted per year: ``generate.allocation``, or the tenant's
        ``leave_allocations`` for full-time staff, scaled for the others by the default ratio
        (half up): e.g. annual 24 gives contract 12 (10/20) and part-time/intern 14 (12/20)."""
        base = allocation(work_type, leave_type)
        granted = self._alloc.get(leave_type)
        if granted is None:
            return base
        full = allocation("full_time", leave_type)
        return granted if base == full else int(granted * base / full + 0.5)

    def leave_types_of(self, emp_id: str) -> tuple[str, ...]:
        return self._leave_types.get(emp_id, BALANCED_LEAVE_TYPES)

    def served_balances(self, emp_id: str, year: int | None = None) -> list[dict[str, Any]]:
        """The balance rows the API lists for the employee (only its leave types)."""
        rows = self.balances(emp_id, year)
        types = self._leave_types.get(emp_id)
        return rows if types is None else [b for b in rows if b["leave_type"] in types]

    def leave_balance(self, key: str, year: int | None = None) -> dict[str, Any]:
        with self.lock:
            rec = self.get("employees", key)
            year = self.balance_year if year is None else year
            return {"employee_id": self.served_ref(rec["id"], "employees", rec["id"]), "year": year,
                    "leave_balances": self.served_balances(rec["id"], year)}

    def set_leave_types(self, key: str, leave_types: Any) -> dict[str, Any]:
        """Which leave types the employee's balance answer lists from now on (a type dropping
        out is a deleted leave balance in the change log, one coming back a created one)."""
        if not isinstance(leave_types, list) or not all(isinstance(lt, str) for lt in leave_types):
            raise ApiError(422, 'body must be {"leave_types": ["annual", ...]}')
        unknown = sorted(set(leave_types) - set(BALANCED_LEAVE_TYPES))
        if unknown:
            raise ApiError(422, f"unknown leave type(s) {', '.join(unknown)}; one of {', '.join(BALANCED_LEAVE_TYPES)}")
        with self.lock:
            emp_id = self.get("employees", key)["id"]
            old = self.leave_types_of(emp_id)
            new = tuple(lt for lt in BALANCED_LEAVE_TYPES if lt in leave_types)
            deleted = [self.balance_id(emp_id, lt) for lt in old if lt not in new]
            created = [self.balance_id(emp_id, lt) for lt in new if lt not in old]
            for bid in deleted:
                self._log("deleted", "leave_balances", bid)
            for bid in created:
                self._log("created", "leave_balances", bid)
            if new == BALANCED_LEAVE_TYPES:
                self._leave_types.pop(emp_id, None)
            else:
                self._leave_types[emp_id] = new
            return {"id": emp_id, "leave_types": list(new), "created": created, "deleted": deleted}

    def reporting_chain(self, key: str) -> dict[str, Any]:
        with self.lock:
            rec = self.get("employees", key)
            rid = rec["id"]
            emps = self.tables["employees"].recs
            chain = []
            seen = {rid}
            cur = emps.get(rec["manager_id"] or "")
            while cur is not None and cur["id"] not in seen:
                seen.add(cur["id"])
                chain.append({"level": len(chain) + 1, "employee_id": self.served_ref(rid, "employees", cur["id"]),
                              "name": f"{cur['first_name']} {cur['last_name']}", "title": cur["job_title"]})
                cur = emps.get(cur["manager_id"] or "")
            return {"employee_id": self.served_ref(rid, "employees", rid),
                    "employee_name": f"{rec['first_name']} {rec['last_name']}", "reporting_chain": chain}

    def employee_employments(self, key: str, page: int, page_size: int, since: float | None) -> dict[str, Any]:
        with self.lock:
            rec = self.get("employees", key)
            if self.faults.ignore_updated_since:
                since = None
            table = self.tables["employments"]
            entries = sorted((table.keys[i], i) for i in self.employments_by_emp.get(rec["id"], ()) if i in table.keys)
            chunk, total = self.page_of(entries, page, page_size, since)
            return {"data": [self.served("employments", table.recs[i]) for _, i in chunk], "total": total,
                    "page": page, "page_size": page_size}

    def requisition_detail(self, key: str) -> Record:
        with self.lock:
            rec = self.get("job_requisitions", key)
            rng = self._detail_rng(rec["id"])
            skills = rng.sample(vocab.SKILLS, 4)
            years = rng.randint(1, 8)
            out = dict(self.served("job_requisitions", rec))
            out["description"] = (f"We are looking for a {rec['title']} to join our {rec['department']} team "
                                  f"in {rec['location']}.")
            out["requirements"] = [r.format(years=years, skill=skills[i % 4])
                                   for i, r in enumerate(rng.sample(vocab.REQUIREMENTS, 4))]
            out["nice_to_have"] = [r.format(skill=skills[3]) for r in rng.sample(vocab.NICE_TO_HAVE, 2)]
            lo = self.gen.money(rng.choice((30000, 40000, 50000, 70000, 90000)))
            out["salary_range"] = {"min": lo, "max": int(lo * 1.5), "currency": self.gen.currency}
            return out

    def candidate_detail(self, key: str) -> Record:
        with self.lock:
            rec = self.get("candidates", key)
            rng = self._detail_rng(rec["id"])
            out = dict(self.served("candidates", rec))
            extra = self._candidate_extra.get(rec["id"], {})
            out["resume_url"] = extra.get("resume_url") or f"https://hrms.example.com/resumes/{rec['candidate_id']}.pdf"
            out["linkedin_url"] = extra.get("linkedin_url")
            out["skills"] = rng.sample(vocab.SKILLS, rng.randint(3, 6))
            out["experience_years"] = rng.randint(0, 15)
            out["current_company"] = rng.choice(vocab.CURRENT_COMPANIES)
            out["current_title"] = rng.choice(vocab.DEPARTMENTS)[1]
            degree, fld = rng.choice(vocab.DEGREES)
            out["education"] = [{"degree": degree, "field": fld, "institution": rng.choice(vocab.INSTITUTIONS),
                                 "year": rng.randint(2005, 2025)}]
            ints = self.tables["interviews"].recs
            hist = []
            for iid in self.interviews_by_cand.get(rec["id"], ()):
                i = ints.get(iid)
                if i is None:
                    continue
                hist.append({"interview_id": self.served_ref(iid, "interviews", iid), "stage": i["interview_type"],
                             "interviewer_id": self.served_ref(iid, "employees", i["interviewer_id"]),
                             "interviewer_name": i["interviewer_name"],
                             "date": i["scheduled_date"][:10], "status": i["status"], "feedback": i["feedback"],
                             "rating": i["rating"]})
            out["interview_history"] = hist
            return out

    # ================================================================== invalid records
    def _build_invalid(self) -> dict[str, list[tuple[tuple[int, str], Record]]]:
        out: dict[str, list[tuple[tuple[int, str], Record]]] = {}
        t0 = self.t0
        keys = [t0 - 3 * DAY + 1234, t0 - 2 * DAY + 2345, t0 - DAY + 3456]
        dom = self.gen.domain
        for entity in INVALID_ENTITIES:
            table = self.tables[entity]
            if not table.recs:
                continue
            template = table.recs[min(table.recs)]
            prefix = table.id_prefix
            code_field, code_prefix = table.code_field, table.code_prefix
            recs = []
            for n, (key, suffix) in enumerate(zip(keys, ("missing-id", "invalid-email", "invalid-date")), 1):
                r = copy.deepcopy(template)
                r["id"] = f"{prefix}{suffix}"
                r[code_field] = f"{code_prefix}INVALID-{n}"
                r["updated_at"] = self.iso(key)
                if "email" in r:
                    r["email"] = f"invalid.record{n}@{dom}"
                recs.append(r)
            if entity == "employees":
                recs[1]["email"] = "not-an-email"
                recs[2]["hire_date"] = "2026-02-30"
            elif entity == "candidates":
                recs[1]["email"] = "not-an-email"
                recs[2]["application_date"] = "2026-02-30"
            else:  # leave_requests: an impossible range and an impossible date
                recs[1]["id"] = f"{prefix}invalid-range"
                recs[1]["start_date"], recs[1]["end_date"] = "2026-03-10", "2026-03-05"
                recs[2]["start_date"], recs[2]["end_date"] = "2026-02-30", "2026-03-02"
            del recs[0]["id"]
            out[entity] = [((k, r.get("id", "")), r) for k, r in zip(keys, recs)]
        return out

    # ================================================================== employees: changes
    def _employee(self, emp_id: str) -> Record:
        rec = self.tables["employees"].recs.get(emp_id)
        if rec is None:
            raise ApiError(404, f"employee {emp_id!r} not found")
        return rec

    def _level(self, emp: Record) -> int:
        band = emp.get("salary_band") or "L2"
        try:
            return max(1, min(7, int(band[1:])))
        except ValueError:
            return 2

    def _noun(self, dept: str) -> str:
        did = self.dept_by_name.get(dept)
        return self.dept_info[did]["noun"] if did else "Specialist"

    def new_employment_row(self, emp_id: str, ts: int, **changes: Any) -> dict[str, Any]:
        """Effective-dated change (raise, hours, title, department...): end-date the running row and
        start a new one on the local date of ``ts``; the employee follows salary/title/department.
        A second change on the same start date corrects the running row in place."""
        emp = self._employee(emp_id)
        if emp["employment_status"] == "terminated":
            raise ApiError(409, f"employee {emp_id!r} is terminated")
        emt = self.tables["employments"]
        ids = self.employments_by_emp.setdefault(emp_id, [])
        prev = emt.recs.get(ids[-1]) if ids else None
        day = self.today(ts)
        result: dict[str, Any] = {}
        if prev is not None and prev["start_date"] >= day.isoformat():
            prev.update(changes)
            self._stamp("employments", prev, ts)
            result["employment"] = prev
        else:
            if prev is not None:
                prev["end_date"] = (day - dt.timedelta(days=1)).isoformat()
                self._stamp("employments", prev, ts)
                result["previous_employment"] = prev
                base = {k: prev[k] for k in prev}
            else:
                base = {"contract_type": "permanent", "hours_per_week": 40, "salary": emp["salary"],
                        "salary_period": "month", "currency": emp["currency"], "job_title": emp["job_title"],
                        "department": emp["department"]}
            seq = self.employment_seq.get(emp_id, len(ids)) + 1
            self.employment_seq[emp_id] = seq
            row = {"id": f"{emp_id}-{seq}", "employee_id": emp_id, "start_date": day.isoformat(), "end_date": None,
                   "contract_type": base["contract_type"], "hours_per_week": base["hours_per_week"],
                   "salary": base["salary"], "salary_period": base["salary_period"], "currency": base["currency"],
                   "job_title": base["job_title"], "department": base["department"], "updated_at": ""}
            row.update(changes)
            ids.append(row["id"])
            self._stamp("employments", row, ts, "created")
            result["employment"] = row
        cur = result["employment"]
        for f in ("salary", "job_title", "department", "currency"):
            emp[f] = cur[f]
        self._stamp("employees", emp, ts)
        result["employee"] = emp
        return result

    def give_raise(self, emp_id: str, salary: float, ts: int | None = None) -> dict[str, Any]:
        if isinstance(salary, bool) or not isinstance(salary, (int, float)) or salary <= 0:
            raise ApiError(422, "salary must be a positive number")
        with self.lock:
            result = self.new_employment_row(emp_id, self.now() if ts is None else ts, salary=salary)
            return {k: self.served("employees" if k == "employee" else "employments", v) for k, v in result.items()}

    def terminate(self, emp_id: str, ts: int, day: dt.date | None = None) -> Record:
        emp = self._employee(emp_id)
        day = day or self.today(ts)
        emp["employment_status"] = "terminated"
        emp["termination_date"] = day.isoformat()
        ids = self.employments_by_emp.get(emp_id) or []
        emt = self.tables["employments"]
        row = emt.recs.get(ids[-1]) if ids else None
        if row is not None and row["end_date"] is None:
            row["end_date"] = max(day.isoformat(), row["start_date"])
            self._stamp("employments", row, ts)
        self._stamp("employees", emp, ts)
        return emp

    def hire(self, ts: int, rng: Random) -> Record:
        emps = self.tables["employees"]
        idx = self.next_employee
        self.next_employee += 1
        did = rng.choice(sorted(self.dept_info))
        dept = self.dept_info[did]["name"]
        dep_rec = self.tables["departments"].recs.get(did)
        manager = dep_rec["head_id"] if dep_rec and dep_rec["head_id"] in emps.recs else None
        if manager is None:
            manager = "emp-000001" if "emp-000001" in emps.recs else None
        work_type = rng.choices(("full_time", "part_time", "contract", "intern"), cum_weights=(0.8, 0.9, 0.96, 1.0))[0]
        level = 1 if work_type == "intern" else rng.choices((1, 2, 3, 4), cum_weights=(0.3, 0.7, 0.9, 1.0))[0]
        day = self.today(ts)
        rec = self.gen.employee_record(idx, rng, dept, level, manager, work_type, "active", day, None,
                                       self._noun(dept), ts, ts)
        hours = rec.pop("_hours")
        self._stamp("employees", rec, ts, "created")
        contract = {"full_time": "permanent", "part_time": "permanent", "contract": "freelance",
                    "intern": "internship"}[work_type]
        row = {"id": f"{rec['id']}-1", "employee_id": rec["id"], "start_date": day.isoformat(), "end_date": None,
               "contract_type": "fixed_term" if contract == "permanent" and rng.random() < 0.3 else contract,
               "hours_per_week": hours, "salary": rec["salary"],
               "salary_period": "hour" if work_type == "contract" else "month", "currency": rec["currency"],
               "job_title": rec["job_title"], "department": dept, "updated_at": ""}
        self.employments_by_emp[rec["id"]] = [row["id"]]
        self.employment_seq[rec["id"]] = 1
        self._stamp("employments", row, ts, "created")
        self._balances_logged(rec["id"], "created")
        return rec

    def delete_employee(self, emp_id: str, cascade: bool) -> None:
        if self.tables["employees"].delete(emp_id) is None:
            raise ApiError(404, f"employee {emp_id!r} not found")
        self._log("deleted", "employees", emp_id)
        self._balances_logged(emp_id, "deleted")
        self._leave_types.pop(emp_id, None)
        if not cascade:
            return
        for rid in self.employments_by_emp.pop(emp_id, []):
            if self.tables["employments"].delete(rid) is not None:
                self._log("deleted", "employments", rid)
        for rid in self.leaves_by_emp.pop(emp_id, []):
            if self.tables["leave_requests"].delete(rid) is not None:
                self._log("deleted", "leave_requests", rid)
        att = self.tables["attendance"]
        for day in self.attendance_dates:
            rid = f"att-{emp_id}-{day.strftime('%Y%m%d')}"
            if att.delete(rid) is not None:
                self._log("deleted", "attendance", rid)

    def delete_candidate(self, cand_id: str, cascade: bool) -> None:
        if self.tables["candidates"].delete(cand_id) is None:
            raise ApiError(404, f"candidate {cand_id!r} not found")
        self._log("deleted", "candidates", cand_id)
        if cascade:
            for rid in self.interviews_by_cand.pop(cand_id, []):
                if self.tables["interviews"].delete(rid) is not None:
                    self._log("deleted", "interviews", rid)

    def refresh_departments(self, ts: int) -> None:
        counts: dict[str, int] = {}
        for e in self.tables["employees"].recs.values():
            if e["employment_status"] != "terminated":
                counts[e["department"]] = counts.get(e["department"], 0) + 1
        emps = self.tables["employees"].recs
        for d in list(self.tables["departments"].recs.values()):
            n = counts.get(d["name"], 0)
            head = emps.get(d["head_id"] or "")
            head_name = f"{head['first_name']} {head['last_name']}" if head else None
            if d["employee_count"] != n or d["head_name"] != head_name:
                d["employee_count"] = n
                d["head_name"] = head_name
                self._stamp("departments", d, ts)

    def on_leave_ids(self, day: str) -> set[str]:
        return {r["employee_id"] for r in self.tables["leave_requests"].recs.values()
                if r["status"] == "approved" and r["start_date"] <= day <= r["end_date"]}

    # ================================================================== API writes
    @staticmethod
    def _require(body: dict[str, Any], *names: str) -> None:
        missing = [n for n in names if body.get(n) in (None, "")]
        if missing:
            raise ApiError(422, f"missing field(s): {', '.join(missing)}")

    @staticmethod
    def _date(value: Any, name: str) -> dt.date:
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            raise ApiError(422, f"{name} must be a date YYYY-MM-DD") from None

    def create_candidate(self, body: dict[str, Any]) -> dict[str, Any]:
        self._require(body, "first_name", "last_name", "email", "applied_for_job_id")
        if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", str(body["email"])):
            raise ApiError(422, "email is not a valid email address")
        with self.lock:
            req = self.get("job_requisitions", str(body["applied_for_job_id"]))
            ts = self.now()
            c = self.next_candidate
            self.next_candidate += 1
            rec = self.gen.candidate_record(c, Random(f"{self.spec.seed}:cand:{c}"), req, "applied", "active",
                                            self.today(ts), ts)
            rec.update(first_name=str(body["first_name"]), last_name=str(body["last_name"]),
                       email=str(body["email"]), phone=body.get("phone"),
                       source=str(body.get("source") or "careers_page"))
            self._candidate_extra[rec["id"]] = {k: body.get(k) for k in ("resume_url", "linkedin_url")}
            self._stamp("candidates", rec, ts, "created")
            return {"id": rec["id"], "candidate_id": rec["candidate_id"], "status": "created",
                    "message": "Candidate successfully added to the system"}

    def _new_interview(self, cand: Record, interviewer_id: str, when: int, duration: int, itype: str,
                       ts: int, rng: Random) -> Record:
        k = self.next_interview
        self.next_interview += 1
        rec = self.gen.interview_record(k, rng, cand, interviewer_id, when, duration, itype, "scheduled", ts)
        self._stamp("interviews", rec, ts, "created")
        self.interviews_by_cand.setdefault(cand["id"], []).append(rec["id"])
        return rec

    def create_interview(self, body: dict[str, Any]) -> dict[str, Any]:
        self._require(body, "candidate_id", "interviewer_id", "scheduled_date")
        itype = body.get("interview_type") or "screening"
        if itype not in INTERVIEW_TYPES:
            raise ApiError(422, f"interview_type must be one of {', '.join(INTERVIEW_TYPES)}")
        duration = body.get("duration_minutes", 60)
        if isinstance(duration, bool) or not isinstance(duration, int) or not 5 <= duration <= 480:
            raise ApiError(422, "duration_minutes must be an integer between 5 and 480")
        try:
            when = int(self.fmt.parse(str(body["scheduled_date"])))
        except ValueError:
            raise ApiError(422, "scheduled_date must be an ISO-8601 timestamp") from None
        with self.lock:
            cand = self.get("candidates", str(body["candidate_id"]))
            job = self.tables["job_requisitions"].resolve(str(body["job_id"])) if body.get("job_id") else None
            if body.get("job_id") and (job is None or job["id"] != cand["applied_for_job_id"]):
                raise ApiError(422, "job_id does not match the candidate's application")
            self.get("employees", str(body["interviewer_id"]))
            iv_id = self.get("employees", str(body["interviewer_id"]))["id"]
            ts = self.now()
            rec = self._new_interview(cand, iv_id, when, duration, itype, ts, Random(f"{self.spec.seed}:int:{ts}"))
            return {"id": rec["id"], "interview_id": rec["interview_id"], "status": "scheduled",
                    "meeting_link": rec["meeting_link"], "calendar_event_id": f"CAL-{rec['id'][4:]}",
                    "message": "Interview successfully scheduled"}

    def patch_interview(self, key: str, body: dict[str, Any]) -> Record:
        allowed = {"status", "feedback", "rating", "recommendation", "scheduled_date", "duration_minutes",
                   "interviewer_id", "meeting_link"}
        unknown = set(body) - allowed
        if unknown:
            raise ApiError(422, f"cannot update field(s): {', '.join(sorted(unknown))}")
        if "status" in body and body["status"] not in ("scheduled", "completed", "cancelled", "no_show"):
            raise ApiError(422, "status must be one of scheduled, completed, cancelled, no_show")
        rating = body.get("rating")
        if rating is not None and (isinstance(rating, bool) or rating not in (1, 2, 3, 4, 5)):
            raise ApiError(422, "rating must be an integer 1-5")
        with self.lock:
            rec = self.get("interviews", key)
            changes = dict(body)
            if "scheduled_date" in changes:
                try:
                    changes["scheduled_date"] = self.iso(int(self.fmt.parse(str(changes["scheduled_date"]))))
                except ValueError:
                    raise ApiError(422, "scheduled_date must be an ISO-8601 timestamp") from None
            if "interviewer_id" in changes:
                iv = self.get("employees", str(changes["interviewer_id"]))
                changes.update(interviewer_id=iv["id"], interviewer_name=f"{iv['first_name']} {iv['last_name']}",
                               interviewer_email=iv["email"])
            rec.update(changes)
            self._stamp("interviews", rec, self.now())
            return self.served("interviews", rec)

    def create_leave_request(self, body: dict[str, Any]) -> dict[str, Any]:
        self._require(body, "employee_id", "leave_type", "start_date", "end_date")
        ltype = body["leave_type"]
        if ltype not in ("annual", "sick", "casual", "maternity", "paternity", "unpaid"):
            raise ApiError(422, "leave_type must be one of annual, sick, casual, maternity, paternity, unpaid")
        start, end = self._date(body["start_date"], "start_date"), self._date(body["end_date"], "end_date")
        if end < start:
            raise ApiError(422, "end_date is before start_date")
        days = working_days_between(start, end)
        if days == 0:
            raise ApiError(422, "the leave covers no working day")
        with self.lock:
            emp = self.get("employees", str(body["employee_id"]))
            if emp["employment_status"] == "terminated":
                raise ApiError(422, "employee is terminated")
            if ltype in BALANCED_LEAVE_TYPES and start.year == self.balance_year:
                bal = {b["leave_type"]: b for b in self.balances(emp["id"])}[ltype]
                if bal["available"] < days:
                    raise ApiError(422, f"insufficient {ltype} leave balance ({bal['available']} available)")
            ts = self.now()
            rec = self._new_leave(emp, ltype, start, end, str(body.get("reason") or ""), ts)
            return {"id": rec["id"], "leave_request_id": rec["leave_request_id"], "status": "pending",
                    "message": "Leave request submitted successfully"}

    def _new_leave(self, emp: Record, ltype: str, start: dt.date, end: dt.date, reason: str, ts: int) -> Record:
        lr_id = f"lr-{self.next_leave_request:06d}"
        self.next_leave_request += 1
        rec = self.gen.leave_record(lr_id, emp, ltype, start, end, "pending", self.today(ts), reason,
                                    None, None, ts)
        self.leaves_by_emp.setdefault(emp["id"], []).append(lr_id)
        self._stamp("leave_requests", rec, ts, "created")
        self._balance_touched(rec)
        return rec

    # ================================================================== control writes
    def update_record(self, entity: str, key: str, fields: dict[str, Any]) -> Record:
        if entity not in LIST_ENTITIES:
            raise ApiError(400, f"entity {entity!r} cannot be updated")
        if not isinstance(fields, dict) or not fields:
            raise ApiError(400, "fields must be a non-empty object")
        with self.lock:
            rec = self.get(entity, key)
            unknown = set(fields) - set(rec)
            if unknown:
                raise ApiError(400, f"unknown field(s) for {entity}: {', '.join(sorted(unknown))}")
            frozen = set(fields) & (_FROZEN_FIELDS | _INDEXED_FIELDS.get(entity, set()))
            if frozen:
                raise ApiError(400, f"field(s) cannot be changed: {', '.join(sorted(frozen))}")
            fields = dict(fields)
            for field, target in REFERENCES[entity]:  # either key in, the id stored
                if field in fields:
                    fields[field] = self._stored_ref(target, fields[field])
            table = self.tables[entity]
            code_field = table.code_field
            if code_field in fields and fields[code_field] != rec[code_field]:
                other = table.resolve(fields[code_field]) if isinstance(fields[code_field], str) else None
                if other is not None and other is not rec:
                    raise ApiError(409, f"{code_field} {fields[code_field]!r} belongs to {other['id']!r}")
                table.recode(rec["id"], rec[code_field], fields[code_field])
            ts = self.now()
            if entity != "employees":
                rec.update(fields)
                self._stamp(entity, rec, ts)
                if entity == "leave_requests":
                    self._balance_touched(rec)
                return self.served(entity, rec)
            job = {k: fields[k] for k in ("salary", "job_title", "department") if k in fields and fields[k] != rec[k]}
            rest = {k: v for k, v in fields.items() if k not in ("salary", "job_title", "department")}
            terminating = rest.get("employment_status") == "terminated" and rec["employment_status"] != "terminated"
            if job:
                self.new_employment_row(rec["id"], ts, **job)
            if terminating:
                day = self._date(rest["termination_date"], "termination_date") if rest.get("termination_date") else None
                self.terminate(rec["id"], ts, day)
                rest.pop("employment_status")
                rest.pop("termination_date", None)
            rec.update(rest)
            self._stamp("employees", rec, ts)
            if "work_type" in fields:
                self._balances_logged(rec["id"], "updated")
            if job or "employment_status" in fields or "work_type" in fields:
                self.refresh_departments(ts)
            return self.served("employees", rec)

    def delete_record(self, entity: str, key: str) -> None:
        if entity not in LIST_ENTITIES:
            raise ApiError(400, f"entity {entity!r} cannot be deleted")
        with self.lock:
            rec = self.get(entity, key)
            rid = rec["id"]
            if entity == "employees":
                self.delete_employee(rid, cascade=False)
                return
            if entity == "candidates":
                self.delete_candidate(rid, cascade=False)
                return
            self.tables[entity].delete(rid)
            self._log("deleted", entity, rid)
            if entity == "leave_requests":
                self._balance_touched(rec)

    # ================================================================== advance
    def advance(self, hours: float = 24, change_fraction: float = 0.01, seed: int | None = None
                ) -> dict[str, dict[str, list[str]]]:
        """Move the clock ``hours`` forward and apply a deterministic batch of changes whose
        ``updated_at`` are spread over the advanced window. Returns the change log of the batch."""
        if isinstance(hours, bool) or not isinstance(hours, (int, float)) or hours < 0 or hours > 24 * 366:
            raise ApiError(422, "hours must be a number between 0 and 8784")
        if (isinstance(change_fraction, bool) or not isinstance(change_fraction, (int, float))
                or not 0 <= change_fraction <= 1):
            raise ApiError(422, "change_fraction must be a number between 0 and 1")
        with self.lock:
            self.advance_count += 1
            rng = Random(f"{self.spec.seed}:advance:{self.advance_count}" if seed is None else f"seed:{seed}")
            old = self.now()
            self._offset += hours * 3600
            new = max(self.now(), old)
            batch = ChangeLog()
            self._batch = batch
            try:
                self._apply_advance(rng, old, new, change_fraction)
            finally:
                self._batch = None
            return batch.to_dict()

    def _apply_advance(self, rng: Random, old: int, new: int, frac: float) -> None:
        emps = self.tables["employees"].recs
        n_emp = len(emps)
        nc = max(1, round(frac * n_emp))

        def k(share: float) -> int:
            return max(1, round(share * nc))

        # --- who may be touched
        managers: set[str] = {"emp-000001"}
        for e in emps.values():
            if e["manager_id"]:
                managers.add(e["manager_id"])
        for d in self.tables["departments"].recs.values():
            if d["head_id"]:
                managers.add(d["head_id"])
        active = [i for i, e in emps.items() if e["employment_status"] == "active"]
        working = [i for i, e in emps.items() if e["employment_status"] in ("active", "on_leave")]
        used: set[str] = set()

        def pick(pool: Iterable[str], n: int, exclude: set[str] | None = None) -> list[str]:
            cand = [i for i in pool if i not in used and (exclude is None or i not in exclude)]
            out = rng.sample(cand, min(n, len(cand)))
            used.update(out)
            return out

        ops: list[tuple[str, Any]] = []
        ops += [("update", i) for i in pick(working, k(0.45))]
        ops += [("raise", i) for i in pick(working, k(0.2))]
        ops += [("hours", i) for i in pick(working, k(0.05), managers)]
        ops += [("promotion", i) for i in pick([i for i in working if self._level(emps[i]) < 4
                                                and emps[i]["work_type"] in ("full_time", "part_time")], k(0.1))]
        terms = pick(active, k(0.12), managers)
        ops += [("terminate", i) for i in terms]
        ops += [("return", i) for i in pick([i for i, e in emps.items() if e["employment_status"] == "on_leave"],
                                            k(0.05))]
        ops += [("hire", None)] * max(1, len(terms))
        if n_emp > 20:
            referenced = set(managers)
            referenced.update(r["interviewer_id"] for r in self.tables["interviews"].recs.values())
            referenced.update(r["hiring_manager_id"] for r in self.tables["job_requisitions"].recs.values())
            referenced.update(r["approved_by"] for r in self.tables["leave_requests"].recs.values() if r["approved_by"])
            ops += [("delete_employee", i) for i in pick(list(emps), 1, referenced)]
        # leave
        lrs = self.tables["leave_requests"].recs
        ops += [("new_leave", i) for i in pick([i for i in active if i not in used], max(1, round(frac * n_emp * 2)))]
        pending = [i for i, r in lrs.items() if r["status"] == "pending" and r["employee_id"] not in used]
        n_appr = max(1, round(len(pending) * min(1.0, frac * 10))) if pending else 0
        ops += [("approve_leave", i) for i in rng.sample(pending, min(n_appr, len(pending)))]
        closed_lr = [i for i, r in lrs.items() if r["status"] in ("cancelled", "rejected")
                     and r["employee_id"] not in used] or [i for i, r in lrs.items() if r["employee_id"] not in used]
        if closed_lr:
            ops.append(("delete_leave", rng.choice(closed_lr)))
        # recruiting
        cands = self.tables["candidates"].recs
        active_c = [i for i, c in cands.items() if c["status"] == "active"]
        moving = rng.sample(active_c, min(len(active_c), max(1, round(len(active_c) * min(1.0, frac * 10)))))
        ops += [("move_candidate", i) for i in moving]
        ops += [("new_candidate", None)] * max(1, round(frac * len(cands)))
        gone_c = [i for i, c in cands.items() if c["status"] in ("rejected", "withdrawn") and i not in moving]
        if gone_c:
            ops.append(("delete_candidate", rng.choice(gone_c)))
        ints = self.tables["interviews"]
        scheduled = [i for i, r in ints.recs.items() if r["status"] == "scheduled"
                     and r["candidate_id"] not in moving]
        due = [i for i in scheduled if self.fmt.parse(ints.recs[i]["scheduled_date"]) <= new]
        if not due and scheduled:
            due = [min(scheduled, key=lambda i: (ints.recs[i]["scheduled_date"], i))]
        ops += [("interview_outcome", i) for i in due]
        cancelled = [i for i, r in ints.recs.items() if r["status"] in ("cancelled", "no_show") and i not in due]
        if cancelled:
            ops.append(("delete_interview", rng.choice(cancelled)))
        reqs = self.tables["job_requisitions"].recs
        n_requisitions = min(len(reqs), max(1, round(frac * 5 * len(reqs))))
        ops += [("requisition", i) for i in rng.sample(sorted(reqs), n_requisitions)]

        rng.shuffle(ops)
        span = max(0, new - old - 1)
        n_ops = len(ops)
        for j, (op, target) in enumerate(ops):
            ts = old + 1 + (j + 1) * span // (n_ops + 1) if span else new
            getattr(self, f"_op_{op}")(target, ts, rng)

        # --- attendance for every working day completed inside the window
        last = self.attendance_dates[-1] if self.attendance_dates else self.today(old) - dt.timedelta(days=1)
        day = last + dt.timedelta(days=1)
        end_day = self.today(new)
        lo = min(old + 1, new)
        while day < end_day:
            if is_working_day(day):
                self.gen.attendance_day(day, rng, clamp=(lo, new), log=self._log)
            day += dt.timedelta(days=1)
        self.refresh_departments(new)

    # --- single change kinds (ts = moment of the change)
    def _op_update(self, emp_id: str, ts: int, rng: Random) -> None:
        e = self.tables["employees"].recs[emp_id]
        if rng.random() < 0.5:
            e["phone"] = self.gen.phone(rng)
        else:
            e["location"] = rng.choice([x for x in self.gen.locations if x != e["location"]])
        self._stamp("employees", e, ts)

    def _op_raise(self, emp_id: str, ts: int, rng: Random) -> None:
        e = self.tables["employees"].recs[emp_id]
        period = "hour" if e["work_type"] == "contract" else "month"
        self.new_employment_row(emp_id, ts, salary=self.gen._round_like(e["salary"] * rng.uniform(1.03, 1.12), period))

    def _op_hours(self, emp_id: str, ts: int, rng: Random) -> None:
        emt = self.tables["employments"].recs
        ids = self.employments_by_emp.get(emp_id) or []
        row = emt.get(ids[-1]) if ids else None
        if row is None:
            return
        hours = row["hours_per_week"]
        new_hours = rng.choice([h for h in (16, 20, 24, 32, 36, 40) if h != hours])
        salary = row["salary"] if row["salary_period"] == "hour" else self.gen._round_like(
            row["salary"] * new_hours / max(1, hours), "month")
        self.new_employment_row(emp_id, ts, hours_per_week=new_hours, salary=salary)

    def _op_promotion(self, emp_id: str, ts: int, rng: Random) -> None:
        e = self.tables["employees"].recs[emp_id]
        level = self._level(e) + 1
        e["salary_band"] = f"L{level}"
        title = self.gen.title(level, self._noun(e["department"]), e["department"], e["work_type"])
        self.new_employment_row(emp_id, ts, job_title=title,
                                salary=self.gen._round_like(e["salary"] * rng.uniform(1.1, 1.2), "month"))

    def _op_terminate(self, emp_id: str, ts: int, rng: Random) -> None:
        self.terminate(emp_id, ts)

    def _op_return(self, emp_id: str, ts: int, rng: Random) -> None:
        e = self.tables["employees"].recs[emp_id]
        e["employment_status"] = "active"
        self._stamp("employees", e, ts)

    def _op_hire(self, _: Any, ts: int, rng: Random) -> None:
        self.hire(ts, rng)

    def _op_delete_employee(self, emp_id: str, ts: int, rng: Random) -> None:
        self.delete_employee(emp_id, cascade=True)

    def _op_new_leave(self, emp_id: str, ts: int, rng: Random) -> None:
        e = self.tables["employees"].recs[emp_id]
        ltype = rng.choices(("annual", "casual", "sick"), cum_weights=(0.6, 0.85, 1.0))[0]
        start = next_working_day(self.today(ts) + dt.timedelta(days=1 + rng.randrange(40)))
        end = add_working_days(start, self.gen.leave_days(ltype, rng))
        if end.year != start.year:
            end = dt.date(start.year, 12, 31)
        days = working_days_between(start, end)
        if ltype in BALANCED_LEAVE_TYPES and start.year == self.balance_year:
            bal = {b["leave_type"]: b for b in self.balances(emp_id)}[ltype]
            if bal["available"] < days:
                ltype = "unpaid"
        self._new_leave(e, ltype, start, end, rng.choice(vocab.LEAVE_REASONS[ltype]), ts)

    def _op_approve_leave(self, lr_id: str, ts: int, rng: Random) -> None:
        r = self.tables["leave_requests"].recs.get(lr_id)
        if r is None or r["status"] != "pending":
            return
        emp = self.tables["employees"].recs.get(r["employee_id"])
        if rng.random() < 0.9:
            r["status"] = "approved"
            r["approved_by"] = emp["manager_id"] if emp else None
            r["approved_at"] = self.iso(ts)
        else:
            r["status"] = "rejected"
        self._stamp("leave_requests", r, ts)
        self._balance_touched(r)

    def _op_delete_leave(self, lr_id: str, ts: int, rng: Random) -> None:
        r = self.tables["leave_requests"].delete(lr_id)
        if r is not None:
            self._log("deleted", "leave_requests", lr_id)
            self._balance_touched(r)
            ids = self.leaves_by_emp.get(r["employee_id"])
            if ids and lr_id in ids:
                ids.remove(lr_id)

    def _interviewer_for(self, dept: str, rng: Random) -> str | None:
        did = self.dept_by_name.get(dept)
        d = self.tables["departments"].recs.get(did or "")
        emps = self.tables["employees"].recs
        if d and d["head_id"] in emps and emps[d["head_id"]]["employment_status"] == "active":
            return d["head_id"]
        return "emp-000001" if "emp-000001" in emps else (next(iter(emps)) if emps else None)

    def _op_move_candidate(self, cand_id: str, ts: int, rng: Random) -> None:
        c = self.tables["candidates"].recs.get(cand_id)
        if c is None or c["status"] != "active":
            return
        x = rng.random()
        if x < 0.12:
            c["current_stage"] = c["status"] = "rejected"
        elif x < 0.17:
            c["current_stage"] = c["status"] = "withdrawn"
        else:
            stage = STAGE_ORDER[min(STAGE_ORDER.index(c["current_stage"]) + 1, len(STAGE_ORDER) - 1)]
            c["current_stage"] = stage
            if stage == "hired":
                c["status"] = "hired"
            elif stage in ("screening", "technical_interview", "onsite"):
                req = self.tables["job_requisitions"].recs.get(c["applied_for_job_id"])
                iv = self._interviewer_for(req["department"] if req else "", rng)
                if iv is not None:
                    n_prev = len(self.interviews_by_cand.get(cand_id, ()))
                    when_day = next_working_day(self.today(ts) + dt.timedelta(days=2 + rng.randrange(6)))
                    when = self.gen.ts_on(when_day, rng, 10, 17)
                    self._new_interview(c, iv, when, rng.choice((30, 45, 60, 90)),
                                        INTERVIEW_TYPES[min(n_prev, len(INTERVIEW_TYPES) - 1)], ts, rng)
        self._stamp("candidates", c, ts)

    def _op_new_candidate(self, _: Any, ts: int, rng: Random) -> None:
        reqs = [r for r in self.tables["job_requisitions"].recs.values() if r["status"] == "open"]
        if not reqs:
            reqs = list(self.tables["job_requisitions"].recs.values())
        if not reqs:
            return
        c = self.next_candidate
        self.next_candidate += 1
        rec = self.gen.candidate_record(c, rng, rng.choice(reqs), "applied", "active", self.today(ts), ts)
        self._stamp("candidates", rec, ts, "created")

    def _op_delete_candidate(self, cand_id: str, ts: int, rng: Random) -> None:
        if cand_id in self.tables["candidates"].recs:
            self.delete_candidate(cand_id, cascade=True)

    def _op_interview_outcome(self, int_id: str, ts: int, rng: Random) -> None:
        r = self.tables["interviews"].recs.get(int_id)
        if r is None or r["status"] != "scheduled":
            return
        x = rng.random()
        if x < 0.85:
            r["status"] = "completed"
            r["feedback"], r["rating"], r["recommendation"] = self.gen.outcome(rng)
        elif x < 0.95:
            r["status"] = "no_show"
        else:
            r["status"] = "cancelled"
        self._stamp("interviews", r, ts)

    def _op_delete_interview(self, int_id: str, ts: int, rng: Random) -> None:
        r = self.tables["interviews"].delete(int_id)
        if r is not None:
            self._log("deleted", "interviews", int_id)
            ids = self.interviews_by_cand.get(r["candidate_id"])
            if ids and int_id in ids:
                ids.remove(int_id)

    def _op_requisition(self, req_id: str, ts: int, rng: Random) -> None:
        r = self.tables["job_requisitions"].recs.get(req_id)
        if r is None:
            return
        if r["status"] == "open" and r["filled_positions"] < r["headcount"] and rng.random() < 0.5:
            r["filled_positions"] += 1
            if r["filled_positions"] == r["headcount"]:
                r["status"] = "filled"
        elif r["status"] == "open":
            r["status"] = "on_hold"
        elif r["status"] == "on_hold":
            r["status"] = "open"
        else:
            r["target_hire_date"] = (dt.date.fromisoformat(r["target_hire_date"]) + dt.timedelta(days=14)).isoformat()
        self._stamp("job_requisitions", r, ts)

    # ================================================================== mutate between pages
    def mutate_after_page(self, entity: str) -> list[str]:
        """The ``mutate_between_pages`` fault: change a few records of ``entity`` now."""
        with self.lock:
            n = self.faults.mutate_between_pages
            order = self.tables[entity].order()
            m = len(order)
            if n <= 0 or m == 0:
                return []
            c = self._mut_counter.get(entity, 0)
            self._mut_counter[entity] = c + 1
            step = max(1, m // n)
            base = (c * 7919) % m
            picks = sorted({(base + j * step) % m for j in range(min(n, m))})
            ids = [order[p][1] for p in picks]
            ts = self.now()
            rng = self._mut_rng
            recs = self.tables[entity].recs
            for rid in ids:
                r = recs[rid]
                if entity == "employees":
                    if c % 2 == 0:
                        r["phone"] = self.gen.phone(rng)
                    else:
                        r["location"] = rng.choice([x for x in self.gen.locations if x != r["location"]])
                elif entity == "departments":
                    r["location"] = rng.choice([x for x in self.gen.locations if x != r["location"]])
                elif entity == "employments":
                    h = r["hours_per_week"]
                    r["hours_per_week"] = h + 1 if h < 40 else h - 1
                elif entity == "job_requisitions":
                    target = dt.date.fromisoformat(r["target_hire_date"]) + dt.timedelta(days=7)
                    r["target_hire_date"] = target.isoformat()
                elif entity in ("candidates",):
                    r["phone"] = self.gen.phone(rng)
                elif entity == "interviews":
                    r["meeting_link"] = self.gen.meeting_link(rng)
                elif entity == "leave_requests":
                    r["reason"] = rng.choice([x for x in vocab.LEAVE_REASONS[r["leave_type"]] + ["Updated by employee"]
                                              if x != r["reason"]])
                elif entity == "attendance":
                    r["notes"] = f"Corrected by HR ({c + 1})"
                self._stamp(entity, r, ts)
            self.stats["faults_fired"]["mutate_between_pages"] += len(ids)
            return ids

    # ================================================================== faults and stats
    def set_faults(self, changes: dict[str, Any]) -> FaultConfig:
        """Partial update. ``{"reset": true}`` first restores every default; ``{}`` changes nothing.
        Every call restarts the request counter the ``*_every`` faults count on."""
        changes = dict(changes)
        reset = changes.pop("reset", False)
        with self.lock:
            base = FaultConfig() if reset else self.faults
            try:
                faults = base.updated(changes)
            except ValueError as exc:
                raise ApiError(422, str(exc)) from None
            if faults.null_id_records != self.faults.null_id_records:
                self._null_ids = self._pick_null_ids(faults.null_id_records)
            self.faults = faults
            self._fault_counter = 0
            self._prev_failed = False
            self._views.clear()
            return self.faults

    def _pick_null_ids(self, n: int) -> dict[str, set[str]]:
        """The ``null_id_records`` fault's victims: n records per entity by a seeded hash of their
        ids, chosen when the fault is set and stable while it stays on."""
        if n <= 0:
            return {}
        seed = self.spec.seed
        return {entity: set(heapq.nsmallest(n, self.tables[entity].recs,
                                            key=lambda i: (zlib.crc32(f"{seed}:null-id:{i}".encode()), i)))
                for entity in INVALID_ENTITIES}

    def next_fault(self, method: str) -> str | None:
        """Decide the fault for the next API request (at most one; a failing fault never follows a
        failed request, so a retry always gets through)."""
        with self.lock:
            self._fault_counter += 1
            n = self._fault_counter
            f = self.faults
            kind = None
            if not self._prev_failed:
                if f.rate_limit_every and n % f.rate_limit_every == 0:
                    kind = "rate_limit"
                elif f.error_5xx_every and n % f.error_5xx_every == 0:
                    kind = "error_5xx"
                elif f.truncate_every and n % f.truncate_every == 0 and method == "GET":
                    kind = "truncate"
            if kind is None and f.slow_every and n % f.slow_every == 0 and f.slow_seconds > 0:
                kind = "slow"
            self._prev_failed = kind in ("rate_limit", "error_5xx", "truncate")
            if kind is not None:
                self.stats["faults_fired"][kind] += 1
            return kind

    def next_5xx(self) -> int:
        with self.lock:
            code = (500, 502, 503)[self._n5xx % 3]
            self._n5xx += 1
            return code

    def count_request(self, path: str) -> None:
        with self.lock:
            self.arrivals.append(time.monotonic())
            self.stats["requests"] += 1
            bp = self.stats["by_path"]
            bp[path] = bp.get(path, 0) + 1

    def count_status(self, status: int) -> None:
        with self.lock:
            bs = self.stats["by_status"]
            bs[str(status)] = bs.get(str(status), 0) + 1

    def get_stats(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.stats)

    def get_arrivals(self) -> list[float]:
        """When the last ``ARRIVALS_KEPT`` API requests arrived, in seconds on this server's
        monotonic clock: a client's rate measured where it lands, whatever processes sent them."""
        with self.lock:
            return list(self.arrivals)

    def reset_stats(self) -> None:
        with self.lock:
            self.stats = _stats_zero()
            self.arrivals.clear()


class TenantStore:
    """The tenants of one mock server, by org_id."""

    def __init__(self) -> None:
        self._tenants: dict[str, Tenant] = {}
        self._lock = threading.Lock()

    def get(self, org_id: str) -> Tenant | None:
        return self._tenants.get(org_id)

    def __contains__(self, org_id: object) -> bool:
        return org_id in self._tenants

    def __iter__(self):
        return iter(list(self._tenants.values()))

    def __len__(self) -> int:
        return len(self._tenants)

    def create(self, spec: TenantSpec) -> tuple[Tenant, bool]:
        """Create (or find identical) tenant. Returns (tenant, created). ValueError on invalid
        specs, KeyError when the org exists with other parameters."""
        spec.validate()
        with self._lock:
            existing = self._tenants.get(spec.org_id)
        if existing is not None:
            if existing.spec != spec:
                raise KeyError(spec.org_id)
            return existing, False
        tenant = Tenant(spec)
        with self._lock:
            existing = self._tenants.get(spec.org_id)
            if existing is not None:
                if existing.spec != spec:
                    raise KeyError(spec.org_id)
                return existing, False
            self._tenants[spec.org_id] = tenant
        return tenant, True

    def delete(self, org_id: str) -> bool:
        with self._lock:
            return self._tenants.pop(org_id, None) is not None
