"""A snapshot of what the code location defines: every asset key with its group, every asset check
(blocking or not), job, schedule and sensor, compared to snapshots/definitions.json. A change
that adds, drops or renames one of them shows here as a diff; when it is meant, write the
snapshot again (``HARVEY_UPDATE_SNAPSHOTS=1 make test-fast``) and commit it with the change."""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

SNAPSHOT = Path(__file__).resolve().parent / "snapshots" / "definitions.json"
REGENERATE = "HARVEY_UPDATE_SNAPSHOTS=1 make test-fast"


def definitions_outline() -> dict[str, list[dict]]:
    """What the snapshot holds, each list sorted. Not the kinds (they name the warehouse's
    dialect) nor the sensors' intervals (a setting)."""
    from harvey_pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    repository = defs.get_repository_def()
    return {
        "assets": sorted(({"key": key.to_user_string(), "group": graph.get(key).group_name}
                          for key in graph.get_all_asset_keys()), key=lambda a: a["key"]),
        "asset_checks": sorted(({"asset": check.asset_key.to_user_string(), "name": check.name,
                                 "blocking": graph.get_check_spec(check).blocking}
                                for check in graph.asset_check_keys), key=lambda c: (c["asset"], c["name"])),
        # not Dagster's implicit asset job (__ASSET_JOB)
        "jobs": sorted(({"name": job.name} for job in repository.get_all_jobs() if not job.name.startswith("__")),
                       key=lambda j: j["name"]),
        "schedules": sorted(({"name": s.name, "cron": s.cron_schedule, "timezone": s.execution_timezone,
                              "job": s.job_name, "default_status": s.default_status.value}
                             for s in repository.schedule_defs),
                            key=lambda s: s["name"]),
        "sensors": sorted(({"name": s.name, "default_status": s.default_status.value} for s in repository.sensor_defs),
                          key=lambda s: s["name"]),
    }


def render(outline: dict[str, list[dict]]) -> str:
    """JSON with one entry a line, so that a diff names the entries that changed."""
    sections = ",\n".join(
        f'  {json.dumps(name)}: [\n' + ",\n".join(f"    {json.dumps(item)}" for item in items) + "\n  ]"
        for name, items in outline.items())
    return "{\n" + sections + "\n}\n"


def test_the_definitions_match_the_snapshot():
    if os.environ.get("HARVEY_SCHEDULE_TIMEZONE"):
        pytest.skip("HARVEY_SCHEDULE_TIMEZONE is set: the snapshot holds the schedules' default time zone")
    current = render(definitions_outline())
    if os.environ.get("HARVEY_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(current)
    assert SNAPSHOT.exists(), f"no snapshot at {SNAPSHOT}; write it with `{REGENERATE}`"
    committed = SNAPSHOT.read_text()
    if committed != current:
        diff = "".join(difflib.unified_diff(committed.splitlines(keepends=True), current.splitlines(keepends=True),
                                            "snapshot (committed)", "definitions (now)"))
        pytest.fail(f"the definitions differ from {SNAPSHOT.name}:\n{diff}\n"
                    f"If the change is meant: `{REGENERATE}` and commit the snapshot.", pytrace=False)
