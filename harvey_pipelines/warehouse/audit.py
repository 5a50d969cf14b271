"""The audit trail: ``record`` appends one row to ``sync.audit_log`` in the caller's transaction.

Every part that changes what the warehouse holds or who may read it calls it: syncs (one row per
sync run, when it ends), backfills, erasures and lifted suppressions, retention purges, registry
changes and role grants. A row says who or which trigger, when, what and how many; never a
person's values or a secret (callers pass counts, entity and organization ids, names of fields).
"""

from __future__ import annotations

import datetime as dt
import getpass
import uuid
from typing import Literal

import orjson
import sqlalchemy as sa

from harvey_pipelines.warehouse import schema

Action = Literal["sync", "backfill", "erasure", "suppression_lifted", "retention_purge", "registry_change",
                 "role_grant"]
ACTIONS: tuple[str, ...] = Action.__args__  # type: ignore[attr-defined]


def cli_actor() -> str:
    """Who ran a ``harvey`` command: the OS user."""
    return f"cli:{getpass.getuser()}"


def record(conn: sa.Connection, action: Action, *, actor: str, organization_id: str | None = None,
           target: str | None = None, details: dict | None = None) -> str:
    """Append one audit row in ``conn``'s transaction (it commits or rolls back with the change it
    records); its id."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}; known: {', '.join(ACTIONS)}")
    row_id = uuid.uuid4().hex
    conn.execute(schema.audit_log.insert().values(
        id=row_id, recorded_at=dt.datetime.now(dt.timezone.utc), action=action, actor=actor,
        organization_id=organization_id, target=target,
        details=orjson.dumps(details or {}, option=orjson.OPT_SORT_KEYS, default=str).decode()))
    return row_id
