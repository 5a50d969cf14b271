"""Imports run one way (README, Layout): the sync and the warehouse know nothing of Dagster,
and nothing imports a layer above it. Checked on the source, function-level imports included,
so an import hidden in a function breaks the build as a top-level one would."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "harvey_pipelines"

# a module's layer, and the layers above it that it must not import
LAYERS = ("records", "sources", "warehouse", "sync", "assets", "automation")
LAYER_OF = {
    "records": "records", "org_settings": "records", "settings": "records", "organizations": "records",
    "vendors": "records",
    "sources": "sources", "warehouse": "warehouse", "sync": "sync", "quality": "sync", "gx_warehouse": "sync",
    "assets": "assets", "automation": "automation",
    "definitions": "automation", "cli": "automation", "demo": "automation", "celery_worker": "automation",
}
# what the sync, the warehouse and the sources may not need: the orchestrator, the mock's web stack
FORBIDDEN_BELOW_ASSETS = ("dagster", "dagster_dbt", "dagster_graphql", "fastapi", "uvicorn", "dbt")


def _modules(path: Path):
    """(module, line) of every import in a file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, node.lineno
        elif isinstance(node, ast.ImportFrom) and node.level:  # relative: inside its own package
            yield f"harvey_pipelines.{path.parent.name}", node.lineno


def _layer(path: Path) -> str | None:
    top = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
    return LAYER_OF.get(top)


@pytest.mark.fast
def test_no_module_imports_a_layer_above_it():
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        layer = _layer(path)
        if layer is None:  # mock_hrms: a server of its own, beside the layers
            continue
        rank = LAYERS.index(layer)
        for module, line in _modules(path):
            parts = module.split(".")
            if parts[0] == "harvey_pipelines" and len(parts) > 1 and LAYER_OF.get(parts[1]):
                if LAYERS.index(LAYER_OF[parts[1]]) > rank:
                    wrong.append(f"{path.relative_to(PACKAGE)}:{line} ({layer}) imports {module}")
            if rank < LAYERS.index("assets") and parts[0] in FORBIDDEN_BELOW_ASSETS:
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} ({layer}) imports {module}")
            if rank < LAYERS.index("automation") and module.startswith("harvey_pipelines.mock_hrms"):
                wrong.append(f"{path.relative_to(PACKAGE)}:{line} ({layer}) imports the mock HRMS")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_the_sync_runs_without_dagster_loaded():
    # what a process that only syncs loads: not Dagster, dbt or the mock's web stack
    code = ("import sys; import harvey_pipelines.sync, harvey_pipelines.cli; "
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(FORBIDDEN_BELOW_ASSETS)!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.fast
def test_the_layer_table_names_every_module():
    tops = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in PACKAGE.glob("*")
            if p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())}
    assert tops - {"__init__", "mock_hrms"} == set(LAYER_OF), "a new module: give it a layer in LAYER_OF"


BLOCK_WEB_STACK = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("fastapi", "uvicorn"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
from harvey_pipelines.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("command", [["mock-hrms", "serve", "--help"], ["demo"]])
def test_without_the_mock_extra_the_mock_hrms_says_how_to_install_it(command):
    out = subprocess.run([sys.executable, "-c", BLOCK_WEB_STACK, *command], capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    assert "pip install 'harvey-pipelines[mock]'" in out.stderr
    assert "Traceback" not in out.stderr
