"""Greenhouse Harvest v3 (recruiting): OAuth client credentials, Link-header cursors,
``updated_at=gte|<ts>`` (../shared/vendor-apis.md; README "Greenhouse Harvest v3").

Greenhouse spreads what the canonical records hold over several resources, and a candidate's
``updated_at`` does not move when only its application or interview changed. So each resource
is walked on its own ``updated_at`` filter and the changed ones are joined here:

- ``candidates``: one row per candidate (its id), from the candidate and its current
  application (the newest in process, else the newest) with that application's stage;
- ``interviews``: one row per interviewer of a scheduled interview, id ``<interview>-<interviewer>``
  (``interview_id`` is the interview's), so a panel keeps every interviewer;
- ``job_requisitions``: one row per job.

A row's ``updated_at`` is the newest of its parts', so the sync's cursor moves on any of them.
The walk is by id; the rows of one fetch are ordered by ``updated_at`` before they are handed
to the sync, whose batches checkpoint the cursor (a fetch holds its rows in memory: about 2 kB
per candidate). The stored raw payload is the parts as Greenhouse sent them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from harvey_pipelines.sources.base import Endpoint, SourceAdapter
from harvey_pipelines.sources.http import OAuthClientAuth
from harvey_pipelines.sources.paging import LinkHeaderCursor, parse_timestamp

# Greenhouse stage names are each customer's own; these words place one on the canonical funnel
# (first match wins; anything else is still "applied")
STAGE_WORDS = (("offer", "offer"), ("onsite", "onsite"), ("face to face", "onsite"),
               ("technical", "technical_interview"), ("interview", "technical_interview"), ("screen", "screening"))
INTERVIEW_WORDS = (("screen", "screening"), ("system design", "system_design"), ("technical", "technical"),
                   ("onsite", "onsite"), ("final", "final"), ("culture", "behavioral"), ("behavio", "behavioral"))
INTERVIEW_STATUS: dict[Any, str] = {"scheduled": "scheduled", "awaiting_feedback": "completed", "complete": "completed"}
APPLICATION_STATUS: dict[Any, str] = {"in_process": "active", "hired": "hired", "rejected": "rejected"}
JOB_STATUS: dict[Any, str] = {"open": "open", "closed": "closed", "draft": "on_hold"}


def _stamp(value: Any) -> dt.datetime:
    return parse_timestamp(value.replace("Z", "+00:00") if isinstance(value, str) else value) or \
        dt.datetime.min.replace(tzinfo=dt.timezone.utc)


def _newest(*parts: dict | None) -> str | None:
    stamps = [p["updated_at"] for p in parts if p and p.get("updated_at")]
    return max(stamps, key=_stamp) if stamps else None


def _keyword(name: Any, words) -> str | None:
    text = str(name or "").lower()
    return next((value for word, value in words if word in text), None)


def _date(value: Any) -> str | None:
    return value[:10] if isinstance(value, str) else None


class GreenhouseHarvestAdapter(SourceAdapter):
    hrms_type = "greenhouse"
    rate_limit_per_second = 5.0  # 50 requests per 10 s per credential
    endpoints = {
        "job_requisitions": Endpoint("/v3/jobs"),
        "candidates": Endpoint("/v3/candidates"),
        "interviews": Endpoint("/v3/interviews"),
    }
    page_size = 500  # the most Harvest gives per page
    ids_per_request = 50  # ids in one filtered request (its URL stays short)
    rows_per_page = 1000  # rows per page handed to the sync

    def auth(self):
        return OAuthClientAuth(f"{self.system.base_url}/token", self.credentials["client_id"],
                               self.credentials["client_secret"], client_auth="basic")

    def paginator(self):
        return LinkHeaderCursor(page_size=self.page_size)

    # -- fetching -------------------------------------------------------------------------------
    def fetch(self, engine, entity, since, state, context=None):
        rows = {"job_requisitions": self._jobs, "candidates": self._candidates,
                "interviews": self._interviews}[entity](engine, since, state)
        rows.sort(key=lambda row: _stamp(row.get("updated_at")))
        for start in range(0, len(rows), self.rows_per_page):
            yield rows[start:start + self.rows_per_page]

    def _walk(self, engine, resource: str, since, state, **filters) -> dict[Any, dict]:
        """Every record of a list by id; a record met twice (a restarted walk, a change while
        paging) keeps its newest version."""
        found: dict[Any, dict] = {}
        for page in self.paginator().pages(engine, f"/v3/{resource}", since, state, filters or None):
            for record in page:
                key = record.get("id") if isinstance(record, dict) else None
                if key is None:
                    continue
                if key not in found or _stamp(record.get("updated_at")) >= _stamp(found[key].get("updated_at")):
                    found[key] = record
        return found

    def _by_ids(self, engine, resource: str, field: str, ids: Iterable[Any], state) -> dict[Any, dict]:
        wanted = sorted({i for i in ids if i is not None})
        found: dict[Any, dict] = {}
        for start in range(0, len(wanted), self.ids_per_request):
            chunk = ",".join(str(i) for i in wanted[start:start + self.ids_per_request])
            found |= self._walk(engine, resource, None, state, **{field: chunk})
        return found

    def _jobs(self, engine, since, state) -> list[dict]:
        return list(self._walk(engine, "jobs", since, state).values())

    def _candidates(self, engine, since, state) -> list[dict]:
        candidates = self._walk(engine, "candidates", since, state)
        applications = self._walk(engine, "applications", since, state)
        wanted = set(candidates) | {a.get("candidate_id") for a in applications.values()}
        candidates |= self._by_ids(engine, "candidates", "ids", wanted - set(candidates), state)
        if since is None:  # every application was read: ask only for those of candidates created since
            missing = wanted - {a.get("candidate_id") for a in applications.values()}
        else:  # a changed candidate's current application may be one that did not change: read them all
            applications, missing = {}, wanted
        applications |= self._by_ids(engine, "applications", "candidate_ids", missing, state)
        stages = self._walk(engine, "job_stages", None, state)
        per_candidate: dict[Any, list[dict]] = {}
        for application in applications.values():
            per_candidate.setdefault(application.get("candidate_id"), []).append(application)
        rows = []
        for candidate_id, candidate in candidates.items():
            apps = per_candidate.get(candidate_id, [])
            current = max(apps, key=lambda a: (a.get("status") == "in_process", _stamp(a.get("created_at"))),
                          default=None)
            rows.append({"id": candidate_id, "updated_at": _newest(candidate, *apps), "candidate": candidate,
                         "application": current, "stage": stages.get(current.get("stage_id")) if current else None})
        return rows

    def _interviews(self, engine, since, state) -> list[dict]:
        interviews = self._walk(engine, "interviews", since, state)
        panels = self._walk(engine, "interviewers", since, state)
        wanted = set(interviews) | {p.get("interview_id") for p in panels.values()}
        interviews |= self._by_ids(engine, "interviews", "ids", wanted - set(interviews), state)
        if since is None:  # every interviewer was read: ask only for interviews created since
            missing = wanted - {p.get("interview_id") for p in panels.values()}
        else:  # a changed interview's panel is read whole
            panels, missing = {}, wanted
        panels |= self._by_ids(engine, "interviewers", "interview_ids", missing, state)
        applications = self._by_ids(engine, "applications", "ids",
                                    (i.get("application_id") for i in interviews.values()), state)
        per_interview: dict[Any, list[dict]] = {}
        for interviewer in panels.values():
            per_interview.setdefault(interviewer.get("interview_id"), []).append(interviewer)
        rows = []
        for interview_id, interview in interviews.items():
            application = applications.get(interview.get("application_id"))
            for interviewer in per_interview.get(interview_id) or [{}]:
                rows.append({"id": f"{interview_id}-{interviewer['id']}" if interviewer else str(interview_id),
                             "updated_at": _newest(interview, interviewer), "interview": interview,
                             "interviewer": interviewer or None, "application": application})
        return rows

    # -- mapping (README "Greenhouse Harvest v3": the table) -----------------------------------
    def to_canonical(self, entity: str, payload: dict) -> dict:
        return getattr(self, f"_map_{entity}")(payload)

    def _map_job_requisitions(self, job: dict) -> dict:
        return {
            "id": job.get("id"), "updated_at": job.get("updated_at"),
            # the customer's requisition code when set; otherwise the job's id is its only key
            "requisition_id": job.get("requisition_id") or (str(job["id"]) if job.get("id") is not None else None),
            "title": job.get("name"), "status": JOB_STATUS.get(job.get("status"), job.get("status")),
            "created_date": _date(job.get("opened_at") or job.get("created_at")),
        }

    def _map_candidates(self, row: dict) -> dict:
        candidate, application, stage = row.get("candidate") or {}, row.get("application") or {}, row.get("stage")
        status = application.get("status")
        if status in ("hired", "rejected"):
            current_stage = status
        elif application:
            current_stage = _keyword(stage.get("name") if stage else None, STAGE_WORDS) or "applied"
        else:
            current_stage = None  # no application: quarantined, the stage is not invented
        emails = candidate.get("email_addresses") or []
        phones = candidate.get("phone_numbers") or []
        return {
            "id": row.get("id"), "updated_at": row.get("updated_at"), "candidate_id": str(row.get("id")),
            "first_name": candidate.get("first_name"), "last_name": candidate.get("last_name"),
            "email": emails[0].get("value") if emails else None, "phone": phones[0].get("value") if phones else None,
            "current_stage": current_stage,
            "applied_for_job_id": str(application["job_id"]) if application.get("job_id") is not None else None,
            "application_date": _date(application.get("created_at")),
            "status": APPLICATION_STATUS.get(status, status),
        }

    def _map_interviews(self, row: dict) -> dict:
        interview, interviewer = row.get("interview") or {}, row.get("interviewer") or {}
        application = row.get("application") or {}
        starts, ends = _stamp(interview.get("starts_at")), _stamp(interview.get("ends_at"))
        if interview.get("starts_at"):
            scheduled: Any = interview["starts_at"]
            duration = int((ends - starts).total_seconds() // 60) if interview.get("ends_at") else None
        elif interview.get("start_date"):  # all day: midnight where the organization is
            day = dt.date.fromisoformat(interview["start_date"])
            scheduled = dt.datetime.combine(day, dt.time(), ZoneInfo(self.org.timezone)).isoformat()
            duration = None
        else:
            scheduled = duration = None
        name = (interview.get("interview") or {}).get("name")
        return {
            "id": row.get("id"), "updated_at": row.get("updated_at"),
            "interview_id": str(interview["id"]) if interview.get("id") is not None else None,
            "candidate_id": str(application["candidate_id"]) if application.get("candidate_id") is not None else None,
            "job_id": str(application["job_id"]) if application.get("job_id") is not None else None,
            # the HR system's employee number, which the marts resolve against employees
            "interviewer_id": interviewer.get("employee_id"),
            "interviewer_name": interviewer.get("name"), "interviewer_email": interviewer.get("email"),
            "scheduled_date": scheduled, "duration_minutes": duration,
            "interview_type": _keyword(name, INTERVIEW_WORDS),
            "status": INTERVIEW_STATUS.get(interview.get("status"), interview.get("status")),
            "meeting_link": interview.get("video_conferencing_url"),
        }
