"""The warehouse as the sync sees it: one transaction per batch that merges records,
stores new raw versions, quarantines what is invalid, counts, and moves the cursor.

Because a batch, its sync-run progress and the cursor commit together, a sync killed at
any point leaves a state that the next run completes: it starts from the last committed
cursor, and re-loading an already loaded record is an "unchanged" no-op.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import ClassVar

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from harvey_pipelines import settings
from harvey_pipelines.records import ENTITIES, entity
from harvey_pipelines.warehouse import audit, migrations, schema
from harvey_pipelines.warehouse.dialects import Dialect, create_engine, dialect_for, to_arrow

PARENT_ID = sa.Column("source_id", sa.Text)  # the staged parent ids of a fan-out's answers
_migrated: set[str] = set()  # warehouses this process found or made current
# A quarantined record is read again by the syncs that follow until it loads, unless the source
# has sent the very same broken payload this many times: broken at the source, re-reading does
# not help, and once it is fixed its updated_at moves and an incremental sync meets it anyway.
QUARANTINE_READS = 3


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _utc(stamp: dt.datetime) -> dt.datetime:
    return stamp.astimezone(dt.timezone.utc) if stamp.tzinfo else stamp.replace(tzinfo=dt.timezone.utc)


@dataclass
class SyncRun:
    id: str
    organization_id: str
    entity: str
    mode: str
    started_at: dt.datetime
    cursor_before: str | None
    server_ignores_since: bool
    cursor_after: str | None = None  # the cursor stored last
    open_quarantine: bool = False  # quarantine rows still to be had when the run started
    quarantined: bool = False  # this run quarantined something
    trigger: str = "manual"  # as in sync.sync_runs: the audit row of the run repeats it
    triggered_by: str | None = None
    dagster_run_id: str | None = None


@dataclass
class FailureChain:
    """The sync runs of one organization and entity since its last success (all failed)."""

    organization_id: str
    entity: str
    sync_run_ids: list[str]
    dagster_run_ids: list[str]
    first_failure_at: dt.datetime
    last_failure_at: dt.datetime
    last_error: str | None
    # of the last failure (sources.errors.FAILURE_KINDS); None for an interrupted run
    last_failure_kind: str | None = None

    @property
    def attempts(self) -> int:
        return len(self.sync_run_ids)


@dataclass
class Quarantined:
    payload_sha256: str
    payload: str
    reason: str
    source_id: str | None = None
    # where a sync reads from to meet the record again (see schema.quarantine)
    resume_from: dt.datetime | None = None


@dataclass
class BatchCounts:
    NAMES: ClassVar[tuple[str, ...]] = ("inserted", "updated", "unchanged", "quarantined", "raw_versions",
                                        "deleted")
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    quarantined: int = 0
    raw_versions: int = 0
    # children a parent's fan-out answer no longer lists, and records the source says were deleted
    deleted: int = 0

    def add(self, other: "BatchCounts") -> None:
        for name in self.NAMES:
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True)
class ReferenceTolerance:
    """How many live references of one organization's table may resolve to no record before
    the table counts as broken: ``share`` of its references, at least ``min_rows``, at most
    ``max_rows`` (the room a late-arriving record of an incremental sync needs)."""

    share: Decimal
    min_rows: int
    max_rows: int

    def tolerated(self, references: int) -> int:
        return int(min(Decimal(self.max_rows), max(Decimal(self.min_rows), self.share * references)))


@dataclass
class UnresolvedReferences:
    """One organization's live rows of ``entity`` whose ``column`` resolves to no record."""

    organization_id: str
    entity: str
    column: str
    referenced_entity: str
    references: int  # live rows with a value in the column
    unresolved: int
    tolerated: int
    examples: list[tuple[str, str]] = field(default_factory=list)  # (a row's source id, its value)

    @property
    def failing(self) -> bool:
        return self.unresolved > self.tolerated

    def summary(self) -> str:
        return (f"{self.entity}.{self.column} -> {self.referenced_entity}: {self.unresolved} of "
                f"{self.references} references unresolved in {self.organization_id} (tolerated "
                f"{self.tolerated}), e.g. {', '.join(value for _, value in self.examples)}")


@dataclass
class EntityTable:
    """The staging layout of one entity and the SQL that merges a staged batch."""

    name: str
    table: sa.Table
    record_columns: list[sa.Column]
    dialect: Dialect
    staging: list[sa.Column] = field(init=False)

    def __post_init__(self):
        self.staging = [
            sa.Column("organization_id", sa.Text),
            *self.record_columns,
            sa.Column("record_hash", sa.Text),
            sa.Column("synced_at", sa.DateTime(timezone=True)),
            sa.Column("sync_run_id", sa.Text),
            sa.Column("payload", sa.Text),
            sa.Column("canonical", sa.Text),
        ]

    @cached_property
    def merge_sql(self) -> tuple[list[str], str]:
        """The statements that merge a staged batch (``{stage}``) into the core table (the
        last returns the rows inserted and the rows inserted or updated), and the one that
        stores its new raw versions."""
        loaded = [c.name for c in self.staging if c.name not in ("payload", "canonical")]
        # a different payload (or a record back from deletion), never an older version
        changed = (
            "(t.record_hash <> excluded.record_hash OR t.is_deleted) AND "
            "(t.updated_at IS NULL OR excluded.updated_at IS NULL OR excluded.updated_at >= t.updated_at)"
        )
        # a version differing from the record's latest stored one (the last fetched): a value
        # that changes back (A -> B -> A) is stored again, an unchanged one is not
        raw = (
            f"INSERT INTO {schema.RAW}.payload_versions (organization_id, entity, source_id, payload_sha256, "
            "payload, canonical, source_updated_at, fetched_at, sync_run_id) "
            f"SELECT organization_id, '{self.name}', source_id, record_hash, payload, canonical, updated_at, "
            "synced_at, sync_run_id FROM {stage} s WHERE s.record_hash IS DISTINCT FROM ("
            f"SELECT k.payload_sha256 FROM {schema.RAW}.payload_versions AS k "
            f"WHERE k.organization_id = s.organization_id AND k.entity = '{self.name}' AND k.source_id = s.source_id "
            "ORDER BY k.fetched_at DESC, k.source_updated_at DESC NULLS LAST LIMIT 1)"
        )
        return self.dialect.merge(f"{schema.CORE}.{self.name}", loaded, changed), raw


class Warehouse:
    def __init__(self, url: str | None = None):
        self.url = url or settings.warehouse_url()
        self.engine = create_engine(self.url)
        self.dialect = dialect_for(self.engine)
        self.tables = {
            spec.name: EntityTable(spec.name, schema.CORE_TABLES[spec.name], schema.record_columns(spec),
                                   self.dialect)
            for spec in ENTITIES
        }

    def __repr__(self) -> str:
        return f"Warehouse({self.engine.url.render_as_string(hide_password=True)})"

    def writer(self, hold: bool = False):
        """A transaction; on DuckDB also the file's writer lock (``hold``: keep it briefly)."""
        return self.dialect.writer(hold)

    def release(self) -> None:
        self.dialect.release()

    def for_other_process(self):
        """Hold off our own writers while another program (dbt) writes the warehouse."""
        return self.dialect.for_other_process()

    def turn(self, wait: float):
        """On DuckDB, the writers' turn for the whole block (the ``writer()`` transactions in it
        share one connection), taken within ``wait`` seconds or ``LockTimeout``: for a reader
        that must not wait for long (a sensor tick). Nothing to take on PostgreSQL."""
        return self.dialect.turn(wait)

    def publish(self) -> Path | None:
        """Publish the copy that analysts and BI tools read (``settings.published_copy``), so
        that no reader holds the DuckDB warehouse file and blocks a writer; its path. None on
        PostgreSQL: there readers and writers do not block each other, nothing is published."""
        target = settings.published_copy(self.url)
        if target is not None:
            self.dialect.publish(target)
        return target

    def compact(self, tables) -> None:
        """Leave no bytes of deleted or changed rows of ``tables`` ("schema.table") in the
        database's files (``Dialect.compact``: on DuckDB the whole file is rewritten)."""
        self.release()
        self.dialect.compact(list(tables))

    def sync_lock(self, organization_id: str, entity_name: str, timeout: float = 900.0):
        """One sync per organization and entity at a time, whoever launched it."""
        return self.dialect.exclusive(f"harvey-sync/{organization_id}/{entity_name}", timeout)

    def migrate(self) -> migrations.Upgrade:
        """Bring the warehouse to this release's schema (``warehouse/migrations``), once per
        process: one small query when it is there already. Safe when processes start at once:
        one migrates while the others wait (DuckDB: the writer lock; PostgreSQL: an advisory
        lock held by the migration's transaction), then find it done."""
        if self.url in _migrated:
            return migrations.Upgrade.nothing(migrations.head())
        try:
            with self.writer() as conn:
                current = migrations.is_current(conn)
        except sa.exc.DBAPIError:  # no migration ran yet: an empty warehouse, or one create_all made
            current = False
        if current:
            done = migrations.Upgrade.nothing(migrations.head())
        else:
            with self.writer() as conn:
                self.dialect.lock_migrations(conn)
                done = migrations.upgrade(conn)
        _migrated.add(self.url)
        return done

    def dispose(self) -> None:
        self.release()
        self.engine.dispose()

    # -- sync runs ------------------------------------------------------------------
    def start_run(
        self, organization_id: str, entity_name: str, *, mode: str, trigger: str,
        triggered_by: str | None = None, dagster_run_id: str | None = None,
    ) -> SyncRun:
        entity(entity_name)
        self.migrate()
        now = utcnow()
        runs, cursors = schema.sync_runs, schema.cursors
        with self.writer(hold=True) as conn:  # the sync's batches reuse this connection
            # the caller holds sync_lock: a run still "running" here was killed or crashed
            conn.execute(
                runs.update()
                .where(runs.c.organization_id == organization_id, runs.c.entity == entity_name,
                       runs.c.status == "running")
                .values(status="interrupted", finished_at=now,
                        error="the sync process ended without finishing (killed or crashed)")
            )
            row = conn.execute(
                sa.select(cursors.c.cursor_value, cursors.c.server_ignores_since).where(
                    cursors.c.organization_id == organization_id, cursors.c.entity == entity_name
                )
            ).first()
            q = schema.quarantine
            run = SyncRun(
                id=uuid.uuid4().hex, organization_id=organization_id, entity=entity_name, mode=mode,
                started_at=now, cursor_before=row.cursor_value if row else None,
                server_ignores_since=bool(row.server_ignores_since) if row else False,
                open_quarantine=conn.execute(sa.select(sa.exists().where(
                    q.c.organization_id == organization_id, q.c.entity == entity_name,
                    q.c.resolved_at.is_(None)))).scalar(),
                trigger=trigger, triggered_by=triggered_by, dagster_run_id=dagster_run_id,
            )
            run.cursor_after = run.cursor_before
            conn.execute(runs.insert().values(
                id=run.id, organization_id=organization_id, entity=entity_name, mode=mode, trigger=trigger,
                triggered_by=triggered_by, dagster_run_id=dagster_run_id, status="running", started_at=now,
                cursor_before=run.cursor_before,
            ))
        return run

    def arrow_batch(self, entity_name: str, rows: list[tuple]) -> pa.Table:
        """Rows in ``EntityTable.staging`` order as the Arrow table ``load_batch`` takes (a
        sync converts a batch while the previous one loads)."""
        return to_arrow(self.tables[entity_name].staging, rows)

    def load_batch(
        self, run: SyncRun, batch: pa.Table | None, quarantined: list[Quarantined], *,
        cursor: str | None = None, server_ignores_since: bool = False, track_seen_ids: bool = False,
        progress: dict | None = None, answered: tuple[str, list[str]] | None = None,
        deleted_ids: list[str] | None = None,
    ) -> BatchCounts:
        """Merge one batch (``arrow_batch``, unique source ids) and keep its invalid records.

        ``answered``: (parent entity, parent ids) of a fan-out whose answers are all in this
        batch; those parents' other children are flagged deleted (the answer replaces them).
        ``deleted_ids``: records the source says were deleted, flagged deleted after the merge."""
        table = self.tables[run.entity]
        upsert, raw = table.merge_sql
        counts = BatchCounts(quarantined=len(quarantined))
        now = utcnow()
        with self.writer(hold=True) as conn:
            if quarantined:  # first: a record loaded later in this batch resolves it below
                self._quarantine(conn, run, quarantined, now, track_seen_ids)
                run.quarantined = True
            staged = self._staged(conn, "harvey_stage", table.staging, batch) if batch is not None and batch.num_rows \
                else contextlib.nullcontext()
            with staged as stage:
                if stage is not None:
                    for statement in upsert[:-1]:
                        conn.exec_driver_sql(statement.format(stage=stage))
                    inserted, merged = conn.exec_driver_sql(upsert[-1].format(stage=stage)).one()
                    counts.inserted, counts.updated = inserted, merged - inserted
                    counts.unchanged = batch.num_rows - merged  # type: ignore[union-attr] # staged from it
                    counts.raw_versions = max(conn.exec_driver_sql(raw.format(stage=stage)).rowcount, 0)
                    if track_seen_ids:
                        conn.exec_driver_sql(
                            f"INSERT INTO {schema.SYNC}.seen_ids (sync_run_id, source_id) "
                            f"SELECT DISTINCT sync_run_id, source_id FROM {stage} ON CONFLICT DO NOTHING"
                        )
                    if run.open_quarantine or run.quarantined:
                        self._resolve_loaded(conn, run, stage, now)
                if answered and answered[1]:
                    counts.deleted = self._replace_children(conn, run, stage, quarantined, *answered, now)
                if deleted_ids:
                    core = table.table
                    counts.deleted += conn.execute(core.update().where(
                        core.c.organization_id == run.organization_id, core.c.is_deleted.is_(False),
                        core.c.source_id.in_(sorted(set(deleted_ids)))).values(is_deleted=True, deleted_at=now)
                    ).rowcount
            if cursor is not None:
                self._move_cursor(conn, run, cursor, server_ignores_since, now)
            # the batch's counts commit with it: a killed run's row says what it loaded
            runs = schema.sync_runs
            conn.execute(runs.update().where(runs.c.id == run.id).values(
                **(progress or {}), **{name: runs.c[name] + getattr(counts, name) for name in BatchCounts.NAMES}))
        return counts

    def _replace_children(self, conn, run, stage, quarantined, parent_entity, parent_ids, now) -> int:
        """Flag deleted the live children of ``parent_ids`` that their answers (the staged rows,
        and the quarantined ones, which exist at the source) no longer hold."""
        # the parents as a relation, not thousands of bound values (DuckDB ran out of a sync's memory on those)
        with self._staged(conn, "harvey_parents", [PARENT_ID], pa.table({"source_id": parent_ids})) as parents:
            return self._flag_replaced(conn, run, stage, quarantined, parent_entity, parents, now)

    def _flag_replaced(self, conn, run, stage, quarantined, parent_entity, parents, now) -> int:
        table = self.tables[run.entity].table
        column = entity(run.entity).reference_to(parent_entity)
        keys = schema.record_keys
        # the parents' references first, as values: DuckDB runs the UPDATE with the view
        # record_keys in it as one join over every key, past a sync's memory limit (40MB)
        resolves = conn.execute(sa.select(keys.c.reference).where(
            keys.c.organization_id == run.organization_id, keys.c.entity == parent_entity,
            keys.c.source_id.in_(sa.select(sa.column("source_id")).select_from(sa.table(parents))))).scalars().all()
        if not resolves:
            return 0
        where = [table.c.organization_id == run.organization_id, table.c.is_deleted.is_(False),
                 table.c[column].in_(sorted(set(resolves)))]
        if stage is not None:
            where.append(~table.c.source_id.in_(sa.select(sa.column("source_id")).select_from(sa.table(stage))))
        kept = sorted({q.source_id for q in quarantined if q.source_id})
        if kept:
            where.append(~table.c.source_id.in_(kept))
        return conn.execute(table.update().where(*where).values(is_deleted=True, deleted_at=now)).rowcount

    @contextlib.contextmanager
    def _staged(self, conn, name: str, columns, batch: pa.Table):
        """``batch`` readable as a relation in this transaction (``Dialect.stage``) for the block."""
        staged = self.dialect.stage(conn, name, columns, batch)
        try:
            yield staged
        except BaseException:
            with contextlib.suppress(Exception):  # the failed statement's error is the one to see
                self.dialect.unstage(conn, staged)
            raise
        self.dialect.unstage(conn, staged)

    def _quarantine(self, conn, run, items, now, track_seen_ids):
        q = schema.quarantine
        unique = {item.payload_sha256: item for item in items}
        stmt = _upsert(q).values([
            dict(organization_id=run.organization_id, entity=run.entity, payload_sha256=i.payload_sha256,
                 source_id=i.source_id, payload=i.payload, reason=i.reason, first_seen_at=now,
                 last_seen_at=now, times_seen=1, sync_run_id=run.id, resume_from=i.resume_from)
            for i in unique.values()
        ])
        stmt = stmt.on_conflict_do_update(  # met again: open again, until it loads
            index_elements=["organization_id", "entity", "payload_sha256"],
            set_=dict(last_seen_at=stmt.excluded.last_seen_at, reason=stmt.excluded.reason,
                      sync_run_id=stmt.excluded.sync_run_id, times_seen=q.c.times_seen + 1,
                      resume_from=stmt.excluded.resume_from, resolved_at=None, resolved_by_sync_run_id=None,
                      resolution=None),
        )
        conn.execute(stmt)
        ids = {i.source_id for i in unique.values() if i.source_id}
        if track_seen_ids and ids:
            # an invalid record still exists at the source: it must not be flagged deleted
            seen = _upsert(schema.seen_ids).values(
                [dict(sync_run_id=run.id, source_id=i) for i in ids]
            )
            conn.execute(seen.on_conflict_do_nothing())

    def _resolve_loaded(self, conn, run, stage, now):
        """Open quarantine rows of records this batch loaded in a version at least as new."""
        conn.execute(sa.text(
            f"UPDATE {schema.SYNC}.quarantine SET resolved_at = :now, resolved_by_sync_run_id = :run, "
            "resolution = 'loaded' WHERE organization_id = :org AND entity = :entity AND resolved_at IS NULL "
            f"AND EXISTS (SELECT 1 FROM {stage} s WHERE s.source_id = {schema.SYNC}.quarantine.source_id "
            f"AND (s.updated_at IS NULL OR {schema.SYNC}.quarantine.resume_from IS NULL "
            f"OR s.updated_at >= {schema.SYNC}.quarantine.resume_from))"
        ), dict(now=now, run=run.id, org=run.organization_id, entity=run.entity))

    def _resolve_unseen(self, conn, run, since, now):
        """After a successful sync that read everything from ``since`` (all when None) again: open
        rows it did not meet are no longer served (fixed, deleted, or broken only in transit)."""
        q = schema.quarantine
        stmt = q.update().where(q.c.organization_id == run.organization_id, q.c.entity == run.entity,
                                q.c.resolved_at.is_(None), q.c.sync_run_id != run.id)
        if since is not None:
            stmt = stmt.where(q.c.resume_from >= since)
        conn.execute(stmt.values(resolved_at=now, resolved_by_sync_run_id=run.id, resolution="not served again"))

    def _held(self, conn, run, cursor: str) -> str | None:
        """The cursor to store: never past a record this run quarantined that is to be read
        again; where it is when such a record's place in the list is unknown."""
        if not run.quarantined or not entity(run.entity).incremental:
            return cursor
        q = schema.quarantine
        unplaced, oldest = conn.execute(
            sa.select(sa.func.count().filter(q.c.resume_from.is_(None)), sa.func.min(q.c.resume_from))
            .where(q.c.organization_id == run.organization_id, q.c.entity == run.entity,
                   q.c.sync_run_id == run.id, q.c.resolved_at.is_(None), q.c.times_seen < QUARANTINE_READS)
        ).one()
        if unplaced:
            return run.cursor_after
        if oldest is not None:
            oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=dt.timezone.utc)
            if oldest < dt.datetime.fromisoformat(cursor):
                return oldest.isoformat()
        return cursor

    def _move_cursor(self, conn, run, cursor, server_ignores_since, now):
        """Store the cursor, held back where a quarantined record is to be read again."""
        cursor = self._held(conn, run, cursor)
        if cursor is None:
            return
        run.cursor_after = cursor
        c = schema.cursors
        stmt = _upsert(c).values(
            organization_id=run.organization_id, entity=run.entity, cursor_value=cursor,
            server_ignores_since=server_ignores_since, sync_run_id=run.id, moved_at=now,
        )
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["organization_id", "entity"],
            set_=dict(cursor_value=stmt.excluded.cursor_value,
                      server_ignores_since=stmt.excluded.server_ignores_since,
                      sync_run_id=stmt.excluded.sync_run_id, moved_at=stmt.excluded.moved_at),
        ))

    def _unseen(self, run: SyncRun):
        core, seen = self.tables[run.entity].table, schema.seen_ids
        return (core.c.organization_id == run.organization_id, core.c.is_deleted.is_(False),
                ~core.c.source_id.in_(sa.select(seen.c.source_id).where(seen.c.sync_run_id == run.id)))

    def reconcile_counts(self, run: SyncRun) -> tuple[int, int, int]:
        """(live records, live records this reconciliation did not see, distinct ids it saw)."""
        core, seen = self.tables[run.entity].table, schema.seen_ids
        with self.writer() as conn:
            live = conn.execute(sa.select(sa.func.count()).where(
                core.c.organization_id == run.organization_id, core.c.is_deleted.is_(False))).scalar_one()
            unseen = conn.execute(sa.select(sa.func.count()).where(*self._unseen(run))).scalar_one()
            listed = conn.execute(sa.select(sa.func.count()).where(seen.c.sync_run_id == run.id)).scalar_one()
        return live, unseen, listed

    def finish_run(
        self, run: SyncRun, *, status: str, values: dict, cursor: str | None = None,
        server_ignores_since: bool = False, flag_deletes: bool = False, notes: list[str] | None = None,
        reread: bool = False, reread_since: dt.datetime | None = None,
    ) -> int:
        """Close the run; ``flag_deletes``: flag what this reconciliation did not see as deleted.
        Returns the rows flagged here; ``values["deleted"]`` (flagged by batches) adds to the
        run's count. ``reread``: the run read every record from ``reread_since`` (all when None)
        again, so open quarantine rows from there that it did not meet are resolved."""
        deleted = 0
        now = utcnow()
        values = dict(values)
        values_deleted = values.pop("deleted", 0)
        with self.writer() as conn:
            if flag_deletes:
                core = self.tables[run.entity].table
                deleted = conn.execute(core.update().where(*self._unseen(run)).values(
                    is_deleted=True, deleted_at=now)).rowcount
            if run.mode == "reconcile":
                conn.execute(schema.seen_ids.delete().where(schema.seen_ids.c.sync_run_id == run.id))
            if status == "success" and reread:
                self._resolve_unseen(conn, run, reread_since, now)
            if cursor is not None:
                self._move_cursor(conn, run, cursor, server_ignores_since, now)
            conn.execute(
                schema.sync_runs.update().where(schema.sync_runs.c.id == run.id).values(
                    status=status, finished_at=now, deleted=values_deleted + deleted,
                    cursor_after=run.cursor_after, notes="\n".join(notes) if notes else None,
                    **values,
                )
            )
            audit.record(conn, "sync", actor=_actor(run.trigger, run.triggered_by),
                         organization_id=run.organization_id, target=run.entity, details={
                             "sync_run_id": run.id, "dagster_run_id": run.dagster_run_id, "mode": run.mode,
                             "status": status, "deleted": deleted + values_deleted,
                             **{k: v for k, v in values.items() if k not in ("error", "duration_seconds")}})
            if status == "success":
                dl = schema.dead_letters
                conn.execute(dl.update().where(
                    dl.c.organization_id == run.organization_id, dl.c.entity == run.entity, dl.c.resolved_at.is_(None)
                ).values(resolved_at=now))
        return deleted

    # -- organization settings -----------------------------------------------------------
    def publish_organization_settings(
        self, organization_id: str, settings: dict, holidays: list[tuple[dt.date, str, str]],
        leave_policies: list[tuple[str, float | None, int | None]], fingerprint: str,
    ) -> bool:
        """Write one organization's settings, holidays and leave policy (an
        ``org_settings.Publication``) in one transaction, replacing what was published before;
        False when the warehouse already holds exactly that (nothing is written)."""
        self.migrate()
        s, h, p = schema.organization_settings, schema.organization_holidays, schema.organization_leave_policies
        with self.writer(hold=True) as conn:  # a sync goes on with this connection
            if conn.execute(sa.select(s.c.fingerprint).where(s.c.organization_id == organization_id)).scalar() \
                    == fingerprint:
                return False
            row = dict(organization_id=organization_id, **settings, fingerprint=fingerprint, published_at=utcnow())
            stmt = _upsert(s).values(**row)
            # first, so that it locks the organization's row: concurrent publishers take turns
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["organization_id"], set_={k: stmt.excluded[k] for k in row if k != "organization_id"}))
            # rows no longer published go; the rest are upserted (no delete and re-insert of
            # one key in a transaction, which DuckDB's constraint check may refuse)
            for table, key, rows in (
                (h, "holiday_date", [dict(organization_id=organization_id, holiday_date=day, name=name, source=source)
                                     for day, name, source in holidays]),
                (p, "leave_type", [dict(organization_id=organization_id, leave_type=leave_type,
                                        annual_allocation_days=days, min_notice_days=notice)
                                   for leave_type, days, notice in leave_policies]),
            ):
                keep = [r[key] for r in rows]
                conn.execute(table.delete().where(table.c.organization_id == organization_id,
                                                  *([table.c[key].not_in(keep)] if keep else [])))
                if rows:
                    stmt = _upsert(table).values(rows)
                    conn.execute(stmt.on_conflict_do_update(
                        index_elements=["organization_id", key],
                        set_={c: stmt.excluded[c] for c in rows[0] if c not in ("organization_id", key)}))
        return True

    # -- retries and dead letters ---------------------------------------------------------
    def failure_chains(self, window: dt.timedelta = dt.timedelta(days=2)) -> list[FailureChain]:
        """Every organization and entity whose latest sync failed, with the failures since its
        last success (within ``window``). One whose latest sync still runs is left out."""
        self.migrate()
        runs, later = schema.sync_runs, schema.sync_runs.alias("later")
        success_since = sa.exists().where(  # a success ends a chain
            later.c.organization_id == runs.c.organization_id, later.c.entity == runs.c.entity,
            later.c.status == "success", later.c.started_at > runs.c.started_at,
        )
        query = (
            sa.select(runs.c.organization_id, runs.c.entity, runs.c.id, runs.c.dagster_run_id, runs.c.status,
                      runs.c.started_at, runs.c.finished_at, runs.c.error, runs.c.failure_kind)
            .where(runs.c.started_at >= utcnow() - window, runs.c.status != "success", ~success_since)
            .order_by(runs.c.organization_id, runs.c.entity, runs.c.started_at)
        )
        chains: dict[tuple[str, str], list] = {}
        with self.writer() as conn:
            for row in conn.execute(query):
                chains.setdefault((row.organization_id, row.entity), []).append(row)
        out = []
        for (org, entity_name), rows in chains.items():
            if rows[-1].status == "running":
                continue
            failed = [r for r in rows if r.status != "running"]
            out.append(FailureChain(
                org, entity_name, [r.id for r in failed], [r.dagster_run_id or "" for r in failed],
                failed[0].finished_at or failed[0].started_at, failed[-1].finished_at or failed[-1].started_at,
                failed[-1].error, failed[-1].failure_kind,
            ))
        return out

    def open_dead_letter(self, chain: FailureChain) -> bool:
        """Record a chain that failed for good; False when it is recorded already."""
        dl = schema.dead_letters
        stmt = _upsert(dl).values(
            organization_id=chain.organization_id, entity=chain.entity, first_sync_run_id=chain.sync_run_ids[0],
            first_failure_at=chain.first_failure_at,
            last_failure_at=chain.last_failure_at, attempts=chain.attempts, last_error=chain.last_error,
            sync_run_ids=",".join(chain.sync_run_ids), dagster_run_ids=",".join(chain.dagster_run_ids),
            created_at=utcnow(), failure_kind=chain.last_failure_kind,
        ).on_conflict_do_nothing()
        with self.writer() as conn:
            return conn.execute(stmt).rowcount == 1

    def dead_letter_keys(self) -> set[tuple[str, str, str]]:
        """(organization, entity, first sync run) of every recorded dead letter."""
        dl = schema.dead_letters
        with self.writer() as conn:
            return {tuple(r) for r in conn.execute(
                sa.select(dl.c.organization_id, dl.c.entity, dl.c.first_sync_run_id))}

    def unalerted_dead_letters(self) -> list[dict]:
        dl = schema.dead_letters
        with self.writer() as conn:
            return [dict(r) for r in conn.execute(
                sa.select(dl).where(dl.c.alerted_at.is_(None), dl.c.resolved_at.is_(None))).mappings()]

    def mark_alerted(self, organization_id: str, entity_name: str, first_sync_run_id: str) -> None:
        dl = schema.dead_letters
        with self.writer() as conn:
            conn.execute(dl.update().where(
                dl.c.organization_id == organization_id, dl.c.entity == entity_name,
                dl.c.first_sync_run_id == first_sync_run_id,
            ).values(alerted_at=utcnow()))

    def record_alert(self, *, organization_id: str, entity_name: str, first_sync_run_id: str, title: str,
                     failure_kind: str | None, message: str, delivered_to: list[str]) -> None:
        """Keep a dead letter's alert in sync.alerts, where it can be read when no channel took
        it; a later delivery of the same alert updates ``delivered_to``."""
        a = schema.alerts
        stmt = _upsert(a).values(
            organization_id=organization_id, entity=entity_name, first_sync_run_id=first_sync_run_id,
            raised_at=utcnow(), title=title, failure_kind=failure_kind, message=message,
            delivered_to=",".join(delivered_to) or None)
        with self.writer() as conn:
            conn.execute(stmt.on_conflict_do_update(
                index_elements=["organization_id", "entity", "first_sync_run_id"],
                set_={"delivered_to": stmt.excluded.delivered_to}))

    # -- reads -----------------------------------------------------------------------
    def last_successful_syncs(self, organization_ids) -> dict[tuple[str, str], dt.datetime]:
        """(organization, entity) -> when its latest successful sync finished, for the given
        organizations; a pair without a successful sync is missing. Any successful sync counts
        (whatever its trigger or mode, whether or not it changed data): the data is as fresh as
        its source then."""
        organization_ids = list(organization_ids)
        if not organization_ids:
            return {}
        self.migrate()
        runs = schema.sync_runs
        query = (sa.select(runs.c.organization_id, runs.c.entity, sa.func.max(runs.c.finished_at))
                 .where(runs.c.status == "success", runs.c.organization_id.in_(organization_ids))
                 .group_by(runs.c.organization_id, runs.c.entity))
        with self.writer() as conn:
            return {(org, name): _utc(finished) for org, name, finished in conn.execute(query) if finished}

    def row_counts(self) -> dict[tuple[str, str], int]:
        self.migrate()
        counts: dict[tuple[str, str], int] = {}
        with self.writer() as conn:
            for name, table in self.tables.items():
                query = sa.select(table.table.c.organization_id, sa.func.count()).where(
                    table.table.c.is_deleted.is_(False)).group_by(table.table.c.organization_id)
                for org, n in conn.execute(query):
                    counts[(org, name)] = n
        return counts

    def roomy_writer(self, memory_limit: str):
        """A transaction with ``memory_limit`` for the block (DuckDB; a sync process's is small),
        for one large change (an erasure)."""
        return self.dialect.roomy_writer(memory_limit)

    def snapshot(self, memory_limit: str | None = None):
        """A read-only transaction whose queries all see one state of the warehouse, for a
        series of reads that must agree (the quality checks); on DuckDB in the writers' turn,
        with ``memory_limit`` for the block (a sync process's is small)."""
        return self.dialect.snapshot(memory_limit)

    def model_row_counts(self, schema_name: str, name: str, by_organization: bool) -> dict[str | None, int]:
        """Rows of a table dbt builds: per organization_id, or ``{None: rows}``."""
        org: sa.ColumnClause[str] = sa.column("organization_id")
        table = sa.table(name, org, schema=schema_name)
        query = (sa.select(org, sa.func.count()).select_from(table).group_by(org) if by_organization
                 else sa.select(sa.null(), sa.func.count()).select_from(table))
        with self.writer() as conn:
            return dict(conn.execute(query).all())

    def date_ranges(self, entity_name: str, column: str) -> dict[str, tuple[dt.date, dt.date]]:
        """Per organization, the first and last ``column`` of the entity's live records."""
        t = self.tables[entity_name].table
        query = sa.select(t.c.organization_id, sa.func.min(t.c[column]), sa.func.max(t.c[column])).where(
            t.c.is_deleted.is_(False)).group_by(t.c.organization_id)
        with self.writer() as conn:
            return {org: (first, last) for org, first, last in conn.execute(query)}

    def synced_marks(self, organization_id: str, entities) -> dict[str, str | None]:
        """Per entity, the newest committed change (``synced_at``, or ``deleted_at`` of a flag)
        of the organization's rows; None when it has none. Batches of one entity commit in
        ``synced_at`` order and its syncs never overlap (``sync_lock``), so a row committed
        after this read has a larger stamp: ``changed_parent_ids`` selects strictly after it."""
        marks: dict[str, str | None] = {}
        with self.writer() as conn:
            for name in entities:
                t = self.tables[name].table
                newest = conn.execute(sa.select(sa.func.max(sa.func.greatest(
                    t.c.synced_at, sa.func.coalesce(t.c.deleted_at, t.c.synced_at)))).where(
                    t.c.organization_id == organization_id)).scalar()
                marks[name] = _utc(newest).isoformat() if newest is not None else None
        return marks

    def changed_parent_ids(self, organization_id: str, parent: str, related: tuple[str, ...],
                           marks: dict[str, dt.datetime | None]):
        """Live parents changed after their mark in ``marks`` (entity -> stamp from
        ``synced_marks``; a missing or None mark means every row), and live parents of related
        rows changed or flagged deleted after theirs (e.g. employees whose leave requests
        changed). A related row's reference to its parent is resolved by ``core.record_keys``
        (by id or business key)."""
        parent_table = self.tables[parent].table
        keys = schema.record_keys

        def after(t, name, deletes: bool):
            mark = marks.get(name)
            if mark is None:
                return sa.true()
            return sa.or_(t.c.synced_at > mark, t.c.deleted_at > mark) if deletes else t.c.synced_at > mark

        queries = [sa.select(parent_table.c.source_id.label("id")).where(
            parent_table.c.organization_id == organization_id, after(parent_table, parent, False))]
        for name in related:
            t = self.tables[name].table
            column = entity(name).reference_to(parent)
            queries.append(
                sa.select(keys.c.source_id.label("id"))
                .join(t, sa.and_(keys.c.organization_id == t.c.organization_id, keys.c.reference == t.c[column]))
                .where(keys.c.organization_id == organization_id, keys.c.entity == parent, after(t, name, True)))
        changed = sa.union(*queries).subquery()
        query = (sa.select(parent_table.c.source_id)
                 .where(parent_table.c.organization_id == organization_id, parent_table.c.is_deleted.is_(False),
                        parent_table.c.source_id.in_(sa.select(changed.c.id)))
                 .order_by(parent_table.c.source_id))
        with self.writer() as conn:
            return [r[0] for r in conn.execute(query)]

    def unresolved_references(self, entity_name: str, tolerance: ReferenceTolerance,
                              examples: int = 5) -> list[UnresolvedReferences]:
        """Per organization and reference column of ``entity_name``: live rows whose value
        (not null) resolves to no record through ``core.record_keys`` (by id or business key;
        a deleted record still resolves), with up to ``examples`` distinct values and a row
        holding each. Organizations whose references all resolve are left out. Counted in
        SQL: only counts and examples leave the warehouse. The same rule as dbt's
        references_resolve test, whenever it runs (no exemption for a first load)."""
        self.migrate()  # the view, also in a warehouse made before it existed
        table = self.tables[entity_name].table
        found: list[UnresolvedReferences] = []
        # one snapshot for every column, with the checks' memory: the joins span whole tables
        with self.snapshot(settings.current().duckdb_checks_memory_limit) as conn:
            for ref in entity(entity_name).references:
                found += self._unresolved(conn, table, entity_name, ref, tolerance, examples)
        return found

    def _unresolved(self, conn, table, entity_name, ref, tolerance, examples) -> list[UnresolvedReferences]:
        """One reference column: its organizations with unresolved values (see unresolved_references)."""
        column = table.c[ref.column]
        keys = schema.record_keys.alias("k")
        joined = table.outerjoin(keys, sa.and_(
            keys.c.organization_id == table.c.organization_id,
            keys.c.entity == sa.literal_column(f"'{ref.entity}'"),  # a constant: the view's other parts drop
            keys.c.reference == column))
        live = sa.and_(table.c.is_deleted.is_(False), column.is_not(None))
        resolved = sa.func.count(keys.c.source_id)
        counts = (sa.select(table.c.organization_id, sa.func.count(), sa.func.count() - resolved)
                  .select_from(joined).where(live).group_by(table.c.organization_id)
                  .having(sa.func.count() > resolved).order_by(table.c.organization_id))
        rows = conn.execute(counts).all()
        if not rows:
            return []
        values = (sa.select(table.c.organization_id, column.label("reference"),
                            sa.func.min(table.c.source_id).label("row_id"))
                  .select_from(joined).where(live, keys.c.source_id.is_(None))
                  .group_by(table.c.organization_id, column).subquery())
        numbered = sa.select(values, sa.func.row_number().over(
            partition_by=values.c.organization_id, order_by=values.c.reference).label("n")).subquery()
        picked = conn.execute(sa.select(numbered.c.organization_id, numbered.c.row_id, numbered.c.reference)
                              .where(numbered.c.n <= examples)
                              .order_by(numbered.c.organization_id, numbered.c.n)).all()
        return [UnresolvedReferences(
            organization_id=org, entity=entity_name, column=ref.column, referenced_entity=ref.entity,
            references=references, unresolved=unresolved, tolerated=tolerance.tolerated(references),
            examples=[(row_id, value) for o, row_id, value in picked if o == org])
            for org, references, unresolved in rows]

    def source_ids(self, organization_id: str, entity_name: str, chunk: int = 5000):
        """Ids of live synced records, streamed in keyset chunks (fan-out fetches use it)."""
        table = self.tables[entity_name].table
        last = ""
        while True:
            query = (
                sa.select(table.c.source_id)
                .where(table.c.organization_id == organization_id, table.c.is_deleted.is_(False),
                       table.c.source_id > last)
                .order_by(table.c.source_id).limit(chunk)
            )
            with self.writer() as conn:
                ids = [r[0] for r in conn.execute(query)]
            yield from ids
            if len(ids) < chunk:
                return
            last = ids[-1]


def _actor(trigger: str, triggered_by: str | None) -> str:
    """Who a sync's audit row names: its trigger, and who or what launched it when known
    (``schedule:daily``, ``backfill:<id> (cli:alice)``, ``manual:cli:alice``)."""
    if not triggered_by:
        return trigger
    return triggered_by if triggered_by.startswith(f"{trigger}:") else f"{trigger}:{triggered_by}"


def _upsert(table: sa.Table):
    # duckdb_engine compiles with the PostgreSQL dialect; ON CONFLICT is the same in both
    return pg_insert(table)
