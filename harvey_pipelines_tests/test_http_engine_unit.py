"""Unit tests of the HTTP engine: what each answer of a server becomes (retry, wait, error kind
and message), the auth flows, the circuit breaker's states and the retry arithmetic. The
servers are real HTTP servers on loopback whose every answer the test scripts
(``ScriptedHttpServer``); the breaker runs on a clock the test moves."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import itertools
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from harvey_pipelines.sources.errors import (
    AuthenticationError,
    CircuitOpenError,
    ConfigurationError,
    SourceError,
    TransientError,
    UnreadableResponse,
)
from harvey_pipelines.sources.http import (
    SPOOL_BYTES,
    BasicAuth,
    BearerAuth,
    CircuitBreaker,
    HttpEngine,
    OAuthClientAuth,
    RetryPolicy,
    Secret,
    _retry_after_seconds,
    json_items,
    shown_url,
)
from harvey_pipelines_tests.processes import ScriptedHttpServer, free_port

pytestmark = pytest.mark.fast

TOKEN = "tok-unit-s3cret"
OK = (200, {}, {"data": []})


def scripted(*answers):
    """A server answering ``answers`` in turn, then 200 ``{"data": []}``."""
    queue = iter(answers)
    return ScriptedHttpServer(lambda request: next(queue, OK))


def engine_for(server, sleeps=None, auth=None, **kw) -> HttpEngine:
    kw.setdefault("retry", RetryPolicy(max_attempts=3))
    return HttpEngine(server.origin, auth or BearerAuth(Secret(TOKEN)), name="acme/custom",
                      sleep=(sleeps if sleeps is not None else []).append, rate_limit_per_second=1000,
                      credential_hint="the environment variable HARVEY_ACME_HRMS_TOKEN", **kw)


# -- what each answer becomes ------------------------------------------------------------------

def test_a_200_returns_the_parsed_body_and_sends_the_query_and_headers():
    with scripted((200, {"X-Total": "3"}, {"data": [{"id": 1}]})) as server, engine_for(server) as engine:
        answer = engine.get_json("/api/v1/employees", {"page": 2, "page_size": 50})
    assert (answer.status, answer.body, answer.headers["x-total"]) == (200, {"data": [{"id": 1}]}, "3")
    [request] = server.requests
    assert (request.method, request.path) == ("GET", "/api/v1/employees")
    assert request.query == {"page": "2", "page_size": "50"}
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["accept"] == "application/json" and request.headers["user-agent"] == "harvey-pipelines"
    assert (engine.api_calls, engine.retries) == (1, 0)


def test_a_post_sends_its_json_body_and_query_and_returns_the_parsed_answer():
    with scripted((200, {}, {"employees": [{"id": "4"}]})) as server, engine_for(server) as engine:
        answer = engine.post_json("/reports/custom", {"title": "harvey", "fields": ["firstName"]}, {"format": "JSON"})
    assert answer.body == {"employees": [{"id": "4"}]}
    [request] = server.requests
    assert (request.method, request.path, request.query) == ("POST", "/reports/custom", {"format": "JSON"})
    assert json.loads(request.body) == {"title": "harvey", "fields": ["firstName"]}
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


def test_a_post_is_retried_with_its_body_and_its_errors_name_post():
    sleeps = []
    busy = (429, {"Retry-After": "2"}, {"detail": "slow down"})
    with scripted(busy) as server, engine_for(server, sleeps) as engine:
        assert engine.post_json("/reports/custom", {"fields": ["id"]}).body == {"data": []}
    assert [r.method for r in server.requests] == ["POST", "POST"] and sleeps == [2.0]
    assert server.requests[0].body == server.requests[1].body == b'{"fields":["id"]}'
    answers = {"/down": [(503, {}, {})] * 3, "/gone": [(404, {}, {"detail": "no report"})],
               "/refused": [(401, {}, {})]}
    for path, script in answers.items():
        with scripted(*script) as server, engine_for(server) as engine:
            with pytest.raises(SourceError) as failed:
                engine.post_json(path, {})
        assert f" on POST {path}" in str(failed.value) and "GET" not in str(failed.value)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_credential_fails_at_once_naming_the_host_and_the_variable_not_the_token(status):
    sleeps = []
    with scripted((status, {}, {"detail": "bad token"})) as server, engine_for(server, sleeps) as engine:
        with pytest.raises(AuthenticationError) as refused:
            engine.get_json("/api/v1/employees")
    message = str(refused.value)
    assert message == (f"acme/custom at {server.origin}: the HR system refused the credential (HTTP {status} on GET "
                       "/api/v1/employees); check the environment variable HARVEY_ACME_HRMS_TOKEN")
    assert refused.value.kind == "credential" and TOKEN not in message
    assert len(server.requests) == engine.api_calls == 1 and sleeps == []
    assert engine.breaker.opened_at is None, "a refusal is an answer: the server is up"


@pytest.mark.parametrize("status, body, detail", [
    (404, {"detail": "Not Found"}, "Not Found"),
    (400, {"detail": "page_size must be a number"}, "page_size must be a number"),
    (404, b"<html>nothing here</html>", "Not Found"),  # not JSON: the reason phrase
    (422, {"error": "no detail key"}, "Unprocessable Entity"),
])
def test_other_4xx_is_a_configuration_error_with_the_servers_detail(status, body, detail):
    sleeps = []
    with scripted((status, {}, body)) as server, engine_for(server, sleeps) as engine:
        with pytest.raises(ConfigurationError) as wrong:
            engine.get_json("/api/v1/employes")
    assert str(wrong.value) == (f"acme/custom at {server.origin}: HTTP {status} on GET /api/v1/employes: {detail}; "
                                "check the organization's base_url and the adapter's paths")
    assert (wrong.value.status, wrong.value.kind) == (status, "configuration")
    assert engine.api_calls == 1 and sleeps == []


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_statuses_are_retried_then_the_answer_is_returned(status):
    sleeps = []
    with scripted((status, {}, {"detail": "busy"})) as server, engine_for(server, sleeps) as engine:
        assert engine.get_json("/api/v1/employees").body == {"data": []}
    assert len(server.requests) == engine.api_calls == 2 and engine.retries == len(sleeps) == 1


def test_transient_faults_that_outlive_every_attempt_give_up_and_open_the_breaker():
    sleeps = []
    busy = (503, {}, {"detail": "busy"})
    with scripted(busy, busy, busy) as server, engine_for(server, sleeps) as engine:
        with pytest.raises(TransientError) as gave_up:
            engine.get_json("/api/v1/employees")
        assert str(gave_up.value) == (f"acme/custom at {server.origin}: HTTP 503 on GET /api/v1/employees; "
                                      "gave up after 3 attempts")
        assert gave_up.value.kind == "transient"
        assert engine.api_calls == 3 and engine.retries == len(sleeps) == 2
        assert engine.breaker.times_opened == 1
        with pytest.raises(CircuitOpenError, match="HTTP 503 on GET /api/v1/employees") as open_:
            engine.get_json("/api/v1/departments")
        assert open_.value.kind == "transient" and engine.api_calls == 3


def test_a_200_that_is_not_json_is_retried_and_kept_when_it_stays_unreadable():
    garbled = (200, {}, b'{"data": [{"id": 1')
    sleeps = []
    with scripted(garbled) as server, engine_for(server, sleeps) as engine:
        assert engine.get_json("/api/v1/employees").body == {"data": []}  # once: a retry gets past it
    assert engine.retries == 1
    with scripted(garbled, garbled, garbled) as server, engine_for(server) as engine:
        with pytest.raises(UnreadableResponse) as unreadable:
            engine.get_json("/api/v1/employees")
    assert str(unreadable.value) == (f"acme/custom at {server.origin}: unreadable JSON from GET /api/v1/employees "
                                     "(18 bytes) after 3 attempts")
    assert unreadable.value.kind == "data" and unreadable.value.body == b'{"data": [{"id": 1'


def test_a_large_answer_is_fetched_into_a_file_retried_like_json_and_read_item_by_item():
    """``get_file`` (a whole Workday report): retried on a 503 like ``get_json``; the body lands in
    a file past SPOOL_BYTES, not in memory, and ``json_items`` streams the list under a key."""
    entries = [{"Worker_ID": f"w{i}", "Business_Title": "Engineer " * 10} for i in range(60_000)]
    document = json.dumps({"Report_Entry": entries}).encode()
    assert len(document) > SPOOL_BYTES
    sleeps = []
    with scripted((503, {}, {"detail": "busy"}), (200, {}, document)) as server, engine_for(server, sleeps) as engine:
        answer = engine.get_file("/ccx/service/customreport2/acme/ISU/Job_History", {"format": "json"})
    with answer.body as body:
        assert body._rolled, "past SPOOL_BYTES the answer is in a temporary file"  # type: ignore[attr-defined]
        assert body.read() == document
        assert list(json_items(body, "Report_Entry", "report Job_History")) == entries
    assert (answer.status, engine.api_calls, engine.retries, len(sleeps)) == (200, 2, 1, 1)
    assert server.requests[-1].query == {"format": "json"}


def test_a_server_that_does_not_answer_in_time_is_a_transient_timeout():
    release = threading.Event()

    def hang(request):
        release.wait(10)
        return OK

    with ScriptedHttpServer(hang) as server:
        try:
            with engine_for(server, retry=RetryPolicy(max_attempts=2), timeout=0.2) as engine:
                with pytest.raises(TransientError) as gave_up:
                    engine.get_json("/api/v1/employees")
        finally:
            release.set()
    message = str(gave_up.value)
    assert "ReadTimeout" in message and "GET /api/v1/employees; gave up after 2 attempts" in message, message
    assert gave_up.value.kind == "transient" and "base_url" not in message


def test_a_refused_connection_is_a_configuration_failure_and_hides_the_url_password():
    port = free_port()  # nothing listens on it
    engine = HttpEngine(f"http://svc:pw-9f2c@127.0.0.1:{port}/orgs/acme", BearerAuth(Secret(TOKEN)), name="acme/custom",
                        sleep=[].append, rate_limit_per_second=1000, retry=RetryPolicy(max_attempts=2))
    with engine, pytest.raises(TransientError) as gave_up:
        engine.get_json("/api/v1/employees")
    message = str(gave_up.value)
    assert gave_up.value.kind == "configuration"
    assert message.startswith(f"acme/custom at http://127.0.0.1:{port}/orgs/acme: ConnectError")
    assert message.endswith("gave up after 2 attempts; check the organization's base_url and that the HR system "
                            "is running")
    assert "pw-9f2c" not in message and "svc" not in message


# -- Retry-After and backoff ---------------------------------------------------------------------

@pytest.mark.parametrize("header, waited", [
    ("7", 7.0),
    ("0.5", 0.5),
    ("-3", 0.0),  # a clock skew: at once
    ("3600", 120.0),  # capped at max_retry_after
])
def test_429_waits_what_retry_after_says_within_the_cap(header, waited):
    sleeps = []
    with scripted((429, {"Retry-After": header}, {})) as server, engine_for(server, sleeps) as engine:
        engine.get_json("/api/v1/employees")
    assert sleeps == [waited]


def test_retry_after_as_an_http_date_is_the_time_until_then():
    assert _retry_after_seconds(None) is None
    assert _retry_after_seconds("12") == 12.0
    assert _retry_after_seconds("soon") is None
    assert _retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: at once
    later = email.utils.format_datetime(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=90), usegmt=True)
    assert 80 < _retry_after_seconds(later) <= 90


def test_an_unreadable_retry_after_falls_back_to_the_backoff():
    sleeps = []
    policy = RetryPolicy(max_attempts=3, backoff_base=0.25)
    with scripted((429, {"Retry-After": "tomorrow"}, {})) as server, engine_for(server, sleeps, retry=policy) as engine:
        engine.get_json("/api/v1/employees")
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 0.25


def test_backoff_grows_exponentially_to_its_cap_with_full_jitter():
    policy = RetryPolicy(backoff_base=0.5, backoff_max=8.0)
    for attempt, cap in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (9, 8.0)]:
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays), (attempt, max(delays))
        # full jitter: spread over the whole range, not bunched at the cap
        assert min(delays) < cap / 4 and max(delays) > cap * 3 / 4, (attempt, min(delays), max(delays))
    assert policy.delay(3, retry_after=2.5) == 2.5


# -- auth -----------------------------------------------------------------------------------------

def test_basic_auth_sends_user_and_password():
    auth = BasicAuth(Secret("api-key-1"), Secret("x"))
    with scripted() as server, engine_for(server, auth=auth) as engine:
        engine.get_json("/api/v1/employees")
    scheme, _, value = server.requests[0].headers["authorization"].partition(" ")
    assert scheme == "Basic" and base64.b64decode(value) == b"api-key-1:x"
    assert base64.b64decode(BasicAuth(Secret("user@company")).headers()["Authorization"][6:]) == b"user@company:"


def test_secrets_do_not_show_in_reprs():
    auths = [BearerAuth(Secret("s-1")), BasicAuth(Secret("s-2"), Secret("s-3")),
             OAuthClientAuth("http://x/token", "client", Secret("s-4"), Secret("s-5"))]
    for auth in auths:
        assert not any(f"s-{i}" in repr(auth) + str(auth) for i in range(1, 6)), repr(auth)


class OAuthServer(ScriptedHttpServer):
    """A token endpoint (``POST /oauth/token``) handing out ``tok-1``, ``tok-2``... (with
    ``expires_at`` when given) and an API that accepts only the newest token (none with
    ``api_accepts_tokens=False``): the others expired."""

    def __init__(self, token_status: int = 200, api_accepts_tokens: bool = True, expires_at: str | None = None):
        self.issued: list[str] = []
        numbers = itertools.count(1)

        def respond(request):
            if request.method == "POST" and request.path == "/oauth/token":
                if token_status != 200:
                    return token_status, {}, {"error": "invalid_client"}
                self.issued.append(f"tok-{next(numbers)}")
                answer = {"access_token": self.issued[-1], "token_type": "bearer"}
                return 200, {}, answer | ({"expires_at": expires_at} if expires_at else {})
            newest = f"Bearer {self.issued[-1]}" if self.issued else None
            if api_accepts_tokens and newest and request.headers.get("authorization") == newest:
                return OK
            return 401, {}, {"detail": "token expired"}

        super().__init__(respond)

    def expire(self):
        self.issued.append("tok-unknown-to-the-client")

    def calls(self):
        return [(r.method, r.path, r.headers.get("authorization")) for r in self.requests]


@pytest.mark.parametrize("refresh_token, grant", [
    (Secret("refresh-77"), {"grant_type": "refresh_token", "refresh_token": "refresh-77"}),
    (None, {"grant_type": "client_credentials"}),
])
def test_oauth_gets_a_token_at_first_use_and_again_on_a_401(refresh_token, grant):
    with OAuthServer() as server:
        auth = OAuthClientAuth(f"{server.origin}/oauth/token", "harvey", Secret("client-s3cret"), refresh_token)
        with engine_for(server, auth=auth) as engine:
            assert engine.get_json("/api/v1/employees").body == {"data": []}
            assert server.calls() == [("POST", "/oauth/token", None), ("GET", "/api/v1/employees", "Bearer tok-1")]
            assert server.requests[0].form == {"client_id": "harvey", "client_secret": "client-s3cret", **grant}
            assert engine.get_json("/api/v1/departments").status == 200  # the token is kept
            assert len(server.requests) == 3

            server.expire()  # the server dropped it before the client expected
            assert engine.get_json("/api/v1/departments").status == 200
            assert server.calls()[3:] == [("GET", "/api/v1/departments", "Bearer tok-1"),
                                          ("POST", "/oauth/token", None),
                                          ("GET", "/api/v1/departments", "Bearer tok-2")]


def test_oauth_client_credentials_in_basic_auth_with_expires_at_renews_before_expiry():
    now = [dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.timezone.utc).timestamp()]
    with OAuthServer(expires_at="2026-11-02T10:00:00Z") as server:
        auth = OAuthClientAuth(f"{server.origin}/oauth/token", "gh-client", Secret("client-s3cret"),
                               client_auth="basic", clock=lambda: now[0])
        with engine_for(server, auth=auth) as engine:
            engine.get_json("/v3/candidates")
            token_call = server.requests[0]
            assert token_call.form == {"grant_type": "client_credentials"}, "no secret in the body"
            assert base64.b64decode(token_call.headers["authorization"][6:]) == b"gh-client:client-s3cret"
            now[0] += 58 * 60  # two minutes before expiry: the token is kept
            engine.get_json("/v3/candidates")
            now[0] += 60  # within a minute of expiry: renewed before the request, no 401 met
            engine.get_json("/v3/candidates")
    assert [c[:2] for c in server.calls()] == [("POST", "/oauth/token"), ("GET", "/v3/candidates"),
                                               ("GET", "/v3/candidates"), ("POST", "/oauth/token"),
                                               ("GET", "/v3/candidates")]
    assert server.calls()[2][2] == "Bearer tok-1" and server.calls()[4][2] == "Bearer tok-2"


def test_concurrent_requests_share_one_token():
    with OAuthServer() as server:
        auth = OAuthClientAuth(f"{server.origin}/oauth/token", "harvey", Secret("client-s3cret"))
        with engine_for(server, auth=auth) as engine, ThreadPoolExecutor(8) as pool:
            assert all(a.status == 200 for a in pool.map(lambda _: engine.get_json("/api/v1/x"), range(16)))
    assert [c[1] for c in server.calls()].count("/oauth/token") == 1


def test_oauth_renews_once_per_request_then_the_401_is_a_credential_error():
    with OAuthServer(api_accepts_tokens=False) as server:
        auth = OAuthClientAuth(f"{server.origin}/oauth/token", "harvey", Secret("client-s3cret"), Secret("refresh-77"))
        with engine_for(server, auth=auth) as engine, pytest.raises(AuthenticationError) as refused:
            engine.get_json("/api/v1/employees")
    assert [c[:2] for c in server.calls()] == [("POST", "/oauth/token"), ("GET", "/api/v1/employees"),
                                               ("POST", "/oauth/token"), ("GET", "/api/v1/employees")]
    message = str(refused.value)
    assert "HTTP 401 on GET /api/v1/employees" in message
    assert not any(secret in message for secret in ("client-s3cret", "refresh-77", "tok-1"))


@pytest.mark.parametrize("status", [400, 401])
def test_a_token_endpoint_refusing_the_client_is_a_credential_error_without_secrets(status):
    with OAuthServer(token_status=status) as server:
        auth = OAuthClientAuth(f"{server.origin}/oauth/token", "harvey", Secret("client-s3cret"), Secret("refresh-77"))
        with engine_for(server, auth=auth) as engine, pytest.raises(AuthenticationError) as refused:
            engine.get_json("/api/v1/employees")
    assert [c[:2] for c in server.calls()] == [("POST", "/oauth/token")], "no retry"
    message = str(refused.value)
    assert f"getting an access token for GET /api/v1/employees failed: the token endpoint refused the client " \
           f"(HTTP {status})" in message and "acme/custom" in message
    assert "client-s3cret" not in message and "refresh-77" not in message and refused.value.kind == "credential"


def test_a_403_is_not_a_reason_to_refresh():
    with scripted((200, {}, {"access_token": "t"}), (403, {}, {"detail": "forbidden"})) as server:
        auth = OAuthClientAuth(f"{server.origin}/oauth/token", "harvey", Secret("client-s3cret"))
        with engine_for(server, auth=auth) as engine, pytest.raises(AuthenticationError, match="HTTP 403"):
            engine.get_json("/api/v1/employees")
    assert [(r.method, r.path) for r in server.requests] == [("POST", "/oauth/token"), ("GET", "/api/v1/employees")]


def test_an_unreachable_token_endpoint_fails_as_a_source_error_naming_the_hr_system():
    with scripted() as server:
        auth = OAuthClientAuth(f"http://127.0.0.1:{free_port()}/oauth/token", "harvey", Secret("client-s3cret"))
        with engine_for(server, auth=auth) as engine, pytest.raises(SourceError) as failed:
            engine.get_json("/api/v1/employees")
    message = str(failed.value)
    assert "acme/custom" in message and "getting an access token for GET /api/v1/employees" in message
    assert "client-s3cret" not in str(failed.value) and failed.value.kind == "configuration"
    assert server.requests == []


# -- how errors name the HR system -----------------------------------------------------------------

@pytest.mark.parametrize("base_url, shown", [
    ("https://hr.acme.example", "https://hr.acme.example"),
    ("https://svc:pw@hr.acme.example/orgs/acme/", "https://hr.acme.example/orgs/acme"),
    ("http://127.0.0.1:8765/orgs/acme?api_key=k1#top", "http://127.0.0.1:8765/orgs/acme"),
])
def test_shown_url_drops_credentials_query_and_fragment(base_url, shown):
    assert shown_url(base_url) == shown


# -- the circuit breaker ------------------------------------------------------------------------

class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_the_breaker_opens_after_threshold_requests_in_a_row_gave_up():
    clock = Clock()
    breaker = CircuitBreaker(threshold=2, cooldown=30, clock=clock)
    assert breaker.before_attempt("acme", False) is False
    breaker.gave_up("HTTP 503 on GET /a", trial=False)
    breaker.answered(trial=False)  # an answer in between: the count starts again
    breaker.gave_up("HTTP 503 on GET /b", trial=False)
    assert breaker.opened_at is None and breaker.before_attempt("acme", False) is False
    breaker.gave_up("ConnectError on GET /c", trial=False, kind="configuration")
    assert (breaker.opened_at, breaker.times_opened) == (1000.0, 1)
    with pytest.raises(CircuitOpenError) as open_:
        breaker.before_attempt("acme at http://hr", False)
    assert str(open_.value) == ("acme at http://hr: circuit open after 2 request(s) in a row used every retry, "
                                "the last on ConnectError on GET /c; not calling the HR system for 30s")
    assert open_.value.kind == "configuration"


def test_after_the_cooldown_one_trial_goes_through_and_its_outcome_decides():
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=30, clock=clock)
    breaker.gave_up("HTTP 503", trial=False)
    clock.now += 29.9
    with pytest.raises(CircuitOpenError):
        breaker.before_attempt("acme", False)
    clock.now += 0.1
    assert breaker.before_attempt("acme", False) is True  # the trial
    assert breaker.before_attempt("acme", True) is True  # its own next attempt goes on
    with pytest.raises(CircuitOpenError):
        breaker.before_attempt("acme", False)  # one trial at a time

    breaker.gave_up("HTTP 503", trial=True)  # the trial gave up: open again, a new cooldown
    assert (breaker.opened_at, breaker.times_opened) == (clock.now, 2)
    with pytest.raises(CircuitOpenError):
        breaker.before_attempt("acme", False)
    clock.now += 30
    assert breaker.before_attempt("acme", False) is True
    breaker.answered(trial=True)
    assert breaker.opened_at is None and breaker.failures == 0
    assert breaker.before_attempt("acme", False) is False


def test_a_sibling_giving_up_while_open_does_not_restart_the_cooldown():
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=30, clock=clock)
    breaker.gave_up("HTTP 503", trial=False)
    clock.now += 20
    breaker.gave_up("HTTP 503", trial=False)  # a request that was under way when it opened
    assert (breaker.opened_at, breaker.times_opened) == (1000.0, 1)
    clock.now += 10
    assert breaker.before_attempt("acme", False) is True


def test_an_abandoned_trial_frees_the_way_for_the_next():
    clock = Clock()
    breaker = CircuitBreaker(threshold=1, cooldown=30, clock=clock)
    breaker.gave_up("HTTP 503", trial=False)
    clock.now += 30
    assert breaker.before_attempt("acme", False) is True
    breaker.abandon(trial=True)  # e.g. an unexpected error ended it without a verdict
    assert breaker.before_attempt("acme", False) is True
    breaker.abandon(trial=False)  # not the trial: changes nothing
    with pytest.raises(CircuitOpenError):
        breaker.before_attempt("acme", False)
