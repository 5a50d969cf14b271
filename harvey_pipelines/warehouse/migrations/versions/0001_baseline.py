"""Baseline: the warehouse as ``Warehouse.create_all`` made it before migrations existed.

Every statement is ``IF NOT EXISTS``, so this revision also adopts a warehouse that
create_all made: one of the last release gains only the version (and the table of derived
objects), an older one also the tables and columns added since the first release
(``ADDED_SINCE_FIRST_RELEASE``), its rows untouched. An empty database gets everything.

Frozen: later changes of records.py or schema.py belong in a revision of their own, never
here. Column comments and the view ``core.record_keys`` are not migrated: they are derived
from the code and kept current after every upgrade (``migrations.derived_statements``).

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from harvey_pipelines.warehouse.dialects import PAYLOAD_TEXT

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Text, Date, BigInteger, Double, Boolean = sa.Text, sa.Date, sa.BigInteger, sa.Double, sa.Boolean
Timestamp = sa.DateTime(timezone=True)

# the canonical fields of each core table (records.py at this revision), after organization_id
# and source_id; and the indexes beyond the key (each leads with organization_id)
CORE = {
    "employees": {
        "updated_at": Timestamp, "employee_id": Text, "first_name": Text, "last_name": Text, "email": Text,
        "phone": Text, "department": Text, "job_title": Text, "manager_id": Text, "hire_date": Date,
        "employment_status": Text, "location": Text, "work_type": Text, "salary_band": Text, "salary": Double,
        "currency": Text, "termination_date": Date, "created_at": Timestamp},
    "departments": {
        "updated_at": Timestamp, "department_id": Text, "name": Text, "head_id": Text, "head_name": Text,
        "employee_count": BigInteger, "location": Text},
    "employments": {
        "updated_at": Timestamp, "employee_id": Text, "start_date": Date, "end_date": Date, "contract_type": Text,
        "hours_per_week": Double, "salary": Double, "salary_period": Text, "currency": Text, "job_title": Text,
        "department": Text},
    "job_requisitions": {
        "updated_at": Timestamp, "requisition_id": Text, "title": Text, "department": Text,
        "hiring_manager_id": Text, "hiring_manager_name": Text, "status": Text, "headcount": BigInteger,
        "filled_positions": BigInteger, "location": Text, "job_type": Text, "created_date": Date,
        "target_hire_date": Date},
    "candidates": {
        "updated_at": Timestamp, "candidate_id": Text, "first_name": Text, "last_name": Text, "email": Text,
        "phone": Text, "current_stage": Text, "applied_for_job_id": Text, "applied_for_job_title": Text,
        "source": Text, "application_date": Date, "status": Text},
    "interviews": {
        "updated_at": Timestamp, "interview_id": Text, "candidate_id": Text, "candidate_name": Text, "job_id": Text,
        "job_title": Text, "interviewer_id": Text, "interviewer_name": Text, "interviewer_email": Text,
        "scheduled_date": Timestamp, "duration_minutes": BigInteger, "interview_type": Text, "status": Text,
        "meeting_link": Text, "feedback": Text, "rating": BigInteger, "recommendation": Text},
    "leave_requests": {
        "updated_at": Timestamp, "leave_request_id": Text, "employee_id": Text, "employee_name": Text,
        "leave_type": Text, "start_date": Date, "end_date": Date, "total_days": Double, "status": Text,
        "applied_date": Date, "approved_by": Text, "approved_at": Timestamp, "reason": Text},
    "leave_balances": {
        "updated_at": Timestamp, "employee_id": Text, "year": BigInteger, "leave_type": Text,
        "total_allocated": Double, "used": Double, "pending": Double, "available": Double},
    "attendance": {
        "updated_at": Timestamp, "employee_id": Text, "date": Date, "check_in_time": Timestamp,
        "check_in_location": Text, "check_in_device": Text, "check_out_time": Timestamp,
        "check_out_location": Text, "check_out_device": Text, "worked_hours": Double, "status": Text,
        "notes": Text, "created_at": Timestamp},
}
CORE_INDEXES = {
    "employees": {"employee_id": ("employee_id",), "department": ("department",)},
    "employments": {"employee_id_start_date": ("employee_id", "start_date")},
    "candidates": {"applied_for_job_id": ("applied_for_job_id",)},
    "interviews": {"candidate_id": ("candidate_id",), "interviewer_id": ("interviewer_id",)},
    "leave_requests": {"employee_id_start_date": ("employee_id", "start_date")},
    "leave_balances": {"employee_id_year": ("employee_id", "year")},
    "attendance": {"employee_id_date": ("employee_id", "date"), "date": ("date",)},
}

# columns create_all added to warehouses of earlier releases (its ADDED_COLUMNS)
ADDED_SINCE_FIRST_RELEASE = {
    "sync_runs": {"notes": Text, "failure_kind": Text},
    "quarantine": {"resume_from": Timestamp, "resolved_at": Timestamp, "resolved_by_sync_run_id": Text,
                   "resolution": Text},
    "dead_letters": {"failure_kind": Text},
}


def upgrade() -> None:
    # DuckDB keeps no key or index on the core tables and raw versions (dialects.keeps_indexes)
    keyed = op.get_context().dialect.name != "duckdb"

    def key(*columns: str) -> list:
        return [sa.PrimaryKeyConstraint(*columns)] if keyed else []

    for name, fields in CORE.items():
        op.create_table(
            name,
            sa.Column("organization_id", Text, nullable=False),
            sa.Column("source_id", Text, nullable=False),
            *[sa.Column(field, kind) for field, kind in fields.items()],
            sa.Column("record_hash", Text, nullable=False),
            sa.Column("synced_at", Timestamp, nullable=False),
            sa.Column("first_synced_at", Timestamp, nullable=False),
            sa.Column("sync_run_id", Text, nullable=False),
            sa.Column("is_deleted", Boolean, nullable=False, server_default=sa.false()),
            sa.Column("deleted_at", Timestamp),
            *key("organization_id", "source_id"),
            schema="core", if_not_exists=True,
        )
        if keyed:
            for suffix, columns in CORE_INDEXES.get(name, {}).items():
                op.create_index(f"ix_{name}_{suffix}", name, ["organization_id", *columns], schema="core",
                                if_not_exists=True)

    op.create_table(
        "payload_versions",
        sa.Column("organization_id", Text, nullable=False),
        sa.Column("entity", Text, nullable=False),
        sa.Column("source_id", Text, nullable=False),
        sa.Column("payload_sha256", Text, nullable=False),
        sa.Column("payload", PAYLOAD_TEXT, nullable=False),
        sa.Column("source_updated_at", Timestamp),
        sa.Column("fetched_at", Timestamp, nullable=False),
        sa.Column("sync_run_id", Text, nullable=False),
        *key("organization_id", "entity", "source_id", "payload_sha256"),
        schema="raw", if_not_exists=True,
    )
    if keyed:
        op.create_index("ix_payload_versions_fetched", "payload_versions",
                        ["organization_id", "entity", "fetched_at"], schema="raw", if_not_exists=True)

    counter = {"nullable": False, "server_default": "0"}
    op.create_table(
        "sync_runs",
        sa.Column("id", Text, primary_key=True),
        sa.Column("organization_id", Text, nullable=False),
        sa.Column("entity", Text, nullable=False),
        sa.Column("mode", Text, nullable=False),
        sa.Column("trigger", Text, nullable=False),
        sa.Column("triggered_by", Text),
        sa.Column("dagster_run_id", Text),
        sa.Column("status", Text, nullable=False),
        sa.Column("started_at", Timestamp, nullable=False),
        sa.Column("finished_at", Timestamp),
        *[sa.Column(name, BigInteger, **counter) for name in (
            "fetched", "inserted", "updated", "unchanged", "quarantined", "deleted", "raw_versions", "api_calls")],
        sa.Column("duration_seconds", sa.Float),
        sa.Column("cursor_before", Text),
        sa.Column("cursor_after", Text),
        sa.Column("error", Text),
        sa.Column("notes", Text),
        sa.Column("failure_kind", Text),
        schema="sync", if_not_exists=True,
    )
    op.create_index("ix_sync_runs_org_entity", "sync_runs", ["organization_id", "entity", "started_at"],
                    schema="sync", if_not_exists=True)
    op.create_table(
        "cursors",
        sa.Column("organization_id", Text, primary_key=True),
        sa.Column("entity", Text, primary_key=True),
        sa.Column("cursor_value", Text),
        sa.Column("server_ignores_since", Boolean, nullable=False, server_default=sa.false()),
        sa.Column("sync_run_id", Text, nullable=False),
        sa.Column("moved_at", Timestamp, nullable=False),
        schema="sync", if_not_exists=True,
    )
    op.create_table(
        "quarantine",
        sa.Column("organization_id", Text, primary_key=True),
        sa.Column("entity", Text, primary_key=True),
        sa.Column("payload_sha256", Text, primary_key=True),
        sa.Column("source_id", Text),
        sa.Column("payload", Text, nullable=False),
        sa.Column("reason", Text, nullable=False),
        sa.Column("first_seen_at", Timestamp, nullable=False),
        sa.Column("last_seen_at", Timestamp, nullable=False),
        sa.Column("times_seen", BigInteger, nullable=False, server_default="1"),
        sa.Column("sync_run_id", Text, nullable=False),
        sa.Column("resume_from", Timestamp),
        sa.Column("resolved_at", Timestamp),
        sa.Column("resolved_by_sync_run_id", Text),
        sa.Column("resolution", Text),
        schema="sync", if_not_exists=True,
    )
    op.create_table(
        "seen_ids",
        sa.Column("sync_run_id", Text, primary_key=True),
        sa.Column("source_id", Text, primary_key=True),
        schema="sync", if_not_exists=True,
    )
    op.create_table(
        "dead_letters",
        sa.Column("organization_id", Text, primary_key=True),
        sa.Column("entity", Text, primary_key=True),
        sa.Column("first_sync_run_id", Text, primary_key=True),
        sa.Column("first_failure_at", Timestamp, nullable=False),
        sa.Column("last_failure_at", Timestamp, nullable=False),
        sa.Column("attempts", BigInteger, nullable=False),
        sa.Column("last_error", Text),
        sa.Column("sync_run_ids", Text, nullable=False),
        sa.Column("dagster_run_ids", Text, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("alerted_at", Timestamp),
        sa.Column("resolved_at", Timestamp),
        sa.Column("failure_kind", Text),
        schema="sync", if_not_exists=True,
    )
    op.create_table(
        "alerts",
        sa.Column("organization_id", Text, primary_key=True),
        sa.Column("entity", Text, primary_key=True),
        sa.Column("first_sync_run_id", Text, primary_key=True),
        sa.Column("raised_at", Timestamp, nullable=False),
        sa.Column("title", Text, nullable=False),
        sa.Column("failure_kind", Text),
        sa.Column("message", Text, nullable=False),
        sa.Column("delivered_to", Text),
        schema="sync", if_not_exists=True,
    )
    op.create_table(
        "organization_settings",
        sa.Column("organization_id", Text, primary_key=True),
        sa.Column("timezone", Text, nullable=False),
        sa.Column("work_start", Text),
        sa.Column("grace_minutes", BigInteger),
        sa.Column("standard_hours", sa.Numeric(6, 2)),
        sa.Column("max_daily_overtime_hours", sa.Numeric(6, 2)),
        sa.Column("weekend_days", Text),
        sa.Column("holiday_country", Text),
        sa.Column("holiday_subdivision", Text),
        sa.Column("has_own_calendar", Boolean, nullable=False),
        sa.Column("fingerprint", Text, nullable=False),
        sa.Column("published_at", Timestamp, nullable=False),
        schema="sync", if_not_exists=True,
    )
    op.create_table(
        "organization_holidays",
        sa.Column("organization_id", Text, primary_key=True),
        sa.Column("holiday_date", Date, primary_key=True),
        sa.Column("name", Text, nullable=False),
        sa.Column("source", Text, nullable=False),
        schema="sync", if_not_exists=True,
    )
    op.create_table(
        "organization_leave_policies",
        sa.Column("organization_id", Text, primary_key=True),
        sa.Column("leave_type", Text, primary_key=True),
        sa.Column("annual_allocation_days", sa.Numeric(8, 2)),
        sa.Column("min_notice_days", BigInteger),
        schema="sync", if_not_exists=True,
    )
    op.create_table(
        "derived_objects",
        sa.Column("fingerprint", Text, nullable=False),
        sa.Column("applied_at", Timestamp, nullable=False),
        schema="sync", if_not_exists=True,
    )

    # a table of an earlier release exists without these (ADD COLUMN IF NOT EXISTS: nullable
    # columns without a default, which DuckDB adds to a table with an index too)
    for table, columns in ADDED_SINCE_FIRST_RELEASE.items():
        for name, kind in columns.items():
            op.add_column(table, sa.Column(name, kind), schema="sync", if_not_exists=True)
