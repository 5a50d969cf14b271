"""A mock of Greenhouse Harvest v3 (../shared/vendor-apis.md "Greenhouse Harvest v3") for the
tests and benchmarks, on loopback in a thread: ``with GreenhouseMock(candidates=40) as gh: gh.url``.

What it reproduces, because the adapter must cope with it:
- ``POST /token``: HTTP Basic client id/secret, ``grant_type=client_credentials`` ->
  ``{access_token, token_type, expires_at}`` (ISO, no ``expires_in``); a wrong client -> 401.
  A token also dies server-side after ``token_lifetime_requests`` API calls (an expiry the client
  could not see coming: a 401 mid-sync).
- Lists answer a JSON array ordered by id, ``Link: <...?cursor=...>; rel="next"`` while more
  remain; filters (``updated_at=gte|<ts>``, ``ids``, ``candidate_ids``, ``interview_ids``) and
  ``per_page`` (1..500) go on the first request only: a follow-up with anything besides
  ``cursor`` is a 422, and so is a cursor issued before ``expire_cursors()``.
- ``rate_limit`` requests per ``rate_window`` seconds per client id, then 429 with
  ``Retry-After`` and none of the rate headers; ``fail_next(n, status)`` for 5xx.
- A candidate's ``updated_at`` does not move when only its application or interview changes;
  ``during_paging(callback)`` changes the list between two pages of a walk.
All times come from a logical clock that ticks one second per change, so the data are deterministic.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import random
import secrets
import threading
import time
from typing import Callable, Sequence
from urllib.parse import parse_qsl, urlencode, urlsplit

from harvey_pipelines.mock_hrms.loopback import LoopbackJsonMock

FIRST_NAMES = ["Asha", "Ravi", "Mei", "Lars", "Ines", "Tomas", "Yara", "Kofi", "Noor", "Emil", "Priya", "Jonas"]
LAST_NAMES = ["Iyer", "Jansen", "Okafor", "Lindqvist", "Moreau", "Sato", "Haddad", "Kovac", "Silva", "Brandt"]
STAGES = ["Application Review", "Phone Screen", "Technical Interview", "Face to Face", "Offer"]
INTERVIEWS = ["Phone Screen", "Technical Interview", "System Design", "Culture Fit", "Onsite", "Final"]
RESOURCES = ("candidates", "applications", "jobs", "job_stages", "interviews", "interviewers")
START = dt.datetime(2026, 10, 1, 9, 0, tzinfo=dt.timezone.utc)


def iso(stamp: dt.datetime) -> str:
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers or {}


class GreenhouseMock(LoopbackJsonMock):
    def __init__(self, *, seed: int = 1, candidates: int = 40, jobs: int = 6, client_id: str = "gh-client",
                 client_secret: str = "gh-client-s3cret", token_ttl_seconds: int = 3600,
                 token_lifetime_requests: int | None = None, rate_limit: int = 50, rate_window: float = 10.0,
                 employee_numbers: Sequence[str] = ()):
        self.client_id, self.client_secret = client_id, client_secret
        # the HR system's employee numbers its users carry (the demo: its BambooHR company's), so
        # interviewers resolve to employees; none given: EMP-000001 style numbers
        self.employee_numbers = tuple(employee_numbers)
        self.token_ttl_seconds, self.token_lifetime_requests = token_ttl_seconds, token_lifetime_requests
        self.rate_limit, self.rate_window = rate_limit, rate_window
        self.lock = threading.RLock()
        self.clock = START
        self.rng = random.Random(seed)
        self.data: dict[str, dict[int, dict]] = {name: {} for name in RESOURCES}
        self.tokens: dict[str, int] = {}  # token -> API calls it may still make
        self.cursor_generation = 0
        self.calls: list[tuple[str, str]] = []  # (method, path?query) of every request
        self.token_requests = 0
        self._recent: dict[str, list[float]] = {}
        self._faults: list[int] = []
        self._paging_hooks: list[Callable[[], None]] = []
        self._ids = iter(range(1001, 10**9))
        for _ in range(jobs):
            self.add_job()
        for _ in range(candidates):
            self.add_candidate()

    # -- data ---------------------------------------------------------------------------------
    def tick(self) -> str:
        self.clock += dt.timedelta(seconds=1)
        return iso(self.clock)

    def _new(self, resource: str, **fields) -> dict:
        stamp = self.tick()
        record = {"id": next(self._ids), **fields, "created_at": stamp, "updated_at": stamp}
        self.data[resource][record["id"]] = record
        return record

    def add_job(self) -> dict:
        with self.lock:
            number = len(self.data["jobs"]) + 1
            job = self._new("jobs", name=self.rng.choice(["Backend Engineer", "Data Analyst", "Recruiter",
                                                           "Product Designer", "SRE", "Account Executive"]),
                            requisition_id=f"REQ-{number:04d}" if number % 3 else None,
                            status=self.rng.choice(["open", "open", "closed", "draft"]),
                            opened_at=iso(START - dt.timedelta(days=30 + number)), closed_at=None)
            for name in STAGES:
                self._new("job_stages", job_id=job["id"], name=name)
            return job

    def add_candidate(self) -> dict:
        with self.lock:
            first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
            candidate = self._new(
                "candidates", first_name=first, last_name=last,
                email_addresses=[{"value": f"{first}.{last}.{len(self.data['candidates'])}@mail.example".lower(),
                                  "type": "personal"}],
                phone_numbers=[{"value": f"+31 6 {self.rng.randrange(10**7, 10**8)}", "type": "mobile"}]
                if self.rng.random() < 0.7 else [])
            job = self.rng.choice(list(self.data["jobs"].values()))
            application = self.add_application(candidate["id"], job["id"])
            if self.rng.random() < 0.6:
                self.add_interview(application["id"], panel=self.rng.choice([1, 2, 3]))
            return candidate

    def stages_of(self, job_id: int) -> list[dict]:
        return [s for s in self.data["job_stages"].values() if s["job_id"] == job_id]

    def add_application(self, candidate_id: int, job_id: int) -> dict:
        with self.lock:
            stage = self.rng.choice(self.stages_of(job_id))
            status = self.rng.choice(["in_process", "in_process", "in_process", "rejected", "hired"])
            return self._new("applications", candidate_id=candidate_id, job_id=job_id, stage_id=stage["id"],
                             status=status, rejected_at=None, hired_at=None)

    def add_interview(self, application_id: int, panel: int = 1, all_day: bool = False) -> dict:
        with self.lock:
            starts = START + dt.timedelta(days=self.rng.randrange(1, 40), hours=self.rng.randrange(0, 8))
            timing = ({"starts_at": None, "ends_at": None, "start_date": starts.date().isoformat(),
                       "end_date": starts.date().isoformat()} if all_day else
                      {"starts_at": iso(starts), "ends_at": iso(starts + dt.timedelta(minutes=45)),
                       "start_date": None, "end_date": None})
            interview = self._new(
                "interviews", application_id=application_id, **timing,
                interview={"id": self.rng.randrange(1, 99), "name": self.rng.choice(INTERVIEWS)},
                status=self.rng.choice(["scheduled", "awaiting_feedback", "complete"]),
                video_conferencing_url=f"https://meet.example/{secrets.token_hex(4)}", location=None)
            for _ in range(panel):
                self.add_interviewer(interview["id"])
            return interview

    def add_interviewer(self, interview_id: int) -> dict:
        with self.lock:
            user = self.rng.randrange(1, 40)
            first, last = FIRST_NAMES[user % len(FIRST_NAMES)], LAST_NAMES[user % len(LAST_NAMES)]
            number = (self.employee_numbers[user % len(self.employee_numbers)] if self.employee_numbers
                      else f"EMP-{user:06d}")
            return self._new("interviewers", interview_id=interview_id, user_id=user,
                             employee_id=number if user % 5 else None, name=f"{first} {last}",
                             email=f"{first}.{last}@acme.example".lower(),
                             response_status=self.rng.choice(["accepted", "needs_action", "declined"]))

    def change(self, resource: str, record_id: int, **fields) -> dict:
        """Change a record (its own updated_at moves; a candidate's does not when its application or
        interview changes, as in Greenhouse)."""
        with self.lock:
            record = self.data[resource][record_id]
            record.update(fields, updated_at=self.tick())
            return record

    def delete(self, resource: str, record_id: int) -> None:
        with self.lock:
            del self.data[resource][record_id]

    # -- behaviour ----------------------------------------------------------------------------
    def fail_next(self, count: int, status: int = 500) -> None:
        with self.lock:
            self._faults.extend([status] * count)

    def expire_cursors(self) -> None:
        with self.lock:
            self.cursor_generation += 1

    def during_paging(self, change: Callable[[], None]) -> None:
        """Run ``change`` once, after the next page served that is not a walk's last."""
        with self.lock:
            self._paging_hooks.append(change)

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    # -- HTTP ---------------------------------------------------------------------------------
    def token(self, authorization: str | None, form: dict[str, str]) -> dict:
        with self.lock:
            self.token_requests += 1
            expected = "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
            if authorization != expected:
                raise ApiError(401, "invalid_client")
            if form.get("grant_type") != "client_credentials":
                raise ApiError(400, "unsupported_grant_type")
            token = secrets.token_urlsafe(16)
            self.tokens[token] = self.token_lifetime_requests or 10**12
            expires = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=self.token_ttl_seconds)
            return {"access_token": token, "token_type": "bearer", "expires_at": iso(expires)}

    def _admit(self, authorization: str | None) -> None:
        token = (authorization or "").removeprefix("Bearer ")
        if self.tokens.get(token, 0) <= 0:
            self.tokens.pop(token, None)
            raise ApiError(401, "invalid or expired access token")
        self.tokens[token] -= 1
        now = time.monotonic()
        recent = [t for t in self._recent.get(self.client_id, []) if now - t < self.rate_window]
        if len(recent) >= self.rate_limit:
            self._recent[self.client_id] = recent
            raise ApiError(429, "rate limit exceeded",
                           {"Retry-After": str(max(1, math.ceil(self.rate_window - (now - recent[0]))))})
        self._recent[self.client_id] = [*recent, now]
        if self._faults:
            raise ApiError(self._faults.pop(0), "internal error")

    def list(self, path: str, query: list[tuple[str, str]], authorization: str | None, origin: str):
        """(records, next link or None) for GET /v3/<resource>."""
        with self.lock:
            self._admit(authorization)
            resource = path.removeprefix("/v3/")
            if resource not in RESOURCES:
                raise ApiError(404, f"no resource {path}")
            params = dict(query)
            if "cursor" in params:
                if len(query) != 1:
                    raise ApiError(422, "cursor must be the only query parameter")
                try:
                    state = json.loads(base64.urlsafe_b64decode(params["cursor"]))
                except ValueError:
                    raise ApiError(422, "invalid cursor") from None
                if state["generation"] != self.cursor_generation or state["resource"] != resource:
                    raise ApiError(422, "cursor expired")
                filters, per_page, after = state["filters"], state["per_page"], state["after"]
            else:
                per_page = int(params.pop("per_page", 100))
                if not 1 <= per_page <= 500:
                    raise ApiError(422, "per_page must be 1..500")
                filters, after = params, 0
            matching = sorted((r for r in self.data[resource].values() if r["id"] > after
                               and self._matches(r, filters)), key=lambda r: r["id"])
            page, more = matching[:per_page], len(matching) > per_page
            link = None
            if more:
                cursor = base64.urlsafe_b64encode(json.dumps({
                    "resource": resource, "filters": filters, "per_page": per_page, "after": page[-1]["id"],
                    "generation": self.cursor_generation}).encode()).decode()
                link = f"<{origin}{path}?{urlencode({'cursor': cursor})}>; rel=\"next\""
            answer = json.loads(json.dumps(page))  # a copy: later changes must not reach a sent page
        if more and self._paging_hooks:
            self._paging_hooks.pop(0)()
        return answer, link

    @staticmethod
    def _matches(record: dict, filters: dict[str, str]) -> bool:
        for name, value in filters.items():
            if name == "updated_at":
                for op, stamp in zip(*[iter(value.split("|"))] * 2):
                    when = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
                    mine = dt.datetime.fromisoformat(record["updated_at"].replace("Z", "+00:00"))
                    if (op == "gte" and mine < when) or (op == "lte" and mine > when):
                        return False
            elif name in ("ids", "candidate_ids", "interview_ids", "application_ids", "job_ids"):
                field = "id" if name == "ids" else name.removesuffix("s")
                if str(record.get(field)) not in value.split(","):
                    return False
            else:
                raise ApiError(422, f"unknown filter {name}")
        return True

    # -- serving ------------------------------------------------------------------------------
    methods = ("GET", "POST")

    def respond(self, method, target, headers, body):
        url = urlsplit(target)
        self.calls.append((method, target))
        if method == "POST":
            if url.path != "/token":
                return 404, {"error": "not found"}, None
            try:
                return 200, self.token(headers.get("Authorization"), dict(parse_qsl(body.decode()))), None
            except ApiError as exc:
                return exc.status, {"error": str(exc)}, None
        try:
            rows, link = self.list(url.path, parse_qsl(url.query), headers.get("Authorization"),
                                   f"http://{headers.get('Host')}")
        except ApiError as exc:
            return exc.status, {"message": str(exc)}, exc.headers
        return 200, rows, {"Link": link} if link else None
