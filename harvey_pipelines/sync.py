"""One sync of one entity of one organization: the way data travels.

    adapter pages -> raw payload (SHA-256) -> canonical record (pydantic)
        -> batch: merge into core, new raw versions, quarantine, cursor, run progress

It knows nothing of Dagster: the assets, the CLI, the tests and the benchmarks all
call ``sync_entity``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterator, Literal

import orjson
import sqlalchemy as sa
from pydantic import ValidationError

from harvey_pipelines import settings
from harvey_pipelines.org_settings import publication
from harvey_pipelines.organizations import Organization, RegistryError
from harvey_pipelines.records import ENTITIES
from harvey_pipelines.records import entity as entity_spec
from harvey_pipelines.sources import (
    DeletionsPage,
    FanOutPage,
    FetchContext,
    PagingState,
    UnreadableResponse,
    adapter_for,
)
from harvey_pipelines.sources.errors import SourceError
from harvey_pipelines.sources.http import RetryPolicy, shown_url
from harvey_pipelines.sources.paging import parse_timestamp
from harvey_pipelines.warehouse import BatchCounts, Quarantined, SyncRun, Warehouse
from harvey_pipelines.warehouse.dialects import LockTimeout
from harvey_pipelines.warehouse.erasure import Suppression
from harvey_pipelines.warehouse.schema import record_columns

Mode = Literal["incremental", "full", "reconcile"]
MODES = ("incremental", "full", "reconcile")
log = logging.getLogger("harvey.sync")


class SyncFailed(Exception):
    """A sync that ended in failure; its result (counts, error) is recorded and attached."""

    def __init__(self, message: str, result: "SyncResult"):
        super().__init__(message)
        self.result = result


@dataclass
class SyncResult:
    sync_run_id: str
    organization_id: str
    entity: str
    mode: str
    status: str
    fetched: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    deleted: int = 0
    # a reconciliation's delete wave held back until confirmed (rows it would flag)
    deletes_held: int = 0
    raw_versions: int = 0
    # records of erased people dropped before anything was stored (sync.suppressions)
    suppressed: int = 0
    api_calls: int = 0
    retries: int = 0
    duration_seconds: float = 0.0
    cursor_before: str | None = None
    cursor_after: str | None = None
    error: str | None = None
    # configuration | credential | transient | data (sources.errors.FAILURE_KINDS); None on success
    failure_kind: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Batch:
    rows: list[tuple] = field(default_factory=list)
    ids: set[str] = field(default_factory=set)
    quarantined: list[Quarantined] = field(default_factory=list)
    # fan-out: parents whose whole answer is in this batch (it replaces their children)
    parent_entity: str | None = None
    answered: list[str] = field(default_factory=list)
    # ids the source says were deleted (DeletionsPage): flagged deleted with this batch
    deleted_ids: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows) + len(self.quarantined)


def sync_entity(
    org: Organization,
    entity_name: str,
    warehouse: Warehouse,
    *,
    mode: Mode = "incremental",
    trigger: str = "manual",
    triggered_by: str | None = None,
    dagster_run_id: str | None = None,
    batch_size: int = 10000,
    overlap: dt.timedelta = dt.timedelta(minutes=10),
    retry: RetryPolicy | None = None,
    lock_timeout: float = 900.0,
    on_batch: Callable[[SyncResult], None] | None = None,
    confirm_deletes: bool = False,
) -> SyncResult:
    """Sync one entity of one organization; waits (up to ``lock_timeout``) for a running
    sync of the same organization and entity to end, so two never overlap.

    ``confirm_deletes``: a reconciliation applies a delete wave above ``settings.delete_wave()``
    (otherwise it holds it back and says so in the run's notes)."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    if mode == "reconcile":
        settings.delete_wave()  # a bad setting fails before anything is fetched
    spec = entity_spec(entity_name)
    try:
        with warehouse.sync_lock(org.id, entity_name, lock_timeout):
            return _sync_locked(org, spec, warehouse, mode, trigger, triggered_by, dagster_run_id, batch_size,
                                overlap, retry, on_batch, confirm_deletes)
    except LockTimeout as exc:
        raise SyncFailed(
            f"{org.id}/{entity_name}: another sync of it is still running ({exc})",
            SyncResult("", org.id, entity_name, mode, "failed", error=str(exc), failure_kind="transient"),
        ) from None


def upstream_failed(entity_name: str, failed) -> list[str]:
    """The entities ``entity_name`` is fetched over (``EntitySpec.upstream``) among ``failed``, the
    ones that failed earlier in the same run: it is then not synced (it would walk parents that
    run could not refresh, or none at all, and report a success it is not)."""
    return [name for name in entity_spec(entity_name).upstream if name in failed]


def _sync_locked(org, spec, warehouse, mode, trigger, triggered_by, dagster_run_id, batch_size, overlap, retry,
                 on_batch, confirm_deletes) -> SyncResult:
    entity_name = spec.name
    started = time.monotonic()
    run = warehouse.start_run(org.id, entity_name, mode=mode, trigger=trigger, triggered_by=triggered_by,
                              dagster_run_id=dagster_run_id)
    result = SyncResult(run.id, org.id, entity_name, mode, "running", cursor_before=run.cursor_before)
    try:
        adapter = adapter_for(org, retry=retry)  # reads the credential; fails clearly if unset
        publish_settings(org, warehouse)  # what the marts of this data assume; usually unchanged
        suppression = Suppression.load(warehouse, org.id)  # erased people the source still holds
    except Exception as exc:  # noqa: BLE001 - a misconfigured organization is a recorded failure
        result.status, result.failure_kind = "failed", failure_kind(exc, before_fetch=True)
        # these errors name the organization only: add the entity and the HR system's address
        result.error = f"{entity_name} from {shown_url(org.base_url)}: {first_line(exc)}"
        warehouse.finish_run(run, status="failed", values=_final_values(result))
        raise SyncFailed(f"{org.id}/{entity_name}: {result.error}", result) from exc
    state = PagingState(server_ignores_since=run.server_ignores_since)
    since = None
    if mode == "incremental" and spec.incremental and run.cursor_before:
        since = dt.datetime.fromisoformat(run.cursor_before) - overlap
    newest: dt.datetime | None = None
    batch = _Batch()
    loader = _BackgroundLoader(warehouse, run, track_seen_ids=mode == "reconcile")
    context = FetchContext(parent_ids=lambda parent: warehouse.source_ids(org.id, parent))
    marks = None
    if spec.refetch_when_changed:
        # per-parent fetches: the cursor is where the data stood (per entity, the newest
        # change committed) when this sync began, read before any parent is; the next
        # incremental asks again only for parents changed after it, and the weekly reconcile
        # re-reads them all, for changes the HRMS makes on its own
        marked = (*spec.upstream, *spec.refetch_when_changed)
        marks = warehouse.synced_marks(org.id, marked)
        if mode == "incremental" and run.cursor_before:
            covered = _covered_marks(run.cursor_before, marked, overlap)
            context = FetchContext(parent_ids=lambda parent: warehouse.changed_parent_ids(
                org.id, parent, spec.refetch_when_changed, covered))
    engine = adapter.engine()
    unidentified = 0  # listed records without an id: a reconciliation cannot tell what is gone

    submitted = 0  # records in the batches handed to the loader
    synced_at: dt.datetime  # stamped when the fetch starts and after each batch

    def flush() -> None:
        nonlocal batch, synced_at, submitted
        # a keyset walk reads in updated_at order, so every batch is a safe checkpoint;
        # a backward walk (server ignores updated_since) is safe only once complete
        checkpoint = spec.incremental and not state.server_ignores_since and newest is not None
        if len(batch) or batch.answered or batch.deleted_ids:
            submitted += len(batch)
            # fetched as of this batch, so that a killed run's saved counts add up
            loader.submit(
                batch, cursor=newest.isoformat() if checkpoint and newest else None,
                server_ignores_since=state.server_ignores_since,
                progress={"fetched": submitted + result.suppressed, "suppressed": result.suppressed,
                          "api_calls": engine.api_calls},
                answered=(batch.parent_entity, batch.answered) if batch.answered else None,
                deleted_ids=batch.deleted_ids,
            )
        batch = _Batch()
        # every batch a later stamp than the last: marks (Warehouse.synced_marks) rely on it
        synced_at = dt.datetime.now(dt.timezone.utc)
        _apply(result, loader.totals, engine)
        if on_batch:
            on_batch(result)

    try:
        synced_at = dt.datetime.now(dt.timezone.utc)
        for page in _prefetch(adapter.fetch(engine, entity_name, since, state, context)):
            fan_out = isinstance(page, FanOutPage)
            if fan_out and len(batch) and len(batch) + len(page) > batch_size:
                flush()  # an answer is never split over two batches: it replaces children as a whole
            for raw in page:
                result.fetched += 1
                if suppression is not None:  # before anything of it is stored, raw included
                    raw = suppression.apply(entity_name, raw, adapter.to_canonical)
                    if raw is None:
                        result.suppressed += 1
                        continue
                record, payload, sha, problem = _prepare(adapter, spec, entity_name, raw)
                if record is None:
                    # it does not move the cursor (a sentinel updated_at would carry it past every
                    # later change); the cursor is held where the next syncs meet it again
                    source_id = raw.get("id") if isinstance(raw, dict) else None
                    if source_id in (None, ""):
                        unidentified += 1
                    stamp = parse_timestamp(raw.get("updated_at")) if isinstance(raw, dict) else None
                    batch.quarantined.append(Quarantined(
                        sha, payload, problem, None if source_id in (None, "") else str(source_id),
                        resume_from=stamp or _place(state, since, newest)))
                    continue
                stamp = record.updated_at
                if stamp is not None and (newest is None or stamp > newest):
                    newest = stamp
                if record.id in batch.ids:
                    if fan_out:  # two answers (or one twice) name the same child: the first stands
                        batch.quarantined.append(Quarantined(
                            sha, payload, f"id {record.id} answered twice in one fan-out", record.id))
                        continue
                    flush()  # the record changed during this sync: keep both versions, in order
                batch.ids.add(record.id)
                # model fields in declaration order, as warehouse staging columns expect
                batch.rows.append((org.id, *record.__dict__.values(), sha, synced_at, run.id, payload,
                                   record.canonical_json()))
                if len(batch) >= batch_size and not fan_out:
                    flush()
            if isinstance(page, FanOutPage):  # fan_out, spelled so the type checker sees it
                batch.parent_entity = page.parent_entity
                batch.answered.extend(page.parents)
                if len(batch) >= batch_size:
                    flush()
            if isinstance(page, DeletionsPage):
                batch.deleted_ids.extend(page.deleted_ids)
        flush()
        loader.finish()
    except Exception as exc:  # noqa: BLE001 - every failure is recorded, then re-raised
        if isinstance(exc, UnreadableResponse) and exc.body:
            body = exc.body.decode("utf-8", "replace")
            result.fetched += 1  # the page counts as one quarantined record
            batch.quarantined.append(Quarantined(hashlib.sha256(exc.body).hexdigest(), body, f"unreadable page: {exc}",
                                                 resume_from=_place(state, since, newest)))
        try:
            flush()
            loader.finish()
        except Exception:  # noqa: BLE001 - the original error is the one to report
            log.exception("could not save the last batch of a failed sync")
        _apply(result, loader.totals, engine)
        result.status = "failed"
        result.error = first_line(exc)
        result.failure_kind = failure_kind(exc)
        result.duration_seconds = time.monotonic() - started
        result.notes = state.notes
        warehouse.finish_run(run, status="failed", values=_final_values(result), notes=result.notes)
        engine.close()
        raise SyncFailed(f"{org.id}/{entity_name}: {result.error}", result) from exc

    engine.close()
    _apply(result, loader.totals, engine)
    final_cursor = newest.isoformat() if (spec.incremental and newest is not None) else None
    if marks is not None:
        final_cursor = orjson.dumps(marks).decode()
    if final_cursor is None and state.server_ignores_since != run.server_ignores_since:
        final_cursor = run.cursor_before  # nothing new, but what the sync learnt of the server is kept
    flag_deletes = mode == "reconcile" and _deletes_safe(warehouse, run, state, unidentified, confirm_deletes,
                                                         result)
    result.status = "success"
    result.duration_seconds = time.monotonic() - started
    result.notes = state.notes
    # fan-outs of changed parents only re-read some records; every other sync read all from `since`
    partial = bool(spec.refetch_when_changed and mode == "incremental" and run.cursor_before)
    result.deleted += warehouse.finish_run(
        run, status="success", values=_final_values(result), cursor=final_cursor,
        server_ignores_since=state.server_ignores_since, flag_deletes=flag_deletes, notes=result.notes,
        reread=not partial, reread_since=since,
    )
    result.cursor_after = run.cursor_after
    return result


def _deletes_safe(warehouse: Warehouse, run: SyncRun, state: PagingState, unidentified: int, confirmed: bool,
                  result: SyncResult) -> bool:
    """Whether a finished reconciliation may flag what it did not see. Not when the listing may
    be incomplete (a record without id, fewer distinct ids than the server's total): a glitch
    would read as deletes. Not, unconfirmed, a wave above ``settings.delete_wave()``. Either
    way the run's notes say why."""
    live, unseen, listed = warehouse.reconcile_counts(run)
    gaps = []
    if unidentified:
        gaps.append(f"{unidentified} listed record(s) had no id")
    if state.listed_total is not None and listed < state.listed_total:
        gaps.append(f"{listed} distinct ids listed, the server's total was {state.listed_total}")
    if gaps:
        state.notes.append(f"reconcile flagged nothing deleted: the listing was incomplete ({'; '.join(gaps)}); "
                           f"{unseen} record(s) were not seen")
        return False
    share, rows = settings.delete_wave()
    if unseen > rows and unseen > share * live and not confirmed:
        result.deletes_held = unseen
        state.notes.append(
            f"reconcile held back a delete wave: {unseen} of {live} live records would be flagged deleted "
            f"(more than {share:.0%} and more than {rows}); if the HRMS really lost them, confirm with "
            "`harvey sync --mode reconcile --confirm-deletes` or run config confirm_deletes: true")
        return False
    return True


def publish_settings(org: Organization, warehouse: Warehouse) -> bool:
    """Write the organization's settings from the registry (time zone, working hours,
    holidays, leave policy) where dbt reads them; False when they were published already."""
    return warehouse.publish_organization_settings(**vars(publication(org)))


class _BackgroundLoader:
    """Loads batches in one background thread, in order, at most one waiting.

    The database (and the driver, outside the GIL) works on one batch while the next is
    validated; memory stays at two batches whatever the organization's size.
    """

    def __init__(self, warehouse: Warehouse, run: SyncRun, track_seen_ids: bool):
        self.warehouse, self.run, self.track_seen_ids = warehouse, run, track_seen_ids
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="harvey-load")
        self.pending: Future | None = None
        self.totals = BatchCounts()

    def submit(self, batch: _Batch, **kw) -> None:
        # converted before waiting: it overlaps the previous batch's load, the busier thread
        rows = self.warehouse.arrow_batch(self.run.entity, batch.rows) if batch.rows else None
        self._wait()
        self.pending = self.pool.submit(
            self.warehouse.load_batch, self.run, rows, batch.quarantined,
            track_seen_ids=self.track_seen_ids, **kw,
        )

    def _wait(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            self.totals.add(pending.result())

    def finish(self) -> None:
        try:
            self._wait()
        finally:
            self.pool.shutdown(wait=True)


def _prepare(adapter, spec, entity_name, raw):
    """(record, payload JSON as sent, version key, problem): record is None when it must be
    quarantined. The version key of a record is the SHA-256 of its payload with its timestamps
    and dates as instants, so a payload re-sent with another offset or format is no change; a
    quarantined payload's is the SHA-256 of the payload as sent."""
    try:
        payload = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:
        payload = repr(raw).encode()
        return None, payload.decode(), hashlib.sha256(payload).hexdigest(), f"not JSON-serializable: {exc}"
    text = payload.decode()
    if not isinstance(raw, dict):
        return None, text, hashlib.sha256(payload).hexdigest(), f"record is a {type(raw).__name__}, not an object"
    try:
        record = spec.model.model_validate(adapter.to_canonical(entity_name, raw))
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}" for err in exc.errors()
        )
        return None, text, hashlib.sha256(payload).hexdigest(), reasons
    # the validated values of the declared timestamp and date fields only (cheap: a few per record);
    # every other field, unknown extra ones too, counts as sent
    values = record.__dict__
    instants = {name: value.timestamp() if isinstance(value, dt.datetime) else value
                for name in _INSTANT_FIELDS[spec.name] if name in raw and (value := values[name]) is not None}
    key = orjson.dumps({**raw, **instants}, option=orjson.OPT_SORT_KEYS) if instants else payload
    return record, text, hashlib.sha256(key).hexdigest(), None


# per entity, the record fields holding a timestamp or a date (the warehouse's typing of them)
_INSTANT_FIELDS = {
    spec.name: tuple(c.name for c in record_columns(spec) if isinstance(c.type, (sa.DateTime, sa.Date)))
    for spec in ENTITIES
}


def _place(state: PagingState, since: dt.datetime | None, newest: dt.datetime | None) -> dt.datetime | None:
    """Where in the list a record without a readable updated_at was met: a keyset walk reads in
    updated_at order, so at or after the newest read before it; a backward walk keeps such
    records whatever its filter, so from where it started (None: from the beginning)."""
    return since if state.server_ignores_since else (newest or since)


def _apply(result: SyncResult, totals: BatchCounts, engine) -> None:
    result.inserted, result.updated, result.deleted = totals.inserted, totals.updated, totals.deleted
    result.unchanged, result.quarantined = totals.unchanged, totals.quarantined
    result.raw_versions = totals.raw_versions
    result.api_calls, result.retries = engine.api_calls, engine.retries


def _final_values(result: SyncResult) -> dict:
    return {
        name: getattr(result, name)
        for name in ("fetched", "inserted", "updated", "unchanged", "quarantined", "deleted", "raw_versions",
                     "suppressed", "api_calls", "duration_seconds", "error", "failure_kind")
    }


def _covered_marks(cursor: str, entities: tuple[str, ...], overlap: dt.timedelta) -> dict:
    """The marks (entity -> stamp) a fan-out's cursor holds. A cursor of the earlier format
    (the previous sync's start time) stands for every entity, less the overlap."""
    try:
        marks = orjson.loads(cursor)
    except orjson.JSONDecodeError:
        marks = None
    if isinstance(marks, dict):
        return {name: dt.datetime.fromisoformat(stamp) if stamp else None for name, stamp in marks.items()}
    start = dt.datetime.fromisoformat(cursor) - overlap
    return dict.fromkeys(entities, start)


def failure_kind(exc: BaseException, before_fetch: bool = False) -> str:
    """What a person must do about a failed sync (sources.errors.FAILURE_KINDS): a missing
    credential and a bad organization setting fail before anything is fetched and need a fix;
    the HR system's answers carry their own kind; anything else (the warehouse, a crash) may
    pass on a retry."""
    if isinstance(exc, RegistryError):
        return "credential"  # the organization's credential variable is not set
    if isinstance(exc, SourceError):
        return exc.kind
    if before_fetch and isinstance(exc, ValueError):
        return "configuration"
    return "transient"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]


def _prefetch(pages: Iterator[list], depth: int = 4) -> Iterator[list]:
    """Fetch the next pages in a thread while this one is validated and loaded."""
    done = object()
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce():
        try:
            for page in pages:
                if stop.is_set():
                    return
                slots.put(page)
            slots.put(done)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            slots.put(exc)

    worker = threading.Thread(target=produce, name="harvey-fetch", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():
            try:
                slots.get_nowait()
            except queue.Empty:
                worker.join(0.05)
