"""One settings object: every variable the project reads is a field of settings.Settings, read
at call time, validated with errors that name the variable, secrets never printed; the README's
configuration tables list exactly those variables."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harvey_pipelines import settings

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent
# HARVEY_* names in the README that are not settings of ours: per-organization credentials (the
# registry names them), the test suite's, dbt's profile variables (set from the warehouse URL)
# and the Dagster instance's storage URL (read by dagster.yaml)
NOT_SETTINGS = re.compile(r"HARVEY_[A-Z0-9]+_HRMS_TOKEN|HARVEY_TEST_\w+|HARVEY_REQUIRE_\w+|HARVEY_UPDATE_SNAPSHOTS"
                          r"|HARVEY_PG_\w*"
                          r"|HARVEY_DBT_\w+|HARVEY_DUCKDB_PATH|HARVEY_DAGSTER_PG_URL|HARVEY_ACME_\w+|HARVEY_HOOLI_\w+")


def _readme_variables() -> set[str]:
    return {name for name in re.findall(r"\b(HARVEY_[A-Z0-9_]*[A-Z0-9]|DAGSTER_HOME)\b",
                                        (ROOT / "README.md").read_text()) if not NOT_SETTINGS.fullmatch(name)}


def test_the_readme_documents_every_setting_and_no_other():
    ours = {settings.env_name(field) for field in settings.Settings.model_fields}
    documented = _readme_variables()
    assert ours - documented == set(), "settings the README does not mention"
    assert documented - ours == set(), "variables the README names that settings.Settings does not read"


def test_nothing_outside_settings_reads_the_environment_for_a_setting():
    reads = []
    for path in sorted((ROOT / "harvey_pipelines").rglob("*.py")):
        if path.name == "settings.py" or "mock_hrms" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            read = re.search(r"os\.(environ|getenv)\b.*[\"'](HARVEY_|DAGSTER_HOME)", line)
            if read and not re.search(r"os\.environ\[[^]]+\] = ", line):  # setting one for Dagster is no read
                reads.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not reads, "read these through settings.current():\n" + "\n".join(reads)


def test_settings_are_read_when_asked_not_when_imported(monkeypatch):
    monkeypatch.setenv("HARVEY_MAX_RUNS_PER_TICK", "3")
    assert settings.current().max_runs_per_tick == 3
    monkeypatch.setenv("HARVEY_MAX_RUNS_PER_TICK", "5")
    assert settings.current().max_runs_per_tick == 5
    monkeypatch.setenv("HARVEY_RETRY_DELAYS_MINUTES", "1, 2.5")
    monkeypatch.setenv("HARVEY_ALERT_EMAIL_TO", "oncall@example.org, hr@example.org")
    monkeypatch.setenv("HARVEY_SMTP_STARTTLS", "1")
    config = settings.current()
    assert config.retry_delays_minutes == (1.0, 2.5)
    assert config.alert_email_to == ("oncall@example.org", "hr@example.org")
    assert config.smtp_starttls is True


@pytest.mark.parametrize(("name", "value", "message"), [
    ("HARVEY_MAX_RUNS_PER_TICK", "0", "HARVEY_MAX_RUNS_PER_TICK: input should be greater than or equal to 1, not '0'"),
    ("HARVEY_RETRY_DELAYS_MINUTES", "5,soon", "HARVEY_RETRY_DELAYS_MINUTES: input should be a valid number"),
    ("HARVEY_RETRY_DELAYS_MINUTES", "5,-1", "HARVEY_RETRY_DELAYS_MINUTES: give one or more positive minutes"),
    ("HARVEY_SCHEDULE_TIMEZONE", "Mars/Base", "HARVEY_SCHEDULE_TIMEZONE: not an IANA time zone"),
    ("HARVEY_SMTP_PORT", "70000", "HARVEY_SMTP_PORT: input should be less than or equal to 65535"),
    ("HARVEY_DUCKDB_LEASE_SECONDS", "long", "HARVEY_DUCKDB_LEASE_SECONDS: input should be a valid number"),
])
def test_a_bad_value_names_its_variable(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=re.escape(message)):
        settings.current()


def test_secrets_never_print(monkeypatch):
    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", "postgresql://harvey:pg-secret@db/warehouse")
    monkeypatch.setenv("HARVEY_ALERT_WEBHOOK_URL", "https://hooks.example.org/T000/hook-secret")
    monkeypatch.setenv("HARVEY_SMTP_PASSWORD", "mail-secret")
    config = settings.current()
    for text in (repr(config), str(config), config.model_dump_json()):
        for secret in ("pg-secret", "hook-secret", "mail-secret"):
            assert secret not in text
    assert settings.warehouse_url() == "postgresql://harvey:pg-secret@db/warehouse"  # still usable


def test_reading_the_settings_creates_nothing(tmp_path):
    # a getter that made directories or wrote files surprised `harvey orgs list` on a read-only checkout
    data = tmp_path / "not-yet"
    env = {**os.environ, "HARVEY_DATA_DIR": str(data)}
    env.pop("DAGSTER_HOME", None)
    code = ("from harvey_pipelines import settings as s; "
            "print(s.warehouse_url(), s.organizations_file(), s.dagster_home(), s.rate_limit_url(), s.local_env())")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert str(data / "warehouse.duckdb") in out
    assert not data.exists()


def test_dbt_gets_the_warehouse_through_its_resource_not_the_process_environment(monkeypatch):
    from harvey_pipelines.assets.dbt import _environment

    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", "postgresql://harvey:pg-secret@db:5433/warehouse")
    monkeypatch.delenv("HARVEY_PG_PASSWORD", raising=False)
    values = settings.dbt_env()
    assert values["HARVEY_PG_PASSWORD"] == "pg-secret" and values["HARVEY_PG_PORT"] == "5433"
    with _environment(values):
        assert os.environ["HARVEY_PG_PASSWORD"] == "pg-secret"
    assert "HARVEY_PG_PASSWORD" not in os.environ
