"""The contract leaves open which key a reference holds. Three servers with the same data,
one putting record ids in references, one business keys (EMP-000001, REQ-0001, CAND-00001)
and one mixing both, must give the same marts, end to end: synced over HTTP, built by dbt,
on DuckDB and PostgreSQL. The marts are also checked for being plausible (each attendance
status, the timeline's event kinds, candidates in the funnel), so equal-but-empty fails.
"""

from __future__ import annotations

from collections import Counter

import pytest

from harvey_pipelines.records import ENTITIES
from harvey_pipelines.sync import sync_entity
from harvey_pipelines.warehouse import Warehouse, migrations, schema, store
from harvey_pipelines_tests.test_dbt_models import dbt_build, read

STYLES = ("id", "business_key", "mixed")
# sync_health describes the syncs themselves (times, calls), not the organization's data
MARTS = ("employee_timeline", "attendance_daily", "attendance_monthly", "leave_balances",
         "compliance_violations", "recruiting_funnel", "interviewer_load")


def _mart(url: str, mart: str, org_id: str) -> Counter:
    """The mart's rows of one organization, its id masked and the raw reference values
    (``*_ref``, which differ by design) left out, as a multiset."""
    rows = read(url, f"select * from marts.{mart} where organization_id = '{org_id}'")
    masked = Counter()
    for row in rows:
        masked[tuple(sorted(
            (k, v.replace(org_id, "<org>") if isinstance(v, str) else v)
            for k, v in row.items() if k != "organization_id" and not k.endswith("_ref")
        ))] += 1
    return masked


@pytest.fixture
def synced_styles(make_org, warehouse, tmp_path):
    orgs = {style: make_org(size=150, seed=808, attendance_days=15, reference_style=style) for style in STYLES}
    for org in orgs.values():
        for spec in ENTITIES:
            result = sync_entity(org, spec.name, warehouse)
            assert result.status == "success" and result.quarantined == 0, result
    warehouse.engine.dispose()
    with warehouse.for_other_process():
        dbt_build(warehouse.url, tmp_path)
    return orgs


def test_marts_are_the_same_whichever_key_references_hold(synced_styles, warehouse):
    url, by_id = warehouse.url, synced_styles["id"]
    for style in ("business_key", "mixed"):
        org = synced_styles[style]
        for mart in MARTS:
            expected, actual = _mart(url, mart, by_id.id), _mart(url, mart, org.id)
            assert expected, f"{mart} is empty for the id-style organization"
            assert actual == expected, (
                f"{mart}: {style} references give {sum(actual.values())} rows, ids {sum(expected.values())}; "
                f"first differences: {list((actual - expected).items())[:2]}")


def test_marts_of_business_key_references_are_plausible(synced_styles, warehouse):
    org_id = synced_styles["business_key"].id
    statuses = {r["status"] for r in read(
        warehouse.url, f"select distinct status from marts.attendance_daily where organization_id = '{org_id}'")}
    assert {"present", "absent", "on_leave"} <= statuses, statuses
    events = {r["event_type"] for r in read(
        warehouse.url, f"select distinct event_type from marts.employee_timeline where organization_id = '{org_id}'")}
    assert {"hired", "salary_increase", "leave_taken"} <= events, events
    (funnel,) = read(warehouse.url, "select sum(candidates) as candidates from marts.recruiting_funnel "
                                    f"where organization_id = '{org_id}'")
    assert funnel["candidates"] and funnel["candidates"] > 0
    (balances,) = read(warehouse.url, "select count(*) as n from marts.leave_balances "
                                      f"where organization_id = '{org_id}'")
    assert balances["n"] > 0


@pytest.mark.parametrize("made_by", ["migrations", "create_all"])
def test_a_sync_process_opens_a_warehouse_that_dbt_has_filled(synced_styles, warehouse, made_by):
    """The next sync after a build (e.g. `harvey sync` after `make demo`) checks the schema in a
    new process, within DuckDB's 40MB sync cache, beside dbt's dozens of models; and migrates
    it there when it was made before migrations existed (PostgreSQL: dbt's views read the core
    tables and the view the migration makes again)."""
    if made_by == "create_all":
        with warehouse.writer() as conn:
            conn.exec_driver_sql(f"DROP TABLE {schema.SYNC}.{migrations.VERSION_TABLE}")
            conn.exec_driver_sql(f"DROP TABLE {schema.derived_objects.fullname}")
            # and what later revisions added (0002, 0003, 0005; 0004 only changes a key), with the dbt
            # views on them (PostgreSQL tracks them)
            postgres = warehouse.engine.dialect.name == "postgresql"
            cascade = " CASCADE" if postgres else ""
            conn.exec_driver_sql(f"ALTER TABLE {schema.payload_versions.fullname} DROP COLUMN canonical{cascade}")
            conn.exec_driver_sql(f"ALTER TABLE {schema.CORE}.employments DROP COLUMN manager_id{cascade}")
            if not postgres:  # DuckDB alters no column of a table with an index
                conn.exec_driver_sql(f"DROP INDEX {schema.SYNC}.ix_sync_runs_org_entity")
            conn.exec_driver_sql(f"ALTER TABLE {schema.SYNC}.sync_runs DROP COLUMN suppressed{cascade}")
            if not postgres:
                conn.exec_driver_sql(f"CREATE INDEX ix_sync_runs_org_entity ON {schema.SYNC}.sync_runs "
                                     "(organization_id, entity, started_at)")
            for table in ("erasures", "suppressions", "audit_log"):
                conn.exec_driver_sql(f"DROP TABLE {schema.SYNC}.{table}{cascade}")
            if postgres:
                conn.exec_driver_sql(f"DROP FUNCTION {schema.SYNC}.audit_log_append_only()")
    warehouse.dispose()
    store._migrated.discard(warehouse.url)
    fresh = Warehouse(warehouse.url)
    try:
        assert [s.revision for s in fresh.migrate().applied] == (
            [] if made_by == "migrations" else [s.revision for s in migrations.pending_revisions(None)])
        assert sync_entity(synced_styles["id"], "departments", fresh).status == "success"
        assert read(warehouse.url, "select count(*) as n from staging.stg_departments")[0]["n"] > 0
    finally:
        fresh.dispose()
