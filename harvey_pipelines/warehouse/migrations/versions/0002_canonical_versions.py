"""Canonical versions: ``raw.payload_versions.canonical``, each version's canonical record.

dbt derives history (manager and status changes) from the stored versions; reading the vendor's
payload would tie the models to one vendor's field names. From this revision the sync stores,
with each new version, the record its adapter mapped and validated (``CanonicalRecord
.canonical_json``), in the same transaction as the payload, and dbt reads only that.

Existing rows get their payload as canonical record. That is right for the rows of the custom
HRMS, which sends the canonical field names (every release before this one synced HR entities
from it only; its timestamps keep the offset they were sent with, which no model reads). The
Greenhouse adapter came shortly before this revision, and rows it stored before it hold
Greenhouse's field names in ``canonical`` too: no dbt model reads a recruiting entity's versions,
and versions stored from now on are canonical.

The column is added NOT NULL with a placeholder default that is dropped before the backfill:
DuckDB cannot SET NOT NULL on a table updated in the same transaction (README, "What DuckDB
can ALTER"), and no row keeps the placeholder.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from harvey_pipelines.warehouse.dialects import PAYLOAD_TEXT

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


# forward-only: no downgrade (README, "Schema migrations")
def upgrade() -> None:
    # nullable first, NOT NULL after: DuckDB 1.5 refuses ADD COLUMN with a constraint
    op.add_column('payload_versions', sa.Column('canonical', PAYLOAD_TEXT, nullable=True, server_default=''),
                  schema='raw')
    op.alter_column('payload_versions', 'canonical', nullable=False, server_default=None, schema='raw')
    op.execute("UPDATE raw.payload_versions SET canonical = payload")
