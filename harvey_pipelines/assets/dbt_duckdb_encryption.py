"""dbt-duckdb plugin of the encrypted DuckDB warehouse (profiles.yml, target duckdb_encrypted):
loads the httpfs extension by path before dbt-duckdb attaches the file with its key, as the
warehouse's own connections do (warehouse/dialects.py)."""

from dbt.adapters.duckdb.plugins import BasePlugin

from harvey_pipelines.warehouse.dialects import httpfs_extension


class Plugin(BasePlugin):
    def configure_connection(self, conn) -> None:
        conn.execute(f"LOAD '{httpfs_extension()}'")
