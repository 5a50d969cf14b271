"""The deployment in deploy/ holds together as far as this machine can tell without Docker or
Kubernetes: its YAML parses, the image the services run is the one the Dockerfile builds, every
command, module and file it names exists in the project, and every HARVEY_* variable it sets is
a setting (or a credential variable its example registry names)."""

from __future__ import annotations

import ast
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from harvey_pipelines.settings import Settings, env_name

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose" / "compose.yaml"
K8S = DEPLOY / "kubernetes"
IMAGE = "harvey-pipelines"  # what the Dockerfile builds (compose tags it; Kubernetes pulls it from a registry)
# read by the project's dagster.yaml, which the image holds as its instance
INSTANCE_VARIABLES = {"HARVEY_DAGSTER_PG_URL"}

pytestmark = pytest.mark.fast


def _yaml(path: Path) -> list:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def _compose() -> dict:
    return _yaml(COMPOSE)[0]


def _values() -> dict:
    return _yaml(K8S / "values.yaml")[0]


def _workers() -> dict:
    return _yaml(K8S / "celery-workers.yaml")[0]


def _commands() -> list[list[str]]:
    """Every command the deployment runs: the Dockerfile's CMD, the compose services', the
    workers', and the code server the Helm chart starts (`dagster api grpc` + its args)."""
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    cmd = re.search(r"^CMD (\[.*\])$", dockerfile, re.M)
    assert cmd, "the Dockerfile has no CMD in exec form"
    commands = [yaml.safe_load(cmd.group(1))]
    commands += [service["command"] for service in _compose()["services"].values() if "command" in service]
    commands += [c["command"] for c in _workers()["spec"]["template"]["spec"]["containers"]]
    commands += [["dagster", "api", "grpc", *d["dagsterApiGrpcArgs"]]
                 for d in _values()["dagster-user-deployments"]["deployments"]]
    return commands


def _option(command: list[str], *names: str) -> str | None:
    for i, word in enumerate(command[:-1]):
        if word in names:
            return command[i + 1]
    return None


def _defines(module: str, name: str) -> bool:
    path = ROOT / Path(*module.split(".")).with_suffix(".py")
    assert path.exists(), f"no module {module} in the project"
    tree = ast.parse(path.read_text())
    return any(isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
               for node in tree.body)


def test_every_yaml_file_parses():
    files = sorted(DEPLOY.rglob("*.yaml"))
    assert len(files) >= 5
    for path in files:
        assert _yaml(path), f"{path} is empty"


def test_the_services_run_the_image_the_dockerfile_builds():
    services = _compose()["services"]
    built = [s for s in services.values() if "build" in s]
    assert [s["build"]["dockerfile"] for s in built] == ["deploy/Dockerfile"]
    assert (COMPOSE.parent / built[0]["build"]["context"] / built[0]["build"]["dockerfile"]).resolve() == \
        (DEPLOY / "Dockerfile").resolve()
    ours = {name for name, s in services.items() if s.get("image", "").split(":")[0] == IMAGE}
    assert ours == {"code", "webserver", "daemon", "worker"}
    # the others are the public images of the servers they are
    assert {services[name]["image"].split(":")[0] for name in set(services) - ours} == {"postgres", "rabbitmq"}
    kubernetes_images = [d["image"]["repository"] for d in _values()["dagster-user-deployments"]["deployments"]]
    kubernetes_images += [c["image"].split(":")[0] for c in _workers()["spec"]["template"]["spec"]["containers"]]
    assert {image.rsplit("/", 1)[-1] for image in kubernetes_images} == {IMAGE}


def test_what_the_dockerfile_copies_exists():
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    copied = [word for line in re.findall(r"^COPY (.+)$", dockerfile, re.M) for word in line.split()[:-1]]
    assert copied
    for name in copied:
        assert (ROOT / name).exists(), f"the Dockerfile copies {name}, which is not in the project"
    python = re.search(r"^FROM python:(\d+\.\d+)", dockerfile, re.M)
    assert python and python.group(1) == f"{sys.version_info.major}.{sys.version_info.minor}"


def test_every_command_module_and_file_exists():
    commands = _commands()
    programs = {command[0] for command in commands}
    assert programs == {"dagster", "dagster-webserver", "dagster-daemon", "celery"}
    for program in programs:  # console scripts of the pinned packages
        assert (Path(sys.executable).parent / program).exists() or shutil.which(program), program
    for command in commands:
        if module := _option(command, "-m", "--module-name"):
            assert _defines(module, _option(command, "-a", "--attribute") or "defs"), command
        if app := _option(command, "-A", "--app"):
            assert _defines(app, "app"), command
            assert _option(command, "-Q", "--queues") == "dagster", "the queue dagster-celery submits to"
    mounts = {v.split(":")[1]: COMPOSE.parent / v.split(":")[0]
              for s in _compose()["services"].values() for v in s.get("volumes", []) if v.startswith("./")}
    for command in commands:
        if workspace := _option(command, "-w", "--workspace"):
            assert workspace in mounts and mounts[workspace].exists(), command
            [location] = _yaml(mounts[workspace])[0]["load_from"]
            assert location["grpc_server"]["host"] in _compose()["services"]
    for host_path in mounts.values():
        assert host_path.exists() or host_path.with_name(host_path.name.replace(".yaml", ".example.yaml")).exists(), \
            host_path


def _harvey_variables(text: str) -> set[str]:
    return set(re.findall(r"\bHARVEY_[A-Z0-9_]+", text))


def test_every_harvey_variable_is_a_setting_or_a_named_credential():
    settings = {env_name(field) for field in Settings.model_fields}
    registry = yaml.safe_load((DEPLOY / "compose" / "organizations.example.yaml").read_text())
    credentials = {org["credential_env"] for org in registry["organizations"]}
    referenced: set[str] = set()
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        found = _harvey_variables(path.read_text())
        unknown = found - settings - INSTANCE_VARIABLES - credentials
        assert not unknown, f"{path.relative_to(ROOT)}: {sorted(unknown)} are not settings"
        referenced |= found
    assert {"HARVEY_EXECUTOR", "HARVEY_CELERY_BROKER_URL", "HARVEY_WAREHOUSE_URL"} <= referenced
    assert INSTANCE_VARIABLES <= _harvey_variables((ROOT / "dagster.yaml").read_text())
    # the examples of the secrets hold every credential the example registry names
    for example in (DEPLOY / "compose" / "example.env", K8S / "harvey.example.env"):
        assert credentials <= _harvey_variables(example.read_text()), example


def test_the_cluster_runs_the_celery_executor_everywhere():
    """The run and the workers must build the same job (one step per organization)."""
    compose_env = _compose()["x-harvey"]["environment"]
    assert compose_env["HARVEY_EXECUTOR"] == "celery"
    [deployment] = _values()["dagster-user-deployments"]["deployments"]
    [worker] = _workers()["spec"]["template"]["spec"]["containers"]
    for env in (deployment["env"], worker["env"]):
        assert {"name": "HARVEY_EXECUTOR", "value": "celery"} in env
    assert {"name": "harvey-secrets"} in deployment["envSecrets"]
    assert {"secretRef": {"name": "harvey-secrets"}} in worker["envFrom"]
    assert _values()["runLauncher"]["type"] == "K8sRunLauncher"
