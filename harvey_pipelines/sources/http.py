"""The one HTTP engine every adapter uses.

It owns what is the same for every HR system: authentication, timeouts, retries with
exponential backoff and full jitter, honouring Retry-After, a per-organization rate
limit (shared across processes and hosts: rate_limit.py), a circuit breaker, and call
accounting. Adapters never touch httpx directly.
"""

from __future__ import annotations

import base64
import datetime as dt
import random
import ssl
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Iterator, Mapping

import httpcore  # noqa: F401 - httpx imports it when the first client is made; here it is an import
import httpx
import ijson
import orjson

from harvey_pipelines.sources.errors import (
    AuthenticationError,
    CircuitOpenError,
    ConfigurationError,
    SourceError,
    TransientError,
    UnreadableResponse,
)
from harvey_pipelines.sources.rate_limit import rate_limiter_for

RETRYABLE_STATUS = {429, 500, 502, 503, 504}


class Secret:
    """A credential that cannot leak through repr, str, logs or exceptions."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


class Auth(httpx.Auth):
    """How requests are authenticated: an ``httpx.Auth`` flow the engine's client runs for every
    request (dlt's rest_client auth model, on httpx instead of requests: README "Sources").
    A flow that can renew its credential does so on a 401, once per request, and before expiry."""

    # token answers are read inside the flow; the API's own bodies are read by the engine anyway
    requires_response_body = True

    def headers(self) -> dict[str, str]:
        return {}

    def auth_flow(self, request: httpx.Request):
        request.headers.update(self.headers())
        yield request


@dataclass
class BearerAuth(Auth):
    token: Secret

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token.reveal()}"}


@dataclass
class BasicAuth(Auth):
    """BambooHR (API key as user), SuccessFactors (user@company), Greenhouse v1."""

    username: Secret
    password: Secret = field(default_factory=lambda: Secret(""))

    def headers(self) -> dict[str, str]:
        pair = f"{self.username.reveal()}:{self.password.reveal()}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


class TokenRefused(AuthenticationError):
    """The token endpoint refused the client (or answered no token): no retry renews that."""


@dataclass
class OAuthClientAuth(Auth):
    """OAuth2 refresh-token or client-credentials grant (Workday, Greenhouse v3).

    The token is fetched at first use, renewed ahead of its expiry (``expires_at``, an ISO
    timestamp as Greenhouse v3 answers, or ``expires_in`` seconds) and on a 401 from the API,
    once per request; then the request goes on. ``client_auth``: where the client id and secret
    go: ``"basic"`` (HTTP Basic, RFC 6749 2.3.1, Greenhouse v3) or ``"body"`` (form fields).
    Thread-safe: concurrent requests share one token and one renewal."""

    token_url: str
    client_id: str | Secret  # not a secret for every vendor, but never shown either way
    client_secret: Secret
    refresh_token: Secret | None = None
    client_auth: str = "body"
    clock: Callable[[], float] = field(default=time.time, repr=False)
    # renew this long before expiry, at most a tenth of the token's lifetime
    renew_ahead_seconds: float = 60.0
    _access: Secret | None = field(default=None, repr=False)
    _renew_at: float | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        if self.client_auth not in ("basic", "body"):
            raise ValueError(f"client_auth must be 'basic' or 'body', not {self.client_auth!r}")

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._access.reveal()}"} if self._access else {}

    def auth_flow(self, request: httpx.Request):
        with self._lock:
            if self._access is None or (self._renew_at is not None and self.clock() >= self._renew_at):
                self._take((yield self._token_request()))
            used = self._access
        request.headers.update(self.headers())
        response = yield request
        if response.status_code != 401:
            return
        with self._lock:
            if self._access is used:  # nobody renewed it meanwhile: this request does
                self._take((yield self._token_request()))
        request.headers.update(self.headers())
        yield request

    def _token_request(self) -> httpx.Request:
        data = {"grant_type": "client_credentials"}
        if self.refresh_token:
            data = {"grant_type": "refresh_token", "refresh_token": self.refresh_token.reveal()}
        headers = {"Accept": "application/json"}
        if self.client_auth == "basic":
            headers.update(BasicAuth(Secret(self._client_id()), self.client_secret).headers())
        else:
            data |= {"client_id": self._client_id(), "client_secret": self.client_secret.reveal()}
        return httpx.Request("POST", self.token_url, data=data, headers=headers)

    def _client_id(self) -> str:
        return self.client_id.reveal() if isinstance(self.client_id, Secret) else self.client_id

    def _take(self, answer: httpx.Response) -> None:
        if answer.status_code != 200:
            raise TokenRefused(f"the token endpoint refused the client (HTTP {answer.status_code})")
        try:
            body = orjson.loads(answer.content)
        except orjson.JSONDecodeError:
            raise TokenRefused("the token endpoint's answer is not JSON") from None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise TokenRefused("the token endpoint answered no access_token")
        now = self.clock()
        expires = _expiry(body, now)
        self._access = Secret(token)
        self._renew_at = None if expires is None else \
            expires - min(self.renew_ahead_seconds, max(expires - now, 0.0) / 10)

    def is_token_request(self, request: httpx.Request) -> bool:
        return request.method == "POST" and str(request.url) == str(httpx.URL(self.token_url))


@dataclass
class PathAuth(Auth):
    """One auth per path prefix, ``default`` for the rest: Workday answers its REST API to an OAuth
    token and its custom reports (RaaS) to an integration user's Basic auth, on one host."""

    default: Auth
    by_prefix: dict[str, Auth]

    def of(self, request: httpx.Request) -> Auth:
        path = request.url.path
        return next((auth for prefix, auth in self.by_prefix.items() if path.startswith(prefix)), self.default)

    def auth_flow(self, request: httpx.Request):
        yield from self.of(request).auth_flow(request)

    def is_token_request(self, request: httpx.Request) -> bool:
        return any(isinstance(auth, OAuthClientAuth) and auth.is_token_request(request)
                   for auth in (self.default, *self.by_prefix.values()))


def _expiry(body: dict, now: float) -> float | None:
    """When a token answer says the token expires (epoch seconds), None when it does not say."""
    if isinstance(body.get("expires_at"), str):
        try:
            stamp = dt.datetime.fromisoformat(body["expires_at"].replace("Z", "+00:00"))
        except ValueError:
            return None
        return (stamp if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)).timestamp()
    if isinstance(body.get("expires_in"), (int, float)) and not isinstance(body["expires_in"], bool):
        return now + float(body["expires_in"])
    return None


class CircuitBreaker:
    """Makes calls fail fast once the HR system is down, without ever cutting a request's own
    retries short.

    It counts requests, not attempts: it opens when ``threshold`` requests in a row have each
    used their whole retry budget on transient faults (refused connections, timeouts, 5xx, 429,
    unreadable 200s). Faults a retry gets past never count, however many concurrent requests meet
    them at once. A request that gave up fails its sync anyway; the open breaker makes its
    siblings (the other fan-out workers and the parent ids still queued) fail at once with
    the same cause instead of each retrying a dead server. After ``cooldown`` seconds one
    trial request goes through (with its full budget); an answer closes the breaker, giving
    up opens it again. Any answer from the server (even 4xx) closes it: the server is up.
    """

    def __init__(self, threshold: int = 1, cooldown: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.threshold = threshold
        self.cooldown = cooldown
        self.clock = clock
        self.failures = 0  # requests in a row that used every retry
        self.last_cause: str | None = None
        self.last_kind = "transient"  # the failure kind of last_cause (errors.FAILURE_KINDS)
        self.opened_at: float | None = None
        self.times_opened = 0
        self._trial_out = False
        self._lock = threading.Lock()

    def before_attempt(self, where: str, trial: bool) -> bool:
        """Called before each attempt of a request; raises CircuitOpenError while open.
        Returns whether the request is the half-open trial (pass it back on the next attempt)."""
        with self._lock:
            if self.opened_at is None or trial:
                return trial
            if self.clock() - self.opened_at >= self.cooldown and not self._trial_out:
                self._trial_out = True
                return True
            raise CircuitOpenError(
                f"{where}: circuit open after {self.failures} request(s) in a row used every retry, "
                f"the last on {self.last_cause}; not calling the HR system for {self.cooldown:.0f}s",
                kind=self.last_kind,
            )

    def answered(self, trial: bool) -> None:
        with self._lock:
            self.failures, self.opened_at = 0, None
            if trial:
                self._trial_out = False

    def gave_up(self, cause: str, trial: bool, kind: str = "transient") -> None:
        with self._lock:
            self.failures += 1
            self.last_cause, self.last_kind = cause, kind
            if trial:
                self._trial_out = False
            if trial or (self.opened_at is None and self.failures >= self.threshold):
                self.opened_at = self.clock()
                self.times_opened += 1

    def abandon(self, trial: bool) -> None:
        """A request ended without an answer or a verdict (an unexpected error): free the trial."""
        if trial:
            with self._lock:
                self._trial_out = False


@dataclass
class RetryPolicy:
    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 120.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        # full jitter: spreads retries of many workers instead of synchronizing them
        return random.uniform(0, min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1)))


@dataclass
class Response:
    status: int
    headers: Mapping[str, str]
    body: Any  # parsed JSON


def _tls_context(base_url: str) -> ssl.SSLContext | bool:
    """Verified TLS (the CA bundle) for https. A plain-http base URL speaks no TLS: it gets a
    context that verifies but trusts nothing, which spares loading the CA bundle (~40 ms
    per sync) and could never accept a certificate unverified."""
    if httpx.URL(base_url).scheme == "https":
        return True
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


def shown_url(base_url: str) -> str:
    """How errors name an HR system: its base URL without credentials, query or fragment."""
    url = httpx.URL(base_url)
    return str(url.copy_with(username=None, password=None, query=None, fragment=None)).rstrip("/")


class HttpEngine:
    """Synchronous, thread-safe for concurrent requests (httpx.Client is)."""

    def __init__(
        self,
        base_url: str,
        auth: Auth,
        *,
        name: str,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        rate_limit_per_second: float = 50.0,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_connections: int = 16,
        credential_hint: str = "the organization's credential",
    ):
        self.name = name
        self._password = httpx.URL(base_url).password
        self.host = shown_url(base_url)
        self.where = f"{name} at {self.host}"
        self.credential_hint = credential_hint
        self.auth = auth
        self.retry = retry or RetryPolicy()
        self.limiter = rate_limiter_for(name, rate_limit_per_second)
        self.breaker = breaker or CircuitBreaker()
        self.sleep = sleep
        self.client = httpx.Client(
            base_url=base_url,
            verify=_tls_context(base_url),
            timeout=timeout,
            headers={"Accept": "application/json", "User-Agent": "harvey-pipelines"},
            auth=auth,
            limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        )
        self.api_calls = 0
        self.retries = 0
        self._count_lock = threading.Lock()

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "HttpEngine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Response:
        """GET and parse JSON, retrying what is transient; raises a SourceError otherwise."""
        return self._request_json("GET", path, params)

    def get_file(self, path: str, params: Mapping[str, Any] | None = None) -> Response:
        """GET a large answer (a whole report) into a temporary file, retried like ``get_json``;
        ``body`` is the file, at its start, for a streaming parser. Parsing tens of megabytes of
        JSON at once costs ~15x the document in memory (orjson's transient); this never holds
        more than ``SPOOL_BYTES`` of it. The caller closes the file."""
        return self._request_json("GET", path, params, spool=True)

    def post_json(self, path: str, body: Any, params: Mapping[str, Any] | None = None) -> Response:
        """POST ``body`` as JSON and parse the JSON answer, as ``get_json`` does. Retried like a
        GET, so only for requests that read (BambooHR's custom report), never for ones that write."""
        return self._request_json("POST", path, params, orjson.dumps(body))

    def _request_json(self, method: str, path: str, params: Mapping[str, Any] | None,
                      content: bytes | None = None, spool: bool = False) -> Response:
        headers = {"Content-Type": "application/json"} if content is not None else None
        last_problem = ""
        unreachable = False  # the last attempt never reached the server (unknown host, refused)
        trial = False  # whether this request is the breaker's half-open trial
        try:
            for attempt in range(1, self.retry.max_attempts + 1):
                trial = self.breaker.before_attempt(self.where, trial)
                self.limiter.acquire()
                with self._count_lock:
                    self.api_calls += 1
                retry_after = None
                unreachable = False
                try:
                    with self.client.stream(method, path, params=params, content=content, headers=headers) as answer:
                        if answer.status_code == 200 and spool:
                            received: Any = _spooled(answer)
                        else:  # an error's detail or a JSON answer: read whole
                            received = answer.read()
                except TokenRefused as exc:
                    self.breaker.answered(trial)  # the server answered; the breaker is for outages
                    trial = False
                    raise AuthenticationError(
                        f"{self.where}: getting an access token for {method} {path} failed: {exc}; "
                        f"check {self.credential_hint} and the auth's token URL") from None
                except (httpx.TimeoutException, httpx.TransportError) as exc:
                    token = isinstance(self.auth, (OAuthClientAuth, PathAuth)) and \
                        self.auth.is_token_request(exc.request)
                    last_problem = (f"{self._cause(exc)} getting an access token for {method} {path}" if token
                                    else f"{self._cause(exc)} on {method} {path}")
                    unreachable = isinstance(exc, httpx.ConnectError)
                else:
                    status = answer.status_code
                    if status == 200:
                        try:
                            body = received if spool else orjson.loads(received)
                        except orjson.JSONDecodeError:
                            last_problem = f"unreadable JSON from {method} {path} ({len(received)} bytes)"
                            if attempt == self.retry.max_attempts:
                                self.breaker.gave_up(last_problem, trial)
                                trial = False
                                raise UnreadableResponse(
                                    f"{self.where}: {last_problem} after {attempt} attempts", received
                                ) from None
                        else:
                            self.breaker.answered(trial)
                            trial = False
                            return Response(status, answer.headers, body)
                    elif status in (401, 403):  # a renewable credential was renewed once in the auth flow
                        self.breaker.answered(trial)  # the server answered; the breaker is for outages
                        trial = False
                        raise AuthenticationError(
                            f"{self.where}: the HR system refused the credential (HTTP {status} on {method} {path}); "
                            f"check {self.credential_hint}"
                        )
                    elif status in RETRYABLE_STATUS:
                        last_problem = f"HTTP {status} on {method} {path}"
                        if status == 429:
                            retry_after = _retry_after_seconds(answer.headers.get("Retry-After"))
                    else:
                        self.breaker.answered(trial)
                        trial = False
                        raise ConfigurationError(
                            f"{self.where}: HTTP {status} on {method} {path}: {_detail(answer)}; "
                            "check the organization's base_url and the adapter's paths",
                            status=status,
                        )
                if attempt < self.retry.max_attempts:
                    with self._count_lock:
                        self.retries += 1
                    self.sleep(self.retry.delay(attempt, retry_after))
            kind = "configuration" if unreachable else "transient"
            self.breaker.gave_up(last_problem, trial, kind)
            trial = False
            fix = "; check the organization's base_url and that the HR system is running" if unreachable else ""
            raise TransientError(
                f"{self.where}: {last_problem}; gave up after {self.retry.max_attempts} attempts{fix}", kind=kind)
        finally:
            self.breaker.abandon(trial)

    def _cause(self, exc: Exception) -> str:
        """``ConnectError: [Errno 111] Connection refused``: what the transport said, one line,
        with the base URL's password (if any) blanked."""
        text = " ".join(str(exc).split())[:200]
        if self._password:
            text = text.replace(self._password, "***")
        return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _retry_after_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


SPOOL_BYTES = 4 * 1024 * 1024  # a spooled answer moves from memory to a temporary file past this


def _spooled(answer: httpx.Response) -> IO[bytes]:
    """The answer's body, streamed into a temporary file (in memory up to SPOOL_BYTES)."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        for chunk in answer.iter_bytes():
            spool.write(chunk)
    except BaseException:
        spool.close()
        raise
    spool.seek(0)
    return spool  # type: ignore[return-value] # a SpooledTemporaryFile is a binary file object


def json_items(body: IO[bytes], key: str, what: str) -> Iterator[Any]:
    """The items of the list under the top-level ``key`` of a JSON document in ``body``, one at a
    time (ijson's C parser: memory is one item, not the document). Raises UnreadableResponse
    naming ``what`` when the document is not JSON or holds no such list."""
    body.seek(0)
    found = False
    try:
        for prefix, event, _ in ijson.parse(body):  # up to the list's start: a few events
            if prefix == key and event == "start_array":
                found = True
                break
            if prefix == "" and event in ("end_map", "start_array"):  # no such key, or not an object
                break
        if found:
            body.seek(0)
            yield from ijson.items(body, f"{key}.item")
    except ijson.JSONError as exc:
        body.seek(0)
        raise UnreadableResponse(f"{what}: unreadable JSON ({exc})", body.read(2000)) from None
    if not found:
        body.seek(0)
        raise UnreadableResponse(f"{what} answered no {key!r} list", body.read(2000))


def _detail(answer: httpx.Response) -> str:
    try:
        detail = answer.json().get("detail")
    except Exception:  # noqa: BLE001 - any unreadable error body
        detail = None
    return str(detail or answer.reason_phrase)[:200]


__all__ = [
    "Auth", "BasicAuth", "BearerAuth", "CircuitBreaker", "HttpEngine", "OAuthClientAuth",
    "Response", "json_items", "RetryPolicy", "Secret", "SourceError", "TokenRefused",
]
