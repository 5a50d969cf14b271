"""Unit tests of an organization's settings (org_settings.py): parsing the registry's values and the
rows a sync publishes for dbt. (The registry's validation messages and the CLI:
test_organizations.py; the publication in the warehouse: its test_a_sync_publishes_the_settings.)"""

from __future__ import annotations

import datetime as dt

import pytest

from harvey_pipelines.org_settings import HolidayCalendar, LeaveRule, parse_hhmm, parse_weekdays, publication
from harvey_pipelines.organizations import Organization

pytestmark = pytest.mark.fast

BASE = dict(id="acme", name="Acme", base_url="http://x", credential_env="X")
TODAY = dt.date(2026, 3, 1)


@pytest.mark.parametrize("value, expected", [("9:05", "09:05"), ("09:05", "09:05"), (" 23:59 ", "23:59"),
                                             ("0:00", "00:00")])
def test_times_of_day_are_normalized_to_hh_mm(value, expected):
    assert parse_hhmm(value) == expected


@pytest.mark.parametrize("value", ["24:00", "9:5", "09:60", "0900", "9am", "", "-1:00"])
def test_other_times_are_refused(value):
    with pytest.raises(ValueError, match="must be a time of day as HH:MM"):
        parse_hhmm(value)


@pytest.mark.parametrize("value, expected", [
    ("sat,sun", ("sat", "sun")),
    ("Sunday, saturday", ("sat", "sun")),  # week order, either spelling, any case
    (["fri", "FRI", "friday"], ("fri",)),
    ("", ()),
    ([], ()),
])
def test_weekend_days_in_week_order(value, expected):
    assert parse_weekdays(value) == expected


@pytest.mark.parametrize("value", ["sa", "satur", "weekend", "sat;sun"])
def test_unknown_weekdays_are_refused(value):
    with pytest.raises(ValueError, match="unknown weekday"):
        parse_weekdays(value)


def test_a_calendar_merges_a_countrys_holidays_with_explicit_dates_and_the_explicit_name_wins():
    calendar = HolidayCalendar(country="nl", dates={dt.date(2026, 4, 27): "Company King's Day",
                                                    dt.date(2026, 7, 1): ""})
    assert calendar.country == "NL" and calendar.dates[dt.date(2026, 7, 1)] == "Holiday"
    days = {day: (name, source) for day, name, source in calendar.days(range(2026, 2027))}
    assert days[dt.date(2026, 4, 27)] == ("Company King's Day", "registry")
    assert days[dt.date(2026, 7, 1)] == ("Holiday", "registry")
    assert days[dt.date(2026, 12, 25)] == ("Christmas Day", "country")
    assert {d.year for d in days} == {2026} and list(days) == sorted(days)
    assert HolidayCalendar().days(range(2026, 2027)) == [] and not HolidayCalendar().is_set


def test_leave_rules_are_optional_and_not_negative():
    assert LeaveRule().model_dump() == {"allocation_days": None, "min_notice_days": None}
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        LeaveRule(min_notice_days=-1)


def test_what_is_not_set_is_published_empty_for_the_seeds_default():
    published = publication(Organization(**BASE), today=TODAY)
    assert published.organization_id == "acme"
    assert published.settings == dict(
        timezone="Asia/Kolkata", work_start=None, grace_minutes=None, standard_hours=None,
        max_daily_overtime_hours=None, weekend_days=None, holiday_country=None, holiday_subdivision=None,
        has_own_calendar=False)
    assert published.holidays == [] and published.leave_policies == []


def test_a_full_entry_is_published_with_holidays_five_years_back_and_two_ahead():
    org = Organization(**BASE, timezone="Europe/Amsterdam", work_start="8:30", grace_minutes=10, standard_hours=7.5,
                       max_daily_overtime_hours=1, weekend_days=[], holidays={"country": "IN", "subdivision": "MH"},
                       leave_policy={"sick": {"allocation_days": 12}, "annual": {"allocation_days": 24,
                                                                                 "min_notice_days": 7}})
    published = publication(org, today=TODAY)
    assert published.settings == dict(
        timezone="Europe/Amsterdam", work_start="08:30", grace_minutes=10, standard_hours=7.5,
        max_daily_overtime_hours=1.0, weekend_days="", holiday_country="IN", holiday_subdivision="MH",
        has_own_calendar=True)
    assert {day.year for day, _, _ in published.holidays} == set(range(2021, 2029))
    assert {source for _, _, source in published.holidays} == {"country"}
    assert published.leave_policies == [("annual", 24.0, 7), ("sick", 12.0, None)]


def test_the_fingerprint_changes_with_any_published_value_and_only_then():
    org = Organization(**BASE, work_start="09:00", holidays={"dates": {"2026-12-24": "Christmas Eve"}})
    fingerprint = publication(org, today=TODAY).fingerprint
    assert publication(Organization(**BASE, work_start="9:00", holidays={"dates": {"2026-12-24": "Christmas Eve"}}),
                       today=TODAY).fingerprint == fingerprint
    for changed in (org.model_copy(update={"work_start": "09:30"}),
                    org.model_copy(update={"holidays": HolidayCalendar(dates={dt.date(2026, 12, 24): "Eve"})}),
                    org.model_copy(update={"leave_policy": {"annual": LeaveRule(allocation_days=20)}})):
        assert publication(changed, today=TODAY).fingerprint != fingerprint
