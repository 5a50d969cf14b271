"""What the asset catalog shows besides the data: owners, kinds, column schemas. The
descriptions themselves live with what they describe (records.py fields, warehouse/schema.py
tables, the dbt YAML), so the UI and the warehouse's own comments say the same."""

import sqlalchemy as sa
from dagster import TableColumn, TableSchema

from harvey_pipelines import settings

# Dagster owners are emails or "team:<name>"; a team, so no person's address is in the code
OWNERS = ["team:harvey-data"]
# what the sync keeps besides the entity tables (raw history, bookkeeping, core.record_keys)
INGESTION_GROUP = "ingestion"


def warehouse_kind() -> str:
    """The warehouse's kind tag (its icon in the UI): duckdb or postgres."""
    backend = sa.engine.make_url(settings.warehouse_url()).get_backend_name()
    return "postgres" if backend.startswith("postgres") else backend


def column_schema(table: sa.Table) -> TableSchema:
    """A warehouse table's columns with their comments, as Dagster's column schema."""
    return TableSchema(columns=[
        TableColumn(c.name, str(c.type).lower(), description=c.comment) for c in table.columns
    ])
