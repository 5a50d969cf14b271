"""The organization registry and its CLI."""

from __future__ import annotations

import pytest
from dagster import DagsterInstance

from harvey_pipelines.cli import main
from harvey_pipelines.organizations import Organization, OrganizationRegistry, sync_partitions


def test_cli_adds_lists_and_disables(tmp_path, capsys):
    path = str(tmp_path / "orgs.yaml")
    assert main(["--registry", path, "orgs", "add", "acme", "--base-url", "http://127.0.0.1:1/orgs/acme",
                 "--credential-env", "HARVEY_ACME_TOKEN"]) == 0
    assert main(["--registry", path, "orgs", "disable", "acme"]) == 0
    assert main(["--registry", path, "orgs", "list"]) == 0
    out = capsys.readouterr().out
    assert "acme" in out and "disabled" in out
    assert OrganizationRegistry(path).get("acme").enabled is False


@pytest.mark.parametrize("bad", ["Acme", "acme corp", "1acme", "acme--x", "acme_", "a.b"])
def test_ids_must_be_slugs(tmp_path, capsys, bad):
    code = main(["--registry", str(tmp_path / "o.yaml"), "orgs", "add", bad, "--base-url", "http://x",
                 "--credential-env", "X"])
    assert code == 2
    assert "slug" in capsys.readouterr().err


def test_duplicate_add_is_refused(tmp_path, capsys):
    path = str(tmp_path / "orgs.yaml")
    args = ["--registry", path, "orgs", "add", "acme", "--base-url", "http://x", "--credential-env", "X"]
    assert main(args) == 0
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err


def test_partitions_follow_the_registry(tmp_path):
    registry = OrganizationRegistry(tmp_path / "orgs.yaml")
    for org_id in ("acme", "globex"):
        registry.add(Organization(id=org_id, name=org_id, base_url="http://x", credential_env="X"))
    with DagsterInstance.ephemeral() as instance:
        assert sorted(sync_partitions(instance, registry)) == ["acme", "globex"]
        registry.set_enabled("acme", False)
        assert sync_partitions(instance, registry) == []
        assert sorted(instance.get_dynamic_partitions("organizations")) == ["acme", "globex"]


def test_missing_credential_is_a_clear_error(monkeypatch):
    org = Organization(id="acme", name="Acme", base_url="http://x", credential_env="HARVEY_NOT_SET_TOKEN")
    monkeypatch.delenv("HARVEY_NOT_SET_TOKEN", raising=False)
    with pytest.raises(ValueError, match="HARVEY_NOT_SET_TOKEN"):
        org.credential()
