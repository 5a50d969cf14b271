"""Unit tests of what an adapter adds to the engine (sources/base.py, custom.py): the credential
from the environment and the engine it configures, and a fan-out's answers (one per parent):
rows per answer, parents gone (404) tolerated when few, a wrong path failing when most answer
404. Against scripted servers on loopback. (Whole syncs of fan-outs: test_sync_edges_fanout.py.)"""

from __future__ import annotations

import pytest

from harvey_pipelines.organizations import Organization, RegistryError
from harvey_pipelines.sources import FanOutPage, FetchContext, PagingState, adapter_for
from harvey_pipelines.sources.errors import AuthenticationError, ConfigurationError, UnreadableResponse
from harvey_pipelines.sources.http import RetryPolicy
from harvey_pipelines_tests.processes import ScriptedHttpServer

pytestmark = pytest.mark.fast

TOKEN_ENV = "HARVEY_UNIT_ACME_HRMS_TOKEN"


def organization(base_url: str, **kw) -> Organization:
    return Organization(id="acme", name="Acme", base_url=base_url, credential_env=TOKEN_ENV, **kw)


def balances(request):
    """The leave balance endpoint: employees emp-0..emp-N; ``gone-*`` answer 404."""
    employee = request.path.split("/")[4]
    if employee.startswith("gone"):
        return 404, {}, {"detail": "Employee not found"}
    return 200, {}, {"employee_id": employee, "year": 2026, "leave_balances": [
        {"leave_type": "annual", "total_allocated": 20, "used": 2},
        {"leave_type": "sick", "total_allocated": 10, "used": 0}]}


def fan_out(server, parents, org=None) -> tuple[list[FanOutPage], PagingState]:
    # a rate that never waits: what is tested is the answers
    adapter = adapter_for(org or organization(server.origin, rate_limit_per_second=10_000),
                          retry=RetryPolicy(max_attempts=2))
    state = PagingState()
    with adapter.engine() as engine:
        pages = list(adapter.fetch(engine, "leave_balances", None, state, FetchContext(parent_ids=lambda e: parents)))
    return pages, state


def test_the_adapter_authenticates_with_the_variable_the_registry_names(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "tok-from-env")
    with ScriptedHttpServer(lambda request: (401, {}, {"detail": "bad token"})) as server:
        adapter = adapter_for(organization(server.origin, rate_limit_per_second=7))
        with adapter.engine() as engine, pytest.raises(AuthenticationError) as refused:
            engine.get_json("/api/v1/employees")
    assert server.requests[0].headers["authorization"] == "Bearer tok-from-env"
    assert str(refused.value).startswith(f"acme/custom at {server.origin}: the HR system refused the credential")
    assert str(refused.value).endswith(f"check the environment variable {TOKEN_ENV}")
    assert "tok-from-env" not in str(refused.value)
    assert engine.limiter.per_second == 7, "the registry's rate, not the adapter's default"
    with adapter_for(organization(server.origin)).engine() as default:
        assert default.limiter.per_second == 100


def test_without_the_variable_there_is_no_adapter(monkeypatch, tmp_path):
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    monkeypatch.setenv("HARVEY_DATA_DIR", str(tmp_path))  # no local.env either
    with pytest.raises(RegistryError, match=f"environment variable {TOKEN_ENV} .its HRMS credential. is not set"):
        adapter_for(organization("http://127.0.0.1:9"))


def test_each_answer_becomes_one_row_per_leave_type_and_names_its_parent(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "t")
    with ScriptedHttpServer(balances) as server:
        pages, state = fan_out(server, ["emp-1", "emp-2"])
    [page] = pages
    assert (page.parent_entity, sorted(page.parents)) == ("employees", ["emp-1", "emp-2"])
    assert sorted(r["id"] for r in page) == ["emp-1:2026:annual", "emp-1:2026:sick", "emp-2:2026:annual",
                                             "emp-2:2026:sick"]
    assert {(r["employee_id"], r["year"]) for r in page} == {("emp-1", 2026), ("emp-2", 2026)}
    assert sorted(r.path for r in server.requests) == ["/api/v1/employees/emp-1/leave-balance",
                                                       "/api/v1/employees/emp-2/leave-balance"]
    assert state.notes == []


def test_parents_are_asked_in_chunks_of_200_one_page_each(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "t")
    with ScriptedHttpServer(balances) as server:
        pages, _ = fan_out(server, [f"emp-{i}" for i in range(201)])
    assert [len(p.parents) for p in pages] == [200, 1]
    assert len(server.requests) == 201


def test_a_few_parents_gone_are_noted_and_their_rows_left_alone(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "t")
    parents = [f"emp-{i}" for i in range(8)] + ["gone-1", "gone-2"]
    with ScriptedHttpServer(balances) as server:
        [page], state = fan_out(server, parents)
    assert "gone-1" not in page.parents and len(page.parents) == 8, "no answer: its balances are not replaced"
    assert state.notes == ["2 of 10 employees answered 404 on /api/v1/employees/{id}/leave-balance (deleted at the "
                           "source since they were synced): no answer, so their leave_balances were not replaced"]


@pytest.mark.parametrize("parents", [
    [f"gone-{i}" for i in range(6)] + ["emp-1"],  # most of them, and at least 5
    ["gone-1", "gone-2"],  # all of them, when fewer than 5 are asked
])
def test_most_parents_answering_404_is_a_wrong_address(monkeypatch, parents):
    monkeypatch.setenv(TOKEN_ENV, "t")
    with ScriptedHttpServer(balances) as server, pytest.raises(ConfigurationError) as wrong:
        fan_out(server, parents)
    missing = sum(p.startswith("gone") for p in parents)
    assert str(wrong.value) == (
        f"acme/custom: {missing} of {len(parents)} employees answered HTTP 404 on GET "
        f"/api/v1/employees/{{id}}/leave-balance with base_url {server.origin}: that many cannot have been deleted; "
        "check the organization's base_url and the adapter's paths")
    assert wrong.value.status == 404


def test_an_answer_without_its_list_is_unreadable(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "t")
    with ScriptedHttpServer(lambda request: (200, {}, {"employee_id": "emp-1", "balances": []})) as server:
        with pytest.raises(UnreadableResponse, match="the leave balance of employee emp-1 has no list under "
                                                     "'leave_balances'") as unreadable:
            fan_out(server, ["emp-1"])
    assert b'"balances"' in unreadable.value.body, "the body is kept for the quarantine"


def test_rows_that_are_not_objects_are_passed_on_and_their_answer_replaces_nothing(monkeypatch):
    monkeypatch.setenv(TOKEN_ENV, "t")
    answer = {"employee_id": "emp-1", "year": 2026, "leave_balances": [{"leave_type": "annual"}, "sick"]}
    with ScriptedHttpServer(lambda request: (200, {}, answer)) as server:
        [page], _ = fan_out(server, ["emp-1"])
    assert list(page) == [{"leave_type": "annual", "id": "emp-1:2026:annual", "employee_id": "emp-1", "year": 2026},
                          "sick"]
    assert page.parents == [], "an answer with a row it cannot identify is not trusted to replace the parent's rows"
