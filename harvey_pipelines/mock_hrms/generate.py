"""Deterministic synthetic HR data for one tenant (same seed + size + timezone + clock start =>
same data).

Every random draw comes from ``random.Random`` instances seeded from the tenant seed (one stream
per entity), never from the global generator, and every date is relative to the tenant's clock
start (a fixed date unless the tenant is given one), never to the system clock. The hot loops
work on day ordinals (``date.toordinal()``) and ``rng.random()`` only: 100,000 employees with all
entities is several million records.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from random import Random
from typing import TYPE_CHECKING, Any, Callable, Sequence

from . import vocab
from .clock import first_of_month_before, previous_working_days, working_days_since

if TYPE_CHECKING:  # pragma: no cover
    from .tenant import Tenant

DAY = 86400
BALANCED_LEAVE_TYPES = ("annual", "sick", "casual")
LEAVE_TYPES = ("annual", "sick", "casual", "maternity", "paternity", "unpaid")
STAGE_ORDER = ("applied", "screening", "technical_interview", "onsite", "offer", "hired")
INTERVIEW_TYPES = ("screening", "technical", "system_design", "behavioral", "onsite", "final")
WORK_TYPES = ("full_time", "part_time", "contract", "intern")
CONTRACT_OF = {"full_time": "permanent", "part_time": "permanent", "contract": "freelance",
               "intern": "internship"}

_ATT_LOC = vocab.ATTENDANCE_LOCATIONS
_ATT_DEV = vocab.ATTENDANCE_DEVICES
_LEAVE_DAYS = {"annual": (1, 10), "sick": (1, 3), "casual": (1, 2), "unpaid": (5, 20),
               "maternity": (60, 120), "paternity": (5, 10)}


def allocation(work_type: str, leave_type: str) -> int:
    """Leave days allocated per year (annual, sick, casual)."""
    if work_type == "contract":
        return {"annual": 10, "sick": 5, "casual": 3}[leave_type]
    if work_type in ("part_time", "intern") and leave_type == "annual":
        return 12
    return {"annual": 20, "sick": 10, "casual": 7}[leave_type]


# ---------------------------------------------------------------------- fast primitives
def _stream(seed: int, k: int) -> Random:
    return Random(seed * 1009 + k)


def pick(rng: Random, seq: Sequence[Any]) -> Any:
    return seq[int(rng.random() * len(seq))]


def rint(rng: Random, a: int, b: int) -> int:
    """Integer in [a, b]."""
    return a + int(rng.random() * (b - a + 1))


def wpick(rng: Random, items: Sequence[Any], cum: Sequence[float]) -> Any:
    """Weighted pick with cumulative weights."""
    return items[bisect_right(cum, rng.random() * cum[-1])]


_ISO_DAY: dict[int, str] = {}
_HMS: list[str] = []


def _hms() -> list[str]:
    """"HH:MM:SS" for every second of a day."""
    if not _HMS:
        _HMS.extend(f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60))
    return _HMS


def iso_day(o: int) -> str:
    s = _ISO_DAY.get(o)
    if s is None:
        s = _ISO_DAY[o] = dt.date.fromordinal(o).isoformat()
    return s


def next_wd(o: int) -> int:
    w = (o + 6) % 7
    return o + (7 - w) if w >= 5 else o


def add_wd(o: int, n: int) -> int:
    """The n-th working day counting working day ``o`` as the first."""
    k = n - 1
    o += (k // 5) * 7
    k %= 5
    while k:
        o += 1
        if (o + 6) % 7 < 5:
            k -= 1
    return o


def wd_between(a: int, b: int) -> int:
    """Working days in [a, b]."""
    if b < a:
        return 0
    full, rest = divmod(b - a + 1, 7)
    n = full * 5
    w = (a + 6) % 7
    for i in range(rest):
        if (w + i) % 7 < 5:
            n += 1
    return n


class Generator:
    """Builds records for a tenant: the initial population and new records later (new hires,
    leave requests, attendance days...)."""

    def __init__(self, t: "Tenant") -> None:
        self.t = t
        seed = t.spec.seed
        r0 = _stream(seed, 0)
        self.domain = f"{r0.choice(vocab.COMPANY_WORDS)}.example.com"
        self.region = vocab.REGIONS[vocab.region_for_timezone(t.spec.timezone)]
        self.locations: list[str] = self.region["locations"]
        self.currency: str = self.region["currency"]
        self.email_counts: dict[str, int] = {}

    # ------------------------------------------------------------------ helpers
    def phone(self, rng: Random) -> str:
        r = rng.random
        cur = self.currency
        if cur == "INR":
            return f"+91-{6000000000 + int(r() * 4000000000)}"
        if cur == "EUR":
            return f"+31-6{10000000 + int(r() * 90000000)}"
        return f"+1-{201 + int(r() * 789)}-555-{1000 + int(r() * 9000)}"

    def employee_email(self, first: str, last: str) -> str:
        local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
        n = self.email_counts.get(local, 0) + 1
        self.email_counts[local] = n
        return f"{local}{n if n > 1 else ''}@{self.domain}"

    def money(self, amount: float) -> int:
        step = self.region["round_to"]
        return int(round(amount * self.region["salary_factor"] / step) * step)

    @staticmethod
    def title(level: int, noun: str, dept: str, work_type: str) -> str:
        if level >= 7:
            return "Chief Executive Officer"
        if level == 6:
            return f"Head of {dept}"
        if level == 5:
            return f"{dept} Manager"
        if work_type == "intern":
            return f"{noun} Intern"
        return vocab.LEVEL_PREFIX[level] + noun

    def ts_on(self, day: dt.date | int, rng: Random, start_h: float = 9.0, end_h: float = 18.0) -> int:
        """A random second between ``start_h`` and ``end_h`` local time on ``day`` (date or ordinal)."""
        o = day if isinstance(day, int) else day.toordinal()
        return self.t.fmt.ordinal_ts(o, int(start_h * 3600 + rng.random() * (end_h - start_h) * 3600))

    def round_pay(self, amount: float, period: str) -> int:
        if period == "hour":
            return max(1, int(round(amount)))
        step = self.region["round_to"]
        return max(step, int(round(amount / step) * step))

    _round_like = round_pay

    def current_pay(self, level: int, work_type: str, hours: int, rng: Random) -> int:
        f = 0.9 + rng.random() * 0.2
        if work_type == "contract":
            return max(1, int(round(vocab.LEVEL_BASE_SALARY[level] / 130 * self.region["salary_factor"] * (f + 0.1))))
        if work_type == "intern":
            return self.money(900 * f)
        return self.round_pay(self.money(vocab.LEVEL_BASE_SALARY[level] * f) * hours / 40, "month")

    @staticmethod
    def leave_days(leave_type: str, rng: Random) -> int:
        a, b = _LEAVE_DAYS[leave_type]
        return rint(rng, a, b)

    # ------------------------------------------------------------------ employees
    def employee_record(self, idx: int, rng: Random, dept: str, level: int, manager_id: str | None,
                        work_type: str, status: str, hire: dt.date | str, term: dt.date | str | None,
                        noun: str, created_key: int, updated_key: int) -> dict[str, Any]:
        """A new employee record; ``rec["_hours"]`` (weekly hours) must be popped by the caller."""
        first = pick(rng, vocab.FIRST_NAMES)
        last = pick(rng, vocab.LAST_NAMES)
        hours = 40 if work_type != "part_time" else pick(rng, (16, 20, 24, 32))
        iso = self.t.iso
        rec = {
            "id": f"emp-{idx:06d}",
            "employee_id": f"EMP-{idx:06d}",
            "first_name": first,
            "last_name": last,
            "email": self.employee_email(first, last),
            "phone": self.phone(rng),
            "department": dept,
            "job_title": self.title(level, noun, dept, work_type),
            "manager_id": manager_id,
            "hire_date": hire if isinstance(hire, str) else hire.isoformat(),
            "employment_status": status,
            "location": pick(rng, self.locations),
            "work_type": work_type,
            "salary_band": f"L{level}",
            "salary": self.current_pay(level, work_type, hours, rng),
            "currency": self.currency,
            "termination_date": term if (term is None or isinstance(term, str)) else term.isoformat(),
            "created_at": iso(created_key),
            "updated_at": iso(updated_key),
            "_hours": hours,
        }
        return rec

    def employment_rows(self, emp: dict[str, Any], level: int, noun: str, rng: Random, n_rows: int,
                        hire_o: int, last_o: int, term_o: int | None, hours: int
                        ) -> list[tuple[dict[str, Any], int]]:
        """Effective-dated history ending in the employee's current state. Returns (row, key)s."""
        t0 = self.t.t0
        ordinal_ts = self.t.fmt.ordinal_ts
        iso = self.t.iso
        rnd = rng.random
        work_type = emp["work_type"]
        dept = emp["department"]
        span = last_o - hire_o
        n_rows = max(1, min(n_rows, 1 + span // 120))
        starts = [hire_o]
        if n_rows > 1 and span >= 90 + n_rows:
            starts += sorted(hire_o + o for o in rng.sample(range(90, span + 1), n_rows - 1))
        n_rows = len(starts)
        period = "hour" if work_type == "contract" else "month"
        # build backwards from the current state
        cur = [level, hours, emp["salary"], CONTRACT_OF[work_type]]
        states = [cur]
        for _ in range(n_rows - 1):
            lv, hrs, sal, con = states[0]
            kinds = ["raise", "raise"]
            if 1 < lv < 5 and work_type != "intern":
                kinds.append("promotion")
            if work_type == "part_time":
                kinds.append("hours")
            if con in ("permanent", "freelance"):
                kinds.append("renewal")
            kind = pick(rng, kinds)
            if kind == "raise":
                sal = self.round_pay(sal / (1.03 + rnd() * 0.09), period)
            elif kind == "promotion":
                lv -= 1
                sal = self.round_pay(sal / (1.1 + rnd() * 0.1), period)
            elif kind == "hours":
                new_hours = pick(rng, [h for h in (16, 20, 24, 32) if h != hrs])
                sal = self.round_pay(sal * new_hours / hrs, period)
                hrs = new_hours
            elif con == "permanent":  # renewal: the earlier contract was a fixed-term one
                con = "fixed_term"
            states.insert(0, [lv, hrs, sal, con])
        out = []
        emp_id = emp["id"]
        currency = self.currency
        for i in range(n_rows):
            start = starts[i]
            lv, hrs, sal, con = states[i]
            last = i == n_rows - 1
            if last:
                end = iso_day(term_o) if term_o else None
                base = term_o or start
            else:
                end = iso_day(starts[i + 1] - 1)
                base = starts[i + 1]
            key = ordinal_ts(base, 32400 + int(rnd() * 32400))
            if key >= t0 - 60:
                key = t0 - 60 - int(rnd() * 3600)
            row = {
                "id": f"{emp_id}-{i + 1}",
                "employee_id": emp_id,
                "start_date": iso_day(start),
                "end_date": end,
                "contract_type": con,
                "hours_per_week": hrs,
                "salary": sal,
                "salary_period": period,
                "currency": currency,
                "job_title": self.title(lv, noun, dept, work_type),
                "department": dept,
                "updated_at": iso(key),
            }
            out.append((row, key))
        return out

    # ------------------------------------------------------------------ attendance
    def attendance_row(self, emp_id: str, day: dt.date, rng: Random, clamp: tuple[int, int] | None = None,
                       ctx: tuple[int, str, str, str, str] | None = None) -> tuple[dict[str, Any], int]:
        """One attendance row. ``ctx`` = (local midnight epoch, date, yyyymmdd, "YYYY-MM-DDT",
        offset) of the day, precomputed by ``attendance_day``."""
        if ctx is None:
            ctx = self._day_ctx(day)
        base, day_s, day_id, prefix, off_s = ctx
        hms = _hms()
        rnd = rng.random
        if rnd() < 0.12:
            cin = 34260 + int(rnd() * 5400)  # late: after 09:31
            late = True
        else:
            cin = 28800 + int(rnd() * 5400)  # 08:00-09:30
            late = False
        loc = _ATT_LOC[int(rnd() * 5)]
        dev = _ATT_DEV[int(rnd() * 3)]
        cin_s = prefix + hms[cin] + off_s
        if rnd() < 0.05:
            cout = None
            cout_s = cout_loc = cout_dev = worked = None
            status, notes = "incomplete", "Missed check-out"
        else:
            cout = cin + 27000 + int(rnd() * 9000)  # 7.5 h .. 10 h
            cout_s, cout_loc, cout_dev = prefix + hms[cout] + off_s, loc, dev
            worked = round((cout - cin) / 3600, 2)
            status, notes = ("late", "Late arrival") if late else ("present", None)
        updated = base + (cout if cout is not None else cin)
        if clamp is not None:
            lo, hi = clamp
            created = min(max(base + cin, lo), hi)
            updated = min(max(updated, created), hi)
            created_s, updated_s = self.t.iso(created), self.t.iso(updated)
        else:
            created_s = cin_s
            updated_s = cout_s if cout_s is not None else cin_s
        row = {
            "id": f"att-{emp_id}-{day_id}",
            "employee_id": emp_id,
            "date": day_s,
            "check_in_time": cin_s,
            "check_in_location": loc,
            "check_in_device": dev,
            "check_out_time": cout_s,
            "check_out_location": cout_loc,
            "check_out_device": cout_dev,
            "worked_hours": worked,
            "status": status,
            "notes": notes,
            "created_at": created_s,
            "updated_at": updated_s,
        }
        return row, updated

    def _day_ctx(self, day: dt.date) -> tuple[int, str, str, str, str]:
        fmt = self.t.fmt
        base = fmt.local_ts(day, 0)
        # the UTC offset in effect during office hours (DST switches happen at night)
        off_s = fmt.iso(fmt.local_ts(day, 12 * 3600))[-6:]
        return base, day.isoformat(), day.strftime("%Y%m%d"), day.isoformat() + "T", off_s

    def attendance_day(self, day: dt.date, rng: Random, clamp: tuple[int, int] | None = None,
                       log: Callable[[str, str, str], None] | None = None,
                       emp_ids: list[str] | None = None) -> int:
        """Rows of one working day for every active employee hired by then and not on approved
        leave that day. With ``clamp`` (an advance window) the rows are appended in one go."""
        t = self.t
        table = t.tables["attendance"]
        emps = t.tables["employees"].recs
        ctx = self._day_ctx(day)
        ds = ctx[1]
        away = t.on_leave_ids(ds)
        row_of = self.attendance_row
        items = []
        for emp_id in (emp_ids if emp_ids is not None else sorted(emps)):
            e = emps[emp_id]
            if e["employment_status"] != "active" or e["hire_date"] > ds or emp_id in away:
                continue
            items.append(row_of(emp_id, day, rng, clamp, ctx))
        table.put_many(items)
        if log is not None:
            for row, _ in items:
                log("created", "attendance", row["id"])
        if day not in t.attendance_dates:
            t.attendance_dates.append(day)
            t.attendance_dates.sort()
        return len(items)

    # ------------------------------------------------------------------ leave
    def leave_record(self, lr_id: str, emp: dict[str, Any], leave_type: str, start: dt.date | int,
                     end: dt.date | int, status: str, applied: dt.date | int, reason: str,
                     approver: str | None, approved_key: int | None, key: int) -> dict[str, Any]:
        so = start if isinstance(start, int) else start.toordinal()
        eo = end if isinstance(end, int) else end.toordinal()
        ao = applied if isinstance(applied, int) else applied.toordinal()
        iso = self.t.iso
        approved = status == "approved"
        return {
            "id": lr_id,
            "leave_request_id": "LR-" + lr_id[3:],
            "employee_id": emp["id"],
            "employee_name": f"{emp['first_name']} {emp['last_name']}",
            "leave_type": leave_type,
            "start_date": iso_day(so),
            "end_date": iso_day(eo),
            "total_days": wd_between(so, eo),
            "status": status,
            "applied_date": iso_day(ao),
            "approved_by": approver if approved else None,
            "approved_at": iso(approved_key) if approved and approved_key is not None else None,
            "reason": reason,
            "updated_at": iso(key),
        }

    # ------------------------------------------------------------------ recruiting
    def candidate_record(self, c: int, rng: Random, req: dict[str, Any], stage: str, status: str,
                         applied: dt.date | int, key: int) -> dict[str, Any]:
        first = pick(rng, vocab.FIRST_NAMES)
        last = pick(rng, vocab.LAST_NAMES)
        local = f"{first}.{last}".lower().replace(" ", "")
        ao = applied if isinstance(applied, int) else applied.toordinal()
        return {
            "id": f"cand-{c:05d}",
            "candidate_id": f"CAND-{c:05d}",
            "first_name": first,
            "last_name": last,
            "email": f"{local}{c}@mail.example.org",
            "phone": self.phone(rng),
            "current_stage": stage,
            "applied_for_job_id": req["id"],
            "applied_for_job_title": req["title"],
            "source": pick(rng, vocab.CANDIDATE_SOURCES),
            "application_date": iso_day(ao),
            "status": status,
            "updated_at": self.t.iso(key),
        }

    @staticmethod
    def meeting_link(rng: Random) -> str:
        s = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=10))
        return f"https://meet.example.com/{s[:3]}-{s[3:7]}-{s[7:]}"

    @staticmethod
    def outcome(rng: Random) -> tuple[str, int, str]:
        rating = wpick(rng, (1, 2, 3, 4, 5), (0.07, 0.22, 0.55, 0.87, 1.0))
        return pick(rng, vocab.INTERVIEW_FEEDBACK), rating, vocab.RECOMMENDATIONS_BY_RATING[rating]

    def interview_record(self, k: int, rng: Random, cand: dict[str, Any], interviewer_id: str,
                         when: int, duration: int, itype: str, status: str, key: int) -> dict[str, Any]:
        iv = self.t.tables["employees"].recs[interviewer_id]
        link = self.meeting_link(rng)
        feedback = rating = recommendation = None
        if status == "completed":
            feedback, rating, recommendation = self.outcome(rng)
        iso = self.t.iso
        return {
            "id": f"int-{k:06d}",
            "interview_id": f"INT-{k:06d}",
            "candidate_id": cand["id"],
            "candidate_name": f"{cand['first_name']} {cand['last_name']}",
            "job_id": cand["applied_for_job_id"],
            "job_title": cand["applied_for_job_title"],
            "interviewer_id": interviewer_id,
            "interviewer_name": f"{iv['first_name']} {iv['last_name']}",
            "interviewer_email": iv["email"],
            "scheduled_date": iso(when),
            "duration_minutes": duration,
            "interview_type": itype,
            "status": status,
            "meeting_link": link,
            "feedback": feedback,
            "rating": rating,
            "recommendation": recommendation,
            "updated_at": iso(key),
        }


# ====================================================================== initial population
def populate(t: "Tenant") -> None:
    g = t.gen
    spec = t.spec
    seed, n = spec.seed, spec.size
    fmt = t.fmt
    ordinal_ts = fmt.ordinal_ts
    t0 = t.t0
    t0_day = fmt.local_date(t0)
    t0_o = t0_day.toordinal()
    iso = t.iso

    # ---------------- departments
    rng = _stream(seed, 1)
    n_dep = min(60, max(3, n // 40))
    deps = vocab.DEPARTMENTS[:n_dep]
    dep_cum: list[float] = []
    acc = 0.0
    for w in [4.0] + [0.5 + rng.random() * 2.5 for _ in range(n_dep - 1)]:
        acc += w
        dep_cum.append(acc)
    dep_range = list(range(n_dep))
    dep_loc = [pick(rng, g.locations[:-1]) for _ in range(n_dep)]
    for j, (name, noun) in enumerate(deps):
        did = f"dep-{j + 1:03d}"
        t.dept_info[did] = {"name": name, "noun": noun, "location": dep_loc[j]}
        t.dept_by_name[name] = did

    # ---------------- employees: org structure
    rng = _stream(seed, 2)
    rnd = rng.random
    dept_of = [0] * (n + 1)
    level_of = [2] * (n + 1)
    members: list[list[int]] = [[] for _ in range(n_dep)]
    heads: list[int | None] = [None] * n_dep
    level_of[1] = 7
    members[0].append(1)
    for i in range(2, n + 1):
        if i - 2 < n_dep:
            j = i - 2
            heads[j] = i
            level_of[i] = 6
        else:
            j = wpick(rng, dep_range, dep_cum)
        dept_of[i] = j
        members[j].append(i)
    manager_of: list[int | None] = [None] * (n + 1)
    levels = (1, 2, 3, 4)
    level_cum = (0.2, 0.55, 0.85, 1.0)
    for j in range(n_dep):
        head = heads[j]
        leads: list[int] = []
        k = 0
        for i in members[j]:
            if i == head or i == 1:
                continue
            if k % 8 == 0:
                leads.append(i)
                level_of[i] = 5
                manager_of[i] = head if head is not None else 1
            else:
                level_of[i] = wpick(rng, levels, level_cum)
                manager_of[i] = pick(rng, leads)
            k += 1
        if head is not None:
            manager_of[head] = 1
    manager_of[1] = None

    # ---------------- employees and employments
    emps = t.tables["employees"]
    employments = t.tables["employments"]
    emp_put, emt_put = emps.put, employments.put
    rng_emt = _stream(seed, 3)
    earliest = dt.date(2015, 1, 5).toordinal()
    latest = t0_o - 20
    hire_span = latest - earliest
    wt_cum = (0.8, 0.9, 0.96, 1.0)
    statuses = ("active", "on_leave", "inactive", "terminated")
    st_cum = (0.85, 0.89, 0.91, 1.0)
    rows_n = (1, 2, 3, 4)
    rows_cum = (0.3, 0.65, 0.88, 1.0)
    by_emp = t.employments_by_emp
    seq = t.employment_seq
    for i in range(1, n + 1):
        j = dept_of[i]
        dname, noun = deps[j]
        level = level_of[i]
        if level >= 5 or i == 1:
            work_type, status = "full_time", "active"
        else:
            work_type = wpick(rng, WORK_TYPES, wt_cum)
            status = wpick(rng, statuses, st_cum)
        if work_type == "intern":
            level = level_of[i] = 1
        if i == 1:
            hire_o = dt.date(2012, 3, 1).toordinal()
        elif level == 6:
            hire_o = earliest - int(rnd() * 900)
        else:
            hire_o = earliest + int(rnd() * hire_span)
        hire_o = next_wd(hire_o)
        term_o = None
        if status == "terminated":
            room = t0_o - hire_o - 61
            if room <= 1:
                status = "active"
            else:
                term_o = hire_o + 60 + int(rnd() * room)
        created_key = ordinal_ts(hire_o - 1 - int(rnd() * 30), 32400 + int(rnd() * 32400))
        mgr = manager_of[i]
        rec = g.employee_record(i, rng, dname, level, f"emp-{mgr:06d}" if mgr else None, work_type,
                                status, iso_day(hire_o), iso_day(term_o) if term_o else None, noun,
                                created_key, created_key)
        hours = rec.pop("_hours")
        rows = g.employment_rows(rec, level, noun, rng_emt, wpick(rng_emt, rows_n, rows_cum),
                                 hire_o, term_o or (t0_o - 7), term_o, hours)
        max_key = max(k for _, k in rows)
        upd_lo = max(created_key, max_key) + 1
        upd_hi = t0 - 60
        key = upd_lo + int(rnd() * (upd_hi - upd_lo)) if upd_hi > upd_lo else upd_hi
        rec["updated_at"] = iso(key)
        emp_put(rec, key)
        ids = []
        for row, k in rows:
            emt_put(row, k)
            ids.append(row["id"])
        by_emp[rec["id"]] = ids
        seq[rec["id"]] = len(ids)
    t.next_employee = n + 1
    erecs = emps.recs

    # ---------------- department records
    rng = _stream(seed, 4)
    for j, (name, _noun) in enumerate(deps):
        did = f"dep-{j + 1:03d}"
        head = heads[j]
        head_rec = erecs.get(f"emp-{head:06d}") if head else None
        key = t0 - 60 - int(rng.random() * 400 * DAY)
        emp_count = sum(1 for m in members[j] if erecs[f"emp-{m:06d}"]["employment_status"] != "terminated")
        t.tables["departments"].put({
            "id": did,
            "department_id": f"DEPT-{j + 1:03d}",
            "name": name,
            "head_id": head_rec["id"] if head_rec else None,
            "head_name": f"{head_rec['first_name']} {head_rec['last_name']}" if head_rec else None,
            "employee_count": emp_count,
            "location": dep_loc[j],
            "updated_at": iso(key),
        }, key)

    staff_by_dept: dict[str, list[str]] = {}
    for e in erecs.values():
        if e["employment_status"] == "active":
            staff_by_dept.setdefault(e["department"], []).append(e["id"])
    all_staff = sorted(x for v in staff_by_dept.values() for x in v) or sorted(erecs)

    # ---------------- job requisitions
    rng = _stream(seed, 5)
    rnd = rng.random
    n_req = max(2, n // 50)
    reqs = t.tables["job_requisitions"]
    for r in range(1, n_req + 1):
        j = wpick(rng, dep_range, dep_cum)
        dname, noun = deps[j]
        head = heads[j]
        mgr_id = f"emp-{head:06d}" if head else "emp-000001"
        mgr = erecs[mgr_id]
        status = wpick(rng, ("open", "on_hold", "filled", "closed"), (0.55, 0.65, 0.85, 1.0))
        headcount = rint(rng, 1, 3)
        filled = headcount if status == "filled" else (int(rnd() * headcount) if status != "closed" else 0)
        created_o = t0_o - 5 - int(rnd() * 300)
        level = wpick(rng, levels, (0.15, 0.55, 0.85, 1.0))
        job_type = wpick(rng, WORK_TYPES, (0.85, 0.9, 0.96, 1.0))
        lo = g.ts_on(created_o, rng)
        key = lo + int(rnd() * max(1, t0 - 60 - lo))
        rid = f"req-{r:04d}"
        reqs.put({
            "id": rid,
            "requisition_id": f"REQ-{r:04d}",
            "title": g.title(level, noun, dname, job_type),
            "department": dname,
            "hiring_manager_id": mgr_id,
            "hiring_manager_name": f"{mgr['first_name']} {mgr['last_name']}",
            "status": status,
            "headcount": headcount,
            "filled_positions": filled,
            "location": dep_loc[j],
            "job_type": job_type,
            "created_date": iso_day(created_o),
            "target_hire_date": iso_day(created_o + 30 + int(rnd() * 90)),
            "updated_at": iso(key),
        }, key)
    t.next_requisition = n_req + 1

    # ---------------- candidates and interviews
    rng = _stream(seed, 6)
    rnd = rng.random
    rng_int = _stream(seed, 7)
    rndi = rng_int.random
    n_cand = max(5, n // 5)
    req_list = [reqs.recs[f"req-{r:04d}"] for r in range(1, n_req + 1)]
    open_reqs = [q for q in req_list if q["status"] in ("open", "on_hold")] or req_list
    open_stages = ("applied", "screening", "technical_interview", "onsite", "offer", "rejected", "withdrawn")
    open_cum = (0.22, 0.4, 0.56, 0.68, 0.74, 0.93, 1.0)
    n_int_of = {"applied": 0, "screening": 1, "technical_interview": 2, "onsite": 3, "offer": 4, "hired": 5}
    int_table = t.tables["interviews"]
    k_int = 1
    for c in range(1, n_cand + 1):
        req = pick(rng, open_reqs) if rnd() < 0.75 else pick(rng, req_list)
        if req["status"] in ("open", "on_hold"):
            stage = wpick(rng, open_stages, open_cum)
        else:
            stage = wpick(rng, ("hired", "rejected", "withdrawn"), (0.15, 0.85, 1.0))
        status = stage if stage in ("hired", "rejected", "withdrawn") else "active"
        created_o = dt.date.fromisoformat(req["created_date"]).toordinal()
        applied_o = created_o + int(rnd() * max(1, min(60, t0_o - created_o - 1)))
        cand = g.candidate_record(c, rng, req, stage, status, applied_o, 0)
        if stage == "rejected":
            n_int = rint(rng, 1, 5)
        elif stage == "withdrawn":
            n_int = rint(rng, 0, 3)
        else:
            n_int = n_int_of[stage]
        upcoming = status == "active" and n_int > 0
        last_key = g.ts_on(applied_o, rng)
        day_o = applied_o
        staff = staff_by_dept.get(req["department"]) or all_staff
        for k in range(n_int):
            if upcoming and k == n_int - 1:
                when = g.ts_on(next_wd(t0_o + 1 + int(rndi() * 10)), rng_int, 10, 17)
                istatus = "scheduled"
            else:
                day_o = next_wd(day_o + 2 + int(rndi() * 6))
                if day_o >= t0_o:
                    day_o = t0_o - 1
                when = min(g.ts_on(day_o, rng_int, 10, 17), t0 - 3 * 3600)
                x = rndi()
                istatus = "completed" if x < 0.9 else ("cancelled" if x < 0.95 else "no_show")
            itype = INTERVIEW_TYPES[min(k, len(INTERVIEW_TYPES) - 1)]
            if istatus == "scheduled":
                ikey = last_key + int(rndi() * max(1, t0 - 60 - last_key))
                last_key = max(last_key, ikey)
            else:
                ikey = when + 3600 + int(rndi() * min(2 * DAY, max(1, t0 - 120 - when - 3600)))
                last_key = max(last_key, ikey)
            rec = g.interview_record(k_int, rng_int, cand, pick(rng_int, staff), when,
                                     pick(rng_int, (30, 45, 60, 60, 90)), itype, istatus, ikey)
            k_int += 1
            int_table.put(rec, ikey)
            t.interviews_by_cand.setdefault(cand["id"], []).append(rec["id"])
        ckey = min(last_key + 1 + int(rnd() * min(DAY, max(1, t0 - 120 - last_key))), t0 - 60)
        cand["updated_at"] = iso(ckey)
        t.tables["candidates"].put(cand, ckey)
    t.next_candidate = n_cand + 1
    t.next_interview = k_int

    # ---------------- leave requests
    rng = _stream(seed, 8)
    rnd = rng.random
    lrs = t.tables["leave_requests"]
    lr_put = lrs.put
    year = t.balance_year
    lr_i = 0
    used: dict[tuple[str, str], int] = {}
    year_bounds = {y: (dt.date(y, 1, 5).toordinal(), dt.date(y, 12, 20).toordinal(), dt.date(y, 12, 31).toordinal())
                   for y in (year - 1, year)}
    counts_cum = (0.1, 0.35, 0.65, 0.85, 1.0)
    lt_cum = (0.45, 0.7, 0.9, 0.93, 0.96, 1.0)
    reasons = vocab.LEAVE_REASONS
    leaves_by_emp = t.leaves_by_emp
    inactive_hi = t0_o - 30
    y_first, y_last = dt.date(year, 1, 1).toordinal(), dt.date(year, 12, 31).toordinal()
    for i in range(1, n + 1):
        emp = erecs[f"emp-{i:06d}"]
        count = wpick(rng, (0, 1, 2, 3, 4), counts_cum)
        hire_o = dt.date.fromisoformat(emp["hire_date"]).toordinal()
        term_o = dt.date.fromisoformat(emp["termination_date"]).toordinal() if emp["termination_date"] else None
        status_e = emp["employment_status"]
        work_type = emp["work_type"]
        plans: list[tuple[str, int, int, str | None]] = []
        for _ in range(count):
            y = year if rnd() < 0.8 else year - 1
            y_lo, y_hi, y_end = year_bounds[y]
            lo = max(hire_o, y_lo)
            hi = y_hi if term_o is None else min(term_o, y_hi)
            if status_e == "inactive":
                hi = min(hi, inactive_hi)
            if hi <= lo:
                continue
            ltype = wpick(rng, LEAVE_TYPES, lt_cum)
            start = next_wd(lo + int(rnd() * (hi - lo)))
            a, b = _LEAVE_DAYS[ltype]
            end = min(add_wd(start, a + int(rnd() * (b - a + 1))), y_end, term_o or y_end)
            if end < start:
                continue
            plans.append((ltype, start, end, None))
        if status_e == "on_leave":
            ltype = pick(rng, ("maternity", "paternity", "unpaid"))
            start = max(hire_o, next_wd(t0_o - 1 - int(rnd() * 20)))
            if start > t0_o:
                start = hire_o
            end = t0_o + 5 + int(rnd() * 40)
            if dt.date.fromordinal(end).year != dt.date.fromordinal(start).year:
                ltype = "unpaid"
            plans.append((ltype, start, end, "approved"))
        mgr = emp["manager_id"]
        emp_id = emp["id"]
        for ltype, start, end, forced in plans:
            lr_i += 1
            if forced:
                st = forced
            elif start > t0_o:
                x = rnd()
                st = "pending" if x < 0.45 else ("approved" if x < 0.9 else "cancelled")
            elif ltype == "sick":
                st = "approved" if rnd() < 0.95 else "cancelled"
            else:
                x = rnd()
                st = "approved" if x < 0.75 else ("rejected" if x < 0.85 else "cancelled")
            if st in ("approved", "pending") and ltype in BALANCED_LEAVE_TYPES and y_first <= start <= y_last:
                days = wd_between(start, end)
                k = (emp_id, ltype)
                if used.get(k, 0) + days > t.allocation(work_type, ltype):
                    st = "rejected"
                else:
                    used[k] = used.get(k, 0) + days
            if ltype == "sick":
                applied = min(start, t0_o - 1)
            else:
                applied = min(start - 3 - int(rnd() * 28), t0_o - 1)
            applied = max(applied, hire_o - 20)
            app_key = g.ts_on(applied, rng)
            approved_key = None
            key = min(app_key + 60 + int(rnd() * min(3 * DAY, max(1, t0 - 900 - app_key))), t0 - 900)
            if st == "approved":
                approved_key = key
                key += int(rnd() * 600)
            lr_id = f"lr-{lr_i:06d}"
            rec = g.leave_record(lr_id, emp, ltype, start, end, st, applied, pick(rng, reasons[ltype]),
                                 mgr, approved_key, key)
            lr_put(rec, key)
            leaves_by_emp.setdefault(emp_id, []).append(lr_id)
    t.next_leave_request = lr_i + 1

    # ---------------- attendance
    rng = _stream(seed, 9)
    emp_ids = sorted(erecs)
    if spec.attendance_months is not None:
        days = working_days_since(first_of_month_before(t0_day, spec.attendance_months), t0_day)
    else:
        days = previous_working_days(t0_day, spec.attendance_days)
    for day in days:
        g.attendance_day(day, rng, emp_ids=emp_ids)
