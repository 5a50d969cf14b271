"""The warehouse schema in SQLAlchemy Core, one definition for DuckDB and PostgreSQL.

What a release expects; the migrations (``warehouse/migrations``) bring a warehouse there, and
a test fails when the two disagree (README, "Adding a field").

Three namespaces:
- ``raw``  every distinct payload version a source sent, with its canonical record (history;
  timelines rebuild from the canonical records, whatever the vendor's field names)
- ``core`` one table per entity, the current canonical record per (organization, source id)
- ``sync`` bookkeeping: sync runs, cursors, quarantine, ids seen by a reconciliation, and the
  organization settings the registry holds, published for dbt
"""

from __future__ import annotations

import datetime as dt
import types
import typing

import sqlalchemy as sa
from pydantic import AwareDatetime

from harvey_pipelines.records import ENTITIES, ENTITIES_BY_NAME, REFERENCED_ENTITIES, EntitySpec
from harvey_pipelines.warehouse.dialects import PAYLOAD_TEXT, keeps_indexes

RAW, CORE, SYNC = "raw", "core", "sync"
ORGANIZATION_ID = "the organization (tenant) in Harvey's registry the record belongs to"
metadata = sa.MetaData()


def _column_type(annotation) -> sa.types.TypeEngine:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return _column_type(next(a for a in args if a is not type(None)))
    if typing.get_origin(annotation) is typing.Annotated:
        return _column_type(args[0])
    if typing.get_origin(annotation) is typing.Literal:
        return sa.Text()
    if annotation in (AwareDatetime, dt.datetime):
        return sa.DateTime(timezone=True)
    by_type: dict[typing.Any, sa.types.TypeEngine] = {
        str: sa.Text(), int: sa.BigInteger(), float: sa.Double(), bool: sa.Boolean(), dt.date: sa.Date()}
    return by_type[annotation]


def record_columns(spec: EntitySpec) -> list[sa.Column]:
    """Columns of the canonical record; the source's ``id`` becomes ``source_id``. Each column's
    comment is the field's description in records.py (the asset's column schema reads it too)."""
    return [
        sa.Column("source_id" if name == "id" else name, _column_type(info.annotation), comment=info.description)
        for name, info in spec.model.model_fields.items()
    ]


def _core_table(spec: EntitySpec) -> sa.Table:
    table = sa.Table(
        spec.name,
        metadata,
        sa.Column("organization_id", sa.Text, primary_key=True, comment=ORGANIZATION_ID),
        *[
            sa.Column(c.name, c.type, primary_key=c.name == "source_id", nullable=c.name != "source_id",
                      comment=c.comment)
            for c in record_columns(spec)
        ],
        sa.Column("record_hash", sa.Text, nullable=False,
                  comment="version key: SHA-256 of the payload with its timestamps and dates as instants"),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False, comment="when this version was loaded"),
        sa.Column("first_synced_at", sa.DateTime(timezone=True), nullable=False,
                  comment="when the record was first loaded"),
        sa.Column("sync_run_id", sa.Text, nullable=False,
                  comment="the sync run (sync.sync_runs.id) that loaded this version"),
        sa.Column("is_deleted", sa.Boolean, nullable=False, server_default=sa.false(),
                  comment="the record vanished at the source (found by a reconciling sync); the row is kept"),
        sa.Column("deleted_at", sa.DateTime(timezone=True), comment="when the record was flagged deleted"),
        schema=CORE,
        comment=spec.description,
    )
    for columns in spec.indexes:
        sa.Index(f"ix_{spec.name}_{'_'.join(columns[1:])}", *[table.c[c] for c in columns]).ddl_if(
            callable_=_indexed)
    table.primary_key.ddl_if(callable_=_indexed)
    return table


def _indexed(ddl, target, bind, tables=None, state=None, *, dialect, **kw) -> bool:
    return keeps_indexes(dialect.name)


CORE_TABLES: dict[str, sa.Table] = {spec.name: _core_table(spec) for spec in ENTITIES}

payload_versions = sa.Table(
    "payload_versions",
    metadata,
    sa.Column("organization_id", sa.Text, primary_key=True),
    sa.Column("entity", sa.Text, primary_key=True),
    sa.Column("source_id", sa.Text, primary_key=True),
    sa.Column("payload_sha256", sa.Text, primary_key=True, comment="the payload's hash (core record_hash)"),
    sa.Column("payload", PAYLOAD_TEXT, nullable=False,
              comment="the record as the source sent it (JSON), the first time this version came"),
    sa.Column("canonical", PAYLOAD_TEXT, nullable=False,
              comment="the same version as the canonical record (JSON: records.py's field names, ISO dates, "
                      "instants in UTC), as the adapter mapped and validated it; what dbt reads"),
    sa.Column("source_updated_at", sa.DateTime(timezone=True)),
    sa.Column("fetched_at", sa.DateTime(timezone=True), primary_key=True,
              comment="when Harvey fetched this version; with payload_sha256 the version key (a payload that "
                      "comes back after another, A -> B -> A, is stored again)"),
    sa.Column("sync_run_id", sa.Text, nullable=False),
    schema=RAW,
    comment="Every version of every record as fetched, with its canonical record: a payload is stored when it "
            "differs from the record's latest stored version, so an unchanged payload is not stored again and "
            "one that changes back is.",
)
sa.Index("ix_payload_versions_fetched", payload_versions.c.organization_id, payload_versions.c.entity,
         payload_versions.c.fetched_at).ddl_if(callable_=_indexed)
payload_versions.primary_key.ddl_if(callable_=_indexed)

sync_runs = sa.Table(
    "sync_runs",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("organization_id", sa.Text, nullable=False),
    sa.Column("entity", sa.Text, nullable=False),
    sa.Column("mode", sa.Text, nullable=False, comment="incremental | full | reconcile"),
    sa.Column("trigger", sa.Text, nullable=False, comment="manual | schedule | retry | backfill | reconcile"),
    sa.Column("triggered_by", sa.Text),
    sa.Column("dagster_run_id", sa.Text),
    sa.Column("status", sa.Text, nullable=False, comment="running | success | failed | interrupted"),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Column("fetched", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("inserted", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("updated", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("unchanged", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("quarantined", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("deleted", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("raw_versions", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("suppressed", sa.BigInteger, nullable=False, server_default="0",
              comment="records of erased people (sync.suppressions) dropped before anything was stored"),
    sa.Column("api_calls", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("duration_seconds", sa.Float),
    sa.Column("cursor_before", sa.Text),
    sa.Column("cursor_after", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("notes", sa.Text, comment="what the run skipped or held back, one line each (e.g. a delete "
              "wave awaiting confirmation)"),
    sa.Column("failure_kind", sa.Text, comment="of a failed run: configuration | credential (not retried: "
              "they need a fix) | transient | data (retried)"),
    schema=SYNC,
    comment="One row per sync of one entity of one organization: trigger, status, times, record counts and error",
)

sa.Index("ix_sync_runs_org_entity", sync_runs.c.organization_id, sync_runs.c.entity, sync_runs.c.started_at)

cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("organization_id", sa.Text, primary_key=True),
    sa.Column("entity", sa.Text, primary_key=True),
    sa.Column("cursor_value", sa.Text, comment="newest source updated_at loaded (ISO-8601)"),
    sa.Column("server_ignores_since", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("sync_run_id", sa.Text, nullable=False),
    sa.Column("moved_at", sa.DateTime(timezone=True), nullable=False),
    schema=SYNC,
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("organization_id", sa.Text, primary_key=True),
    sa.Column("entity", sa.Text, primary_key=True),
    sa.Column("payload_sha256", sa.Text, primary_key=True),
    sa.Column("source_id", sa.Text),
    sa.Column("payload", sa.Text, nullable=False, comment="the record (or unreadable body) as received"),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("times_seen", sa.BigInteger, nullable=False, server_default="1"),
    sa.Column("sync_run_id", sa.Text, nullable=False, comment="the last sync run that received it"),
    sa.Column("resume_from", sa.DateTime(timezone=True),
              comment="where a sync reads from to meet it again: its updated_at, else the newest read before it"),
    sa.Column("resolved_at", sa.DateTime(timezone=True), comment="empty while the record is still to be had"),
    sa.Column("resolved_by_sync_run_id", sa.Text),
    sa.Column("resolution", sa.Text,
              comment="loaded (a later sync loaded the record) | not served again (a complete re-read from "
                      "resume_from did not meet this payload: fixed, deleted or broken only in transit)"),
    schema=SYNC,
)

seen_ids = sa.Table(
    "seen_ids",
    metadata,
    sa.Column("sync_run_id", sa.Text, primary_key=True),
    sa.Column("source_id", sa.Text, primary_key=True),
    schema=SYNC,
    comment="ids listed by a running reconciliation; emptied when it ends",
)

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("organization_id", sa.Text, primary_key=True),
    sa.Column("entity", sa.Text, primary_key=True),
    sa.Column("first_sync_run_id", sa.Text, primary_key=True, comment="the chain's first failed sync run"),
    sa.Column("first_failure_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("attempts", sa.BigInteger, nullable=False),
    sa.Column("last_error", sa.Text),
    sa.Column("sync_run_ids", sa.Text, nullable=False, comment="the failed sync runs, oldest first"),
    sa.Column("dagster_run_ids", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("alerted_at", sa.DateTime(timezone=True), comment="when on-call was told; empty: not yet"),
    sa.Column("resolved_at", sa.DateTime(timezone=True), comment="when a later sync succeeded"),
    sa.Column("failure_kind", sa.Text, comment="of the last failure: configuration | credential (lettered at "
              "once, never retried) | transient | data (lettered after every retry)"),
    schema=SYNC,
    comment="Syncs that failed for good after every retry, or at once when no retry can fix them; "
            "one row per failure chain",
)

alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("organization_id", sa.Text, primary_key=True),
    sa.Column("entity", sa.Text, primary_key=True),
    sa.Column("first_sync_run_id", sa.Text, primary_key=True, comment="what it is about: the dead letter's first "
              "failed sync run, or stale:<incident> for a freshness alert"),
    sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("failure_kind", sa.Text),
    sa.Column("message", sa.Text, nullable=False, comment="the alert as on-call gets it (never a secret)"),
    sa.Column("delivered_to", sa.Text, comment="channels that took it (webhook, email); empty: none configured "
              "or reachable, this row is the only trace"),
    schema=SYNC,
    comment="Every alert raised: one per dead letter (sync_retries) and per stale organization and entity "
            "(entity_freshness), whether or not a channel took it",
)

# The registry's organization settings as dbt reads them (org_settings.publication); an
# empty cell means "the seed's `_default`". Written whole per organization, at every sync.
organization_settings = sa.Table(
    "organization_settings",
    metadata,
    sa.Column("organization_id", sa.Text, primary_key=True),
    sa.Column("timezone", sa.Text, nullable=False, comment="IANA time zone"),
    sa.Column("work_start", sa.Text, comment="local HH:MM"),
    sa.Column("grace_minutes", sa.BigInteger),
    sa.Column("standard_hours", sa.Numeric(6, 2)),
    sa.Column("max_daily_overtime_hours", sa.Numeric(6, 2)),
    sa.Column("weekend_days", sa.Text, comment="comma list of mon..sun; empty text: no weekend"),
    sa.Column("holiday_country", sa.Text, comment="ISO 3166-1 alpha-2 code of the public holidays"),
    sa.Column("holiday_subdivision", sa.Text),
    sa.Column("has_own_calendar", sa.Boolean, nullable=False,
              comment="a country or dates are set: the seed's `_default` holidays do not apply"),
    sa.Column("fingerprint", sa.Text, nullable=False, comment="SHA-256 of what was published"),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    schema=SYNC,
    comment="Organization settings from the registry, one row per organization",
)

organization_holidays = sa.Table(
    "organization_holidays",
    metadata,
    sa.Column("organization_id", sa.Text, primary_key=True),
    sa.Column("holiday_date", sa.Date, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False, comment="country (public holidays) | registry (explicit date)"),
    schema=SYNC,
    comment="An organization's own holidays, published with its settings",
)

organization_leave_policies = sa.Table(
    "organization_leave_policies",
    metadata,
    sa.Column("organization_id", sa.Text, primary_key=True),
    sa.Column("leave_type", sa.Text, primary_key=True),
    sa.Column("annual_allocation_days", sa.Numeric(8, 2)),
    sa.Column("min_notice_days", sa.BigInteger),
    schema=SYNC,
    comment="An organization's leave policy per type, published with its settings",
)

derived_objects = sa.Table(
    "derived_objects",
    metadata,
    sa.Column("fingerprint", sa.Text, nullable=False,
              comment="SHA-256 of the statements that made them (migrations.derived_statements)"),
    sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
    schema=SYNC,
    comment="One row: which code made the objects derived from it (the view core.record_keys, the comments)",
)

erasures = sa.Table(
    "erasures",
    metadata,
    sa.Column("organization_id", sa.Text, primary_key=True),
    sa.Column("subject", sa.Text, primary_key=True, comment="employee | candidate"),
    sa.Column("subject_hash", sa.Text, primary_key=True,
              comment="keyed hash (HMAC-SHA256, HARVEY_ERASURE_KEY) of the person's source id: not reversible"),
    sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("erased_by", sa.Text, nullable=False, comment="who: cli:<OS user>, or the Dagster trigger"),
    sa.Column("removed", sa.Text, nullable=False,
              comment="rows removed per table (JSON: {\"core.attendance\": 250, ...}): counts stay explainable"),
    sa.Column("blanked", sa.Text, nullable=False,
              comment="rows of other records whose values naming the person were blanked, per table (JSON)"),
    schema=SYNC,
    comment="Tombstones: one row per erased person, nothing personal",
)

suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("organization_id", sa.Text, primary_key=True),
    sa.Column("subject", sa.Text, primary_key=True, comment="employee | candidate"),
    sa.Column("subject_hash", sa.Text, primary_key=True, comment="as in sync.erasures"),
    sa.Column("value_hash", sa.Text, primary_key=True,
              comment="keyed hash of one identifying value of the person (id, business key, email, phone, name)"),
    sa.Column("kind", sa.Text, nullable=False, comment="id | business_key | email | phone | name"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    schema=SYNC,
    comment="Erased people whose records a sync drops (and whose values it blanks in other records) before "
            "storing anything, until `harvey erase --lift`",
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("action", sa.Text, nullable=False,
              comment="sync | backfill | erasure | suppression_lifted | retention_purge | registry_change | "
                      "role_grant"),
    sa.Column("actor", sa.Text, nullable=False,
              comment="who or which trigger: cli:<OS user>, schedule, sensor, backfill, manual, retry..."),
    sa.Column("organization_id", sa.Text),
    sa.Column("target", sa.Text, comment="what it acted on (an entity, a role, a registry command); never PII"),
    sa.Column("details", sa.Text, nullable=False, comment="counts and non-personal facts (JSON)"),
    schema=SYNC,
    comment="Append-only audit trail (PostgreSQL: a trigger rejects UPDATE, DELETE and TRUNCATE); never PII or "
            "secrets",
)
sa.Index("ix_audit_log_recorded_at", audit_log.c.recorded_at)


RECORD_KEYS = "record_keys"


def record_keys_view() -> str:
    """``core.record_keys``: every key a reference may hold, resolved to the record's source id.

    The contract leaves open which key a reference holds: one server puts the referenced
    record's ``id`` there, another its business key (``EMP-000001``), some mix both within one
    organization. This view is the one place that decides, for the sync (which parents to
    fetch again) and for dbt staging (join keys) alike:
    - a value equal to a record's source id resolves to that record (``matched_by = 'id'``);
    - otherwise a value equal to a record's business key resolves to it (``'business_key'``);
      when several records share the code, the live one synced last wins, so a join through
      the view never multiplies rows (duplicate codes fail the blocking quality check).
    Deleted records resolve too (``is_deleted``): history keeps pointing at them.
    """
    parts = []
    for name in REFERENCED_ENTITIES:
        table, code = f"{CORE}.{name}", ENTITIES_BY_NAME[name].business_key
        parts.append(
            f"SELECT organization_id, '{name}' AS entity, source_id AS reference, source_id, "
            f"'id' AS matched_by, is_deleted FROM {table}")
        if code:
            # the entity's name outside the ranking: a filter on entity drops the other
            # entities' parts before they rank (PostgreSQL pushes no filter into a window query)
            parts.append(
                f"SELECT organization_id, '{name}' AS entity, reference, source_id, 'business_key' AS matched_by, "
                "is_deleted "
                f"FROM (SELECT k.organization_id, k.{code} AS reference, k.source_id, "
                "k.is_deleted, row_number() OVER (PARTITION BY k.organization_id, "
                f"k.{code} ORDER BY k.is_deleted, k.synced_at DESC, k.source_id) AS pick "
                f"FROM {table} AS k WHERE k.{code} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {table} AS i "
                f"WHERE i.organization_id = k.organization_id AND i.source_id = k.{code})) AS ranked "
                "WHERE pick = 1")
    return f"CREATE OR REPLACE VIEW {CORE}.{RECORD_KEYS} AS\n" + "\nUNION ALL\n".join(parts)

# the view as SQLAlchemy sees it (not in ``metadata``: ``record_keys_view`` creates it)
record_keys = sa.Table(
    RECORD_KEYS, sa.MetaData(),
    sa.Column("organization_id", sa.Text), sa.Column("entity", sa.Text), sa.Column("reference", sa.Text),
    sa.Column("source_id", sa.Text), sa.Column("matched_by", sa.Text), sa.Column("is_deleted", sa.Boolean),
    schema=CORE,
)
