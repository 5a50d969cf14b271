"""The `harvey` command's errors: one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import pytest

from harvey_pipelines.cli import main
from harvey_pipelines.organizations import Organization, OrganizationRegistry
from harvey_pipelines.records import ENTITIES
from harvey_pipelines_tests.processes import free_port


@pytest.fixture
def registry(tmp_path):
    registry = OrganizationRegistry(tmp_path / "orgs.yaml")
    registry.add(Organization(id="acme", name="Acme", base_url="http://127.0.0.1:1/orgs/acme",
                              credential_env="HARVEY_TEST_CLI_TOKEN"))
    return str(registry.path)


def test_backfill_without_a_webserver_says_so_in_one_line(registry, capsys):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    code = main(["--registry", registry, "backfill", "--entity", "employees", "--orgs", "acme", "--url", url])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1, err
    assert err.startswith(f"error: no Dagster webserver answers at {url} (") and "Connection refused" in err, err
    assert "query" not in err.lower(), "not the GraphQL query"


@pytest.mark.parametrize("command", [
    ["sync", "--org", "acme", "--entity", "employes"],
    ["sync", "--org", "acme", "--entity", "employees,attendence"],
    ["backfill", "--entity", "employes", "--orgs", "acme", "--url", "http://127.0.0.1:1"],
], ids=["sync", "sync-list", "backfill"])
def test_a_mistyped_entity_lists_the_known_ones(registry, capsys, command):
    code = main(["--registry", registry, *command])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: unknown entity '"), err
    assert all(spec.name in err for spec in ENTITIES), err
