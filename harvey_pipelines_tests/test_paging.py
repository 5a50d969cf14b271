"""Unit tests of the paginator (``UpdatedSinceKeyset``) over real HTTP against a tiny list server
on loopback that follows the contract's list rules (``hrms-api-contract.md``: page and
page_size, ``updated_since`` honoured or ignored, order by updated_at then id, ``total``): the
first request, each next request from the answer, when the walk is done, the backward walk of
a server that ignores the filter, and the edges (empty, short and one-timestamp pages, no total,
a record changed during the walk)."""

from __future__ import annotations

import datetime as dt

import pytest

from harvey_pipelines.sources.errors import UnreadableResponse
from harvey_pipelines.sources.http import BearerAuth, HttpEngine, Secret
from harvey_pipelines.sources.paging import PagingState, UpdatedSinceKeyset, _total, format_timestamp, parse_timestamp
from harvey_pipelines_tests.processes import ScriptedHttpServer

pytestmark = pytest.mark.fast

PATH = "/api/v1/employees"
T0 = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)


def stamp(minutes: float) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat()


def record(number: int, minutes: float) -> dict:
    return {"id": f"emp-{number:03d}", "updated_at": stamp(minutes)}


class ListServer(ScriptedHttpServer):
    """One list as the contract serves it; ``records`` may change between requests (a live list)."""

    def __init__(self, records: list[dict], honours_since: bool = True, total: bool = True):
        self.records = records

        def respond(request):
            if request.path != PATH:
                return 404, {}, {"detail": "Not Found"}
            page, size = int(request.query.get("page", 1)), min(int(request.query.get("page_size", 50)), 100)
            rows = sorted(self.records, key=lambda r: (dt.datetime.fromisoformat(r["updated_at"]), r["id"]))
            since = request.query.get("updated_since")
            if since and honours_since:
                since = dt.datetime.fromisoformat(since)
                rows = [r for r in rows if dt.datetime.fromisoformat(r["updated_at"]) >= since]
            body = {"data": rows[(page - 1) * size:page * size], "page": page, "page_size": size}
            if total:
                body["total"] = len(rows)
            return 200, {}, body

        super().__init__(respond)

    def asked(self) -> list[tuple]:
        """(page, page_size, updated_since) of every request, in order."""
        return [(int(r.query["page"]), int(r.query["page_size"]), r.query.get("updated_since")) for r in self.requests]


def walk(server, since=None, state=None, page_size=3, **kw) -> tuple[list[list[dict]], PagingState]:
    state = state or PagingState()
    with HttpEngine(server.origin, BearerAuth(Secret("t")), name="acme/custom", rate_limit_per_second=1000) as engine:
        pages = list(UpdatedSinceKeyset(page_size=page_size).pages(engine, PATH, since, state, **kw))
    return pages, state


def ids(pages) -> list[str]:
    return [r["id"] for page in pages for r in page]


def test_a_short_first_page_is_the_whole_list_in_one_request():
    with ListServer([record(i, i) for i in range(2)]) as server:
        pages, state = walk(server)
    assert ids(pages) == ["emp-000", "emp-001"]
    assert server.asked() == [(1, 3, None)]  # no updated_since on a full walk
    assert state.listed_total == 2 and not state.server_ignores_since and state.notes == []


def test_an_empty_list_yields_no_page():
    with ListServer([]) as server:
        pages, state = walk(server)
    assert pages == [] and server.asked() == [(1, 3, None)] and state.listed_total == 0


def test_after_a_full_page_the_next_request_asks_from_its_newest_stamp_on_page_1():
    with ListServer([record(i, i) for i in range(8)]) as server:
        pages, state = walk(server)
    assert ids(pages) == [f"emp-{i:03d}" for i in range(8)], "each record once, in order"
    assert server.asked() == [(1, 3, None), (1, 3, stamp(2)), (1, 3, stamp(4)), (1, 3, stamp(6))]
    # the records at the boundary stamp come back with the next page and are not yielded again
    assert [len(p) for p in pages] == [3, 2, 2, 1]
    assert state.listed_total == 8


def test_an_incremental_walk_starts_from_since_and_sets_no_total():
    since = T0 + dt.timedelta(minutes=5, microseconds=250)
    with ListServer([record(i, i) for i in range(8)]) as server:
        pages, state = walk(server, since=since)
    assert server.asked()[0] == (1, 3, since.isoformat())
    assert ids(pages) == ["emp-006", "emp-007"]
    assert state.listed_total is None  # a count is only meaningful for a full walk


def test_a_full_page_of_one_timestamp_is_stepped_through_by_page():
    rows = [record(i, 0) for i in range(7)] + [record(9, 1)]
    with ListServer(rows) as server:
        pages, _ = walk(server)
    assert sorted(ids(pages)) == sorted(r["id"] for r in rows) and len(ids(pages)) == 8
    assert server.asked() == [(1, 3, None), (1, 3, stamp(0)), (2, 3, stamp(0)), (3, 3, stamp(0))]


def test_a_record_changed_during_the_walk_is_met_again_and_nothing_unread_is_skipped():
    rows = [record(i, i) for i in range(9)]
    with ListServer(rows) as server:
        state = PagingState()
        with HttpEngine(server.origin, BearerAuth(Secret("t")), name="acme/custom",
                        rate_limit_per_second=1000) as engine:
            seen = []
            for page in UpdatedSinceKeyset(page_size=3).pages(engine, PATH, None, state):
                seen += [(r["id"], r["updated_at"]) for r in page]
                if len(seen) == 3:  # the source changes an already read record: it jumps to the end
                    rows[1] = {"id": "emp-001", "updated_at": stamp(60)}
    # page-number walking would now skip emp-003 (every record shifted one place to the front)
    assert [i for i, _ in seen] == ["emp-000", "emp-001", "emp-002", "emp-003", "emp-004", "emp-005", "emp-006",
                                    "emp-007", "emp-008", "emp-001"]
    assert seen[-1] == ("emp-001", stamp(60))


def test_extra_params_go_with_every_request_and_the_answer_must_be_a_list():
    with ListServer([record(i, i) for i in range(4)]) as server:
        walk(server, params={"status": "active"})
    assert [r.query["status"] for r in server.requests] == ["active", "active"]

    with ScriptedHttpServer(lambda request: (200, {}, {"items": []})) as server:
        with pytest.raises(UnreadableResponse, match=f"acme/custom: GET {PATH} did not answer a list under 'data'"):
            walk(server)


# -- a server that ignores updated_since -------------------------------------------------------

def test_a_server_ignoring_updated_since_is_walked_backwards_and_filtered_here():
    since = T0 + dt.timedelta(minutes=4)
    with ListServer([record(i, i) for i in range(8)], honours_since=False) as server:
        pages, state = walk(server, since=since)
    assert sorted(ids(pages)) == [f"emp-{i:03d}" for i in range(4, 8)]
    # the filtered first page showed older records; then a probe for the total and the pages last to first
    assert server.asked() == [(1, 3, since.isoformat()), (1, 1, None), (3, 3, None), (2, 3, None), (1, 3, None)]
    assert [ids([p]) for p in pages] == [["emp-006", "emp-007"], ["emp-004", "emp-005"]]
    assert state.server_ignores_since is True
    assert state.notes == [f"{PATH}: server ignores updated_since; filtering client-side"]
    assert state.listed_total is None


def test_an_ignoring_server_whose_first_page_is_short_costs_no_more_requests():
    since = T0 + dt.timedelta(minutes=1)
    with ListServer([record(i, i) for i in range(3)], honours_since=False) as server:
        pages, state = walk(server, since=since, page_size=5)
    assert ids(pages) == ["emp-001", "emp-002"]
    assert server.asked() == [(1, 5, since.isoformat())] and state.server_ignores_since


def test_a_server_once_seen_ignoring_the_filter_is_probed_again_and_the_flag_cleared_when_fixed():
    since = T0 + dt.timedelta(minutes=4)
    with ListServer([record(i, i) for i in range(8)]) as server:
        pages, state = walk(server, since=since, state=PagingState(server_ignores_since=True))
    assert ids(pages) == [f"emp-{i:03d}" for i in range(4, 8)]
    assert server.asked()[0] == (1, 3, since.isoformat()) and (1, 1, None) not in server.asked()
    assert state.server_ignores_since is False
    assert state.notes == [f"{PATH}: server honours updated_since again; keyset walk"]


def test_records_without_a_readable_stamp_go_on_to_validation():
    """Neither dropped as older than the filter nor taken as a sign of one."""
    rows = [record(0, 0), {"id": "emp-bad", "updated_at": "yesterday"}, record(2, 2),
            {"id": "emp-naive", "updated_at": "2026-03-01T09:01:00"}]
    since = T0 + dt.timedelta(minutes=1)
    # a server ignoring the filter, whose one page holds the whole list
    with ScriptedHttpServer(lambda request: (200, {}, {"data": rows, "total": len(rows)})) as server:
        pages, state = walk(server, since=since, page_size=10)
    assert state.server_ignores_since  # emp-000 is older than the filter
    assert ids(pages) == ["emp-bad", "emp-002", "emp-naive"]
    with ScriptedHttpServer(lambda request: (200, {}, {"data": rows[1:], "total": 3})) as server:
        pages, state = walk(server, since=since, page_size=10)
    assert not state.server_ignores_since and ids(pages) == ["emp-bad", "emp-002", "emp-naive"]


@pytest.mark.parametrize("length", [1, 2, 7, 8, 9, 31])
def test_an_ignoring_server_without_a_total_is_not_read_as_an_empty_list(length):
    since = T0 + dt.timedelta(minutes=length // 2)
    with ListServer([record(i, i) for i in range(length)], honours_since=False, total=False) as server:
        pages, _ = walk(server, since=since)
    # the length is found by probing, then the list is walked backwards and filtered as with a total
    assert sorted(ids(pages)) == sorted(ids([[record(i, i) for i in range(length // 2, length)]]))


# -- the stamps and counts it reads ------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2026-03-01T14:30:00+05:30", dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.timezone.utc)),
    ("2026-03-01T09:00:00Z", T0),
    ("2026-03-01T09:00:00.000Z", T0),
    ("2026-03-01T09:00:00", None),  # naive: cannot be ordered against an aware cursor
    ("2026-03-01", None),
    ("yesterday", None),
    (1772355600, None),
    (None, None),
])
def test_parse_timestamp_reads_aware_iso_stamps_only(text, expected):
    assert parse_timestamp(text) == expected


def test_format_timestamp_keeps_the_offset_and_microseconds_only_when_there_are_some():
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    assert format_timestamp(dt.datetime(2026, 3, 1, 14, 30, tzinfo=ist)) == "2026-03-01T14:30:00+05:30"
    assert format_timestamp(T0.replace(microsecond=1500)) == "2026-03-01T09:00:00.001500+00:00"


@pytest.mark.parametrize("value, expected", [(150, 150), (0, 0), (-1, None), (True, None), ("150", None), (None, None),
                                             (1.5, None)])
def test_only_a_whole_non_negative_total_counts(value, expected):
    assert _total(value) == expected
