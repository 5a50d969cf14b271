"""Where things live, decided in one place from the environment.

Every path and URL the project uses is read here, so the demo, the tests, the
Dagster code location and the CLI agree without passing paths around.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """Local state of the embedded default: DuckDB warehouse, registry, Dagster home."""
    path = Path(os.environ.get("HARVEY_DATA_DIR", PROJECT_ROOT / "data"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def warehouse_url() -> str:
    """SQLAlchemy URL of the warehouse: DuckDB file by default, PostgreSQL in production."""
    url = os.environ.get("HARVEY_WAREHOUSE_URL")
    if url:
        return url
    return f"duckdb:///{data_dir() / 'warehouse.duckdb'}"


PUBLISHED_COPY_NAME = "analytics.duckdb"


def published_copy(url: str | None = None) -> Path | None:
    """The copy of a DuckDB warehouse (``url``, default the configured one) that analysts and
    BI tools read: ``analytics.duckdb`` next to the warehouse file. None for PostgreSQL, whose
    readers do not stand in the writers' way (nothing is published there)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url or warehouse_url())
    if parsed.get_backend_name() != "duckdb":
        return None
    database = Path(parsed.database)
    if database.name == PUBLISHED_COPY_NAME:
        raise ValueError(f"the DuckDB warehouse may not be named {PUBLISHED_COPY_NAME}: that is its published copy")
    return database.with_name(PUBLISHED_COPY_NAME)


def dbt_project_dir() -> Path:
    return PROJECT_ROOT / "dbt_project"


def dbt_env() -> dict[str, str]:
    """dbt's profile variables for the warehouse the sync writes (one source of truth)."""
    from sqlalchemy.engine import make_url

    url = make_url(warehouse_url())
    if url.get_backend_name() == "duckdb":
        return {"HARVEY_DBT_TARGET": "duckdb", "HARVEY_DUCKDB_PATH": str(url.database)}
    return {
        "HARVEY_DBT_TARGET": "postgres", "HARVEY_PG_HOST": url.host or "127.0.0.1",
        "HARVEY_PG_PORT": str(url.port or 5432), "HARVEY_PG_USER": url.username or "postgres",
        "HARVEY_PG_PASSWORD": url.password or "", "HARVEY_PG_DATABASE": url.database or "postgres",
    }


def delete_wave() -> tuple[float, int]:
    """(share, rows): a reconciliation that would flag more than this share of an entity's live
    records as deleted, and more than this many, waits for confirmation (``--confirm-deletes``)."""
    values = []
    for name, default, kind, what in (("HARVEY_DELETE_WAVE_FRACTION", "0.10", float, "a number"),
                                      ("HARVEY_DELETE_WAVE_MIN_ROWS", "10", int, "a whole number")):
        raw = os.environ.get(name, default)
        try:
            value = kind(raw)
        except ValueError:
            value = -1
        if not value >= 0:
            raise ValueError(f"{name} must be {what} >= 0, not {raw!r}")
        values.append(value)
    return values[0], values[1]


def organizations_file() -> Path:
    return Path(os.environ.get("HARVEY_ORGANIZATIONS_FILE", data_dir() / "organizations.yaml"))


def local_env_file() -> Path:
    return data_dir() / "local.env"


def local_env() -> dict[str, str]:
    """Variables the demo leaves for what comes after it (the mock's public demo tokens), so the
    CLI, the UI's runs and the daemon sync the demo organizations without exports. The
    environment wins over it; real credentials belong in the environment, not here."""
    from dotenv import dotenv_values

    path = local_env_file()
    return {k: v for k, v in dotenv_values(path).items() if v} if path.exists() else {}


def remember_local_env(name: str, value: str) -> None:
    from dotenv import set_key

    path = local_env_file()
    path.touch(mode=0o600, exist_ok=True)
    set_key(path, name, value, quote_mode="never")


def dagster_ui_url() -> str:
    return os.environ.get("HARVEY_DAGSTER_UI_URL", "http://127.0.0.1:3000")


def dagster_home() -> Path:
    """DAGSTER_HOME if set, else a local instance (SQLite storage, no server) under data/."""
    path = Path(os.environ.get("DAGSTER_HOME") or data_dir() / "dagster_home")
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    if not config.exists():
        config.write_text(LOCAL_DAGSTER_YAML.replace("{base_dir}", str(path / "history" / "runs")))
    return path


LOCAL_DAGSTER_YAML = """\
# Local instance of the embedded default: SQLite storage in this folder, no server.
# Production (PostgreSQL storage): dagster.yaml at the project root.
# One event log file (not one per run), so sensors can page through events by cursor.
event_log_storage:
  module: dagster.core.storage.event_log
  class: ConsolidatedSqliteEventLogStorage
  config:
    base_dir: {base_dir}
run_queue:
  max_concurrent_runs: 2
  tag_concurrency_limits:
    - key: dagster/partition
      value:
        applyLimitPerUniqueValue: true
      limit: 1
run_retries:
  enabled: false
telemetry:
  enabled: false
"""
