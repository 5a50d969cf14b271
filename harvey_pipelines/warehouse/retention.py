"""Retention: what the warehouse forgets, per organization and per kind of data.

Four kinds, each kept a number of days (``settings`` HARVEY_RETENTION_*_DAYS, an organization's
``retention`` entry in the registry overrides them; 0 keeps a kind forever):

- ``raw_versions``: rows of ``raw.payload_versions`` fetched before the cutoff. Never a record's
  latest version (the last in the timeline's order, and the one core holds), nor the newest
  version fetched before the cutoff: the timeline's version events (int_employee_versions)
  compare each version with the one before it in the order ``coalesce(source_updated_at,
  fetched_at), fetched_at, payload_sha256``, so a version is removed only when the version after
  it is past the cutoff too. Every event dated after the cutoff keeps its "before" value.
- ``quarantine``: rows of ``sync.quarantine`` last seen before the cutoff (a record still broken
  at the source is quarantined again when a sync meets it).
- ``sync_runs``: finished runs started before the cutoff, except the latest and the latest
  successful run of each organization and entity (freshness reads it), the run a cursor names
  and the runs of an open dead letter.
- ``dead_letters``: dead letters resolved before the cutoff; open ones stay.

One transaction per organization; ``dry_run`` counts what would go and removes nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field, fields

import sqlalchemy as sa

from harvey_pipelines import settings
from harvey_pipelines.organizations import Organization
from harvey_pipelines.records import ENTITIES
from harvey_pipelines.warehouse import audit, schema
from harvey_pipelines.warehouse.store import Warehouse, utcnow

RAW_VERSIONS = f"{schema.RAW}.payload_versions"
QUARANTINE = f"{schema.SYNC}.quarantine"
SYNC_RUNS = f"{schema.SYNC}.sync_runs"
DEAD_LETTERS = f"{schema.SYNC}.dead_letters"


@dataclass(frozen=True)
class RetentionPolicy:
    """Days each kind of data is kept; 0: forever."""

    raw_versions_days: int
    quarantine_days: int
    sync_runs_days: int
    dead_letters_days: int

    @classmethod
    def default(cls) -> "RetentionPolicy":
        config = settings.current()
        return cls(**{f.name: getattr(config, f"retention_{f.name}") for f in fields(cls)})

    @classmethod
    def of(cls, organization: Organization) -> "RetentionPolicy":
        """The defaults with the organization's own ``retention`` entry over them."""
        default = cls.default()
        own = organization.retention.model_dump(exclude_none=True) if organization.retention else {}
        return cls(**{f.name: own.get(f.name, getattr(default, f.name)) for f in fields(cls)})

    def cutoff(self, days: int, now: dt.datetime) -> dt.datetime | None:
        return now - dt.timedelta(days=days) if days else None


@dataclass
class PurgeResult:
    """What one organization's purge removed (or, dry run, would remove): rows per table."""

    organization_id: str
    policy: RetentionPolicy
    dry_run: bool
    removed: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.removed.values())

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        counts = ", ".join(f"{table} {n}" for table, n in self.removed.items())
        return f"{self.organization_id}: {verb} {counts}"


def _raw_versions(entity_name: str) -> str:
    """Expired versions of one entity's records whose successor (timeline order) expired too,
    and that are not the version core holds."""
    core = f"{schema.CORE}.{entity_name}"
    return (
        f"FROM {RAW_VERSIONS} AS p WHERE p.organization_id = :org AND p.entity = :entity "
        "AND p.fetched_at < :cutoff "
        "AND EXISTS (SELECT 1 FROM (SELECT v.source_id, v.payload_sha256, lead(v.fetched_at) OVER ("
        "PARTITION BY v.source_id ORDER BY coalesce(v.source_updated_at, v.fetched_at), v.fetched_at, "
        f"v.payload_sha256) AS next_fetched_at FROM {RAW_VERSIONS} AS v "
        "WHERE v.organization_id = :org AND v.entity = :entity) AS ordered "
        "WHERE ordered.source_id = p.source_id AND ordered.payload_sha256 = p.payload_sha256 "
        "AND ordered.next_fetched_at < :cutoff) "
        f"AND NOT EXISTS (SELECT 1 FROM {core} AS c WHERE c.organization_id = p.organization_id "
        "AND c.source_id = p.source_id AND c.record_hash = p.payload_sha256)"
    )


_QUARANTINE = f"FROM {QUARANTINE} AS q WHERE q.organization_id = :org AND q.last_seen_at < :cutoff"

_SYNC_RUNS = (
    f"FROM {SYNC_RUNS} AS r WHERE r.organization_id = :org AND r.started_at < :cutoff AND r.status <> 'running' "
    f"AND EXISTS (SELECT 1 FROM {SYNC_RUNS} AS l WHERE l.organization_id = r.organization_id "
    "AND l.entity = r.entity AND l.started_at > r.started_at) "
    f"AND (r.status <> 'success' OR EXISTS (SELECT 1 FROM {SYNC_RUNS} AS l WHERE l.organization_id = "
    "r.organization_id AND l.entity = r.entity AND l.status = 'success' AND l.started_at > r.started_at)) "
    f"AND NOT EXISTS (SELECT 1 FROM {schema.SYNC}.cursors AS c WHERE c.sync_run_id = r.id) "
    f"AND NOT EXISTS (SELECT 1 FROM {DEAD_LETTERS} AS d WHERE d.organization_id = r.organization_id "
    "AND d.entity = r.entity AND d.resolved_at IS NULL AND strpos(d.sync_run_ids, r.id) > 0)"
)

_DEAD_LETTERS = (f"FROM {DEAD_LETTERS} AS d WHERE d.organization_id = :org AND d.resolved_at IS NOT NULL "
                 "AND d.resolved_at < :cutoff")


def _statements(policy: RetentionPolicy, now: dt.datetime) -> list[tuple[str, str, dict]]:
    """(table, FROM ... WHERE of its expired rows with alias, parameters) per statement."""
    out = []
    cutoff = policy.cutoff(policy.raw_versions_days, now)
    if cutoff is not None:
        out += [(RAW_VERSIONS, _raw_versions(spec.name), dict(entity=spec.name, cutoff=cutoff)) for spec in ENTITIES]
    for table, days, where in ((QUARANTINE, policy.quarantine_days, _QUARANTINE),
                               (SYNC_RUNS, policy.sync_runs_days, _SYNC_RUNS),
                               (DEAD_LETTERS, policy.dead_letters_days, _DEAD_LETTERS)):
        cutoff = policy.cutoff(days, now)
        if cutoff is not None:
            out.append((table, where, dict(cutoff=cutoff)))
    return out


def purge(warehouse: Warehouse, organization_id: str, policy: RetentionPolicy, *,
          now: dt.datetime | None = None, dry_run: bool = False, triggered_by: str = "cli") -> PurgeResult:
    """Remove one organization's rows past their retention, in one transaction with its audit
    row (the trigger, the policy and the rows removed per table, never a value); the rows
    removed per table (``dry_run``: counted, nothing removed, nothing recorded)."""
    warehouse.migrate()
    now = now or utcnow()
    result = PurgeResult(organization_id, policy, dry_run,
                         {t: 0 for t in (RAW_VERSIONS, QUARANTINE, SYNC_RUNS, DEAD_LETTERS)})
    with warehouse.writer() as conn:
        for table, where, params in _statements(policy, now):
            params = dict(params, org=organization_id)
            alias = where.split(" AS ", 1)[1].split()[0]
            if dry_run:
                n = conn.execute(sa.text(f"SELECT count(*) {where}"), params).scalar_one()
            else:
                # the alias-free DELETE of both dialects: the rows whose key the query selects
                n = conn.execute(sa.text(f"DELETE FROM {table} WHERE EXISTS (SELECT 1 {where} AND "
                                         + _same_row(table, alias) + ")"), params).rowcount
            result.removed[table] += n
        if not dry_run:
            audit.record(conn, "retention_purge", actor=triggered_by, organization_id=organization_id,
                         details={"removed": result.removed, "policy": asdict(policy)})
    return result


# the primary key of each table, to match a row of the DELETE with the query's alias
_KEYS = {RAW_VERSIONS: ("organization_id", "entity", "source_id", "payload_sha256", "fetched_at"),
         QUARANTINE: ("organization_id", "entity", "payload_sha256"),
         SYNC_RUNS: ("id",),
         DEAD_LETTERS: ("organization_id", "entity", "first_sync_run_id")}


def _same_row(table: str, alias: str) -> str:
    return " AND ".join(f"{alias}.{k} = {table}.{k}" for k in _KEYS[table])


def organizations_in(warehouse: Warehouse) -> set[str]:
    """Organizations the warehouse holds retained data of (also ones no longer registered)."""
    query = " UNION ".join(f"SELECT DISTINCT organization_id FROM {t}"
                           for t in (RAW_VERSIONS, QUARANTINE, SYNC_RUNS, DEAD_LETTERS))
    warehouse.migrate()
    with warehouse.writer() as conn:
        return {r[0] for r in conn.execute(sa.text(query))}


def enforce(warehouse: Warehouse, registered: list[Organization], *, triggered_by: str,
            only: str | None = None, now: dt.datetime | None = None, dry_run: bool = False) -> list[PurgeResult]:
    """The purge of every organization (``only``: that one): a registered one under its own
    policy (``RetentionPolicy.of``), one the warehouse still holds but the registry no longer
    names under the defaults. Each purge is in the audit trail (``purge``)."""
    now = now or utcnow()
    policies = {org.id: RetentionPolicy.of(org) for org in registered}
    default = RetentionPolicy.default()
    ids = sorted(set(policies) | organizations_in(warehouse))
    if only is not None:
        ids = [only]
    results = []
    for org_id in ids:
        result = purge(warehouse, org_id, policies.get(org_id, default), now=now, dry_run=dry_run,
                       triggered_by=triggered_by)
        results.append(result)
    return results
