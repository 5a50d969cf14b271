"""Unit tests of the canonical records (records.py) and of what the sync makes of one payload
(``sync._prepare``): which fields each record requires, what is quarantined and with which
reason, timestamps and dates in the formats servers send, and the version key that makes a
record re-sent in another format no change."""

from __future__ import annotations

import datetime as dt
import hashlib

import orjson
import pytest

from harvey_pipelines.organizations import Organization
from harvey_pipelines.records import ENTITIES, ENTITIES_BY_NAME, REFERENCED_ENTITIES, entity
from harvey_pipelines.sources.custom import CustomHrmsAdapter
from harvey_pipelines.sources.http import Secret
from harvey_pipelines.sync import _prepare

pytestmark = pytest.mark.fast

UPDATED = "2026-03-01T14:30:00+05:30"

# the smallest valid record of each entity: exactly its required fields (records.py says which and
# why; a change of this table is a change of what gets quarantined). Leave balances have no
# updated_at: their endpoint has none.
MINIMAL = {
    "employees": dict(id="emp-1", updated_at=UPDATED, employee_id="EMP-000001", first_name="Asha", last_name="Rao",
                      email="asha.rao@acme.example", hire_date="2021-04-01", employment_status="active"),
    "departments": dict(id="dep-1", updated_at=UPDATED, department_id="DEP-01", name="Engineering"),
    "employments": dict(id="ctr-1", updated_at=UPDATED, employee_id="emp-1", start_date="2021-04-01"),
    "job_requisitions": dict(id="req-1", updated_at=UPDATED, requisition_id="REQ-0001", title="Engineer",
                             status="open"),
    "candidates": dict(id="can-1", updated_at=UPDATED, candidate_id="CAN-0001", first_name="Ravi", last_name="Iyer",
                       email="ravi@example.org", current_stage="screening", status="active"),
    "interviews": dict(id="int-1", updated_at=UPDATED, interview_id="INT-0001", candidate_id="can-1",
                       status="scheduled"),
    "leave_requests": dict(id="lr-1", updated_at=UPDATED, leave_request_id="LR-0001", employee_id="emp-1",
                           leave_type="annual", start_date="2026-03-02", end_date="2026-03-04", status="pending"),
    "leave_balances": dict(id="emp-1:2026:annual", employee_id="emp-1", year=2026, leave_type="annual"),
    "attendance": dict(id="att-1", updated_at=UPDATED, employee_id="emp-1", date="2026-03-02"),
}

ADAPTER = CustomHrmsAdapter(Organization(id="acme", name="Acme", base_url="http://hr.acme.example",
                                         credential_env="HARVEY_ACME_HRMS_TOKEN"), Secret("unused"))


def prepare(entity_name: str, raw):
    return _prepare(ADAPTER, entity(entity_name), entity_name, raw)


def reasons(entity_name: str, raw) -> str:
    record, _, _, problem = prepare(entity_name, raw)
    assert record is None, f"{entity_name} {raw} was accepted"
    return problem


def test_every_entity_has_a_minimal_record_and_it_validates():
    assert set(MINIMAL) == set(ENTITIES_BY_NAME)
    for name, payload in MINIMAL.items():
        record, text, key, problem = prepare(name, payload)
        assert problem is None and record is not None, (name, problem)
        assert orjson.loads(text) == payload


@pytest.mark.parametrize("name", list(MINIMAL))
def test_each_required_field_missing_or_null_quarantines_the_record_naming_it(name):
    model = entity(name).model
    required = [f for f, info in model.model_fields.items() if info.is_required()]
    assert sorted(required) == sorted(MINIMAL[name]), "the required fields changed"
    for field in required:
        missing = {k: v for k, v in MINIMAL[name].items() if k != field}
        assert reasons(name, missing).startswith(f"{field}: "), (name, field)
        assert f"{field}: " in reasons(name, {**MINIMAL[name], field: None}), (name, field)


@pytest.mark.parametrize("value, expected", [
    (42, "42"),  # type drift between systems must not split a record
    ("emp-1", "emp-1"),
])
def test_ids_are_text(value, expected):
    record, *_ = prepare("departments", {**MINIMAL["departments"], "id": value})
    assert record.id == expected


@pytest.mark.parametrize("value", [None, "", True])
def test_a_record_without_an_id_is_quarantined(value):
    assert reasons("departments", {**MINIMAL["departments"], "id": value}) == "id: Value error, id is missing"


@pytest.mark.parametrize("name, field", [(s.name, s.business_key) for s in ENTITIES if s.business_key])
def test_a_blank_business_key_is_quarantined(name, field):
    assert reasons(name, {**MINIMAL[name], field: "  "}) == f"{field}: Value error, a business key must not be blank"


@pytest.mark.parametrize("text, instant", [
    ("2026-03-01T14:30:00+05:30", dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)),
    ("2026-03-01T09:00:00Z", dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)),
    ("2026-03-01T09:00:00.000Z", dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)),
    ("2026-03-01T04:00:00-05:00", dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)),
])
def test_timestamps_with_an_offset_or_z_are_instants(text, instant):
    record, *_ = prepare("attendance", {**MINIMAL["attendance"], "updated_at": text, "check_in_time": text})
    assert record.updated_at == instant and record.check_in_time == instant


def test_the_canonical_json_has_every_field_by_its_name_dates_iso_and_instants_in_utc():
    record, *_ = prepare("attendance", {**MINIMAL["attendance"], "updated_at": "2026-03-01T14:30:00+05:30",
                                        "check_in_time": "2026-03-01T04:00:00-05:00", "vendor_extra": 1})
    canonical = orjson.loads(record.canonical_json())
    assert list(canonical) == list(entity("attendance").model.model_fields)  # declared order, no extras
    assert canonical["updated_at"] == canonical["check_in_time"] == "2026-03-01T09:00:00+00:00"
    assert canonical["date"] == "2026-03-02" and canonical["check_out_time"] is None


@pytest.mark.parametrize("text, reason", [
    ("2026-03-01T09:00:00", "updated_at: Input should have timezone info"),  # naive: which 09:00?
    ("2026-03-01", "updated_at: Input should have timezone info"),
    ("yesterday", "updated_at: Input should be a valid datetime"),
    ("0001-01-01T00:00:00Z", "updated_at: Value error, 0001-01-01 00:00:00+00:00 is outside 1900-01-01..2100-12-31"),
])
def test_naive_unreadable_or_sentinel_timestamps_are_quarantined(text, reason):
    assert reasons("employees", {**MINIMAL["employees"], "updated_at": text}).startswith(reason)


@pytest.mark.parametrize("text", ["2021-04-01", "2021-04-01T00:00:00"])
def test_dates_are_iso_days(text):
    record, *_ = prepare("employees", {**MINIMAL["employees"], "hire_date": text})
    assert record.hire_date == dt.date(2021, 4, 1)


@pytest.mark.parametrize("text", ["01/04/2021", "2021-4-1", "2021-04-01T10:00:00", "1899-12-31", "2101-01-01"])
def test_other_date_formats_and_out_of_range_days_are_quarantined(text):
    assert reasons("employees", {**MINIMAL["employees"], "hire_date": text}).startswith("hire_date: ")


@pytest.mark.parametrize("email", ["asha@acme", "@acme.example", "asha rao@acme.example", "asha@@acme.example",
                                   "asha@acme..example", "asha@.acme.example", "asha@acme.e"])
def test_invalid_emails_are_quarantined(email):
    assert reasons("employees", {**MINIMAL["employees"], "email": email}).startswith(
        f"email: Value error, not a valid email address: {email!r}")


def test_an_optional_email_may_be_empty_but_not_invalid():
    assert prepare("interviews", {**MINIMAL["interviews"], "interviewer_email": None})[0].interviewer_email is None
    assert reasons("interviews", {**MINIMAL["interviews"], "interviewer_email": "nobody"}).startswith(
        "interviewer_email: ")


@pytest.mark.parametrize("name, field, value", [
    ("employees", "employment_status", "retired"),
    ("employees", "work_type", "gig"),
    ("candidates", "current_stage", "ghosted"),
    ("leave_requests", "leave_type", "sabbatical"),
    ("job_requisitions", "status", "draft"),
    ("interviews", "rating", 6),
    ("interviews", "rating", 0),
])
def test_values_outside_their_enumeration_or_range_are_quarantined(name, field, value):
    assert reasons(name, {**MINIMAL[name], field: value}).startswith(f"{field}: ")


@pytest.mark.parametrize("name, changes, reason", [
    ("employees", {"termination_date": "2021-03-31"}, "hire_date..termination_date: end 2021-03-31 is before start"),
    ("employments", {"end_date": "2021-03-01"}, "start_date..end_date: end 2021-03-01 is before start"),
    ("leave_requests", {"end_date": "2026-03-01"}, "start_date..end_date: end 2026-03-01 is before start"),
    ("attendance", {"check_in_time": "2026-03-02T18:00:00+05:30", "check_out_time": "2026-03-02T09:00:00+05:30"},
     "check_in_time..check_out_time: end"),
])
def test_an_end_before_its_start_is_quarantined(name, changes, reason):
    assert reason in reasons(name, {**MINIMAL[name], **changes})


def test_not_an_object_or_not_json_is_quarantined_with_the_payload_kept():
    record, text, key, problem = prepare("employees", ["emp-1"])
    assert (record, text, problem) == (None, '["emp-1"]', "record is a list, not an object")
    assert key == hashlib.sha256(b'["emp-1"]').hexdigest()
    record, text, key, problem = prepare("employees", {"id": "emp-1", "blob": {1, 2}})
    assert record is None and problem.startswith("not JSON-serializable") and "blob" in text


def test_several_problems_are_named_together():
    problem = reasons("employees", {**MINIMAL["employees"], "email": None, "hire_date": "someday"})
    assert problem.startswith("email: ") and "; hire_date: " in problem


# -- the version key ---------------------------------------------------------------------------

def test_the_same_instants_in_another_format_are_the_same_version():
    sent = {**MINIMAL["attendance"], "check_in_time": "2026-03-02T09:05:00+05:30", "created_at": UPDATED}
    again = {**sent, "updated_at": "2026-03-01T09:00:00.000Z", "check_in_time": "2026-03-02T03:35:00Z",
             "created_at": "2026-03-01T09:00:00Z", "date": "2026-03-02T00:00:00"}
    first, second = prepare("attendance", sent), prepare("attendance", again)
    assert first[2] == second[2], "a server re-sending a record in another format changed nothing"
    assert first[1] != second[1], "the payload is kept as sent"


@pytest.mark.parametrize("changes", [
    {"updated_at": "2026-03-01T14:30:01+05:30"},  # another instant
    {"notes": "late bus"},  # any other field
    {"badge_colour": "blue"},  # an unknown extra field is kept and counts as sent
])
def test_any_other_change_is_a_new_version(changes):
    assert prepare("attendance", MINIMAL["attendance"])[2] != prepare("attendance", {**MINIMAL["attendance"],
                                                                                     **changes})[2]


def test_a_payload_without_timestamps_is_keyed_on_the_payload_as_sent():
    record, text, key, problem = prepare("leave_balances", MINIMAL["leave_balances"])
    assert key == hashlib.sha256(text.encode()).hexdigest()


# -- the entity specs ------------------------------------------------------------------------------

def test_business_keys_and_references_name_fields_and_entities_that_exist():
    for spec in ENTITIES:
        fields = spec.model.model_fields
        assert spec.business_key is None or fields[spec.business_key].is_required(), spec.name
        for reference in spec.references:
            assert reference.column in fields and reference.entity in ENTITIES_BY_NAME, (spec.name, reference)
        for index in spec.indexes:
            assert index[0] == "organization_id" and set(index[1:]) <= set(fields), (spec.name, index)
        assert set(spec.upstream) | set(spec.refetch_when_changed) <= set(ENTITIES_BY_NAME)
    assert REFERENCED_ENTITIES == ("employees", "job_requisitions", "candidates")
    assert entity("leave_requests").reference_to("employees") == "employee_id", "the first, not approved_by"
    assert [s.name for s in ENTITIES if not s.incremental] == ["leave_balances"]


def test_an_unknown_entity_is_named_with_the_known_ones():
    with pytest.raises(KeyError) as unknown:
        entity("employes")
    assert "unknown entity 'employes'; known: employees, departments, employments" in str(unknown.value)
