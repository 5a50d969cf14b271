"""Versions that change back: ``raw.payload_versions`` keyed by (organization_id, entity,
source_id, payload_sha256, fetched_at).

Until this revision a payload was stored once per record (its key had no fetched_at), so a value
that changed back (A -> B -> A) left no trace of the return. From this revision the sync stores a
version when it differs from the record's latest stored one (the last fetched), and the same
payload may come again at a later fetched_at. Existing rows stay as they are: each is still one
version, with its first fetch.

DuckDB keeps no key on the raw versions (``dialects.keeps_indexes``): nothing to change there.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


# forward-only: no downgrade (README, "Schema migrations")
def upgrade() -> None:
    if op.get_context().dialect.name == "duckdb":
        return
    op.drop_constraint('payload_versions_pkey', 'payload_versions', type_='primary', schema='raw')
    op.create_primary_key('payload_versions_pkey', 'payload_versions',
                          ['organization_id', 'entity', 'source_id', 'payload_sha256', 'fetched_at'], schema='raw')
