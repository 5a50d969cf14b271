"""An organization's working-time rules, holiday calendar and leave policy, as the registry
states them, and the rows the sync publishes to the warehouse for dbt.

The registry is the one place an operator sets them; dbt reads what was published
(``sync.organization_settings``, ``sync.organization_holidays``,
``sync.organization_leave_policies``). A value the registry leaves out is published empty,
and dbt fills it from the ``_default`` row of its seed: the defaults live in one place.
No Dagster here: the sync imports it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_WEEKDAYS = {name[:3]: name for name in
                  ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}
# country holidays are published for this many years around today; the marts' data lies within
HOLIDAY_YEARS_BACK, HOLIDAY_YEARS_AHEAD = 5, 2
LEAVE_TYPE = re.compile(r"^[a-z][a-z0-9_]*$")


def parse_hhmm(value: str) -> str:
    """``H:MM`` or ``HH:MM`` (00:00 .. 23:59), normalized to ``HH:MM``."""
    if isinstance(value, int):  # YAML 1.1 reads an unquoted 10:30 as the number 630
        raise ValueError(f"work_start {value!r} is a number: quote the time in the registry, e.g. '10:30'")
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", str(value).strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(f"work_start {value!r} must be a time of day as HH:MM (00:00 .. 23:59)")
    return f"{int(match[1]):02d}:{match[2]}"


def parse_weekdays(value) -> tuple[str, ...]:
    """``"sat,sun"`` or a list of day names (``sat`` or ``saturday``), in week order; empty:
    no weekend."""
    items = value.split(",") if isinstance(value, str) else list(value)
    days = set()
    for item in items:
        name = str(item).strip().lower()
        if not name:
            continue
        short = name[:3]
        if short not in WEEKDAYS or name not in (short, _FULL_WEEKDAYS[short]):
            raise ValueError(f"unknown weekday {item!r} in weekend_days; use {', '.join(WEEKDAYS)}")
        days.add(short)
    return tuple(d for d in WEEKDAYS if d in days)


@functools.lru_cache(maxsize=256)
def country_holidays(country: str, subdivision: str | None, years: tuple[int, ...]) -> tuple[tuple[dt.date, str], ...]:
    """Public holidays of a country (and subdivision) from the ``holidays`` package; two on
    one day share it, their names joined by "; "."""
    import holidays  # imported when a calendar is asked for: it takes a tenth of a second

    try:
        calendar = holidays.country_holidays(country, subdiv=subdivision, years=years)
    except NotImplementedError as exc:  # the package's "not available" for an unknown code
        raise ValueError(f"holiday calendar: {exc} (country codes are ISO 3166-1 alpha-2, e.g. IN, NL)") from None
    return tuple(sorted(calendar.items()))


class HolidayCalendar(BaseModel):
    """The organization's own non-working days: a country's public holidays, explicit dates,
    or both (an explicit date's name wins)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2 code, e.g. IN, NL")
    subdivision: str | None = Field(default=None, description="state or province code, e.g. MH, CA")
    dates: dict[dt.date, str] | None = Field(default=None, description="date: name")

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return value.strip().upper() if value else None

    @field_validator("dates")
    @classmethod
    def _names(cls, value: dict[dt.date, str] | None) -> dict[dt.date, str] | None:
        return {day: (name or "").strip() or "Holiday" for day, name in sorted(value.items())} if value else None

    @model_validator(mode="after")
    def _known_calendar(self) -> "HolidayCalendar":
        if self.subdivision and not self.country:
            raise ValueError("holidays.subdivision needs holidays.country")
        if self.country:  # unknown codes fail here, when the registry is read, not at a sync
            country_holidays(self.country, self.subdivision, (dt.date.today().year,))
        return self

    @property
    def is_set(self) -> bool:
        return bool(self.country or self.dates)

    def days(self, years: range) -> list[tuple[dt.date, str, str]]:
        """(date, name, source) for the years: source ``country`` or ``registry``."""
        out: dict[dt.date, tuple[str, str]] = {}
        if self.country:
            for day, name in country_holidays(self.country, self.subdivision, tuple(years)):
                out[day] = (name, "country")
        for day, name in (self.dates or {}).items():
            out[day] = (name, "registry")
        return [(day, name, source) for day, (name, source) in sorted(out.items())]


class LeaveRule(BaseModel):
    """One leave type's policy; an empty value comes from the seed's `_default` row of the type."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    allocation_days: float | None = Field(default=None, ge=0, description="working days per calendar year")
    min_notice_days: int | None = Field(default=None, ge=0, description="days between applying and starting")


@dataclass(frozen=True)
class Publication:
    """What ``Warehouse.publish_organization_settings`` writes for one organization."""

    organization_id: str
    settings: dict
    holidays: list[tuple[dt.date, str, str]]
    leave_policies: list[tuple[str, float | None, int | None]]
    fingerprint: str


def publication(org, today: dt.date | None = None) -> Publication:
    """The rows to publish for ``org`` (an ``Organization``): its settings (empty where the
    registry has none), its holidays for the years around ``today``, its leave policy."""
    today = today or dt.date.today()
    calendar = org.holidays or HolidayCalendar()
    years = range(today.year - HOLIDAY_YEARS_BACK, today.year + HOLIDAY_YEARS_AHEAD + 1)
    settings = dict(
        timezone=org.timezone, work_start=org.work_start, grace_minutes=org.grace_minutes,
        standard_hours=org.standard_hours, max_daily_overtime_hours=org.max_daily_overtime_hours,
        weekend_days=None if org.weekend_days is None else ",".join(org.weekend_days),
        holiday_country=calendar.country, holiday_subdivision=calendar.subdivision,
        has_own_calendar=calendar.is_set,
    )
    days = calendar.days(years)
    policies = [(leave_type, rule.allocation_days, rule.min_notice_days)
                for leave_type, rule in (org.leave_policy or {}).items()]
    digest = hashlib.sha256(json.dumps([settings, days, policies], default=str).encode()).hexdigest()
    return Publication(org.id, settings, days, policies, digest)
