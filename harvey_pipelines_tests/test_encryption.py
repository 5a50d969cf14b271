"""Encryption at rest of the DuckDB warehouse (HARVEY_DUCKDB_ENCRYPTION_KEY): a sync, a dbt
build and the published copy leave no synced personal value in the files' bytes, the file opens
only with the key; the same run unencrypted does show the values (the check can fail)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa

from harvey_pipelines import quality, settings
from harvey_pipelines.records import entity
from harvey_pipelines.sync import sync_entity
from harvey_pipelines.warehouse import Warehouse
from harvey_pipelines_tests.test_dbt_models import DBT_PROJECT
from harvey_pipelines_tests.test_sync import FAST_RETRY

KEY = "correct horse battery staple 42"


def _sync_build_publish(make_org, tmp_path: Path) -> tuple[Path, set[str]]:
    """A small organization synced, its timeline built by dbt and the copy published; the
    warehouse file and the personal values it holds (emails, phones, names)."""
    database = tmp_path / "warehouse.duckdb"
    url = f"duckdb:///{database}"
    org = make_org(size=12)
    warehouse = Warehouse(url)
    try:
        for name in ("departments", "employees", "employments"):
            sync_entity(org, name, warehouse, retry=FAST_RETRY)
        # the quality checks (GX) read it on the warehouse's own connection
        rows_checked, findings = quality.check(warehouse, entity("employees"), blocking=True)
        assert rows_checked >= 12 and findings and not any(f.unexpected for f in findings.values())
        with warehouse.writer() as conn:
            rows = conn.execute(sa.text("SELECT email, phone, last_name FROM core.employees")).all()
        env = {**settings.dbt_env(), "DBT_LOG_PATH": str(tmp_path / "dbt_logs"),
               "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DO_NOT_TRACK": "1"}
        warehouse.release()
        build = subprocess.run(
            [str(Path(sys.executable).parent / "dbt"), "build", "--select", "+employee_timeline",
             "--indirect-selection", "cautious", "--project-dir", str(DBT_PROJECT), "--profiles-dir",
             str(DBT_PROJECT), "--target-path", str(tmp_path / "dbt_target")],
            env={**os.environ, **env}, cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert build.returncode == 0, build.stdout[-4000:]
        assert KEY not in build.stdout + build.stderr, "the key is never logged"
        assert warehouse.publish() == database.with_name(settings.PUBLISHED_COPY_NAME)
    finally:
        warehouse.dispose()
    values = {v for row in rows for v in row if isinstance(v, str) and len(v) >= 6}
    assert len(values) > 12
    return database, values


def _found(path: Path, values: set[str]) -> set[str]:
    data = path.read_bytes()
    return {v for v in values if v.encode() in data}


def test_the_encrypted_warehouse_holds_no_plaintext_and_opens_only_with_the_key(make_org, tmp_path, monkeypatch):
    monkeypatch.setenv("HARVEY_DUCKDB_ENCRYPTION_KEY", KEY)
    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    database, values = _sync_build_publish(make_org, tmp_path)
    copy = database.with_name(settings.PUBLISHED_COPY_NAME)
    for path in (database, copy):
        assert _found(path, values) == set(), path.name
        assert not Path(f"{path}.wal").exists() or _found(Path(f"{path}.wal"), values) == set()

    with pytest.raises(duckdb.Error, match="without a key"):
        duckdb.connect(str(database))
    with pytest.raises(duckdb.Error):
        duckdb.connect().execute(f"ATTACH '{copy}' AS w (ENCRYPTION_KEY 'not the key', READ_ONLY)")
    reader = duckdb.connect()  # an analyst's read of the copy, with the key
    reader.execute(f"ATTACH '{copy}' AS w (ENCRYPTION_KEY '{KEY}', READ_ONLY)")
    assert reader.execute("SELECT count(*) FROM w.marts.employee_timeline").fetchone()[0] > 0
    reader.close()


def test_an_unencrypted_warehouse_shows_the_values_so_the_check_can_fail(make_org, tmp_path, monkeypatch):
    monkeypatch.delenv("HARVEY_DUCKDB_ENCRYPTION_KEY", raising=False)
    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    database, values = _sync_build_publish(make_org, tmp_path)
    assert _found(database, values), "plaintext values are in an unencrypted file"
    assert _found(database.with_name(settings.PUBLISHED_COPY_NAME), values)
