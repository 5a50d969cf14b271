"""The README's `harvey orgs` commands run as written, in their order, on a fresh data dir
(no DAGSTER_HOME set: the CLI finds the local instance itself)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from dagster import DagsterInstance

from harvey_pipelines import settings
from harvey_pipelines.assets.partitions import ORGANIZATIONS_PARTITION
from harvey_pipelines.cli import main
from harvey_pipelines.organizations import OrganizationRegistry

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_commands(prefix: str) -> list[list[str]]:
    """The README's bash-block lines starting with ``prefix`` (continuations joined, comments
    dropped), as argument lists after the executable."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:len(prefix.split())] == prefix.split():
                commands.append(words[1:])
    return commands


def test_the_readme_orgs_commands_run_as_written(tmp_path, monkeypatch, capsys):
    for name in ("DAGSTER_HOME", "HARVEY_WAREHOUSE_URL", "HARVEY_ORGANIZATIONS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HARVEY_DATA_DIR", str(tmp_path))
    commands = readme_commands(".venv/bin/harvey orgs")
    verbs = [c[1] for c in commands]
    expected = {"add", "list", "show", "set", "publish-settings", "disable", "sync-partitions", "remove"}
    assert expected <= set(verbs), verbs
    for argv in commands:
        assert main(argv) == 0, (argv, capsys.readouterr().err)
    out = capsys.readouterr().out
    assert "added partitions: acme" in out and "removed acme" in out
    assert OrganizationRegistry().load() == []
    with DagsterInstance.from_config(str(tmp_path / "dagster_home")) as instance:
        assert instance.get_dynamic_partitions(ORGANIZATIONS_PARTITION) == ["acme"], "remove keeps the partition"
    assert settings.dagster_home() == tmp_path / "dagster_home"


def test_a_cli_sync_after_the_demo_finds_the_token_the_demo_left(make_org, tmp_path, monkeypatch, capsys):
    """The demo's token lived only in the demo's process; now data/local.env keeps it, so
    `harvey sync` (and the UI's runs) work without exports. The environment still wins."""
    monkeypatch.setenv("HARVEY_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HARVEY_WAREHOUSE_URL", f"duckdb:///{tmp_path / 'warehouse.duckdb'}")
    monkeypatch.delenv("HARVEY_ORGANIZATIONS_FILE", raising=False)
    org = make_org(size=10)
    token = os.environ[org.credential_env]
    monkeypatch.delenv(org.credential_env)
    assert main(["orgs", "add", org.id, "--name", org.name, "--base-url", org.base_url,
                 "--credential-env", org.credential_env]) == 0, capsys.readouterr().err
    argv = ["sync", "--org", org.id, "--entity", "departments", "--mode", "full"]
    assert main(argv) == 1
    assert f"{org.credential_env} (its HRMS credential) is not set" in capsys.readouterr().err
    settings.remember_local_env(org.credential_env, token)
    assert main(argv) == 0, capsys.readouterr().err
    assert f"{org.id}/departments: fetched" in capsys.readouterr().out
    monkeypatch.setenv(org.credential_env, "wrong-token")  # the environment wins
    assert main(argv) == 1
    assert "the HR system refused the credential" in capsys.readouterr().err


def readme_bash_lines() -> list[str]:
    """Every line of the README's bash blocks, continuations joined."""
    return [line for block in re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.S)
            for line in block.replace("\\\n", " ").splitlines()]


def readme_dagster_commands() -> list[str]:
    """The README's `dagster` CLI commands (bash blocks and inline code), as shell lines."""
    lines = readme_bash_lines() + re.findall(r"`([^`\n]*\.venv/bin/dagster [^`\n]*)`", README.read_text())
    return [line.split(" #")[0].strip() for line in lines if ".venv/bin/dagster " in line and "/srv/" not in line]


def test_the_readme_dagster_commands_run_as_written(tmp_path, monkeypatch):
    """Run from a folder laid out like the repo root (its .venv and workspace.yaml), whose
    data/ is the test's, so that `$PWD/data/dagster_home` is the instance the CLI uses."""
    for name in ("DAGSTER_HOME", "HARVEY_WAREHOUSE_URL", "HARVEY_ORGANIZATIONS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HARVEY_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / ".venv").symlink_to(README.parent / ".venv")
    shutil.copy(README.parent / "workspace.yaml", tmp_path / "workspace.yaml")
    for org_id in ("acme", "globex"):
        assert main(["orgs", "add", org_id, "--base-url", f"http://127.0.0.1:9/orgs/{org_id}",
                     "--credential-env", "HARVEY_UNUSED_TOKEN"]) == 0
    assert main(["orgs", "sync-partitions"]) == 0
    commands = readme_dagster_commands()
    assert any("job backfill" in c for c in commands) and any("schedule start" in c for c in commands), commands
    for command in commands:
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=dict(os.environ), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (command, done.stderr[-2000:])
    with DagsterInstance.from_config(str(tmp_path / "data" / "dagster_home")) as instance:
        backfills = instance.get_backfills()
        assert sorted(len(b.partition_names) for b in backfills) == [2, 2]  # --partitions acme,globex; --all
        assert sorted(b.tags.get("harvey/mode", "") for b in backfills) == ["", "full"]
        assert instance.all_instigator_state()


def test_the_readme_analyst_commands_run_as_written(make_org, tmp_path, monkeypatch):
    """`harvey publish`, then the query of the published copy, from a folder laid out like the
    repo root whose data/ holds a synced warehouse."""
    from harvey_pipelines.sync import sync_entity
    from harvey_pipelines.warehouse import Warehouse

    for name in ("HARVEY_WAREHOUSE_URL", "HARVEY_ORGANIZATIONS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HARVEY_DATA_DIR", str(tmp_path / "data"))
    (tmp_path / ".venv").symlink_to(README.parent / ".venv")
    org = make_org(size=7)
    warehouse = Warehouse()
    assert sync_entity(org, "employees", warehouse).status == "success"
    warehouse.dispose()
    commands = [line.split(" #")[0].strip() for line in readme_bash_lines()
                if "analytics.duckdb" in line or line.startswith(".venv/bin/harvey publish")]
    assert [c.split()[0] for c in commands] == [".venv/bin/python", ".venv/bin/harvey"], commands
    out = {}
    for command in reversed(commands):  # published first, then read
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=dict(os.environ), capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, (command, done.stderr[-2000:])
        out[command.split()[0]] = done.stdout
    assert f"published {tmp_path / 'data' / 'analytics.duckdb'}" in out[".venv/bin/harvey"]
    assert re.search(rf"{org.id}\s*│\s*7\s*│", out[".venv/bin/python"]), out  # its 7 employees
