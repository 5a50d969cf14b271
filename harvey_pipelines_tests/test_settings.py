"""Unit tests of the settings read from the environment (settings.py): the defaults, what each
variable changes, and bad values failing with the variable named."""

from __future__ import annotations

import datetime as dt
import stat

import pytest

from harvey_pipelines import settings

pytestmark = pytest.mark.fast

VARIABLES = ("HARVEY_DATA_DIR", "HARVEY_WAREHOUSE_URL", "HARVEY_RATE_LIMIT_URL", "HARVEY_ORGANIZATIONS_FILE",
             "DAGSTER_HOME", "HARVEY_DAGSTER_UI_URL", "HARVEY_DELETE_WAVE_FRACTION", "HARVEY_DELETE_WAVE_MIN_ROWS",
             "HARVEY_FRESHNESS_MISSED_TICKS", "HARVEY_FRESHNESS_GRACE_MINUTES", "HARVEY_PSEUDONYM_KEY")


@pytest.fixture
def env(monkeypatch, tmp_path):
    """No setting in the environment but the data dir, a fresh folder."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    data = tmp_path / "data"
    monkeypatch.setenv("HARVEY_DATA_DIR", str(data))
    return data


def test_the_defaults(env):
    assert settings.data_dir() == env and not env.exists(), "reading a setting creates nothing"
    assert settings.warehouse_url() == f"duckdb:///{env / 'warehouse.duckdb'}"
    assert settings.rate_limit_url() == f"sqlite:///{env / 'rate_limits.sqlite'}"
    assert settings.organizations_file() == env / "organizations.yaml"
    assert settings.local_env_file() == env / "local.env"
    assert settings.dagster_ui_url() == "http://127.0.0.1:3000"
    assert settings.delete_wave() == (0.10, 10)
    assert settings.freshness_missed_ticks() == 2
    assert settings.freshness_grace() == dt.timedelta(minutes=30)
    assert settings.dbt_env() == {"HARVEY_DBT_TARGET": "duckdb", "HARVEY_DUCKDB_PATH": str(env / "warehouse.duckdb")}


def test_without_a_data_dir_the_project_folder_holds_the_state(env, monkeypatch):
    monkeypatch.delenv("HARVEY_DATA_DIR")
    assert settings.data_dir() == settings.PROJECT_ROOT / "data"
    assert settings.dbt_project_dir() == settings.PROJECT_ROOT / "dbt_project"


def test_the_rate_limit_is_counted_in_a_postgresql_warehouse_unless_told_otherwise(env, monkeypatch):
    warehouse = "postgresql://harvey:pw@db:5433/warehouse"
    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", warehouse)
    assert settings.warehouse_url() == warehouse and settings.rate_limit_url() == warehouse
    monkeypatch.setenv("HARVEY_RATE_LIMIT_URL", "redis://cache:6379/0")
    assert settings.rate_limit_url() == "redis://cache:6379/0"


@pytest.mark.parametrize("url, expected", [
    ("postgresql://harvey:pw@db:5433/warehouse",
     {"HARVEY_DBT_TARGET": "postgres", "HARVEY_PG_HOST": "db", "HARVEY_PG_PORT": "5433", "HARVEY_PG_USER": "harvey",
      "HARVEY_PG_PASSWORD": "pw", "HARVEY_PG_DATABASE": "warehouse"}),
    ("postgresql+psycopg2:///",
     {"HARVEY_DBT_TARGET": "postgres", "HARVEY_PG_HOST": "127.0.0.1", "HARVEY_PG_PORT": "5432",
      "HARVEY_PG_USER": "postgres", "HARVEY_PG_PASSWORD": "", "HARVEY_PG_DATABASE": "postgres"}),
    ("duckdb:////srv/harvey/warehouse.duckdb",
     {"HARVEY_DBT_TARGET": "duckdb", "HARVEY_DUCKDB_PATH": "/srv/harvey/warehouse.duckdb"}),
])
def test_dbt_gets_the_warehouse_the_sync_writes(env, monkeypatch, url, expected):
    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", url)
    assert settings.dbt_env() == expected


def test_dbt_gets_the_pseudonym_key_of_the_environment_else_the_demos(env, monkeypatch):
    settings.remember_local_env("HARVEY_PSEUDONYM_KEY", "demo-key")
    assert settings.dbt_env()["HARVEY_PSEUDONYM_KEY"] == "demo-key"
    monkeypatch.setenv("HARVEY_PSEUDONYM_KEY", "production-key")
    assert settings.dbt_env()["HARVEY_PSEUDONYM_KEY"] == "production-key"


@pytest.mark.parametrize("name, value, read, rule", [
    ("HARVEY_DELETE_WAVE_FRACTION", "ten percent", settings.delete_wave, "valid number"),
    ("HARVEY_DELETE_WAVE_FRACTION", "-0.1", settings.delete_wave, "greater than or equal to 0"),
    ("HARVEY_DELETE_WAVE_FRACTION", "nan", settings.delete_wave, "finite number"),
    ("HARVEY_DELETE_WAVE_FRACTION", "", settings.delete_wave, "valid number"),
    ("HARVEY_DELETE_WAVE_MIN_ROWS", "2.5", settings.delete_wave, "valid integer"),
    ("HARVEY_FRESHNESS_MISSED_TICKS", "0", settings.freshness_missed_ticks, "greater than or equal to 1"),
    ("HARVEY_FRESHNESS_MISSED_TICKS", "two", settings.freshness_missed_ticks, "valid integer"),
    ("HARVEY_FRESHNESS_GRACE_MINUTES", "-5", settings.freshness_grace, "greater than or equal to 0"),
    ("HARVEY_FRESHNESS_GRACE_MINUTES", "30m", settings.freshness_grace, "valid number"),
    ("HARVEY_FRESHNESS_GRACE_MINUTES", "inf", settings.freshness_grace, "finite number"),
])
def test_a_bad_number_fails_naming_the_variable_the_value_and_the_rule(env, monkeypatch, name, value, read, rule):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError) as bad:
        read()
    message = str(bad.value)
    assert message.startswith(f"{name}: ") and rule in message and message.endswith(f"not {value!r}"), message


def test_numbers_are_read_at_call_time(env, monkeypatch):
    monkeypatch.setenv("HARVEY_DELETE_WAVE_FRACTION", "0.5")
    monkeypatch.setenv("HARVEY_DELETE_WAVE_MIN_ROWS", "0")
    monkeypatch.setenv("HARVEY_FRESHNESS_MISSED_TICKS", "3")
    monkeypatch.setenv("HARVEY_FRESHNESS_GRACE_MINUTES", "7.5")
    assert settings.delete_wave() == (0.5, 0)
    assert (settings.freshness_missed_ticks(), settings.freshness_grace()) == (3, dt.timedelta(minutes=7, seconds=30))


def test_the_local_env_file_keeps_what_the_demo_leaves_private(env):
    assert settings.local_env() == {}
    settings.remember_local_env("HARVEY_ACME_HRMS_TOKEN", "tok-1")
    settings.remember_local_env("HARVEY_GLOBEX_HRMS_TOKEN", "tok-2")
    settings.remember_local_env("HARVEY_ACME_HRMS_TOKEN", "tok-3")  # replaced, not repeated
    assert settings.local_env() == {"HARVEY_ACME_HRMS_TOKEN": "tok-3", "HARVEY_GLOBEX_HRMS_TOKEN": "tok-2"}
    assert stat.S_IMODE(settings.local_env_file().stat().st_mode) == 0o600


def test_the_local_dagster_instance_is_made_once_and_dagster_home_wins(env, monkeypatch, tmp_path):
    assert settings.dagster_home() == env / "dagster_home" and not env.exists(), "named, not made"
    home = settings.prepare_dagster_home()
    assert home == env / "dagster_home"
    config = (home / "dagster.yaml").read_text()
    assert f"base_dir: {home / 'history' / 'runs'}" in config and "{base_dir}" not in config
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    assert settings.prepare_dagster_home() == home
    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: false\n"
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "elsewhere"))
    assert settings.prepare_dagster_home() == tmp_path / "elsewhere"
    assert (tmp_path / "elsewhere" / "dagster.yaml").exists()
