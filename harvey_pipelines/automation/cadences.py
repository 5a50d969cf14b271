"""How often each entity is synced: the design documents' cadences, as data."""

from __future__ import annotations

from dataclasses import dataclass

from harvey_pipelines import settings
from harvey_pipelines.records import ENTITIES

# the schedules are built with it when the definitions load (a change needs a reload)
TIMEZONE = settings.current().schedule_timezone


@dataclass(frozen=True)
class Cadence:
    name: str
    cron: str
    entities: tuple[str, ...]
    description: str
    mode: str = "incremental"
    trigger: str = "schedule"


CADENCES: tuple[Cadence, ...] = (
    Cadence("interviews_every_30_minutes", "*/30 * * * *", ("interviews",),
            "Interviews change fast (scheduling, outcomes): every 30 minutes."),
    Cadence("candidates_hourly", "0 * * * *", ("job_requisitions", "candidates"),
            "Candidates and the requisitions they apply to: every hour."),
    Cadence("employees_every_2_hours", "0 */2 * * *", ("departments", "employees", "employments"),
            "Employees with their departments and employment history: every 2 hours."),
    Cadence("leave_daily", "0 1 * * *", ("leave_requests", "leave_balances"),
            "Leave requests and balances: daily at 01:00."),
    Cadence("attendance_nightly", "30 22 * * *", ("attendance",),
            "Attendance after the working day (22:30), before the overnight processing."),
    Cadence("reconcile_weekly", "0 3 * * 0", tuple(spec.name for spec in ENTITIES),
            "Full listing of every entity on Sunday 03:00: flags records deleted at the source.",
            mode="reconcile", trigger="reconcile"),
)
