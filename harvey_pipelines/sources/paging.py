"""Paginators: how a list endpoint is walked. An adapter picks one and configures it.

Each yields pages of raw records (dicts as the source sent them): `UpdatedSinceKeyset` for the
custom HRMS, `LinkHeaderCursor` for Greenhouse Harvest v3, `PageNumbers` for Employes.nl,
`OffsetLimit` for Workday REST; a vendor with another scheme adds
one implementing the same ``pages`` method (README "Sources").
"""

from __future__ import annotations

import datetime as dt
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Iterator

import httpx

from harvey_pipelines.sources.http import HttpEngine


@dataclass
class PagingState:
    """What a paginator learned about a server that later syncs should remember."""

    server_ignores_since: bool = False
    notes: list[str] = field(default_factory=list)
    # a full walk: the server's count of the list when the walk began (its first answer's
    # ``total``); a reconciliation compares the distinct ids it saw with it
    listed_total: int | None = None


def parse_timestamp(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        stamp = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return stamp if stamp.tzinfo else None  # a naive stamp cannot be ordered safely


def format_timestamp(value: dt.datetime) -> str:
    return value.isoformat(timespec="seconds") if value.microsecond == 0 else value.isoformat()


class Paginator(ABC):
    @abstractmethod
    def pages(
        self, engine: HttpEngine, path: str, since: dt.datetime | None, state: PagingState,
        params: dict[str, Any] | None = None,
    ) -> Iterator[list[dict]]:
        """Yield lists of records changed at or after ``since`` (all when None)."""


@dataclass
class UpdatedSinceKeyset(Paginator):
    """Page/page_size lists ordered by (updated_at, id) with an ``updated_since`` filter.

    Walks by keyset: after each full page it asks again from the newest ``updated_at``
    seen (page 1), instead of asking for page N+1. Offsets shift when records change
    during a sync (a changed record jumps to the end of the list); a keyset walk does not
    skip anything when they do, and a record changed mid-sync is met again at the end.

    A server that ignores ``updated_since`` (the contract allows it) is detected by a
    record older than the filter; then the list is walked from the last page to the
    first and filtered here. Walking backwards is what keeps offset paging safe on a
    live list ordered by ``updated_at``: changes and inserts go to the end (already
    read, picked up by the next sync through the cursor), and a hard delete shifts
    records *towards* pages not read yet, so nothing unread is skipped.

    A server once seen ignoring the filter (``state.server_ignores_since``) is asked again
    by every sync: the keyset walk's first filtered page is the probe. If it honours the
    filter the walk goes on and the flag is cleared; if not, it costs one page before the
    backward walk (none when that page held the whole list).
    """

    page_size: int = 100
    page_param: str = "page"
    size_param: str = "page_size"
    since_param: str = "updated_since"
    updated_at_field: str = "updated_at"
    data_key: str = "data"
    total_key: str = "total"

    def _get(self, engine: HttpEngine, path: str, params: dict[str, Any]) -> dict:
        body = engine.get_json(path, params).body
        if not isinstance(body, dict) or not isinstance(body.get(self.data_key), list):
            from harvey_pipelines.sources.errors import UnreadableResponse

            raise UnreadableResponse(f"{engine.name}: GET {path} did not answer a list under '{self.data_key}'")
        return body

    def pages(self, engine, path, since, state, params=None):
        base = dict(params or {})
        field_ = self.updated_at_field
        query_since = since
        page = 1
        boundary: set[tuple[str, str]] = set()  # (id, updated_at) already yielded at query_since
        while True:
            query = {**base, self.size_param: self.page_size, self.page_param: page}
            if query_since is not None:
                query[self.since_param] = format_timestamp(query_since)
            body = self._get(engine, path, query)
            if since is None and query_since is None and page == 1:
                state.listed_total = _total(body.get(self.total_key))
            rows = body[self.data_key]
            stamps = [parse_timestamp(r.get(field_)) if isinstance(r, dict) else None for r in rows]
            if query_since is not None and any(s is not None and s < query_since for s in stamps):
                state.server_ignores_since = True
                state.notes.append(f"{path}: server ignores {self.since_param}; filtering client-side")
                if page == 1 and len(rows) < self.page_size:
                    # an unfiltered first page that is not full is the whole list
                    rows = [r for r in rows if since is None or _not_older(r, field_, since)]
                    if rows:
                        yield rows
                else:
                    # a full walk needs no filter: read it all, backwards for safety
                    yield from self._backward(engine, path, since, base, state)
                return
            if query_since is not None and state.server_ignores_since:
                state.server_ignores_since = False  # fixed: the next cursor write stores it
                state.notes.append(f"{path}: server honours {self.since_param} again; keyset walk")
            fresh = [
                r for r in rows
                if not (isinstance(r, dict) and (str(r.get("id")), r.get(field_)) in boundary)
            ]
            if fresh:
                yield fresh
            if len(rows) < self.page_size:
                return
            newest = max((s for s in stamps if s is not None), default=None)
            if newest is None or (query_since is not None and newest <= query_since):
                page += 1  # a full page of one timestamp: step through it by offset
                continue
            boundary = {
                (str(r.get("id")), r.get(field_)) for r, s in zip(rows, stamps) if s == newest
            }
            query_since, page = newest, 1

    def _backward(self, engine, path, since, base, state):
        probe = self._get(engine, path, {**base, self.size_param: 1, self.page_param: 1})
        total = _total(probe.get(self.total_key))
        if since is None:
            state.listed_total = total
        if total is None:  # against the contract, but a missing total must not read as an empty list
            total = self._count(engine, path, base) if probe.get(self.data_key) else 0
        for page in range(math.ceil(total / self.page_size), 0, -1):
            rows = self._get(
                engine, path, {**base, self.size_param: self.page_size, self.page_param: page}
            )[self.data_key]
            if since is not None:
                rows = [r for r in rows if _not_older(r, self.updated_at_field, since)]
            if rows:
                yield rows

    def _count(self, engine, path, base) -> int:
        """The list's length from pages of one record (the n-th page holds the n-th record):
        doubling, then bisecting, so ~2 log2(n) small requests instead of a forward walk,
        which could skip records that shift while it reads."""
        def holds(n: int) -> bool:
            return bool(self._get(engine, path, {**base, self.size_param: 1, self.page_param: n})[self.data_key])

        low, high = 1, 2
        while holds(high):
            low, high = high, high * 2
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if holds(middle) else (low, middle)
        return low


def _total(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _not_older(record: Any, field_: str, since: dt.datetime) -> bool:
    if not isinstance(record, dict):
        return True
    stamp = parse_timestamp(record.get(field_))
    return stamp is None or stamp >= since  # unreadable stamps go on to validation


@dataclass
class LinkHeaderCursor(Paginator):
    """Opaque cursors in the ``Link`` header (``rel="next"``), as Greenhouse Harvest v3 pages:
    the first request carries the filters and ``per_page``, each next one only the link's URL
    (whose cursor must be its only query parameter); the body is a JSON array. A state object
    like dlt's ``HeaderLinkPaginator``: ``first_request``, ``next_request`` from the answer, done
    when there is none.

    ``since`` becomes ``updated_at=gte|<ts>``. A cursor that expired mid-walk (HTTP 422 on a
    follow-up) restarts the walk from the first request, up to ``restarts`` times: records
    already yielded come again (their version is unchanged, so nothing is stored twice), none is
    skipped. The walk is by id, not by ``updated_at``: callers that checkpoint a cursor order the
    records themselves (the Greenhouse adapter does)."""

    page_size: int = 500
    since_param: str = "updated_at"
    restarts: int = 3

    def first_request(self, path: str, since: dt.datetime | None, params: dict[str, Any] | None) -> tuple[str, dict]:
        query = {**(params or {}), "per_page": self.page_size}
        if since is not None:
            query[self.since_param] = f"gte|{format_timestamp(since.astimezone(dt.timezone.utc))}"
        return path, query

    @staticmethod
    def next_request(headers) -> str | None:
        link = headers.get("Link") or headers.get("link")
        return httpx.Response(200, headers={"Link": link}).links.get("next", {}).get("url") if link else None

    def pages(self, engine, path, since, state, params=None):
        from harvey_pipelines.sources.errors import ConfigurationError, UnreadableResponse

        restarted = 0
        url, query = self.first_request(path, since, params)
        request: tuple[str, dict | None] = (url, query)
        while True:
            try:
                answer = engine.get_json(*request)
            except ConfigurationError as exc:
                if exc.status != 422 or request[1] is not None or restarted >= self.restarts:
                    raise
                restarted += 1
                state.notes.append(f"{path}: the cursor expired mid-walk (HTTP 422); walked again from the start")
                request = (url, query)
                continue
            if not isinstance(answer.body, list):
                raise UnreadableResponse(f"{engine.name}: GET {path} did not answer a JSON array")
            if answer.body:
                yield answer.body
            following = self.next_request(answer.headers)
            if not following:
                return
            request = (following, None)


@dataclass
class PageNumbers(Paginator):
    """``?page=&per_page=`` lists answering ``{data, total, pages}`` with no filter at all
    (Employes.nl v4): every walk lists everything, ``since`` is not sent.

    Offset pages shift while the list changes: a record removed or added before the page being
    read moves the others by one, so a walk may skip one. A walk whose ``total`` changed between
    its pages is walked again (up to ``rewalks`` times); what the earlier walk yielded comes
    again, unchanged, so the sync stores nothing twice. A change that adds one record and
    removes another between two pages keeps the total and is not seen here: the next sync, which
    reads everything again, picks up what it moved."""

    page_size: int = 100
    page_param: str = "page"
    size_param: str = "per_page"
    data_key: str = "data"
    total_key: str = "total"
    pages_key: str = "pages"
    rewalks: int = 3

    def query(self, page: int) -> dict[str, Any]:
        return {self.page_param: page, self.size_param: self.page_size}

    def last_page(self, body: dict) -> int | None:
        return _total(body.get(self.pages_key))

    def pages(self, engine, path, since, state, params=None):
        from harvey_pipelines.sources.errors import UnreadableResponse

        for walk in range(self.rewalks + 1):
            totals: list[int | None] = []
            page, last = 1, 1
            while page <= last:
                body = engine.get_json(path, {**(params or {}), **self.query(page)}).body
                if not isinstance(body, dict) or not isinstance(body.get(self.data_key), list):
                    raise UnreadableResponse(f"{engine.name}: GET {path} did not answer a list under "
                                             f"'{self.data_key}'")
                totals.append(_total(body.get(self.total_key)))
                pages = self.last_page(body)
                last = pages if pages is not None else page + 1 if body[self.data_key] else page
                if body[self.data_key]:
                    yield body[self.data_key]
                page += 1
            if len(set(totals)) == 1:
                state.listed_total = totals[0]
                return
            if walk < self.rewalks:
                state.notes.append(f"{path}: the list's total changed while it was paged "
                                   f"({totals[0]} -> {totals[-1]}); walked it again")
        state.notes.append(f"{path}: the list kept changing while it was paged ({self.rewalks + 1} walks); "
                           "the next sync reads it again")


@dataclass
class OffsetLimit(PageNumbers):
    """``?offset=&limit=`` lists answering ``{data, total}`` (Workday REST, ``limit`` at most 100):
    walked as ``PageNumbers`` walks pages, the n-th page at offset (n-1)*limit, the last one from
    ``total``; a walk whose total changed between its pages is walked again."""

    page_size: int = 100
    page_param: str = "offset"
    size_param: str = "limit"

    def query(self, page: int) -> dict[str, Any]:
        return {self.page_param: (page - 1) * self.page_size, self.size_param: self.page_size}

    def last_page(self, body: dict) -> int | None:
        total = _total(body.get(self.total_key))
        return None if total is None else max(1, math.ceil(total / self.page_size))


@dataclass
class ODataNextLink(Paginator):
    """OData v2 server paging (SAP SuccessFactors): ``{"d": {"results": [...], "__next": url}}``,
    the first request with ``$format=json``, the filters and ``paging``/``customPageSize``, each
    next one the ``__next`` URL as sent (it carries the server's ``$skiptoken``). ``paging=snapshot``
    fixes the result set at the first request, so rows changed while it is walked neither vanish
    nor repeat (offset paging, ``$top/$skip`` or the default ``$skiptoken``, does both: SAP KBA
    2723468); what changed meanwhile is after the walk's start and met by the next sync.

    ``since`` becomes ``lastModifiedDateTime ge datetime'<UTC>'`` joined to ``params['$filter']``.
    A snapshot that expired mid-walk (HTTP 400 on a follow-up) restarts the walk, up to
    ``restarts`` times: rows yielded already come again unchanged, none is skipped."""

    page_size: int = 1000  # SuccessFactors' most
    paging: str = "snapshot"
    since_field: str = "lastModifiedDateTime"
    restarts: int = 3

    def first_query(self, since: dt.datetime | None, params: dict[str, Any] | None) -> dict[str, Any]:
        query = {**(params or {}), "$format": "json", "paging": self.paging, "customPageSize": self.page_size}
        if since is not None:
            stamp = since.astimezone(dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="milliseconds")
            clause = f"{self.since_field} ge datetime'{stamp}'"
            query["$filter"] = f"{query['$filter']} and {clause}" if query.get("$filter") else clause
        return query

    def pages(self, engine, path, since, state, params=None):
        from harvey_pipelines.sources.errors import ConfigurationError, UnreadableResponse

        restarted = 0
        query = self.first_query(since, params)
        request: tuple[str, dict | None] = (path, query)
        while True:
            try:
                body = engine.get_json(*request).body
            except ConfigurationError as exc:
                if exc.status != 400 or request[1] is not None or restarted >= self.restarts:
                    raise
                restarted += 1
                state.notes.append(f"{path}: the snapshot expired mid-walk (HTTP 400); walked again from the start")
                request = (path, query)
                continue
            data = body.get("d") if isinstance(body, dict) else None
            rows = data.get("results") if isinstance(data, dict) else None
            if not isinstance(rows, list):
                raise UnreadableResponse(f"{engine.name}: GET {path} did not answer a list under d.results")
            if rows:
                yield rows
            following = data.get("__next")
            if not following:
                return
            request = (str(following), None)
