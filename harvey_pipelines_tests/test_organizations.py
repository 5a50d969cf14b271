"""The organization registry and its CLI."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest
import sqlalchemy as sa
import yaml
from dagster import DagsterInstance

from harvey_pipelines.assets.partitions import sync_partitions
from harvey_pipelines.cli import main
from harvey_pipelines.organizations import Organization, OrganizationRegistry, RegistryError
from harvey_pipelines.sync import sync_entity
from harvey_pipelines.warehouse import Warehouse, schema
from harvey_pipelines_tests.helpers import differences


@pytest.mark.fast
def test_cli_adds_lists_and_disables(tmp_path, capsys):
    path = str(tmp_path / "orgs.yaml")
    assert main(["--registry", path, "orgs", "add", "acme", "--base-url", "http://127.0.0.1:1/orgs/acme",
                 "--credential-env", "HARVEY_ACME_TOKEN"]) == 0
    assert main(["--registry", path, "orgs", "disable", "acme"]) == 0
    assert main(["--registry", path, "orgs", "list"]) == 0
    out = capsys.readouterr().out
    assert "acme" in out and "disabled" in out
    assert OrganizationRegistry(path).get("acme").enabled is False


def test_cli_removes_an_organization_and_keeps_its_data(make_org, control, tmp_path, monkeypatch, capsys):
    """`orgs remove` drops the registry entry only: the warehouse rows and the partition (with
    its history) stay unless --purge-partition; an unknown id is named."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.delenv("HARVEY_ORGANIZATIONS_FILE", raising=False)
    monkeypatch.setenv("HARVEY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    org = make_org(size=5)
    for org_id, url in ((org.id, org.base_url), ("globex", "http://127.0.0.1:1/orgs/globex")):
        assert main(["orgs", "add", org_id, "--base-url", url, "--credential-env", org.credential_env]) == 0
    assert main(["orgs", "sync-partitions"]) == 0
    assert main(["sync", "--org", org.id, "--entity", "departments"]) == 0, capsys.readouterr().err
    capsys.readouterr()

    assert main(["orgs", "remove", org.id]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"removed {org.id} from ") and "its data in the warehouse stays" in out, out
    assert "partition with its history" in out, out
    assert main(["orgs", "remove", "globex", "--purge-partition"]) == 0
    assert "its partition is deleted" in capsys.readouterr().out
    assert main(["orgs", "remove", "globex"]) == 2
    registry_path = tmp_path / "organizations.yaml"
    assert capsys.readouterr().err == f"error: organization 'globex' is not in the registry {registry_path}\n"

    assert OrganizationRegistry().load() == []
    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        assert instance.get_dynamic_partitions("organizations") == [org.id]
        assert sync_partitions(instance) == []
    warehouse = Warehouse()
    assert differences(control, warehouse, org.id, entities={"departments"}) == {}, "its data stays"
    warehouse.dispose()


@pytest.mark.fast
@pytest.mark.parametrize("bad", ["Acme", "acme corp", "1acme", "acme--x", "acme_", "a.b"])
def test_ids_must_be_slugs(tmp_path, capsys, bad):
    code = main(["--registry", str(tmp_path / "o.yaml"), "orgs", "add", bad, "--base-url", "http://x",
                 "--credential-env", "X"])
    assert code == 2
    assert "slug" in capsys.readouterr().err


@pytest.mark.fast
def test_duplicate_add_is_refused(tmp_path, capsys):
    path = str(tmp_path / "orgs.yaml")
    args = ["--registry", path, "orgs", "add", "acme", "--base-url", "http://x", "--credential-env", "X"]
    assert main(args) == 0
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err


@pytest.mark.fast
def test_many_organizations_are_added_in_one_write_or_not_at_all(tmp_path):
    registry = OrganizationRegistry(tmp_path / "orgs.yaml")
    registry.add(Organization(id="acme", name="acme", base_url="http://x", credential_env="X"))
    many = [Organization(id=f"org-{i:04d}", name=f"org {i}", base_url="http://x", credential_env="X")
            for i in range(1000)]
    registry.add_all(many)
    assert [o.id for o in registry.load()] == ["acme", *[o.id for o in many]]
    before = registry.path.read_text()
    clash = Organization(id="org-0500", name="again", base_url="http://y", credential_env="Y")
    fresh = Organization(id="new", name="new", base_url="http://y", credential_env="Y")
    with pytest.raises(RegistryError, match="'org-0500' already exists"):
        registry.add_all([fresh, clash])
    with pytest.raises(RegistryError, match="'new' already exists"):
        registry.add_all([fresh, fresh])
    assert registry.path.read_text() == before, "nothing written when one entry is refused"
    registry.add_all([clash], replace=True)
    assert registry.get("org-0500").name == "again" and len(registry.load()) == 1001


def test_partitions_follow_the_registry(tmp_path):
    registry = OrganizationRegistry(tmp_path / "orgs.yaml")
    for org_id in ("acme", "globex"):
        registry.add(Organization(id=org_id, name=org_id, base_url="http://x", credential_env="X"))
    with DagsterInstance.ephemeral() as instance:
        assert sorted(sync_partitions(instance, registry)) == ["acme", "globex"]
        registry.set_enabled("acme", False)
        assert sync_partitions(instance, registry) == []
        assert sorted(instance.get_dynamic_partitions("organizations")) == ["acme", "globex"]


@pytest.mark.fast
def test_missing_credential_is_a_clear_error(monkeypatch):
    org = Organization(id="acme", name="Acme", base_url="http://x", credential_env="HARVEY_NOT_SET_TOKEN")
    monkeypatch.delenv("HARVEY_NOT_SET_TOKEN", raising=False)
    with pytest.raises(ValueError, match="HARVEY_NOT_SET_TOKEN"):
        org.credential()


# -- organization settings: validation, the CLI, publication by the sync ---------------------

BASE = dict(id="acme", name="Acme", base_url="http://x", credential_env="X")


@pytest.mark.fast
@pytest.mark.parametrize("field, value, message", [
    ("timezone", "Mars/Olympus", "unknown timezone 'Mars/Olympus'"),
    ("work_start", "9am", "work_start '9am' must be a time of day as HH:MM"),
    ("work_start", "24:00", "must be a time of day as HH:MM"),
    ("work_start", "09:60", "must be a time of day as HH:MM"),
    ("work_start", 630, "quote the time"),  # what YAML makes of an unquoted 10:30
    ("weekend_days", "sat,sunday,funday", "unknown weekday 'funday'"),
    ("grace_minutes", -5, "greater than or equal to 0"),
    ("standard_hours", 0, "greater than 0"),
    ("max_daily_overtime_hours", -1, "greater than or equal to 0"),
    ("holidays", {"country": "XX"}, "Country XX not available"),
    ("holidays", {"country": "NL", "subdivision": "ZZ"}, "does not have subdivision ZZ"),
    ("holidays", {"subdivision": "MH"}, "holidays.subdivision needs holidays.country"),
    ("holidays", {"dates": {"2027-02-30": "x"}}, "valid date"),
    ("leave_policy", {"annual": {"allocation_days": -1}}, "greater than or equal to 0"),
    ("leave_policy", {"annual": {"min_notice_days": -2}}, "greater than or equal to 0"),
    ("leave_policy", {"Annual Leave": {"allocation_days": 20}}, "must be lowercase"),
    ("leave_policy", {"annual": {"days": 20}}, "Extra inputs are not permitted"),
])
def test_settings_are_validated(tmp_path, field, value, message):
    path = tmp_path / "orgs.yaml"
    path.write_text(yaml.safe_dump({"organizations": [{**BASE, field: value}]}))
    with pytest.raises(RegistryError) as error:
        OrganizationRegistry(path).load()
    assert "organization 'acme'" in str(error.value) and field in str(error.value)
    assert message in str(error.value)


@pytest.mark.fast
def test_settings_are_normalized_and_optional(tmp_path):
    org = Organization(**BASE, work_start="8:30", weekend_days="Friday, sat", holidays={"country": "in"},
                       leave_policy={"sick": {"allocation_days": 12}})
    assert (org.work_start, org.weekend_days, org.holidays.country) == ("08:30", ("fri", "sat"), "IN")
    assert Organization(**BASE, weekend_days=[]).weekend_days == ()  # no weekend at all
    plain = Organization(**BASE)
    assert (plain.timezone, plain.work_start, plain.holidays, plain.leave_policy) == ("Asia/Kolkata", None, None, None)
    registry = OrganizationRegistry(tmp_path / "orgs.yaml")
    registry.add(plain)
    # unset values are not written: the file shows what was chosen
    assert "work_start" not in registry.path.read_text() and registry.get("acme") == plain


@pytest.mark.fast
def test_cli_adds_and_sets_settings(tmp_path, capsys):
    path = str(tmp_path / "orgs.yaml")
    assert main(["--registry", path, "orgs", "add", "acme", "--base-url", "http://x", "--credential-env", "X",
                 "--timezone", "Europe/Amsterdam", "--work-start", "08:30", "--grace-minutes", "10",
                 "--weekend", "sat,sun", "--holiday-country", "NL", "--holiday", "2027-01-27=Company day",
                 "--leave-policy", "annual:24:7", "--leave-policy", "sick:12"]) == 0
    org = OrganizationRegistry(path).get("acme")
    assert (org.timezone, org.work_start, org.grace_minutes, org.weekend_days) == \
        ("Europe/Amsterdam", "08:30", 10, ("sat", "sun"))
    assert org.holidays.country == "NL" and org.holidays.dates == {dt.date(2027, 1, 27): "Company day"}
    assert org.leave_policy["annual"].model_dump() == {"allocation_days": 24.0, "min_notice_days": 7}

    assert main(["--registry", path, "orgs", "set", "acme", "--timezone", "Asia/Dubai", "--standard-hours", "7.5",
                 "--leave-policy", "annual::5", "--remove-holiday", "2027-01-27", "--unset", "grace_minutes",
                 "--unset", "leave_policy.sick"]) == 0
    org = OrganizationRegistry(path).get("acme")
    assert (org.timezone, org.work_start, org.grace_minutes, org.standard_hours) == ("Asia/Dubai", "08:30", None, 7.5)
    assert org.holidays.model_dump() == {"country": "NL", "subdivision": None, "dates": None}
    assert {k: v.model_dump() for k, v in org.leave_policy.items()} == {
        "annual": {"allocation_days": 24.0, "min_notice_days": 5}}
    assert main(["--registry", path, "orgs", "show", "acme"]) == 0
    assert "timezone: Asia/Dubai" in capsys.readouterr().out


@pytest.mark.fast
@pytest.mark.parametrize("args, message", [
    (["--work-start", "25:00"], "work_start '25:00' must be a time of day"),
    (["--timezone", "Europe/Atlantis"], "unknown timezone"),
    (["--weekend", "sat,sunday,caturday"], "unknown weekday 'caturday'"),
    (["--grace-minutes", "-1"], "grace_minutes"),
    (["--leave-policy", "annual"], "expected TYPE:DAYS[:NOTICE_DAYS]"),
    (["--unset", "base_url"], "--unset 'base_url'"),
    ([], "nothing to change"),
])
def test_a_bad_set_changes_nothing(tmp_path, capsys, args, message):
    path = tmp_path / "orgs.yaml"
    OrganizationRegistry(path).add(Organization(**BASE, work_start="09:30"))
    before = path.read_bytes()
    assert main(["--registry", str(path), "orgs", "set", "acme", *args]) == 2
    assert message in capsys.readouterr().err
    assert path.read_bytes() == before


@pytest.mark.fast
def test_set_of_an_unknown_organization(tmp_path, capsys):
    assert main(["--registry", str(tmp_path / "orgs.yaml"), "orgs", "set", "nope", "--work-start", "09:00"]) == 2
    assert "'nope' is not in the registry" in capsys.readouterr().err


def _published(warehouse, org_id):
    with warehouse.writer() as conn:
        settings = conn.execute(sa.select(schema.organization_settings).where(
            schema.organization_settings.c.organization_id == org_id)).mappings().one()
        holidays = {r.holiday_date: (r.name, r.source) for r in conn.execute(sa.select(
            schema.organization_holidays).where(schema.organization_holidays.c.organization_id == org_id))}
        policies = {r.leave_type: (r.annual_allocation_days, r.min_notice_days) for r in conn.execute(sa.select(
            schema.organization_leave_policies).where(schema.organization_leave_policies.c.organization_id == org_id))}
    return settings, holidays, policies


def test_a_sync_publishes_the_settings(make_org, warehouse):
    plain = make_org(size=5)
    org = Organization.model_validate({
        **plain.model_dump(), "timezone": "Europe/Amsterdam", "work_start": "08:30", "weekend_days": ["fri", "sat"],
        "holidays": {"country": "NL", "dates": {"2026-12-24": "Christmas Eve"}},
        "leave_policy": {"annual": {"allocation_days": 24}, "sick": {"min_notice_days": 0}}})
    assert sync_entity(org, "departments", warehouse).status == "success"
    settings, holidays, policies = _published(warehouse, org.id)
    assert (settings["timezone"], settings["work_start"], settings["weekend_days"], settings["grace_minutes"],
            settings["holiday_country"], settings["has_own_calendar"]) == \
        ("Europe/Amsterdam", "08:30", "fri,sat", None, "NL", True)
    this_year = dt.date.today().year
    assert holidays[dt.date(2026, 12, 24)] == ("Christmas Eve", "registry")
    assert [source for day, (name, source) in holidays.items() if day.year == this_year and name == "King's Day"] \
        == ["country"]
    assert min(holidays).year == this_year - 5 and max(holidays).year == this_year + 2
    assert {k: (None if a is None else float(a), n) for k, (a, n) in policies.items()} == {
        "annual": (24.0, None), "sick": (None, 0)}

    # unchanged: not written again; changed: replaced as a whole
    assert sync_entity(org, "departments", warehouse).status == "success"
    assert _published(warehouse, org.id)[0]["published_at"] == settings["published_at"]
    assert sync_entity(plain, "departments", warehouse).status == "success"
    settings, holidays, policies = _published(warehouse, org.id)
    assert (settings["timezone"], settings["work_start"], settings["weekend_days"], settings["has_own_calendar"]) == \
        ("Asia/Kolkata", None, None, False)
    assert holidays == {} and policies == {}


def test_settings_import_no_dagster():
    """The sync reads organization settings; they must not pull Dagster in on their own."""
    code = ("import sys, harvey_pipelines.org_settings; "
            "assert not [m for m in sys.modules if m.startswith(('dagster', 'holidays'))], 'imported'")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).returncode == 0
