"""Real parts: the mock HRMS over HTTP on loopback, real DuckDB and PostgreSQL.

PostgreSQL: HARVEY_TEST_POSTGRES_URL (default: the local server, database postgres);
each test session gets its own throw-away database. Where no server answers the
PostgreSQL tests skip with the reason, unless HARVEY_REQUIRE_POSTGRES=1 (CI), where
they fail.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import uuid

import pytest
import sqlalchemy as sa

from harvey_pipelines.mock_hrms import MockHrmsControl, MockHrmsThread
from harvey_pipelines.organizations import Organization, OrganizationRegistry
from harvey_pipelines.warehouse import Warehouse

DEMO_TOKEN = "mock-hrms-token-12345"
POSTGRES_URL = os.environ.get("HARVEY_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
_counter = itertools.count(1)
# dbt builds the masked analyst tables only with a pseudonym key (README: Personal data)
os.environ.setdefault("HARVEY_PSEUDONYM_KEY", "test-pseudonym-key")


@pytest.fixture(scope="session")
def mock_hrms():
    with MockHrmsThread() as server:
        yield server


@pytest.fixture(scope="session")
def control(mock_hrms) -> MockHrmsControl:
    return MockHrmsControl(mock_hrms.base_url)


@pytest.fixture(scope="session")
def postgres_server_url():
    try:
        engine = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # noqa: BLE001
        reason = f"PostgreSQL not reachable at {POSTGRES_URL}: {str(exc).splitlines()[0]}"
        if os.environ.get("HARVEY_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason + " (HARVEY_REQUIRE_POSTGRES=1: PostgreSQL tests must run)")
        pytest.skip(reason)
    engine.dispose()
    with throwaway_database(POSTGRES_URL, "harvey_test") as url:
        yield url


@contextlib.contextmanager
def throwaway_database(server_url: str, prefix: str):
    """A new PostgreSQL database on the server of ``server_url`` (its URL), dropped afterwards."""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse_url(request, tmp_path):
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'warehouse.duckdb'}"
    server = request.getfixturevalue("postgres_server_url")
    # one database per session; a fresh schema set per test keeps tests independent
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS raw CASCADE; DROP SCHEMA IF EXISTS core CASCADE; "
                             "DROP SCHEMA IF EXISTS sync CASCADE")
    engine.dispose()
    from harvey_pipelines.warehouse import store

    store._migrated.discard(server)
    return server


@pytest.fixture
def warehouse(warehouse_url):
    wh = Warehouse(warehouse_url)
    wh.migrate()
    yield wh
    wh.dispose()


@pytest.fixture
def make_org(control, mock_hrms, monkeypatch):
    """Create a tenant in the mock HRMS and the Organization that points at it."""

    def make(size: int = 60, seed: int | None = None, org_id: str | None = None, **tenant) -> Organization:
        number = next(_counter)
        org_id = org_id or f"org{number}-{uuid.uuid4().hex[:6]}"
        control.create_tenant(org_id, seed=seed if seed is not None else number, size=size, **tenant)
        env = f"HARVEY_TEST_TOKEN_{number}"
        monkeypatch.setenv(env, tenant.get("token", DEMO_TOKEN))
        return Organization(id=org_id, name=f"Test {org_id}", base_url=mock_hrms.tenant_url(org_id),
                            credential_env=env)

    return make


def pytest_ignore_collect(collection_path, config):
    """Under `-m fast` (make test-fast), a test module that marks nothing fast is not imported at
    all: importing the slow modules (dbt, Dagster runs) took longer than the fast tests run."""
    if (config.getoption("markexpr") == "fast" and collection_path.is_file()
            and collection_path.name.startswith("test_") and "mark.fast" not in collection_path.read_text()):
        return True
    return None


@pytest.fixture
def registry(tmp_path):
    """Three organizations, the last disabled, at an address nobody answers (the schedules' and
    sensors' tests read the registry, they do not sync)."""
    registry = OrganizationRegistry(tmp_path / "orgs.yaml")
    for org_id, enabled in (("acme", True), ("globex", True), ("initech", False)):
        registry.add(Organization(id=org_id, name=org_id, base_url=f"http://127.0.0.1:1/orgs/{org_id}",
                                  credential_env="X", enabled=enabled))
    return registry
