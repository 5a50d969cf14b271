"""Parallel syncs into one DuckDB file queue for its lock instead of failing on it."""

from __future__ import annotations

import os
import subprocess
import sys

from harvey_pipelines_tests.helpers import differences
from harvey_pipelines.warehouse import Warehouse

WORKER = """
import sys
from harvey_pipelines.organizations import Organization
from harvey_pipelines.sync import sync_entity
from harvey_pipelines.warehouse import Warehouse
org = Organization.model_validate_json(sys.argv[1])
wh = Warehouse(sys.argv[2])
for name in ("employees", "employments", "leave_requests", "attendance"):
    sync_entity(org, name, wh, batch_size=200)
"""


def test_parallel_processes_share_the_duckdb_file(make_org, control, tmp_path):
    url = f"duckdb:///{tmp_path / 'shared.duckdb'}"
    Warehouse(url).create_all()
    orgs = [make_org(size=300) for _ in range(3)]
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, org.model_dump_json(), url], env=os.environ.copy(),
                         stderr=subprocess.PIPE, text=True)
        for org in orgs
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
    warehouse = Warehouse(url)
    for org in orgs:
        assert differences(control, warehouse, org.id,
                           entities={"employees", "employments", "leave_requests", "attendance"}) == {}
    warehouse.dispose()
