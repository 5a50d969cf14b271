"""The canonical ("Harvey format") record of each HR entity, and the entity specs.

A source adapter maps a vendor's payload onto these models; validation failures are
quarantined with the reason pydantic gives. The warehouse derives each core table's
columns from the model, so a field is declared once, here.

Required fields (a record without one is quarantined, so a broken payload never replaces a
good version): what the contract (``hrms-api-contract.md``) lists for the entity and a record
cannot be without: its ``id`` and business key (``employee_id``, ``candidate_id``...), the
``updated_at`` every list entity carries (the cursor follows it), the names, the status
enumerations and the dates that say what the record is (``hire_date``, ``start_date``, a day of
attendance), the record it belongs to (an interview's ``candidate_id``), and ``email`` where the
contract lists one for the person (employees, candidates). Optional: fields the contract marks
"(optional)", fields null by meaning (``manager_id`` of the top manager, ``end_date`` of a
running employment, ``check_out_time`` of a day without check-out, ``approved_by`` and
``approved_at`` of a pending request, an interview's outcome before it is held, an
``interviewer_email`` before an interviewer is assigned), and descriptive attributes a real
record may lack (phone, location, job title...): quarantining a whole employee for a missing
phone would lose more than it keeps. Every record the mock HRMS generates validates
(``test_sync_edges_records.py`` checks a few thousand employees and their records).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Annotated, Literal, Optional

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, field_validator, model_validator

_SPACE = re.compile(r"\s")
EARLIEST = dt.date(1900, 1, 1)


def _email(value: Optional[str]) -> Optional[str]:
    if value is None:
        return value
    local, _, domain = value.partition("@")
    tld = domain.rpartition(".")[2]
    if not local or "." not in domain or "@" in domain or len(tld) < 2 or _SPACE.search(value) \
            or domain.startswith(".") or ".." in domain:
        raise ValueError(f"not a valid email address: {value!r}")
    return value


Email = Annotated[Optional[str], AfterValidator(_email)]
RequiredEmail = Annotated[str, AfterValidator(_email)]


def _code(value: str) -> str:
    if not value.strip():
        raise ValueError("a business key must not be blank")
    return value


# a business key (EMP-000001): required and not blank
Code = Annotated[str, AfterValidator(_code)]


def _sane(value):
    day = value.date() if isinstance(value, dt.datetime) else value
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"{value} is outside {EARLIEST}..{LATEST}")
    return value


# dates and timestamps outside 1900..2100 are typos or sentinels ("0001-01-01"), not HR facts
Date = Annotated[dt.date, AfterValidator(_sane)]
Timestamp = Annotated[AwareDatetime, AfterValidator(_sane)]
LATEST = dt.date(2100, 12, 31)


class CanonicalRecord(BaseModel):
    """Fields every record carries. ``id`` is the source's id (stored as ``source_id``)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    updated_at: Timestamp

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value):
        # Type drift (an id sent as int by one system, str by another) must not split a record.
        if isinstance(value, bool) or value is None or value == "":
            raise ValueError("id is missing")
        return str(value)

    @staticmethod
    def _ordered(start, end, what: str) -> None:
        if start is not None and end is not None and end < start:
            raise ValueError(f"{what}: end {end} is before start {start}")


class Employee(CanonicalRecord):
    employee_id: Code
    first_name: str
    last_name: str
    email: RequiredEmail
    phone: Optional[str] = None
    department: Optional[str] = None
    job_title: Optional[str] = None
    manager_id: Optional[str] = None
    hire_date: Date
    employment_status: Literal["active", "inactive", "on_leave", "terminated"]
    location: Optional[str] = None
    work_type: Optional[Literal["full_time", "part_time", "contract", "intern"]] = None
    salary_band: Optional[str] = None
    salary: Optional[float] = None
    currency: Optional[str] = None
    termination_date: Optional[Date] = None
    created_at: Optional[Timestamp] = None

    @model_validator(mode="after")
    def _dates(self):
        self._ordered(self.hire_date, self.termination_date, "hire_date..termination_date")
        return self


class Department(CanonicalRecord):
    department_id: Code
    name: str
    head_id: Optional[str] = None
    head_name: Optional[str] = None
    employee_count: Optional[int] = None
    location: Optional[str] = None


class Employment(CanonicalRecord):
    employee_id: str
    start_date: Date
    end_date: Optional[Date] = None
    contract_type: Optional[Literal["permanent", "fixed_term", "internship", "freelance"]] = None
    hours_per_week: Optional[float] = None
    salary: Optional[float] = None
    salary_period: Optional[Literal["month", "year", "hour"]] = None
    currency: Optional[str] = None
    job_title: Optional[str] = None
    department: Optional[str] = None

    @model_validator(mode="after")
    def _dates(self):
        self._ordered(self.start_date, self.end_date, "start_date..end_date")
        return self


class JobRequisition(CanonicalRecord):
    requisition_id: Code
    title: str
    department: Optional[str] = None
    hiring_manager_id: Optional[str] = None
    hiring_manager_name: Optional[str] = None
    status: Literal["open", "on_hold", "filled", "closed"]
    headcount: Optional[int] = None
    filled_positions: Optional[int] = None
    location: Optional[str] = None
    job_type: Optional[str] = None
    created_date: Optional[Date] = None
    target_hire_date: Optional[Date] = None


class Candidate(CanonicalRecord):
    candidate_id: Code
    first_name: str
    last_name: str
    email: RequiredEmail
    phone: Optional[str] = None
    current_stage: Literal[
        "applied", "screening", "technical_interview", "onsite", "offer", "hired", "rejected", "withdrawn"
    ]
    applied_for_job_id: Optional[str] = None
    applied_for_job_title: Optional[str] = None
    source: Optional[str] = None
    application_date: Optional[Date] = None
    status: Literal["active", "hired", "rejected", "withdrawn"]


class Interview(CanonicalRecord):
    interview_id: Code
    candidate_id: str
    candidate_name: Optional[str] = None
    job_id: Optional[str] = None
    job_title: Optional[str] = None
    interviewer_id: Optional[str] = None
    interviewer_name: Optional[str] = None
    interviewer_email: Email = None
    scheduled_date: Optional[Timestamp] = None
    duration_minutes: Optional[int] = None
    interview_type: Optional[
        Literal["screening", "technical", "system_design", "behavioral", "onsite", "final"]
    ] = None
    status: Literal["scheduled", "completed", "cancelled", "no_show"]
    meeting_link: Optional[str] = None
    feedback: Optional[str] = None
    rating: Optional[int] = None
    recommendation: Optional[str] = None

    @field_validator("rating")
    @classmethod
    def _rating(cls, value):
        if value is not None and not 1 <= value <= 5:
            raise ValueError(f"rating {value} is outside 1..5")
        return value


class LeaveRequest(CanonicalRecord):
    leave_request_id: Code
    employee_id: str
    employee_name: Optional[str] = None
    leave_type: Literal["annual", "sick", "casual", "maternity", "paternity", "unpaid"]
    start_date: Date
    end_date: Date
    total_days: Optional[float] = None
    status: Literal["pending", "approved", "rejected", "cancelled"]
    applied_date: Optional[Date] = None
    approved_by: Optional[str] = None
    approved_at: Optional[Timestamp] = None
    reason: Optional[str] = None

    @model_validator(mode="after")
    def _dates(self):
        self._ordered(self.start_date, self.end_date, "start_date..end_date")
        return self


class LeaveBalance(CanonicalRecord):
    """One row per employee, year and leave type (the API nests them per employee)."""

    updated_at: Optional[Timestamp] = None  # the balance endpoint has none
    employee_id: str
    year: int
    leave_type: str
    total_allocated: Optional[float] = None
    used: Optional[float] = None
    pending: Optional[float] = None
    available: Optional[float] = None


class Attendance(CanonicalRecord):
    employee_id: str
    date: Date
    check_in_time: Optional[Timestamp] = None
    check_in_location: Optional[str] = None
    check_in_device: Optional[str] = None
    check_out_time: Optional[Timestamp] = None
    check_out_location: Optional[str] = None
    check_out_device: Optional[str] = None
    worked_hours: Optional[float] = None
    status: Optional[str] = None
    notes: Optional[str] = None
    created_at: Optional[Timestamp] = None

    @model_validator(mode="after")
    def _times(self):
        self._ordered(self.check_in_time, self.check_out_time, "check_in_time..check_out_time")
        return self


@dataclass(frozen=True)
class Reference:
    """A field that points at another entity's record. Which key it holds is left open by the
    contract: the record's ``id`` or its business key (``EMP-000001``); the warehouse's
    ``core.record_keys`` view resolves either (``warehouse/schema.py``)."""

    column: str
    entity: str


@dataclass(frozen=True)
class EntitySpec:
    """An HR entity as data: the factory, the warehouse and the adapters read it."""

    name: str
    model: type[CanonicalRecord]
    description: str
    group: str
    # the human code unique per organization besides the source id (EMP-000001), if any
    business_key: str | None = None
    # fields that hold another record's id or business key
    references: tuple[Reference, ...] = ()
    # analyst query paths, beyond the (organization_id, source_id) key
    indexes: tuple[tuple[str, ...], ...] = ()
    # the source tells when a record changed, so syncs can be incremental
    incremental: bool = True
    # entities whose synced rows this one needs (leave balances are fetched per employee)
    upstream: tuple[str, ...] = field(default_factory=tuple)
    # for an entity fetched per parent record (no updated_at of its own): the entities whose
    # changed rows (by their employee_id) say which parents to fetch again incrementally
    refetch_when_changed: tuple[str, ...] = ()


ENTITIES: tuple[EntitySpec, ...] = (
    EntitySpec("employees", Employee, "Employees as the HRMS reports them now.", "people",
               business_key="employee_id", references=(Reference("manager_id", "employees"),),
               indexes=(("organization_id", "employee_id"), ("organization_id", "department"))),
    EntitySpec("departments", Department, "Departments and their heads.", "people",
               business_key="department_id", references=(Reference("head_id", "employees"),)),
    EntitySpec("employments", Employment,
               "Effective-dated contract history: each raise, hours change or renewal is a row.",
               "people", references=(Reference("employee_id", "employees"),),
               indexes=(("organization_id", "employee_id", "start_date"),)),
    EntitySpec("job_requisitions", JobRequisition, "Open and past job requisitions.", "recruiting",
               business_key="requisition_id", references=(Reference("hiring_manager_id", "employees"),)),
    EntitySpec("candidates", Candidate, "Candidates and their pipeline stage.", "recruiting",
               business_key="candidate_id", references=(Reference("applied_for_job_id", "job_requisitions"),),
               indexes=(("organization_id", "applied_for_job_id"),)),
    EntitySpec("interviews", Interview, "Scheduled and held interviews with outcomes.", "recruiting",
               business_key="interview_id",
               references=(Reference("candidate_id", "candidates"), Reference("job_id", "job_requisitions"),
                           Reference("interviewer_id", "employees")),
               indexes=(("organization_id", "candidate_id"), ("organization_id", "interviewer_id"))),
    EntitySpec("leave_requests", LeaveRequest, "Leave requests and their approval state.", "time_off",
               business_key="leave_request_id",
               references=(Reference("employee_id", "employees"), Reference("approved_by", "employees")),
               indexes=(("organization_id", "employee_id", "start_date"),)),
    EntitySpec("leave_balances", LeaveBalance,
               "Leave balances per employee, year and leave type as the HRMS reports them.",
               "time_off", references=(Reference("employee_id", "employees"),),
               indexes=(("organization_id", "employee_id", "year"),),
               incremental=False, upstream=("employees",), refetch_when_changed=("leave_requests",)),
    EntitySpec("attendance", Attendance, "Daily check-in/check-out records.", "attendance",
               references=(Reference("employee_id", "employees"),),
               indexes=(("organization_id", "employee_id", "date"), ("organization_id", "date"))),
)

ENTITIES_BY_NAME = {spec.name: spec for spec in ENTITIES}
# entities some reference points at, in declaration order
REFERENCED_ENTITIES = tuple(dict.fromkeys(
    r.entity for spec in ENTITIES for r in spec.references))


def entity(name: str) -> EntitySpec:
    try:
        return ENTITIES_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown entity {name!r}; known: {', '.join(ENTITIES_BY_NAME)}") from None
