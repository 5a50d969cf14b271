"""Erasure and audit: tombstones (``sync.erasures``), the suppression list (``sync.suppressions``),
the append-only audit trail (``sync.audit_log``) and the records a sync dropped for an erased
person (``sync.sync_runs.suppressed``).

On PostgreSQL a trigger rejects UPDATE and DELETE of ``sync.audit_log`` rows and a statement
trigger rejects TRUNCATE, whoever asks (the table's owner too); DuckDB has no triggers, only the
code appends there (README, "Erasure and audit trail").

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)
APPEND_ONLY = """
CREATE OR REPLACE FUNCTION sync.audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'sync.audit_log is append-only: % is not allowed', TG_OP;
END
$$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON sync.audit_log
    FOR EACH ROW EXECUTE FUNCTION sync.audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON sync.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION sync.audit_log_append_only();
"""


# forward-only: no downgrade (README, "Schema migrations")
def upgrade() -> None:
    # DuckDB adds a NOT NULL column to an indexed table only without its index (README, "What
    # DuckDB can ALTER")
    duckdb = op.get_context().dialect.name == 'duckdb'
    if duckdb:
        op.drop_index('ix_sync_runs_org_entity', table_name='sync_runs', schema='sync')
    # nullable first, NOT NULL after: DuckDB 1.5 refuses ADD COLUMN with a constraint
    op.add_column('sync_runs', sa.Column('suppressed', sa.BigInteger, nullable=True, server_default='0'),
                  schema='sync')
    op.alter_column('sync_runs', 'suppressed', nullable=False, schema='sync')
    if duckdb:
        op.create_index('ix_sync_runs_org_entity', 'sync_runs', ['organization_id', 'entity', 'started_at'],
                        schema='sync')
    op.create_table(
        'erasures',
        sa.Column('organization_id', sa.Text, nullable=False),
        sa.Column('subject', sa.Text, nullable=False),
        sa.Column('subject_hash', sa.Text, nullable=False),
        sa.Column('erased_at', Timestamp, nullable=False),
        sa.Column('erased_by', sa.Text, nullable=False),
        sa.Column('removed', sa.Text, nullable=False),
        sa.Column('blanked', sa.Text, nullable=False),
        sa.PrimaryKeyConstraint('organization_id', 'subject', 'subject_hash'),
        schema='sync',
    )
    op.create_table(
        'suppressions',
        sa.Column('organization_id', sa.Text, nullable=False),
        sa.Column('subject', sa.Text, nullable=False),
        sa.Column('subject_hash', sa.Text, nullable=False),
        sa.Column('value_hash', sa.Text, nullable=False),
        sa.Column('kind', sa.Text, nullable=False),
        sa.Column('created_at', Timestamp, nullable=False),
        sa.PrimaryKeyConstraint('organization_id', 'subject', 'subject_hash', 'value_hash'),
        schema='sync',
    )
    op.create_table(
        'audit_log',
        sa.Column('id', sa.Text, nullable=False),
        sa.Column('recorded_at', Timestamp, nullable=False),
        sa.Column('action', sa.Text, nullable=False),
        sa.Column('actor', sa.Text, nullable=False),
        sa.Column('organization_id', sa.Text),
        sa.Column('target', sa.Text),
        sa.Column('details', sa.Text, nullable=False),
        sa.PrimaryKeyConstraint('id'),
        schema='sync',
    )
    op.create_index('ix_audit_log_recorded_at', 'audit_log', ['recorded_at'], schema='sync')
    if op.get_context().dialect.name == 'postgresql':
        op.execute(APPEND_ONLY)
