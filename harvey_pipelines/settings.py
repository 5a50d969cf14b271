"""Where things live, decided in one place from the environment.

Every path and URL the project uses is read here, so the demo, the tests, the
Dagster code location and the CLI agree without passing paths around.
"""

from __future__ import annotations

import datetime as dt
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


def rate_limit_url() -> str:
    """Where each organization's rate limit is counted, shared by every process that syncs it:
    HARVEY_RATE_LIMIT_URL if set (``sqlite:///file``, ``postgresql://...``, ``redis://...``);
    else the warehouse when it is PostgreSQL (every host that syncs reaches it); else a SQLite
    file in the data dir (the processes of this machine)."""
    url = os.environ.get("HARVEY_RATE_LIMIT_URL")
    if url:
        return url
    warehouse = warehouse_url()
    if warehouse.startswith("postgresql"):
        return warehouse
    return f"sqlite:///{data_dir() / 'rate_limits.sqlite'}"


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


def _number(name: str, default: str, kind: type, what: str, minimum: float = 0):
    """A number from the environment, with an error that names the variable."""
    raw = os.environ.get(name, default)
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or not value >= minimum:
        raise ValueError(f"{name} must be {what} >= {minimum}, not {raw!r}")
    return value


def delete_wave() -> tuple[float, int]:
    """(share, rows): a reconciliation that would flag more than this share of an entity's live
    records as deleted, and more than this many, waits for confirmation (``--confirm-deletes``)."""
    return (_number("HARVEY_DELETE_WAVE_FRACTION", "0.10", float, "a number"),
            _number("HARVEY_DELETE_WAVE_MIN_ROWS", "10", int, "a whole number"))


def freshness_missed_ticks() -> int:
    """Ticks of an entity's schedule that may pass without a successful sync of an organization
    before that organization's entity is stale (automation/freshness.py)."""
    return _number("HARVEY_FRESHNESS_MISSED_TICKS", "2", int, "a whole number", minimum=1)


def freshness_grace() -> dt.timedelta:
    """Time after the last of those ticks for its sync to finish."""
    return dt.timedelta(minutes=_number("HARVEY_FRESHNESS_GRACE_MINUTES", "30", float, "a number of minutes"))


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
# Production (PostgreSQL storage): the project's deploy/dagster.yaml.
# One event log file (not one per run), so sensors can page through events by cursor.
event_log_storage:
  module: dagster.core.storage.event_log
  class: ConsolidatedSqliteEventLogStorage
  config:
    base_dir: {base_dir}
# Fewer runs at once than production's 8 (2 per organization): a workstation, and one DuckDB
# file whose writers take turns anyway, so more runs would mostly wait on the file.
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
