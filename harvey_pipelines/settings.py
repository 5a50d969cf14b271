"""Configuration, decided in one place from the environment.

``Settings`` is every variable the project reads (prefix ``HARVEY_``; ``DAGSTER_HOME``), typed
and validated by pydantic-settings; ``current()`` reads it at call time, so a process, a test or
a sensor tick sees the environment as it is then. Secrets (URLs that may carry a password, the
webhook, the SMTP password) are ``SecretStr``: they print as ``**********``. The helpers below
derive paths and URLs from it; none of them creates a file or a directory
(``ensure_local_state`` and ``prepare_dagster_home`` do, when a command needs them).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from pathlib import Path
from typing import Annotated, Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "HARVEY_"


class Settings(BaseSettings):
    """Every setting, named as its environment variable without the prefix (README: Configuration)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True, allow_inf_nan=False)

    data_dir: Path = Field(PROJECT_ROOT / "data", description="local state: DuckDB file, registry, local Dagster "
                           "instance, rate-limit counts")
    warehouse_url: SecretStr | None = Field(None, description="SQLAlchemy URL of the warehouse (default: the DuckDB "
                                            "file data/warehouse.duckdb); postgresql://user@host/db for production")
    organizations_file: Path | None = Field(None, description="the organization registry (default: "
                                            "data/organizations.yaml)")
    dagster_home: Path | None = Field(None, validation_alias=AliasChoices("DAGSTER_HOME"),
                                      description="the Dagster instance (default: data/dagster_home)")
    dagster_ui_url: str = Field("http://127.0.0.1:3000", description="the Dagster webserver: run links in alerts, "
                                "`harvey backfill`")
    rate_limit_url: SecretStr | None = Field(None, description="where organizations' rate limits are counted: "
                                             "sqlite:///file, postgresql://..., redis://... (default: see Sources)")
    schedule_timezone: str = Field("Asia/Kolkata", description="timezone of the schedules' cron strings")
    executor: Literal["in_process", "celery"] = Field(
        "in_process", description="how a scheduled batch run executes its syncs: in_process (in the run's "
        "process, the default) or celery (one step per organization, taken by Celery workers from the broker; "
        "needs the PostgreSQL warehouse and PostgreSQL instance storage)")
    celery_broker_url: SecretStr | None = Field(None, description="the Celery broker of the celery executor and "
                                                "its workers (default pyamqp://guest@localhost//; or redis://...)")
    celery_backend_url: SecretStr | None = Field(None, description="where Celery workers return step results "
                                                 "(default: rpc:// over an AMQP broker, else the broker's URL)")
    max_runs_per_tick: int = Field(8, ge=1, description="runs a schedule tick spreads its organizations over")
    backfill_orgs_per_run: int = Field(25, ge=1, description="organizations one backfill run syncs (the entity "
                                       "assets' backfill policy, read when the code location loads)")
    retry_delays_minutes: Annotated[tuple[float, ...], NoDecode] = Field(
        (5.0, 10.0, 20.0), description="the retry sensor's delays (comma list); then a dead letter and one alert")
    marts_after_syncs_minutes: float = Field(15.0, gt=0, description="how often the marts follow the syncs that "
                                             "changed data")
    duckdb_memory_limit: str = Field("40MB", description="DuckDB's cache in a sync process")
    duckdb_checks_memory_limit: str = Field("1GB", description="DuckDB's memory while the quality checks, an "
                                            "erasure or a compaction run (beyond it, it spills to disk)")
    duckdb_encryption_key: SecretStr | None = Field(None, description="the DuckDB warehouse file's encryption key "
                                                    "(DuckDB's own AES encryption; README: Encryption at rest); "
                                                    "empty: the file is not encrypted")
    duckdb_lease_seconds: float = Field(30.0, ge=0, description="longest a sync holds the DuckDB file before "
                                        "letting go once")
    delete_wave_fraction: float = Field(0.10, ge=0, description="share of an entity's live records a reconcile "
                                        "may flag deleted without confirmation")
    delete_wave_min_rows: int = Field(10, ge=0, description="rows a reconcile may flag deleted without "
                                      "confirmation, whatever the share")
    freshness_missed_ticks: int = Field(2, ge=1, description="schedule ticks without a successful sync before an "
                                        "organization's entity is stale")
    freshness_grace_minutes: float = Field(30.0, ge=0, description="time after the last missed tick for its sync "
                                           "to finish")
    pseudonym_key: SecretStr | None = Field(None, description="key of the pseudonyms in the masked analyst tables "
                                            "(marts_masked); without it dbt refuses to build them")
    access_role_prefix: str = Field("harvey", description="PostgreSQL group roles <prefix>_loader, _analyst, _hr "
                                    "(`harvey access`)")
    erasure_key: SecretStr | None = Field(None, description="secret key of the keyed hashes that tombstones and "
                                          "the suppression list hold instead of an erased person's values")
    # retention (warehouse/retention.py): days each kind of data is kept; 0 keeps it forever;
    # an organization's `retention` entry in the registry overrides any of them
    retention_raw_versions_days: int = Field(730, ge=0, description="raw payload versions kept (days since "
                                             "fetched; a record's latest version and the one in effect at the "
                                             "cutoff always stay); 0: forever")
    retention_quarantine_days: int = Field(90, ge=0, description="quarantine rows kept (days since last seen); "
                                           "0: forever")
    retention_sync_runs_days: int = Field(400, ge=0, description="sync runs kept (days since started; the latest "
                                          "and latest successful of each organization and entity always stay); "
                                          "0: forever")
    retention_dead_letters_days: int = Field(180, ge=0, description="resolved dead letters kept (days since "
                                             "resolved; open ones always stay); 0: forever")
    alert_webhook_url: SecretStr | None = Field(None, description="Slack-compatible incoming webhook for alerts")
    smtp_host: str | None = Field(None, description="mail server for alerts")
    smtp_port: int = Field(25, ge=1, le=65535, description="mail server port")
    smtp_user: str | None = Field(None, description="mail server login (optional)")
    smtp_password: SecretStr | None = Field(None, description="mail server password (optional)")
    smtp_starttls: bool = Field(False, description="1: STARTTLS before login")
    alert_email_from: str = Field("harvey@localhost", description="sender of alert mails")
    alert_email_to: Annotated[tuple[str, ...], NoDecode] = Field((), description="recipients of alert mails "
                                                                 "(comma list)")

    @field_validator("retry_delays_minutes", "alert_email_to", mode="before")
    @classmethod
    def _comma_list(cls, value):
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("retry_delays_minutes")
    @classmethod
    def _positive_delays(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(v <= 0 for v in value):
            raise ValueError("give one or more positive minutes, e.g. 5,10,20")
        return value

    @field_validator("schedule_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA time zone, e.g. Asia/Kolkata") from None
        return value


def env_name(field: str) -> str:
    """The environment variable of a setting."""
    alias = Settings.model_fields[field].validation_alias
    return cast(str, alias.choices[0]) if isinstance(alias, AliasChoices) else ENV_PREFIX + field.upper()


def current() -> Settings:
    """The settings as the environment holds them now; a bad value raises ValueError naming its
    variable (``HARVEY_MAX_RUNS_PER_TICK: input should be ..., not '0'``)."""
    ours = tuple(sorted((k, v) for k, v in os.environ.items()
                        if k.upper().startswith(ENV_PREFIX) or k.upper() == "DAGSTER_HOME"))
    return _settings(ours)


@functools.lru_cache(maxsize=8)
def _settings(environment: tuple[tuple[str, str], ...]) -> Settings:
    # parsed once per distinct environment (pydantic-settings takes milliseconds, a sync asks often)
    try:
        return Settings()  # type: ignore[call-arg] # the fields come from the environment
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else ""
            name = env_name(field) if field in Settings.model_fields else field
            message = err["msg"].removeprefix("Value error, ")
            problems.append(f"{name}: {message[:1].lower()}{message[1:]}, not {err['input']!r}")
        raise ValueError("; ".join(problems)) from None


def data_dir() -> Path:
    """Local state of the embedded default: DuckDB warehouse, registry, Dagster home."""
    return current().data_dir


def ensure_local_state() -> Path:
    """The data dir, created if missing (by the processes that write into it)."""
    path = data_dir()
    path.mkdir(parents=True, exist_ok=True)
    return path


def warehouse_url() -> str:
    """SQLAlchemy URL of the warehouse: DuckDB file by default, PostgreSQL in production."""
    url = current().warehouse_url
    return url.get_secret_value() if url else f"duckdb:///{data_dir() / 'warehouse.duckdb'}"


def rate_limit_url() -> str:
    """Where each organization's rate limit is counted, shared by every process that syncs it:
    HARVEY_RATE_LIMIT_URL if set (``sqlite:///file``, ``postgresql://...``, ``redis://...``);
    else the warehouse when it is PostgreSQL (every host that syncs reaches it); else a SQLite
    file in the data dir (the processes of this machine)."""
    url = current().rate_limit_url
    if url:
        return url.get_secret_value()
    warehouse = warehouse_url()
    if warehouse.startswith("postgresql"):
        return warehouse
    return f"sqlite:///{data_dir() / 'rate_limits.sqlite'}"


DEFAULT_CELERY_BROKER = "pyamqp://guest@localhost//"


def celery_urls() -> tuple[str, str]:
    """(broker, result backend) of the celery executor and its workers (both must agree)."""
    config = current()
    broker = config.celery_broker_url.get_secret_value() if config.celery_broker_url else DEFAULT_CELERY_BROKER
    if config.celery_backend_url:
        return broker, config.celery_backend_url.get_secret_value()
    # rpc:// sends results back over the broker, which only AMQP can do
    return broker, "rpc://" if broker.startswith(("amqp", "pyamqp")) else broker


PUBLISHED_COPY_NAME = "analytics.duckdb"


def published_copy(url: str | None = None) -> Path | None:
    """The copy of a DuckDB warehouse (``url``, default the configured one) that analysts and
    BI tools read: ``analytics.duckdb`` next to the warehouse file. None for PostgreSQL, whose
    readers do not stand in the writers' way (nothing is published there)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url or warehouse_url())
    if parsed.get_backend_name() != "duckdb":
        return None
    database = Path(cast(str, parsed.database))
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
        key = current().duckdb_encryption_key
        if key is None:
            return {"HARVEY_DBT_TARGET": "duckdb", "HARVEY_DUCKDB_PATH": str(url.database)} | _pseudonym_env()
        return {"HARVEY_DBT_TARGET": "duckdb_encrypted", "HARVEY_DUCKDB_PATH": str(url.database),
                "HARVEY_DBT_DUCKDB_CATALOG": Path(str(url.database)).stem,
                "HARVEY_DBT_DUCKDB_KEY": key.get_secret_value()} | _pseudonym_env()
    return {
        "HARVEY_DBT_TARGET": "postgres", "HARVEY_PG_HOST": url.host or "127.0.0.1",
        "HARVEY_PG_PORT": str(url.port or 5432), "HARVEY_PG_USER": url.username or "postgres",
        "HARVEY_PG_PASSWORD": url.password or "", "HARVEY_PG_DATABASE": url.database or "postgres",
    } | _pseudonym_env()


def _pseudonym_env() -> dict[str, str]:
    """The pseudonym key for dbt's masked models: the environment's, else the one the demo left."""
    key = current().pseudonym_key
    value = key.get_secret_value() if key else local_env().get("HARVEY_PSEUDONYM_KEY")
    return {"HARVEY_PSEUDONYM_KEY": value} if value else {}


def delete_wave() -> tuple[float, int]:
    """(share, rows): a reconciliation that would flag more than this share of an entity's live
    records as deleted, and more than this many, waits for confirmation (``--confirm-deletes``)."""
    config = current()
    return config.delete_wave_fraction, config.delete_wave_min_rows


def erasure_key() -> bytes:
    """The key of erasure's keyed hashes (``HARVEY_ERASURE_KEY``); ValueError when unset: without
    it an erasure cannot record whom to suppress, nor a sync recognize them."""
    key = current().erasure_key
    if key is None or not key.get_secret_value():
        raise ValueError("HARVEY_ERASURE_KEY is not set: erasure and the suppression list need a secret key "
                         "(e.g. `openssl rand -hex 32`, kept like a credential and never changed)")
    return key.get_secret_value().encode()


def freshness_missed_ticks() -> int:
    """Ticks of an entity's schedule that may pass without a successful sync of an organization
    before that organization's entity is stale (automation/freshness.py)."""
    return current().freshness_missed_ticks


def freshness_grace() -> dt.timedelta:
    """Time after the last of those ticks for its sync to finish."""
    return dt.timedelta(minutes=current().freshness_grace_minutes)


def organizations_file() -> Path:
    return current().organizations_file or data_dir() / "organizations.yaml"


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
    ensure_local_state()
    path.touch(mode=0o600, exist_ok=True)
    set_key(path, name, value, quote_mode="never")


def dagster_ui_url() -> str:
    return current().dagster_ui_url


def dagster_home() -> Path:
    """DAGSTER_HOME if set, else a local instance (SQLite storage, no server) under data/."""
    return current().dagster_home or data_dir() / "dagster_home"


def prepare_dagster_home() -> Path:
    """The Dagster home, created with the local instance's configuration when it has none."""
    path = dagster_home()
    path.mkdir(parents=True, exist_ok=True)
    config = path / "dagster.yaml"
    if not config.exists():
        config.write_text(LOCAL_DAGSTER_YAML.replace("{base_dir}", str(path / "history" / "runs")))
    return path


LOCAL_DAGSTER_YAML = """\
# Local instance of the embedded default: SQLite storage in this folder, no server.
# Production (PostgreSQL storage): the project's dagster.yaml.
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
