"""GDPR erasure of one person, the tombstone it leaves, and the suppression list a sync applies.

``erase`` removes, in one transaction, everything of one employee or candidate of one
organization: their own record and the records that are theirs (``Subject.owned``: an
employee's employments, attendance, leave requests and balances; a candidate's interviews),
in core, in every raw version and in quarantine, with reconciliation scratch; blanks the
values naming them in other people's records (a report's ``manager_id``, a department's
``head_name``, an interview's ``interviewer_email``...), in core and in every raw version;
deletes the rows of dbt's tables (intermediate, marts) that name them (the next dbt build
rebuilds those tables from what is left); scrubs them from sync messages; and records a
tombstone, the suppression list's entries and an audit row. Nothing personal is kept: the
tombstone and the suppression list hold keyed hashes (HMAC-SHA256 with
``HARVEY_ERASURE_KEY``), which nobody without the key can reverse by trying every employee
number.

While the source still holds the person, each sync drops their records and blanks their
values in other records before anything is stored (``Suppression.apply``), until
``lift``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as upsert

from harvey_pipelines import settings
from harvey_pipelines.records import ENTITIES, ENTITIES_BY_NAME
from harvey_pipelines.warehouse import audit, schema
from harvey_pipelines.warehouse.dialects import LockTimeout
from harvey_pipelines.warehouse.schema import CORE_TABLES

# dbt's tables (staging holds views of raw and core only)
DBT_TABLE_SCHEMAS = ("intermediate", "marts")
# sync tables whose free text may quote a record (an error, a note, an alert)
MESSAGE_COLUMNS = (("sync_runs", "error"), ("sync_runs", "notes"), ("dead_letters", "last_error"),
                   ("alerts", "message"))
# a value at least this long is looked for inside text too (an id of 3 characters is not)
SUBSTRING_MIN = 8
ERASED = "[erased]"
_BOOKKEEPING = {"organization_id", "source_id", "record_hash", "sync_run_id"}


@dataclass(frozen=True)
class Subject:
    """A kind of person that can be erased: the entity of their record, and the entities whose
    records are theirs, with the column that holds their id or business key."""

    name: str
    entity: str
    owned: dict[str, str]

    @property
    def mentioning(self) -> tuple[str, ...]:
        """Entities whose records may name the person without being theirs: a reference to the
        person's entity other than the owning column (a manager, a department head, a hiring
        manager, an interviewer, an approver); their name and email sit in the same records."""
        return tuple(spec.name for spec in ENTITIES if any(
            r.entity == self.entity and r.column != self.owned.get(spec.name) for r in spec.references))

    @property
    def entities(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.entity, *self.owned, *self.mentioning)))


SUBJECTS = {
    "employee": Subject("employee", "employees", {
        "employments": "employee_id", "attendance": "employee_id", "leave_requests": "employee_id",
        "leave_balances": "employee_id"}),
    "candidate": Subject("candidate", "candidates", {"interviews": "candidate_id"}),
}
IDENTIFIERS = ("id", "business_key")  # the kinds of value that say whose a record is


class ErasureError(ValueError):
    """The person to erase or to lift is not there."""


def normalized(value: Any) -> str:
    return str(value).strip().casefold()


def keyed_hash(key: bytes, value: Any) -> str:
    return hmac.new(key, normalized(value).encode(), hashlib.sha256).hexdigest()


def person_values(subject: Subject, records: list[dict]) -> dict[str, set[str]]:
    """kind -> the values identifying the person in their record's versions (canonical field
    names): id, business key, email, phone, full name. First or last name alone is left out: it
    names other people too."""
    code = ENTITIES_BY_NAME[subject.entity].business_key
    values: dict[str, set[str]] = {kind: set() for kind in (*IDENTIFIERS, "email", "phone", "name")}
    for record in records:
        found = {"id": record.get("id"), "business_key": record.get(code) if code else None,
                 "email": record.get("email"), "phone": record.get("phone"),
                 "name": " ".join(str(record[f]) for f in ("first_name", "last_name") if record.get(f)) or None}
        for kind, value in found.items():
            if value not in (None, ""):
                values[kind].add(str(value))
    return values


@dataclass
class ErasureResult:
    organization_id: str
    subject: str
    subject_hash: str
    already_erased: bool = False
    removed: dict[str, int] = field(default_factory=dict)  # "schema.table" -> rows deleted
    blanked: dict[str, int] = field(default_factory=dict)  # "schema.table" -> other rows changed


def _mentions(column, values: set[str]):
    """``column`` equals one of ``values``, or holds a long one inside its text."""
    long = sorted(v for v in values if len(v) >= SUBSTRING_MIN)
    return sa.or_(column.in_(sorted(values)), *[sa.func.strpos(column, v) > 0 for v in long])


def erase(warehouse, organization_id: str, subject_name: str, reference: str, *, actor: str,
          compact: bool = True) -> ErasureResult:
    """Erase the person whose record (``subject_name``: employee or candidate) has ``reference``
    as its source id or business key, in one transaction; re-runnable (a person already erased
    is reported as such, their suppression left in place). ``compact``: then rewrite what held
    them, so that no bytes of theirs stay in the database's files (``Warehouse.compact``), and
    publish the DuckDB copy analysts read again."""
    (result,) = erase_many(warehouse, organization_id, subject_name, [reference], actor=actor, compact=compact)
    if isinstance(result, ErasureError):
        raise result
    return result


def erase_many(warehouse, organization_id: str, subject_name: str, references: Sequence[str], *, actor: str,
               compact: bool = True, lock_timeout: float = 900.0) -> list[ErasureResult | ErasureError]:
    """``erase`` of several people of one organization: a transaction per person, then one
    compaction and one publication for all (on DuckDB each is a pass over the whole file: a
    request to erase many people pays them once). Per reference, in order: its result, or the
    ``ErasureError`` saying why it was not erased (the others are erased all the same; one is a
    sync of the person's entities still running after ``lock_timeout`` seconds). A crash
    part-way leaves the people before it erased; a re-run erases the rest, then compacts (every
    table an erasure may change, when someone was erased already) and publishes."""
    key = settings.erasure_key()
    subject = SUBJECTS[subject_name]
    warehouse.migrate()
    results: list[ErasureResult | ErasureError] = []
    for reference in references:
        try:
            with _no_syncs_of(warehouse, organization_id, subject, lock_timeout, f"{reference!r} not erased"):
                # its statements rewrite whole tables of the organization: more than a sync's DuckDB memory
                with warehouse.roomy_writer(settings.current().duckdb_checks_memory_limit) as conn:
                    results.append(_erase(conn, warehouse.dialect, key, organization_id, subject, reference, actor))
        except ErasureError as exc:
            results.append(exc)
    found = [r for r in results if isinstance(r, ErasureResult)]
    # also for people erased already: a crash may have come between their commit and these, and
    # what their erasure changed is not known any more
    if compact and found:
        warehouse.compact(_erasure_tables(warehouse) if any(r.already_erased for r in found) else
                          sorted(set().union(*(r.removed.keys() | r.blanked.keys() for r in found))))
    if found:
        warehouse.publish()
    return results


@contextlib.contextmanager
def _no_syncs_of(warehouse, org: str, subject: Subject, timeout: float, outcome: str) -> Iterator[None]:
    """No sync of the entities that hold the person for the block (``Warehouse.sync_lock``): a sync
    loads the suppression list when it starts, so one running through an erasure would store the
    person again, and one running through a lift would move the cursors the lift reset. Taken in
    one order by all, so that two never wait for each other; ErasureError (``outcome``) when a
    sync still holds one after ``timeout`` seconds."""
    with contextlib.ExitStack() as syncs:
        try:
            for name in sorted(subject.entities):
                syncs.enter_context(warehouse.sync_lock(org, name, timeout))
        except LockTimeout as exc:
            raise ErasureError(f"{outcome}: a sync of {org} is still running ({exc}); "
                               "run the command again once it has ended") from None
        yield


def _erase(conn, dialect, key: bytes, org: str, subject: Subject, reference: str, actor: str) -> ErasureResult:
    code = ENTITIES_BY_NAME[subject.entity].business_key or "source_id"
    table = CORE_TABLES[subject.entity]
    rows = conn.execute(sa.select(table).where(table.c.organization_id == org, sa.or_(
        table.c.source_id == reference, table.c[code] == reference))).mappings().all()
    exact = [r for r in rows if r["source_id"] == reference]
    rows = exact or rows
    if not rows:
        hashes = _suppressed_subjects(conn, org, subject, keyed_hash(key, reference))
        if not hashes:
            raise ErasureError(f"{org} has no {subject.name} {reference!r} in the warehouse")
        result = ErasureResult(org, subject.name, hashes[0], already_erased=True)
        audit.record(conn, "erasure", actor=actor, organization_id=org, target=subject.name,
                     details={"subject_hash": result.subject_hash, "already_erased": True})
        return result
    if len(rows) > 1:
        raise ErasureError(f"{reference!r} is the business key of {len(rows)} {subject.entity} of {org}: "
                           "give the record's source id")
    source_id = rows[0]["source_id"]
    pv = schema.payload_versions
    versions = conn.execute(sa.select(pv.c.canonical).where(
        pv.c.organization_id == org, pv.c.entity == subject.entity, pv.c.source_id == source_id)).scalars()
    current = {("id" if k == "source_id" else k): v for k, v in rows[0].items()}
    values = person_values(subject, [current, *(_json(v) for v in versions)])
    identifiers = values["id"] | values["business_key"]
    everything = set().union(*values.values())
    result = ErasureResult(org, subject.name, keyed_hash(key, source_id))

    def count(name: str, n: int, into: dict[str, int]) -> None:
        if n > 0:
            into[name] = into.get(name, 0) + n

    # the person's records: raw versions, quarantine and reconciliation scratch first (they are
    # found through the core rows), then the core rows
    owned = {subject.entity: "source_id", **subject.owned}
    q, seen, runs = schema.quarantine, schema.seen_ids, schema.sync_runs
    for name, column in owned.items():
        core = CORE_TABLES[name]
        theirs = sa.select(core.c.source_id).where(core.c.organization_id == org, core.c[column].in_(identifiers))
        count("raw.payload_versions", conn.execute(pv.delete().where(
            pv.c.organization_id == org, pv.c.entity == name, pv.c.source_id.in_(theirs))).rowcount, result.removed)
        count("sync.quarantine", conn.execute(q.delete().where(
            q.c.organization_id == org, q.c.entity == name, q.c.source_id.in_(theirs))).rowcount, result.removed)
        count("sync.seen_ids", conn.execute(seen.delete().where(
            seen.c.source_id.in_(theirs), seen.c.sync_run_id.in_(sa.select(runs.c.id).where(
                runs.c.organization_id == org, runs.c.entity == name)))).rowcount, result.removed)
        count(f"core.{name}", conn.execute(core.delete().where(
            core.c.organization_id == org, core.c[column].in_(identifiers))).rowcount, result.removed)
    # quarantined payloads that name them (invalid records of theirs without an id, or others')
    count("sync.quarantine", conn.execute(q.delete().where(
        q.c.organization_id == org, _mentions(q.c.payload, everything))).rowcount, result.removed)

    # other people's records that name them: the values are blanked, the records stay
    for name in subject.mentioning:
        core = CORE_TABLES[name]
        columns = [c for c in core.columns if isinstance(c.type, sa.Text) and c.name not in _BOOKKEEPING]
        listed = sorted(everything)
        count(f"core.{name}", conn.execute(core.update().where(
            core.c.organization_id == org, sa.or_(*[c.in_(listed) for c in columns])).values(
            {c.name: sa.case((c.in_(listed), sa.null()), else_=c) for c in columns})).rowcount, result.blanked)
    count("raw.payload_versions", _blank_versions(conn, dialect, org, subject.mentioning, everything),
          result.blanked)
    for table_name, column_name in MESSAGE_COLUMNS:
        message_table = schema.metadata.tables[f"{schema.SYNC}.{table_name}"]
        message = message_table.c[column_name]
        for value in sorted(v for v in everything if len(v) >= SUBSTRING_MIN):
            count(f"sync.{table_name}", conn.execute(message_table.update().where(sa.func.strpos(message, value) > 0)
                                                     .values({column_name: sa.func.replace(message, value, ERASED)})
                                                     ).rowcount, result.blanked)

    for name, n in _delete_from_dbt_tables(conn, org, everything).items():
        count(name, n, result.removed)

    _tombstone(conn, key, org, subject, result, values, actor)
    return result


def compact(warehouse) -> list[str]:
    """Rewrite every table an erasure may touch (``Warehouse.compact``), for erasures run with
    ``compact=False`` (many at once); the tables, and the DuckDB copy is published again."""
    tables = _erasure_tables(warehouse)
    warehouse.compact(tables)
    warehouse.publish()
    return tables


def _erasure_tables(warehouse) -> list[str]:
    """Every table an erasure may change ("schema.table")."""
    with warehouse.writer() as conn:
        tables = [t.fullname for t in (schema.payload_versions, *CORE_TABLES.values())] + [
            f"{schema.SYNC}.{name}" for name in ("quarantine", "seen_ids", *dict(MESSAGE_COLUMNS))]
        return tables + [f"{s}.{t}" for s, t in conn.execute(sa.text(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_schema IN :schemas ORDER BY 1, 2").bindparams(
            sa.bindparam("schemas", list(DBT_TABLE_SCHEMAS), expanding=True)))]


def _json(text: str) -> dict:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _blank_versions(conn, dialect, org: str, entities: tuple[str, ...], values: set[str]) -> int:
    """Blank ``values`` in the stored versions (payload and canonical record) of the entities'
    records that name them; the version key stays (a version is not re-stored for it). One
    search for all the entities, not one per entity: each search reads the raw table's versions
    of the organization, the largest part of an erasure's time on PostgreSQL (BENCHMARKS.md).
    By the index on (organization, entity): PostgreSQL's planner otherwise scanned the whole
    table, attendance's versions (most of it, and none of them searched) included."""
    pv = schema.payload_versions
    wanted = {normalized(v) for v in values}
    kept = (pv.c.entity, pv.c.source_id, pv.c.payload_sha256, pv.c.fetched_at, pv.c.source_updated_at,
            pv.c.sync_run_id)
    with dialect.index_scans(conn):
        rows = conn.execute(sa.select(*kept, pv.c.payload, pv.c.canonical).where(
            pv.c.organization_id == org, pv.c.entity.in_(entities),
            sa.or_(*[sa.func.strpos(c, v) > 0 for c in (pv.c.payload, pv.c.canonical)
                     for v in sorted(values)]))).all()
    rewritten = []
    for row in rows:
        texts = {"payload": row.payload, "canonical": row.canonical}
        for column, text in texts.items():
            try:
                document = orjson.loads(text)
            except orjson.JSONDecodeError:
                continue
            scrubbed, hits = scrub(document, lambda value: normalized(value) in wanted)
            if hits:
                texts[column] = orjson.dumps(scrubbed, option=orjson.OPT_SORT_KEYS).decode()
        if texts != {"payload": row.payload, "canonical": row.canonical}:
            rewritten.append((*(row._mapping[c.name] for c in kept), texts["payload"], texts["canonical"]))
    # Each version is deleted and stored again blanked, not updated in place: DuckDB rewrites
    # the columns of every row group an UPDATE touched when it checkpoints (the versions that
    # name someone are spread over the whole table: a minute for a 10M-row raw table), while a
    # delete is only marked and the new rows are appended (BENCHMARKS.md, erasure). The same
    # on PostgreSQL, where an UPDATE is a delete and an insert anyway. A statement per thousand
    # versions, not per version: DuckDB keeps no index on raw, each statement scans the table.
    for start in range(0, len(rewritten), 1000):
        new = sa.values(*(sa.column(c.name, c.type) for c in kept), sa.column("payload", sa.Text),
                        sa.column("canonical", sa.Text), name="rewritten").data(rewritten[start:start + 1000])
        conn.execute(pv.delete().where(
            pv.c.organization_id == org, pv.c.entity == new.c.entity, pv.c.source_id == new.c.source_id,
            pv.c.payload_sha256 == new.c.payload_sha256, pv.c.fetched_at == new.c.fetched_at))
        conn.execute(pv.insert().from_select(
            ["organization_id", *(c.name for c in kept), "payload", "canonical"],
            sa.select(sa.literal(org, sa.Text), *(sa.cast(new.c[c.name], c.type) for c in kept),
                      new.c.payload, new.c.canonical)))
    return len(rewritten)


def scrub(value: Any, matches: Callable[[str], bool], name: str = "") -> tuple[Any, int]:
    """``value`` (JSON) with every text that ``matches`` set to null, and how many; a number
    counts as text under a key naming an id (``employeeId: 1234``), elsewhere it is a measure."""
    if isinstance(value, dict):
        out, hits = {}, 0
        for k, v in value.items():
            out[k], n = scrub(v, matches, str(k))
            hits += n
        return (out, hits) if hits else (value, 0)
    if isinstance(value, list):
        items = [scrub(v, matches, name) for v in value]
        hits = sum(n for _, n in items)
        return ([v for v, _ in items], hits) if hits else (value, 0)
    if isinstance(value, str) and matches(value):
        return None, 1
    if isinstance(value, int) and not isinstance(value, bool) and name.lower().endswith("id") and matches(str(value)):
        return None, 1
    return value, 0


def _delete_from_dbt_tables(conn, org: str, values: set[str]) -> dict[str, int]:
    """Delete the organization's rows of dbt's tables in which a text column names the person.
    Rows of others that name them (a report's manager change) go too, until the next dbt build
    makes them again from the blanked records: tables are rebuilt whole at every build."""
    listed = conn.execute(sa.text(
        "SELECT c.table_schema, c.table_name, c.column_name, upper(c.data_type) FROM information_schema.columns c "
        "JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
        "WHERE t.table_type = 'BASE TABLE' AND c.table_schema IN :schemas ORDER BY c.table_schema, c.table_name, "
        "c.ordinal_position").bindparams(sa.bindparam("schemas", list(DBT_TABLE_SCHEMAS), expanding=True))).all()
    tables: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for table_schema, table_name, column, kind in listed:
        tables.setdefault((table_schema, table_name), []).append((column, kind))
    removed = {}
    for (table_schema, table_name), columns in tables.items():
        text: list[sa.ColumnClause] = [sa.column(c) for c, kind in columns if c != "organization_id"
                                       and kind in ("TEXT", "VARCHAR", "CHARACTER VARYING")]
        if not text:
            continue
        table = sa.table(table_name, *text, sa.column("organization_id"), schema=table_schema)
        where = [sa.or_(*[_mentions(c, values) for c in text])]
        if any(c == "organization_id" for c, _ in columns):
            where.append(table.c.organization_id == org)
        n = conn.execute(table.delete().where(*where)).rowcount
        if n > 0:
            removed[f"{table_schema}.{table_name}"] = n
    return removed


def _tombstone(conn, key: bytes, org: str, subject: Subject, result: ErasureResult, values: dict[str, set[str]],
               actor: str) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    removed = orjson.dumps(result.removed, option=orjson.OPT_SORT_KEYS).decode()
    blanked = orjson.dumps(result.blanked, option=orjson.OPT_SORT_KEYS).decode()
    e = schema.erasures
    stmt = upsert(e).values(organization_id=org, subject=subject.name, subject_hash=result.subject_hash,
                                  erased_at=now, erased_by=actor, removed=removed, blanked=blanked)
    conn.execute(stmt.on_conflict_do_update(  # erased again after a lift: the last erasure's counts
        index_elements=["organization_id", "subject", "subject_hash"],
        set_={c: stmt.excluded[c] for c in ("erased_at", "erased_by", "removed", "blanked")}))
    entries = {keyed_hash(key, v): kind for kind, found in values.items() for v in sorted(found)}
    stmt = upsert(schema.suppressions).values([
        dict(organization_id=org, subject=subject.name, subject_hash=result.subject_hash, value_hash=h,
             kind=kind, created_at=now) for h, kind in entries.items()])
    conn.execute(stmt.on_conflict_do_nothing())
    audit.record(conn, "erasure", actor=actor, organization_id=org, target=subject.name, details={
        "subject_hash": result.subject_hash, "removed": result.removed, "blanked": result.blanked,
        "suppressed_values": len(entries)})


def _suppressed_subjects(conn, org: str, subject: Subject, value_hash: str) -> list[str]:
    s = schema.suppressions
    return list(conn.execute(sa.select(s.c.subject_hash).distinct().where(
        s.c.organization_id == org, s.c.subject == subject.name, s.c.value_hash == value_hash,
        s.c.kind.in_(IDENTIFIERS)).order_by(s.c.subject_hash)).scalars())


def lift(warehouse, organization_id: str, subject_name: str, reference: str, *, actor: str,
         lock_timeout: float = 900.0) -> int:
    """Lift the suppression of the person whose id or business key is ``reference``: the next
    sync loads them again. The cursors of the entities that hold them are reset, so that sync
    reads everything again (records unchanged since are no-ops); the tombstone stays. Returns
    the people lifted (0: none was suppressed)."""
    key = settings.erasure_key()
    subject = SUBJECTS[subject_name]
    warehouse.migrate()
    s, c = schema.suppressions, schema.cursors
    with _no_syncs_of(warehouse, organization_id, subject, lock_timeout, f"{reference!r} not lifted"), \
            warehouse.writer() as conn:
        hashes = _suppressed_subjects(conn, organization_id, subject, keyed_hash(key, reference))
        if not hashes:
            raise ErasureError(f"no suppressed {subject.name} {reference!r} in {organization_id}")
        conn.execute(s.delete().where(s.c.organization_id == organization_id, s.c.subject_hash.in_(hashes)))
        reset = conn.execute(c.delete().where(
            c.c.organization_id == organization_id, c.c.entity.in_(subject.entities))).rowcount
        for subject_hash in hashes:
            audit.record(conn, "suppression_lifted", actor=actor, organization_id=organization_id,
                         target=subject.name, details={"subject_hash": subject_hash, "cursors_reset": reset})
    return len(hashes)


class Suppression:
    """One organization's suppression list as a sync applies it (``load``)."""

    def __init__(self, key: bytes, entries: list[tuple[str, str, str]]):
        self.key = key
        self.values = {value_hash for _, value_hash, _ in entries}
        self.identifiers: dict[str, set[str]] = {}
        for subject, value_hash, kind in entries:
            if kind in IDENTIFIERS:
                self.identifiers.setdefault(subject, set()).add(value_hash)
        # a text met again (a status, a location, an employee's id on each of their days) is
        # not hashed again: a sync checks every text of every record
        self._suppressed = functools.lru_cache(maxsize=200_000)(self._hashed_in)

    @classmethod
    def load(cls, warehouse, organization_id: str) -> "Suppression | None":
        """None when nobody of the organization is suppressed; else it needs the key (ValueError
        without it: the sync fails rather than store what it cannot recognize)."""
        s = schema.suppressions
        with warehouse.writer() as conn:
            entries = [tuple(r) for r in conn.execute(sa.select(s.c.subject, s.c.value_hash, s.c.kind).where(
                s.c.organization_id == organization_id))]
        return cls(settings.erasure_key(), entries) if entries else None  # type: ignore[arg-type]

    def _hashed_in(self, text: str) -> bool:
        return keyed_hash(self.key, text) in self.values

    def apply(self, entity_name: str, raw: Any, to_canonical: Callable[[str, dict], dict]) -> Any:
        """None when ``raw`` is a suppressed person's record (theirs, or one that is theirs);
        else ``raw`` with every value naming a suppressed person blanked (``raw`` itself when
        none does)."""
        scrubbed, hits = scrub(raw, self._suppressed)
        if not hits:
            return raw
        try:
            record = to_canonical(entity_name, raw) if isinstance(raw, dict) else {}
        except Exception:  # noqa: BLE001 - unmappable: not recognizably theirs; blanked, it is quarantined
            record = {}
        for subject in SUBJECTS.values():
            ids = self.identifiers.get(subject.name)
            if not ids:
                continue
            if entity_name == subject.entity:
                code = ENTITIES_BY_NAME[subject.entity].business_key
                keys = [record.get("id"), record.get(code) if code else None]
            elif entity_name in subject.owned:
                keys = [record.get(subject.owned[entity_name])]
            else:
                continue
            if any(k not in (None, "") and keyed_hash(self.key, k) in ids for k in keys):
                return None
        return scrubbed
