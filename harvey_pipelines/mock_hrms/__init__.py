"""Multi-tenant mock of the "custom HRMS" (the REST contract in ``hrms-api-contract.md``).

Tenant ``acme`` lives at ``http://HOST:PORT/orgs/acme`` (API under ``/api/v1``); the
unauthenticated control API is under ``/_control``. Data are synthetic and deterministic: the
same seed and size give the same ids and records. Each tenant clock starts at
2026-11-02T09:00:00 local time (a Monday; or on the tenant's ``clock_start`` date) and runs with
real time plus ``advance(hours=...)``.
"""

try:  # the `mock` extra: a production install syncs real HR systems without a web server stack
    import fastapi  # noqa: F401
    import uvicorn  # noqa: F401
except ModuleNotFoundError as exc:
    raise ModuleNotFoundError(
        f"the mock HRMS needs the `mock` extra ({exc.name} is not installed): pip install "
        "'harvey-pipelines[mock]' (make install does)", name=exc.name) from None

from .app import create_app
from .clock import CLOCK_START_DATE, CLOCK_START_TIME
from .control import MockHrmsControl, MockHrmsControlError
from .server import MockHrmsThread, main, serve
from .tenant import (
    API_PATHS,
    DEFAULT_TIMEZONE,
    DEFAULT_TOKEN,
    ENTITIES,
    LIST_ENTITIES,
    REFERENCE_STYLES,
    REFERENCES,
    ApiError,
    ChangeLog,
    FaultConfig,
    Tenant,
    TenantSpec,
    TenantStore,
)

__all__ = [
    "API_PATHS", "CLOCK_START_DATE", "CLOCK_START_TIME", "DEFAULT_TIMEZONE", "DEFAULT_TOKEN", "ENTITIES",
    "LIST_ENTITIES", "REFERENCE_STYLES", "REFERENCES", "ApiError", "ChangeLog", "FaultConfig", "MockHrmsControl",
    "MockHrmsControlError", "MockHrmsThread", "Tenant", "TenantSpec", "TenantStore", "create_app", "main", "serve",
]
