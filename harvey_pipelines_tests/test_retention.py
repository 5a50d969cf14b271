"""Retention (warehouse/retention.py) on rows of known ages, on DuckDB and PostgreSQL: exactly
what is past its age goes, a record's latest version stays, and the employee timeline dbt
builds after a purge is the same for the period still retained."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa

from harvey_pipelines.organizations import Organization, Retention
from harvey_pipelines.warehouse import schema
from harvey_pipelines.warehouse.retention import (
    DEAD_LETTERS,
    QUARANTINE,
    RAW_VERSIONS,
    SYNC_RUNS,
    RetentionPolicy,
    purge,
)
from harvey_pipelines_tests.test_dbt_models import dbt_build, load_history, read

NOW = dt.datetime(2027, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
POLICY = RetentionPolicy(raw_versions_days=30, quarantine_days=60, sync_runs_days=30, dead_letters_days=90)


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def _version(org: str, source_id: str, age: float, updated_age: float | None = None) -> dict:
    sha = f"{source_id}@{age}"
    return dict(organization_id=org, entity="employees", source_id=source_id, payload_sha256=sha, payload="{}",
                canonical="{}", source_updated_at=ago(updated_age) if updated_age is not None else None,
                fetched_at=ago(age), sync_run_id="run")


def _run(org: str, run_id: str, age: float, status: str, entity: str = "employees") -> dict:
    return dict(id=f"{org}/{run_id}", organization_id=org, entity=entity, mode="incremental", trigger="schedule",
                status=status, started_at=ago(age), finished_at=None if status == "running" else ago(age - 0.01))


def _quarantined(org: str, name: str, age: float) -> dict:
    return dict(organization_id=org, entity="employees", payload_sha256=name, source_id=name, payload="{}",
                reason="bad", first_seen_at=ago(age + 1), last_seen_at=ago(age), sync_run_id="run")


def _letter(org: str, first: str, runs: str, resolved_age: float | None) -> dict:
    return dict(organization_id=org, entity="employees", first_sync_run_id=first, first_failure_at=ago(200),
                last_failure_at=ago(200), attempts=1, sync_run_ids=runs, dagster_run_ids="", created_at=ago(200),
                resolved_at=ago(resolved_age) if resolved_age is not None else None)


def _history(org: str) -> dict[sa.Table, list[dict]]:
    """One organization's rows of every kind, aged in days before NOW."""
    return {
        schema.payload_versions: [
            # a: two versions past their age go; the one at 50 days stays (the 10-day version
            # after it is retained and the timeline compares it with this one)
            _version(org, "a", 100), _version(org, "a", 80), _version(org, "a", 50), _version(org, "a", 10),
            # b: all past their age: the latest stays
            _version(org, "b", 100), _version(org, "b", 90),
            # c: one old version, the latest
            _version(org, "c", 200),
            # d: the source's own clock orders the 40-day version first (the timeline's order):
            # it goes; the 90-day one is the last in that order and stays, the 95-day one stays
            # too because core holds it
            _version(org, "d", 95, updated_age=95), _version(org, "d", 90, updated_age=90),
            _version(org, "d", 40, updated_age=300),
        ],
        schema.CORE_TABLES["employees"]: [dict(
            organization_id=org, source_id="d", record_hash="d@95", synced_at=ago(90), first_synced_at=ago(95),
            sync_run_id="run", is_deleted=False)],
        schema.quarantine: [_quarantined(org, "q-old", 61), _quarantined(org, "q-new", 59)],
        schema.sync_runs: [
            _run(org, "r100", 100, "failed"),  # goes
            _run(org, "r95", 95, "running"),  # stays: still running (or crashed; not ours to judge)
            _run(org, "r90", 90, "success"),  # goes: a later success
            _run(org, "r80", 80, "success"),  # stays: the latest success (freshness)
            _run(org, "r70", 70, "failed"),  # stays: an open dead letter's run
            _run(org, "r60", 60, "failed"),  # stays: the cursor names it
            _run(org, "r50", 50, "failed"),  # goes
            _run(org, "r10", 10, "failed"),  # stays: young
            _run(org, "r40", 40, "failed", entity="departments"),  # stays: the latest of its entity
        ],
        schema.cursors: [dict(organization_id=org, entity="employees", cursor_value="x",
                              sync_run_id=f"{org}/r60", moved_at=ago(60))],
        schema.dead_letters: [
            _letter(org, "l-old", "x", resolved_age=91),  # goes
            _letter(org, "l-new", "y", resolved_age=89),  # stays: young
            _letter(org, "l-open", f"{org}/r70,{org}/r71", resolved_age=None),  # stays: open
        ],
    }


KEYS = {RAW_VERSIONS: (schema.payload_versions, ("source_id", "payload_sha256")),
        QUARANTINE: (schema.quarantine, ("payload_sha256",)),
        SYNC_RUNS: (schema.sync_runs, ("id",)),
        DEAD_LETTERS: (schema.dead_letters, ("first_sync_run_id",))}


def _keys(warehouse, org: str) -> dict[str, set]:
    with warehouse.engine.connect() as conn:
        return {name: {tuple(r) for r in conn.execute(sa.select(*[t.c[c] for c in cols])
                                                      .where(t.c.organization_id == org))}
                for name, (t, cols) in KEYS.items()}


def test_retention_removes_exactly_what_is_past_its_age(warehouse):
    with warehouse.engine.begin() as conn:
        for org in ("acme", "globex"):
            for table, rows in _history(org).items():
                conn.execute(table.insert(), rows)
    before = {org: _keys(warehouse, org) for org in ("acme", "globex")}
    expected_gone = {
        RAW_VERSIONS: {("a", "a@100"), ("a", "a@80"), ("b", "b@100"), ("d", "d@40")},
        QUARANTINE: {("q-old",)},
        SYNC_RUNS: {("acme/r100",), ("acme/r90",), ("acme/r50",)},
        DEAD_LETTERS: {("l-old",)},
    }

    dry = purge(warehouse, "acme", POLICY, now=NOW, dry_run=True)
    assert dry.removed == {name: len(keys) for name, keys in expected_gone.items()}
    assert _keys(warehouse, "acme") == before["acme"], "a dry run removes nothing"

    result = purge(warehouse, "acme", POLICY, now=NOW)
    assert result.removed == dry.removed
    with warehouse.engine.connect() as conn:  # the purge's audit row, with its counts (the dry run has none)
        trail = conn.execute(sa.select(schema.audit_log.c.organization_id, schema.audit_log.c.details).where(
            schema.audit_log.c.action == "retention_purge")).all()
    assert [(org, json.loads(details)["removed"]) for org, details in trail] == [("acme", result.removed)]
    after = _keys(warehouse, "acme")
    for name in KEYS:
        assert before["acme"][name] - after[name] == expected_gone[name], name
        assert after[name] <= before["acme"][name]
    assert _keys(warehouse, "globex") == before["globex"], "another organization's rows are not touched"

    # every record keeps its latest version; a second purge at the same time finds nothing
    assert {s for s, _ in after[RAW_VERSIONS]} == {"a", "b", "c", "d"}
    assert purge(warehouse, "acme", POLICY, now=NOW).total == 0


def test_zero_days_keeps_a_kind_forever(warehouse):
    with warehouse.engine.begin() as conn:
        for table, rows in _history("acme").items():
            conn.execute(table.insert(), rows)
    forever = RetentionPolicy(raw_versions_days=0, quarantine_days=0, sync_runs_days=0, dead_letters_days=0)
    assert purge(warehouse, "acme", forever, now=NOW + dt.timedelta(days=3650)).total == 0


@pytest.mark.fast
def test_an_organization_overrides_the_defaults(monkeypatch):
    monkeypatch.setenv("HARVEY_RETENTION_RAW_VERSIONS_DAYS", "365")
    monkeypatch.setenv("HARVEY_RETENTION_QUARANTINE_DAYS", "0")
    org = Organization(id="acme", name="Acme", base_url="http://127.0.0.1:9", credential_env="ACME_TOKEN",
                       retention=Retention(raw_versions_days=30))
    policy = RetentionPolicy.of(org)
    assert (policy.raw_versions_days, policy.quarantine_days) == (30, 0)
    assert policy.sync_runs_days == RetentionPolicy.default().sync_runs_days
    assert RetentionPolicy.of(org.model_copy(update={"retention": None})).raw_versions_days == 365
    with pytest.raises(ValueError):
        Retention(raw_versions_days=-1)
    with pytest.raises(ValueError):
        Retention.model_validate({"raw_version_days": 5})  # a misspelt kind is refused, not ignored


def _timeline(url: str) -> list[dict]:
    return read(url, "select * from marts.employee_timeline order by organization_id, employee_id, event_sequence")


def test_the_timeline_after_a_purge_is_unchanged_for_the_retained_period(warehouse_url, tmp_path):
    """test_dbt_models' history, purged 30 days before 2026-12-28: Asha's status change seen
    2026-11-16 is past the cutoff, her manager and status change seen 2026-12-01 are not."""
    from harvey_pipelines.warehouse import Warehouse

    load_history(warehouse_url)
    dbt_build(warehouse_url, tmp_path, "--select", "+employee_timeline", "--indirect-selection", "cautious")
    before = _timeline(warehouse_url)

    now = dt.datetime(2026, 12, 28, 12, 0, tzinfo=dt.timezone.utc)
    policy = RetentionPolicy(raw_versions_days=30, quarantine_days=0, sync_runs_days=0, dead_letters_days=0)
    cutoff_day = (now - dt.timedelta(days=30)).date()
    warehouse = Warehouse(warehouse_url)
    try:
        organizations = sorted({r["organization_id"] for r in before})
        removed = sum(purge(warehouse, org, policy, now=now).removed[RAW_VERSIONS] for org in organizations)
    finally:
        warehouse.dispose()
    assert removed > 0, "the history has versions past the cutoff: the purge must remove some"

    dbt_build(warehouse_url, tmp_path, "--select", "+employee_timeline", "--indirect-selection", "cautious")
    after = _timeline(warehouse_url)

    def retained(rows):
        # every event from the records themselves, and the version events after the cutoff's day;
        # event_sequence renumbers when older events go, so the order is compared instead
        return [{k: v for k, v in r.items() if k != "event_sequence"} for r in rows
                if r["source_entity"] != "payload_versions" or r["effective_date"] > cutoff_day]

    assert retained(after) == retained(before)
    kept = {r["event_id"] for r in after}
    gone = [(r["organization_id"], r["employee_id"], r["event_type"], r["effective_date"].isoformat())
            for r in before if r["event_id"] not in kept]
    assert ("acme", "emp-1", "status_change", "2026-11-16") in gone, "the purge reached the timeline's input"
    assert all(day < cutoff_day.isoformat() for *_, day in gone)


def test_the_cli_purges_every_organization_under_its_policy(warehouse, tmp_path, monkeypatch, capsys):
    """`harvey retention run [--org X] [--dry-run]`: the registry's acme keeps raw versions for
    60 days (a's 80-day version stays: the 50-day one after it is retained); globex, no
    longer registered, is purged under the defaults set here."""
    from harvey_pipelines.cli import main
    from harvey_pipelines.organizations import OrganizationRegistry
    from harvey_pipelines.warehouse import retention as retention_module

    with warehouse.engine.begin() as conn:
        for org in ("acme", "globex"):
            for table, rows in _history(org).items():
                conn.execute(table.insert(), rows)
    registry = OrganizationRegistry(tmp_path / "orgs.yaml")
    registry.add(Organization(id="acme", name="Acme", base_url="http://127.0.0.1:9", credential_env="ACME_TOKEN",
                              retention=Retention(raw_versions_days=60)))
    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", warehouse.url)
    for kind, days in (("RAW_VERSIONS", 30), ("QUARANTINE", 60), ("SYNC_RUNS", 30), ("DEAD_LETTERS", 90)):
        monkeypatch.setenv(f"HARVEY_RETENTION_{kind}_DAYS", str(days))
    monkeypatch.setattr(retention_module, "utcnow", lambda: NOW)
    before = {org: _keys(warehouse, org) for org in ("acme", "globex")}

    assert main(["--registry", str(registry.path), "retention", "run", "--org", "nobody"]) == 2
    assert main(["--registry", str(registry.path), "retention", "run", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "acme: would remove raw.payload_versions 2," in out  # a@100 and b@100
    assert "globex: would remove raw.payload_versions 4," in out
    assert {org: _keys(warehouse, org) for org in ("acme", "globex")} == before

    assert main(["--registry", str(registry.path), "retention", "run", "--org", "acme"]) == 0
    assert "acme: removed raw.payload_versions 2, sync.quarantine 1, sync.sync_runs 3, sync.dead_letters 1" \
        in capsys.readouterr().out
    assert before["acme"][RAW_VERSIONS] - _keys(warehouse, "acme")[RAW_VERSIONS] == {("a", "a@100"), ("b", "b@100")}
    assert _keys(warehouse, "globex") == before["globex"]
