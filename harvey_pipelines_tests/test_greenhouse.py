"""Greenhouse Harvest v3: the adapter against its mock over HTTP on loopback, into DuckDB and
PostgreSQL; the Link-header cursor paginator and the organization with two systems."""

from __future__ import annotations

import datetime as dt
import logging

import orjson
import pytest
import sqlalchemy as sa

from harvey_pipelines.mock_hrms.greenhouse import GreenhouseMock
from harvey_pipelines.organizations import Organization, System
from harvey_pipelines.records import Candidate
from harvey_pipelines.sources import PagingState
from harvey_pipelines.sources.errors import ConfigurationError
from harvey_pipelines.sources.greenhouse import GreenhouseHarvestAdapter
from harvey_pipelines.sources.http import BearerAuth, HttpEngine, RetryPolicy, Secret
from harvey_pipelines.sources.paging import LinkHeaderCursor
from harvey_pipelines.sync import SyncFailed, sync_entity
from harvey_pipelines.warehouse import schema
from harvey_pipelines_tests.helpers import warehouse_rows
from harvey_pipelines_tests.processes import ScriptedHttpServer

RECRUITING = ("job_requisitions", "candidates", "interviews")
FAST_RETRY = RetryPolicy(max_attempts=8, backoff_base=0.01, backoff_max=0.05)
CLIENT_ID, CLIENT_SECRET = "gh-client-77", "gh-s3cret-value-91"


@pytest.fixture
def greenhouse_org(monkeypatch):
    """(mock, make_org): an organization whose recruiting is the mock's, credentials in the environment."""
    monkeypatch.setenv("HARVEY_TEST_GH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("HARVEY_TEST_GH_CLIENT_SECRET", CLIENT_SECRET)

    def make(gh: GreenhouseMock, org_id: str = "acme", **kw) -> Organization:
        return Organization(id=org_id, name=org_id, hrms_type="greenhouse", base_url=gh.url,
                            credential_env={"client_id": "HARVEY_TEST_GH_CLIENT_ID",
                                            "client_secret": "HARVEY_TEST_GH_CLIENT_SECRET"},
                            rate_limit_per_second=1000, **kw)

    return make


def mock(**kw) -> GreenhouseMock:
    return GreenhouseMock(client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **kw)


def truth(gh: GreenhouseMock) -> dict[str, dict[str, tuple]]:
    """What the warehouse must hold, read from the mock's data: per entity, source id -> key facts."""
    apps: dict[int, list[dict]] = {}
    for app in gh.data["applications"].values():
        apps.setdefault(app["candidate_id"], []).append(app)
    candidates = {}
    for cid, cand in gh.data["candidates"].items():
        current = max(apps[cid], key=lambda a: (a["status"] == "in_process", a["created_at"]))
        candidates[str(cid)] = (cand["email_addresses"][0]["value"], str(current["job_id"]),
                                {"in_process": "active"}.get(current["status"], current["status"]))
    interviews = {}
    for er in gh.data["interviewers"].values():
        iv = gh.data["interviews"][er["interview_id"]]
        app = gh.data["applications"][iv["application_id"]]
        interviews[f"{iv['id']}-{er['id']}"] = (str(iv["id"]), er["email"], str(app["candidate_id"]))
    jobs = {str(j["id"]): (j["name"], j["requisition_id"] or str(j["id"])) for j in gh.data["jobs"].values()}
    return {"candidates": candidates, "interviews": interviews, "job_requisitions": jobs}


def stored(warehouse, org_id: str) -> dict[str, dict[str, tuple]]:
    facts = {"candidates": ("email", "applied_for_job_id", "status"),
             "interviews": ("interview_id", "interviewer_email", "candidate_id"),
             "job_requisitions": ("title", "requisition_id")}
    return {entity: {sid: tuple(row[c] for c in columns)
                     for sid, row in warehouse_rows(warehouse, org_id, entity).items()}
            for entity, columns in facts.items()}


def sync_recruiting(org, warehouse, **kw):
    return {name: sync_entity(org, name, warehouse, retry=FAST_RETRY, **kw) for name in RECRUITING}


def test_full_sync_equals_the_mock_and_an_incremental_one_takes_exactly_the_changes(greenhouse_org, warehouse):
    with mock(candidates=60) as gh:
        org = greenhouse_org(gh)
        full = sync_recruiting(org, warehouse)
        assert all(r.status == "success" and r.quarantined == 0 for r in full.values()), full
        assert stored(warehouse, org.id) == truth(gh)
        panels = [i for i in gh.data["interviews"]
                  if sum(p["interview_id"] == i for p in gh.data["interviewers"].values()) > 1]
        assert panels, "the mock makes panels of several interviewers"
        rows = warehouse_rows(warehouse, org.id, "interviews")
        kept = sum(r["interview_id"] == str(panels[0]) for r in rows.values())
        assert kept > 1, "every interviewer of a panel is kept"

        again = sync_recruiting(org, warehouse, overlap=dt.timedelta(0))
        assert all((r.inserted, r.updated) == (0, 0) for r in again.values()), again

        # an application-only change: the candidate's own updated_at stays where it was
        candidate_id, apps = next((c, [a for a in gh.data["applications"].values() if a["candidate_id"] == c])
                                  for c in gh.data["candidates"])
        before = gh.data["candidates"][candidate_id]["updated_at"]
        gh.change("applications", apps[0]["id"], status="hired")
        assert gh.data["candidates"][candidate_id]["updated_at"] == before
        gh.add_interviewer(panels[0])  # a panel grows: one interview row more, its candidate untouched
        job = next(iter(gh.data["jobs"]))
        gh.change("jobs", job, name="Staff Engineer")
        changed = sync_recruiting(org, warehouse, overlap=dt.timedelta(0))
        assert (changed["candidates"].inserted, changed["candidates"].updated) == (0, 1)
        assert (changed["interviews"].inserted, changed["interviews"].updated) == (1, 0)
        assert (changed["job_requisitions"].inserted, changed["job_requisitions"].updated) == (0, 1)
        assert warehouse_rows(warehouse, org.id, "candidates")[str(candidate_id)]["status"] == "hired"
        assert stored(warehouse, org.id) == truth(gh)
        assert changed["candidates"].api_calls < full["candidates"].api_calls + 3


def test_each_stored_version_keeps_greenhouses_payload_and_the_canonical_record(greenhouse_org, warehouse):
    """The payload is Greenhouse's parts as sent; ``canonical`` beside it is what the adapter mapped
    (records.py's field names), equal to the core row: what dbt reads for history."""
    with mock(candidates=12) as gh:
        org = greenhouse_org(gh)
        assert sync_entity(org, "candidates", warehouse, retry=FAST_RETRY).status == "success"
    table = schema.payload_versions
    with warehouse.writer() as conn:
        versions = conn.execute(sa.select(table.c.source_id, table.c.payload, table.c.canonical).where(
            table.c.organization_id == org.id, table.c.entity == "candidates")).all()
    core = warehouse_rows(warehouse, org.id, "candidates")
    assert len(versions) == len(core) == 12
    fields = set(Candidate.model_fields)
    for source_id, payload_text, canonical_text in versions:
        payload, canonical = orjson.loads(payload_text), orjson.loads(canonical_text)
        assert {"candidate", "application", "stage"} <= set(payload) and "current_stage" not in payload
        assert "first_name" in payload["candidate"]
        assert set(canonical) == fields and canonical["id"] == source_id
        row = core[source_id]
        for name in ("first_name", "last_name", "email", "current_stage", "status", "applied_for_job_id",
                     "application_date", "candidate_id"):
            assert canonical[name] == (row[name].isoformat() if isinstance(row[name], dt.date) else row[name]), name
        assert canonical["first_name"] == payload["candidate"]["first_name"]
        assert dt.datetime.fromisoformat(canonical["updated_at"]).utcoffset() == dt.timedelta(0)


def test_429_5xx_token_and_cursor_expiry_and_changes_while_paging_lose_nothing(
        greenhouse_org, warehouse, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(GreenhouseHarvestAdapter, "page_size", 7)
    with mock(candidates=45, token_lifetime_requests=5, rate_limit=12, rate_window=1.0) as gh:
        org = greenhouse_org(gh)
        before = truth(gh)
        first = next(iter(gh.data["candidates"]))
        gh.fail_next(2, status=503)
        gh.during_paging(gh.expire_cursors)
        gh.during_paging(lambda: gh.change("candidates", first, first_name="Renamed"))  # already read
        gh.during_paging(gh.add_candidate)  # beyond the walk's position: met in this walk
        gh.during_paging(gh.expire_cursors)
        results = sync_recruiting(org, warehouse, mode="full")
        assert all(r.status == "success" for r in results.values()), results
        synced = stored(warehouse, org.id)
        for entity, rows in before.items():
            assert set(rows) <= set(synced[entity]), f"{entity}: nothing that existed is lost"
        assert sum(r.retries for r in results.values()) >= 2, "the 503s and 429s were retried"
        assert gh.token_requests > 2, "tokens died mid-sync and were renewed"
        assert any("cursor expired" in note for r in results.values() for note in r.notes)
        follow_ups = [path for method, path in gh.calls if "cursor=" in path]
        assert follow_ups and all("&" not in path for path in follow_ups), "follow-ups carry only the cursor"
        # the next incremental sync brings what changed behind the walk
        sync_recruiting(org, warehouse, overlap=dt.timedelta(0))
        assert stored(warehouse, org.id) == truth(gh)
        assert warehouse_rows(warehouse, org.id, "candidates")[str(first)]["first_name"] == "Renamed"
    shown = caplog.text + repr([r.as_dict() for r in results.values()])
    with warehouse.writer() as conn:
        shown += repr(conn.execute(sa.select(schema.sync_runs)).all())
        shown += repr(conn.execute(sa.select(schema.payload_versions)).all())
    assert CLIENT_SECRET not in shown and CLIENT_ID not in shown


def test_a_wrong_credential_fails_at_once_with_a_clear_message(greenhouse_org, warehouse, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HARVEY_TEST_GH_CLIENT_SECRET", "not-the-secret-42")
    with mock(candidates=5) as gh:
        org = greenhouse_org(gh)
        with pytest.raises(SyncFailed) as failed:
            sync_entity(org, "candidates", warehouse, retry=FAST_RETRY)
        assert gh.calls == [("POST", "/token")], "one token request, no retry storm"
    result = failed.value.result
    assert result.failure_kind == "credential"
    assert "the token endpoint refused the client (HTTP 401)" in result.error
    assert "HARVEY_TEST_GH_CLIENT_ID and HARVEY_TEST_GH_CLIENT_SECRET" in result.error
    for secret in ("not-the-secret-42", CLIENT_ID):
        assert secret not in caplog.text + str(failed.value) + repr(result.as_dict())


def test_a_missing_greenhouse_secret_names_its_variable(greenhouse_org, warehouse, monkeypatch):
    monkeypatch.delenv("HARVEY_TEST_GH_CLIENT_SECRET")
    with mock(candidates=2) as gh, pytest.raises(SyncFailed) as failed:
        sync_entity(greenhouse_org(gh), "job_requisitions", warehouse, retry=FAST_RETRY)
    assert failed.value.result.failure_kind == "credential"
    assert "HARVEY_TEST_GH_CLIENT_SECRET (its greenhouse client_secret) is not set" in failed.value.result.error


def test_one_organization_takes_hr_from_one_system_and_recruiting_from_greenhouse(make_org, warehouse, monkeypatch):
    monkeypatch.setenv("HARVEY_TEST_GH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("HARVEY_TEST_GH_CLIENT_SECRET", CLIENT_SECRET)
    hr = make_org(size=20)
    with mock(candidates=15) as gh:
        recruiting = System(hrms_type="greenhouse", base_url=gh.url, rate_limit_per_second=1000,
                            credential_env={"client_id": "HARVEY_TEST_GH_CLIENT_ID",
                                            "client_secret": "HARVEY_TEST_GH_CLIENT_SECRET"})
        org = hr.model_copy(update={"systems": {"recruiting": recruiting}})
        org = Organization.model_validate(org.model_dump())  # as the registry file holds it
        employees = sync_entity(org, "employees", warehouse, retry=FAST_RETRY)
        candidates = sync_entity(org, "candidates", warehouse, retry=FAST_RETRY)
        assert employees.inserted == 20 and employees.status == "success"
        assert candidates.inserted == 15 and gh.token_requests == 1
        assert set(warehouse_rows(warehouse, org.id, "candidates")) == {str(c) for c in gh.data["candidates"]}


# -- fast: the paginator and the registry ----------------------------------------------------------

@pytest.mark.fast
def test_link_header_cursor_sends_filters_first_then_only_the_cursor_and_restarts_an_expired_one():
    answers = iter([
        (200, {"Link": '</v3/candidates?cursor=c1>; rel="next"'}, [{"id": 1}]),
        (422, {}, {"message": "cursor expired"}),
        (200, {"Link": '</v3/candidates?cursor=c2>; rel="next"'}, [{"id": 1}]),
        (200, {}, [{"id": 2}]),
    ])
    with ScriptedHttpServer(lambda request: next(answers)) as server:
        engine = HttpEngine(server.origin, BearerAuth(Secret("t")), name="acme/greenhouse",
                            rate_limit_per_second=1000, retry=RetryPolicy(max_attempts=1))
        state = PagingState()
        since = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.timezone.utc)
        with engine:
            pages = list(LinkHeaderCursor(page_size=2).pages(engine, "/v3/candidates", since, state))
    assert pages == [[{"id": 1}], [{"id": 1}], [{"id": 2}]]
    queries = [(r.path, r.query) for r in server.requests]
    first = ("/v3/candidates", {"per_page": "2", "updated_at": "gte|2026-11-02T09:00:00+00:00"})
    assert queries == [first, ("/v3/candidates", {"cursor": "c1"}), first, ("/v3/candidates", {"cursor": "c2"})]
    assert state.notes == ["/v3/candidates: the cursor expired mid-walk (HTTP 422); walked again from the start"]


@pytest.mark.fast
def test_a_422_on_the_first_request_is_not_a_cursor_expiry():
    with ScriptedHttpServer(lambda request: (422, {}, {"message": "per_page must be 1..500"})) as server, \
            HttpEngine(server.origin, BearerAuth(Secret("t")), name="acme/greenhouse", rate_limit_per_second=1000,
                       retry=RetryPolicy(max_attempts=1)) as engine, pytest.raises(ConfigurationError):
        list(LinkHeaderCursor(page_size=900).pages(engine, "/v3/candidates", None, PagingState()))
    assert len(server.requests) == 1


@pytest.mark.fast
@pytest.mark.parametrize("credential_env, message", [
    ("ONE_VARIABLE", "needs credential_env as {client_id: VARIABLE, client_secret: VARIABLE}"),
    ({"client_id": "GH_ID"}, "needs credential_env as {client_id: VARIABLE, client_secret: VARIABLE}"),
    ({"client_id": "GH_ID", "client_secret": "not a name"}, "must be an environment variable name"),
])
def test_the_registry_checks_a_vendors_credential_names(credential_env, message):
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("}", r"\}")):
        Organization(id="acme", name="Acme", hrms_type="greenhouse", base_url="https://harvest.greenhouse.io",
                     credential_env=credential_env)
    with pytest.raises(ValueError, match="unknown entity group 'payroll'"):
        Organization(id="acme", name="Acme", base_url="http://x", credential_env="X",
                     systems={"payroll": {"hrms_type": "custom", "base_url": "http://y", "credential_env": "Y"}})


@pytest.mark.fast
def test_harvey_orgs_registers_greenhouse_alone_or_as_the_recruiting_system(tmp_path, capsys):
    from harvey_pipelines.cli import main
    from harvey_pipelines.organizations import OrganizationRegistry

    registry = str(tmp_path / "orgs.yaml")
    assert main(["--registry", registry, "orgs", "add", "talent", "--hrms-type", "greenhouse",
                 "--base-url", "https://harvest.greenhouse.io", "--credential-env", "client_id=TALENT_GH_ID",
                 "--credential-env", "client_secret=TALENT_GH_SECRET"]) == 0
    assert main(["--registry", registry, "orgs", "add", "acme", "--base-url", "https://hr.acme.example",
                 "--credential-env", "ACME_HRMS_TOKEN"]) == 0
    assert main(["--registry", registry, "orgs", "add-system", "acme", "recruiting", "--hrms-type", "greenhouse",
                 "--base-url", "https://harvest.greenhouse.io", "--credential-env", "client_id=ACME_GH_ID",
                 "--credential-env", "client_secret=ACME_GH_SECRET"]) == 0
    orgs = {o.id: o for o in OrganizationRegistry(registry).load()}
    assert orgs["talent"].credential_env == {"client_id": "TALENT_GH_ID", "client_secret": "TALENT_GH_SECRET"}
    acme = orgs["acme"]
    assert acme.system_for("recruiting").hrms_type == "greenhouse"
    assert acme.system_for("people").hrms_type == "custom" and acme.credential_env == "ACME_HRMS_TOKEN"
    capsys.readouterr()
    assert main(["--registry", registry, "orgs", "list"]) == 0
    assert "recruiting: greenhouse" in capsys.readouterr().out.replace("  ", " ").replace("  ", " ")
    assert main(["--registry", registry, "orgs", "remove-system", "acme", "recruiting"]) == 0
    assert OrganizationRegistry(registry).get("acme").systems is None


@pytest.mark.fast
def test_an_organization_serves_what_the_systems_owning_each_group_declare(monkeypatch):
    from harvey_pipelines.records import ENTITIES
    from harvey_pipelines.sources.base import serves

    for variable in ("HOOLI_KEY", "HOOLI_GH_ID", "HOOLI_GH_SECRET"):  # no secret is read to tell
        monkeypatch.delenv(variable, raising=False)
    hooli = Organization(id="hooli", name="Hooli", hrms_type="bamboohr", base_url="https://api.bamboohr.com/x/v1",
                         credential_env="HOOLI_KEY", systems={"recruiting": System(
                             hrms_type="greenhouse", base_url="https://harvest.greenhouse.io",
                             credential_env={"client_id": "HOOLI_GH_ID", "client_secret": "HOOLI_GH_SECRET"})})
    assert [s.name for s in ENTITIES if not serves(hooli, s.name)] == ["attendance"]
    alone = hooli.model_copy(update={"systems": None})
    assert [s.name for s in ENTITIES if not serves(alone, s.name)] == [
        "job_requisitions", "candidates", "interviews", "attendance"]
    custom = Organization(id="acme", name="Acme", base_url="https://hr.acme.example", credential_env="ACME_TOKEN")
    assert all(serves(custom, s.name) for s in ENTITIES)
