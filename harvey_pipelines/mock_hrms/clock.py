"""Time handling of the mock HRMS: integer epoch seconds inside, ISO-8601 with the tenant's
UTC offset outside.

Every tenant clock starts at ``CLOCK_START_TIME`` local time (09:00) in the tenant's timezone
on ``CLOCK_START_DATE`` (a Monday), e.g. ``2026-11-02T09:00:00+05:30`` for ``Asia/Kolkata``, or
on the tenant's ``clock_start`` date (the demo's: today, so its data end yesterday). It then
runs forward with real time (unless the tenant is created with ``realtime_clock=False``) plus
every ``advance(hours=...)``.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CLOCK_START_DATE = dt.date(2026, 11, 2)  # a Monday
CLOCK_START_TIME = dt.time(9, 0, 0)

_UTC = dt.timezone.utc
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()


def validate_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown timezone {name!r}") from exc


_MMSS = [f"{m:02d}:{s:02d}" for m in range(60) for s in range(60)]


class TimeFormatter:
    """Fast rendering of epoch seconds as local ISO-8601 strings in one timezone."""

    def __init__(self, tz_name: str) -> None:
        self.tz_name = tz_name
        self.zone = ZoneInfo(tz_name)
        self._offsets: dict[int, tuple[int, str]] = {}
        self._prefixes: dict[int, str] = {}
        # zones without DST (Asia/Kolkata...) get a constant offset
        probes = {self._compute_offset(int(dt.datetime(y, m, 15, tzinfo=_UTC).timestamp()) // 3600)
                  for y in range(2010, 2031) for m in (1, 4, 7, 10)}
        self._fixed: tuple[int, str] | None = probes.pop() if len(probes) == 1 else None

    def _compute_offset(self, bucket: int) -> tuple[int, str]:
        moment = dt.datetime.fromtimestamp(bucket * 3600, _UTC).astimezone(self.zone)
        off = int(moment.utcoffset().total_seconds())  # type: ignore[union-attr]
        sign = "+" if off >= 0 else "-"
        hh, mm = divmod(abs(off) // 60, 60)
        return off, f"{sign}{hh:02d}:{mm:02d}"

    def _offset(self, ts: int) -> tuple[int, str]:
        fixed = self._fixed
        if fixed is not None:
            return fixed
        bucket = ts // 3600
        hit = self._offsets.get(bucket)
        if hit is None:
            hit = self._offsets[bucket] = self._compute_offset(bucket)
        return hit

    def _prefix(self, local_hour: int) -> str:
        day, hh = divmod(local_hour, 24)
        p = self._prefixes[local_hour] = f"{dt.date.fromordinal(day + _EPOCH_ORDINAL).isoformat()}T{hh:02d}:"
        return p

    def iso(self, ts: int) -> str:
        off, off_s = self._fixed or self._offset(ts)
        lh, rest = divmod(ts + off, 3600)
        p = self._prefixes.get(lh)
        if p is None:
            p = self._prefix(lh)
        return p + _MMSS[rest] + off_s

    def local_date(self, ts: int) -> dt.date:
        off, _ = self._offset(ts)
        return dt.date.fromordinal((ts + off) // 86400 + _EPOCH_ORDINAL)

    def local_ts(self, day: dt.date, seconds: int = 0) -> int:
        """Epoch seconds of ``seconds`` after local midnight of ``day``."""
        naive = (day.toordinal() - _EPOCH_ORDINAL) * 86400 + seconds
        if self._fixed is not None:
            return naive - self._fixed[0]
        off, _ = self._offset(naive)
        ts = naive - off
        off2, _ = self._offset(ts)
        return naive - off2

    def ordinal_ts(self, ordinal: int, seconds: int = 0) -> int:
        """Like ``local_ts`` for a day given as ``date.toordinal()``."""
        naive = (ordinal - _EPOCH_ORDINAL) * 86400 + seconds
        if self._fixed is not None:
            return naive - self._fixed[0]
        off, _ = self._offset(naive)
        off2, _ = self._offset(naive - off)
        return naive - off2

    def parse(self, value: str) -> float:
        """Parse an ISO timestamp (offset, ``Z`` or naive = tenant local time) to epoch seconds."""
        text = value.strip()
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            # "+05:30" sent without URL-encoding arrives as " 05:30"
            if " " in text:
                head, _, tail = text.rpartition(" ")
                moment = dt.datetime.fromisoformat(f"{head}+{tail}")
            else:
                raise
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.zone)
        return moment.timestamp()


def clock_start_ts(fmt: TimeFormatter, day: dt.date = CLOCK_START_DATE) -> int:
    t = CLOCK_START_TIME
    return fmt.local_ts(day, t.hour * 3600 + t.minute * 60 + t.second)


def today_in(tz_name: str) -> dt.date:
    """The real date in the timezone (for ``clock_start: today``)."""
    return dt.datetime.now(ZoneInfo(tz_name)).date()


def first_of_month_before(day: dt.date, months: int) -> dt.date:
    """The first day of the month ``months`` months before ``day``'s month."""
    month = day.year * 12 + day.month - 1 - months
    return dt.date(month // 12, month % 12 + 1, 1)


def is_working_day(day: dt.date) -> bool:
    return day.weekday() < 5


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Number of Mon-Fri days in [start, end] (0 if end < start)."""
    if end < start:
        return 0
    days = (end - start).days + 1
    full, rest = divmod(days, 7)
    n = full * 5
    wd = start.weekday()
    for i in range(rest):
        if (wd + i) % 7 < 5:
            n += 1
    return n


def add_working_days(start: dt.date, n: int) -> dt.date:
    """The date of the n-th working day counting ``start`` as the first (start must be a working day)."""
    day = start
    left = n - 1
    while left > 0:
        day += dt.timedelta(days=1)
        if day.weekday() < 5:
            left -= 1
    return day


def next_working_day(day: dt.date) -> dt.date:
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day


def working_days_since(first: dt.date, before: dt.date) -> list[dt.date]:
    """The working days from ``first`` to the day before ``before``, oldest first."""
    days = (first + dt.timedelta(days=n) for n in range((before - first).days))
    return [day for day in days if is_working_day(day)]


def previous_working_days(before: dt.date, n: int) -> list[dt.date]:
    """The last ``n`` working days strictly before ``before``, oldest first."""
    out: list[dt.date] = []
    day = before
    while len(out) < n:
        day -= dt.timedelta(days=1)
        if day.weekday() < 5:
            out.append(day)
    out.reverse()
    return out
