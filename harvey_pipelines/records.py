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
import enum
import re
from dataclasses import dataclass, field
from typing import Annotated, Literal, Optional

import orjson
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

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

    id: str = Field(description="The record's id in the source HR system (stored as source_id).")
    updated_at: Timestamp = Field(
        description="When the source last changed the record; incremental syncs follow it.")

    @field_validator("id", mode="before")
    @classmethod
    def _id_text(cls, value):
        # Type drift (an id sent as int by one system, str by another) must not split a record.
        if isinstance(value, bool) or value is None or value == "":
            raise ValueError("id is missing")
        return str(value)

    def canonical_json(self) -> str:
        """The record as ``raw.payload_versions.canonical`` keeps it beside the payload, for dbt:
        the field names declared here, dates ISO, timestamps as instants in UTC (so that versions
        read from any vendor compare alike)."""
        return orjson.dumps({name: value.astimezone(dt.timezone.utc) if isinstance(value, dt.datetime) else value
                             for name, value in self.__dict__.items()}).decode()

    @staticmethod
    def _ordered(start, end, what: str) -> None:
        if start is not None and end is not None and end < start:
            raise ValueError(f"{what}: end {end} is before start {start}")


class Employee(CanonicalRecord):
    employee_id: Code = Field(description="The HR employee number (business key, e.g. EMP-000001).")
    first_name: str = Field(description="First name.")
    last_name: str = Field(description="Last name.")
    email: RequiredEmail = Field(description="Work email address.")
    phone: Optional[str] = Field(None, description="Phone number.")
    department: Optional[str] = Field(None, description="Department name as the source gives it.")
    job_title: Optional[str] = Field(None, description="Current job title.")
    manager_id: Optional[str] = Field(
        None, description="The manager's id or employee number; empty for the top manager.")
    hire_date: Date = Field(description="First working day.")
    employment_status: Literal["active", "inactive", "on_leave", "terminated"] = Field(
        description="Status now: active, inactive, on_leave or terminated.")
    location: Optional[str] = Field(None, description="Work location.")
    work_type: Optional[Literal["full_time", "part_time", "contract", "intern"]] = Field(
        None, description="full_time, part_time, contract or intern.")
    salary_band: Optional[str] = Field(None, description="Salary band label.")
    salary: Optional[float] = Field(None, description="Current salary, in currency.")
    currency: Optional[str] = Field(None, description="ISO 4217 currency code of the salary.")
    termination_date: Optional[Date] = Field(None, description="Last working day, once terminated.")
    created_at: Optional[Timestamp] = Field(None, description="When the source created the record.")

    @model_validator(mode="after")
    def _dates(self):
        self._ordered(self.hire_date, self.termination_date, "hire_date..termination_date")
        return self


class Department(CanonicalRecord):
    department_id: Code = Field(description="The department code (business key).")
    name: str = Field(description="Department name.")
    head_id: Optional[str] = Field(None, description="The head's employee id or employee number.")
    head_name: Optional[str] = Field(None, description="The head's name as the source gives it.")
    employee_count: Optional[int] = Field(None, description="Headcount the source reports.")
    location: Optional[str] = Field(None, description="Main location.")


class Employment(CanonicalRecord):
    employee_id: str = Field(description="The employee's id or employee number.")
    start_date: Date = Field(description="First day this contract version holds.")
    end_date: Optional[Date] = Field(None, description="Last day it holds; empty while it runs.")
    contract_type: Optional[Literal["permanent", "fixed_term", "internship", "freelance"]] = Field(
        None, description="permanent, fixed_term, internship or freelance.")
    hours_per_week: Optional[float] = Field(None, description="Contracted hours per week.")
    salary: Optional[float] = Field(None, description="Salary per salary_period, in currency.")
    salary_period: Optional[Literal["month", "year", "hour"]] = Field(None, description="month, year or hour.")
    currency: Optional[str] = Field(None, description="ISO 4217 currency code of the salary.")
    job_title: Optional[str] = Field(None, description="Job title under this contract version.")
    department: Optional[str] = Field(None, description="Department name under this contract version.")
    manager_id: Optional[str] = Field(
        None, description="The manager's id or employee number under this contract version; empty where "
        "the source keeps no manager in its history.")

    @model_validator(mode="after")
    def _dates(self):
        self._ordered(self.start_date, self.end_date, "start_date..end_date")
        return self


class JobRequisition(CanonicalRecord):
    requisition_id: Code = Field(description="The requisition code (business key).")
    title: str = Field(description="Job title sought.")
    department: Optional[str] = Field(None, description="Department name.")
    hiring_manager_id: Optional[str] = Field(
        None, description="The hiring manager's employee id or employee number.")
    hiring_manager_name: Optional[str] = Field(
        None, description="The hiring manager's name as the source gives it.")
    status: Literal["open", "on_hold", "filled", "closed"] = Field(description="open, on_hold, filled or closed.")
    headcount: Optional[int] = Field(None, description="Positions to fill.")
    filled_positions: Optional[int] = Field(None, description="Positions filled so far.")
    location: Optional[str] = Field(None, description="Work location.")
    job_type: Optional[str] = Field(None, description="Kind of job (full time, contract...).")
    created_date: Optional[Date] = Field(None, description="Day the requisition was opened.")
    target_hire_date: Optional[Date] = Field(None, description="Day the hire is wanted by.")


class Candidate(CanonicalRecord):
    candidate_id: Code = Field(description="The candidate code (business key).")
    first_name: str = Field(description="First name.")
    last_name: str = Field(description="Last name.")
    email: RequiredEmail = Field(description="Email address.")
    phone: Optional[str] = Field(None, description="Phone number.")
    current_stage: Literal[
        "applied", "screening", "technical_interview", "onsite", "offer", "hired", "rejected", "withdrawn"
    ] = Field(
        description="Pipeline stage: applied, screening, technical_interview, onsite, offer, hired, "
        "rejected or withdrawn.")
    applied_for_job_id: Optional[str] = Field(
        None, description="The requisition applied for (its id or requisition code).")
    applied_for_job_title: Optional[str] = Field(None, description="Title of the requisition applied for.")
    source: Optional[str] = Field(None, description="Where the candidate came from (referral, job board...).")
    application_date: Optional[Date] = Field(None, description="Day of the application.")
    status: Literal["active", "hired", "rejected", "withdrawn"] = Field(
        description="active, hired, rejected or withdrawn.")


class Interview(CanonicalRecord):
    interview_id: Code = Field(description="The interview code (business key).")
    candidate_id: str = Field(description="The candidate's id or candidate code.")
    candidate_name: Optional[str] = Field(None, description="The candidate's name as the source gives it.")
    job_id: Optional[str] = Field(None, description="The requisition's id or requisition code.")
    job_title: Optional[str] = Field(None, description="Title of the requisition.")
    interviewer_id: Optional[str] = Field(None, description="The interviewer's employee id or employee number.")
    interviewer_name: Optional[str] = Field(None, description="The interviewer's name.")
    interviewer_email: Email = Field(None, description="The interviewer's email address.")
    scheduled_date: Optional[Timestamp] = Field(None, description="When the interview is or was scheduled.")
    duration_minutes: Optional[int] = Field(None, description="Planned length in minutes.")
    interview_type: Optional[
        Literal["screening", "technical", "system_design", "behavioral", "onsite", "final"]
    ] = Field(None, description="screening, technical, system_design, behavioral, onsite or final.")
    status: Literal["scheduled", "completed", "cancelled", "no_show"] = Field(
        description="scheduled, completed, cancelled or no_show.")
    meeting_link: Optional[str] = Field(None, description="Video meeting link.")
    feedback: Optional[str] = Field(None, description="Interviewer feedback.")
    rating: Optional[int] = Field(None, description="Rating from 1 to 5.")
    recommendation: Optional[str] = Field(None, description="The interviewer's recommendation (hire, no hire...).")

    @field_validator("rating")
    @classmethod
    def _rating(cls, value):
        if value is not None and not 1 <= value <= 5:
            raise ValueError(f"rating {value} is outside 1..5")
        return value


class LeaveRequest(CanonicalRecord):
    leave_request_id: Code = Field(description="The leave request code (business key).")
    employee_id: str = Field(description="The employee's id or employee number.")
    employee_name: Optional[str] = Field(None, description="The employee's name as the source gives it.")
    leave_type: Literal["annual", "sick", "casual", "maternity", "paternity", "unpaid"] = Field(
        description="annual, sick, casual, maternity, paternity or unpaid.")
    start_date: Date = Field(description="First day of leave.")
    end_date: Date = Field(description="Last day of leave.")
    total_days: Optional[float] = Field(None, description="Days of leave the source counts.")
    status: Literal["pending", "approved", "rejected", "cancelled"] = Field(
        description="pending, approved, rejected or cancelled.")
    applied_date: Optional[Date] = Field(None, description="Day the request was made.")
    approved_by: Optional[str] = Field(None, description="The approver's employee id or employee number.")
    approved_at: Optional[Timestamp] = Field(None, description="When it was approved.")
    reason: Optional[str] = Field(None, description="Reason given.")

    @model_validator(mode="after")
    def _dates(self):
        self._ordered(self.start_date, self.end_date, "start_date..end_date")
        return self


class LeaveBalance(CanonicalRecord):
    """One row per employee, year and leave type (the API nests them per employee)."""

    updated_at: Optional[Timestamp] = Field(  # type: ignore[assignment] # the one record without one
        None, description="Empty: the balance endpoint gives no change time.")  # the balance endpoint has none
    employee_id: str = Field(description="The employee's id or employee number.")
    year: int = Field(description="Leave year.")
    leave_type: str = Field(description="Leave type.")
    total_allocated: Optional[float] = Field(None, description="Days allocated for the year.")
    used: Optional[float] = Field(None, description="Days taken.")
    pending: Optional[float] = Field(None, description="Days requested, not yet approved.")
    available: Optional[float] = Field(None, description="Days left to take.")


class Attendance(CanonicalRecord):
    employee_id: str = Field(description="The employee's id or employee number.")
    date: Date = Field(description="Day of attendance.")
    check_in_time: Optional[Timestamp] = Field(None, description="Check-in instant.")
    check_in_location: Optional[str] = Field(None, description="Where the check-in happened.")
    check_in_device: Optional[str] = Field(None, description="Device used to check in.")
    check_out_time: Optional[Timestamp] = Field(None, description="Check-out instant; empty without check-out.")
    check_out_location: Optional[str] = Field(None, description="Where the check-out happened.")
    check_out_device: Optional[str] = Field(None, description="Device used to check out.")
    worked_hours: Optional[float] = Field(None, description="Hours worked as the source computes them.")
    status: Optional[str] = Field(None, description="Day status as the source gives it (present, absent...).")
    notes: Optional[str] = Field(None, description="Free-text notes.")
    created_at: Optional[Timestamp] = Field(None, description="When the source created the record.")

    @model_validator(mode="after")
    def _times(self):
        self._ordered(self.check_in_time, self.check_out_time, "check_in_time..check_out_time")
        return self


class Pii(str, enum.Enum):
    """What a canonical field is, for personal data (README: Personal data). Every field of every
    record has one (``PII_CLASSES``); the masked analyst views treat each class one way."""

    # keys: a record's own or another's id or business code; kept in masked views (the joins)
    IDENTIFIER = "identifier"
    # names, emails, phones, links and devices that reach or single out a person: pseudonymized
    CONTACT = "contact_pii"
    # pay, health and family (leave types and reasons), judgments of a person: banded,
    # generalized or removed
    SENSITIVE = "sensitive_pii"
    # text someone typed, which may hold anything: removed
    FREE_TEXT = "free_text"
    # dates, statuses, counts, org structure: personal only through the identifier beside them
    NON_PERSONAL = "non_personal"


_I, _C, _S, _F, _N = Pii.IDENTIFIER, Pii.CONTACT, Pii.SENSITIVE, Pii.FREE_TEXT, Pii.NON_PERSONAL
_COMMON = {"id": _I, "updated_at": _N}

# The class of every canonical field (test_personal_data.py fails for a field without one).
PII_CLASSES: dict[type[CanonicalRecord], dict[str, Pii]] = {
    Employee: _COMMON | dict(
        employee_id=_I, first_name=_C, last_name=_C, email=_C, phone=_C, department=_N, job_title=_N,
        manager_id=_I, hire_date=_N, employment_status=_N, location=_N, work_type=_N, salary_band=_S,
        salary=_S, currency=_N, termination_date=_N, created_at=_N),
    Department: _COMMON | dict(
        department_id=_I, name=_N, head_id=_I, head_name=_C, employee_count=_N, location=_N),
    Employment: _COMMON | dict(
        employee_id=_I, start_date=_N, end_date=_N, contract_type=_N, hours_per_week=_N, salary=_S,
        salary_period=_N, currency=_N, job_title=_N, department=_N, manager_id=_I),
    JobRequisition: _COMMON | dict(
        requisition_id=_I, title=_N, department=_N, hiring_manager_id=_I, hiring_manager_name=_C, status=_N,
        headcount=_N, filled_positions=_N, location=_N, job_type=_N, created_date=_N, target_hire_date=_N),
    Candidate: _COMMON | dict(
        candidate_id=_I, first_name=_C, last_name=_C, email=_C, phone=_C, current_stage=_N,
        applied_for_job_id=_I, applied_for_job_title=_N, source=_N, application_date=_N, status=_N),
    Interview: _COMMON | dict(
        interview_id=_I, candidate_id=_I, candidate_name=_C, job_id=_I, job_title=_N, interviewer_id=_I,
        interviewer_name=_C, interviewer_email=_C, scheduled_date=_N, duration_minutes=_N, interview_type=_N,
        status=_N, meeting_link=_C, feedback=_S, rating=_S, recommendation=_S),
    LeaveRequest: _COMMON | dict(
        leave_request_id=_I, employee_id=_I, employee_name=_C, leave_type=_S, start_date=_N, end_date=_N,
        total_days=_N, status=_N, applied_date=_N, approved_by=_I, approved_at=_N, reason=_S),
    LeaveBalance: _COMMON | dict(
        employee_id=_I, year=_N, leave_type=_S, total_allocated=_N, used=_N, pending=_N, available=_N),
    Attendance: _COMMON | dict(
        employee_id=_I, date=_N, check_in_time=_N, check_in_location=_S, check_in_device=_C,
        check_out_time=_N, check_out_location=_S, check_out_device=_C, worked_hours=_N, status=_N,
        notes=_F, created_at=_N),
}


def pii_class(model: type[CanonicalRecord], field_name: str) -> Pii:
    """The class of one canonical field; KeyError for a field nobody classified."""
    return PII_CLASSES[model][field_name]


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

    def reference_to(self, entity_name: str) -> str:
        """The column through which this entity's records belong to ``entity_name``'s: the first
        declared (leave requests' ``employee_id``, not ``approved_by``)."""
        return next(r.column for r in self.references if r.entity == entity_name)


ENTITIES: tuple[EntitySpec, ...] = (
    EntitySpec("employees", Employee, "Employees as the HRMS reports them now.", "people",
               business_key="employee_id", references=(Reference("manager_id", "employees"),),
               indexes=(("organization_id", "employee_id"), ("organization_id", "department"))),
    EntitySpec("departments", Department, "Departments and their heads.", "people",
               business_key="department_id", references=(Reference("head_id", "employees"),)),
    EntitySpec("employments", Employment,
               "Effective-dated contract history: each raise, hours change or renewal is a row.",
               "people", references=(Reference("employee_id", "employees"), Reference("manager_id", "employees")),
               indexes=(("organization_id", "employee_id", "start_date"),)),
    EntitySpec("job_requisitions", JobRequisition, "Open and past job requisitions.", "recruiting",
               business_key="requisition_id", references=(Reference("hiring_manager_id", "employees"),)),
    EntitySpec("candidates", Candidate, "Candidates and their pipeline stage.", "recruiting",
               business_key="candidate_id", references=(Reference("applied_for_job_id", "job_requisitions"),),
               indexes=(("organization_id", "applied_for_job_id"),)),
    # no business key: interview_id is the interview's, shared by a panel's rows (one per interviewer)
    EntitySpec("interviews", Interview, "Scheduled and held interviews with outcomes.", "recruiting",
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
