"""`make dev` as the README has a newcomer run it: venv not activated, the code location loads."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from harvey_pipelines import settings
from harvey_pipelines_tests.processes import free_port, start_server, stop, wait_http

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

LOCATIONS = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


def path_without_venv() -> str:
    """PATH as a shell that never activated the venv has it."""
    venvs = {BIN.resolve(), (ROOT / ".venv" / "bin").resolve()}
    return os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and Path(p).resolve() not in venvs)


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_dev_loads_the_code_location_without_the_venv_on_path(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HARVEY_", "DAGSTER_", "MAKE")) and k not in ("VIRTUAL_ENV", "MFLAGS")}
    path = path_without_venv()
    assert shutil.which("dbt", path=path) is None, "a dbt outside the venv would hide the bug"
    env |= {"PATH": path, "DAGSTER_HOME": str(tmp_path / "dagster_home"), "HARVEY_DATA_DIR": str(tmp_path / "data"),
            "HARVEY_WAREHOUSE_URL": f"duckdb:///{tmp_path / 'warehouse.duckdb'}"}
    port = free_port()
    log = open(tmp_path / "dev.log", "w")
    server = start_server(["make", "--no-print-directory", "dev", f"PORT={port}"], cwd=ROOT, env=env,
                          stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/server_info", timeout=240, process=server)
        deadline = time.monotonic() + 240
        while True:
            answer = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": LOCATIONS}, timeout=30).json()
            entries = {e["name"]: e for e in answer["data"]["workspaceOrError"]["locationEntries"]}
            entry = entries["harvey_pipelines"]
            if entry["loadStatus"] == "LOADED" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert entry["loadStatus"] == "LOADED"
        loaded = entry["locationOrLoadError"]
        assert loaded["__typename"] == "RepositoryLocation", loaded.get("message")
    finally:
        stop([server])
        log.close()
    output = (tmp_path / "dev.log").read_text()
    assert f"dagster dev -w {ROOT / 'workspace.yaml'}" in output, output[-2000:]
    # the local instance's config is written first (no "no dagster.yaml found"), and dagster dev does
    # not start beside the production one (no "dagster.yaml in the current folder ... will not be used")
    assert "dagster.yaml" not in output, output[-2000:]
    assert (tmp_path / "dagster_home" / "dagster.yaml").read_text() == settings.LOCAL_DAGSTER_YAML.replace(
        "{base_dir}", str(tmp_path / "dagster_home" / "history" / "runs"))
