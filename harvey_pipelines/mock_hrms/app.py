"""FastAPI application of the mock HRMS: the tenant APIs under ``/orgs/{org_id}/api/v1`` (the
REST contract in ``hrms-api-contract.md``) and the unauthenticated control API under
``/_control``."""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
from typing import Any, Callable

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from .tenant import (
    API_PATHS,
    DEFAULT_TIMEZONE,
    DEFAULT_TOKEN,
    ENTITIES,
    LIST_ENTITIES,
    ApiError,
    Tenant,
    TenantSpec,
    TenantStore,
)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
_PATH_TO_ENTITY = {v: k for k, v in API_PATHS.items()}


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type="application/json", headers=headers)


def _error(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return _json({"detail": detail}, status, headers)


def _entity_name(name: str) -> str:
    entity = _PATH_TO_ENTITY.get(name, name.replace("-", "_"))
    if entity not in ENTITIES:
        raise ApiError(404, f"unknown entity {name!r}; one of {', '.join(ENTITIES)}")
    return entity


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, f"{name} must be an integer") from None


def _page_params(request: Request, tenant: Tenant) -> tuple[int, int, float | None]:
    page = _int_param(request, "page", 1)
    if page < 1:
        raise ApiError(400, "page must be >= 1")
    size = _int_param(request, "page_size", DEFAULT_PAGE_SIZE)
    if size < 1:
        raise ApiError(400, "page_size must be >= 1")
    size = min(size, MAX_PAGE_SIZE)
    raw = request.query_params.get("updated_since")
    since = None
    if raw:
        try:
            since = tenant.fmt.parse(raw)
        except ValueError:
            raise ApiError(400, "updated_since must be an ISO-8601 timestamp, e.g. 2026-02-15T14:00:00+05:30") from None
    return page, size, since


def _date_param(request: Request, name: str) -> str | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return dt.date.fromisoformat(raw).isoformat()
    except ValueError:
        raise ApiError(400, f"{name} must be a date YYYY-MM-DD") from None


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(400, "request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body


def _auth_ok(header: str | None, token: str) -> bool:
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), token.encode())


def create_app(store: TenantStore | None = None) -> FastAPI:
    """The mock HRMS as an ASGI app serving the tenants of ``store`` (a new empty one if None)."""
    store = store if store is not None else TenantStore()
    app = FastAPI(title="Harvey mock HRMS", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store

    # ================================================================== tenant API
    async def api(request: Request, org_id: str, label: str, handler: Callable[[Tenant], tuple[int, Any]],
                  list_entity: str | None = None) -> Response:
        tenant = store.get(org_id)
        if tenant is None:
            return _error(404, f"unknown organization {org_id!r}")
        tenant.count_request(f"{request.method} {label}")
        if not _auth_ok(request.headers.get("authorization"), tenant.spec.token):
            tenant.count_status(401)
            return _error(401, "missing or invalid bearer token", {"WWW-Authenticate": "Bearer"})
        fault = tenant.next_fault(request.method)
        if fault == "slow":
            await asyncio.sleep(tenant.faults.slow_seconds)
        elif fault == "rate_limit":
            tenant.count_status(429)
            return _error(429, "rate limit exceeded, retry later",
                          {"Retry-After": str(int(tenant.faults.retry_after_seconds))})
        elif fault == "error_5xx":
            code = tenant.next_5xx()
            tenant.count_status(code)
            return _error(code, {500: "internal server error", 502: "bad gateway",
                                 503: "service unavailable"}[code])
        try:
            with tenant.lock:  # a consistent snapshot even while an advance runs in a worker thread
                status, payload = handler(tenant)
                body = orjson.dumps(payload)
        except ApiError as exc:
            tenant.count_status(exc.status)
            return _error(exc.status, exc.detail)
        if fault == "truncate" and status == 200:
            body = body[: len(body) // 2]
        tenant.count_status(status)
        if list_entity is not None and status == 200 and tenant.faults.mutate_between_pages > 0:
            tenant.mutate_after_page(list_entity)
        return Response(body, status_code=status, media_type="application/json")

    def list_route(entity: str) -> None:
        segment = API_PATHS[entity]
        label = f"/api/v1/{segment}"

        async def list_records(org_id: str, request: Request) -> Response:
            def handler(t: Tenant) -> tuple[int, Any]:
                page, size, since = _page_params(request, t)
                date_from = date_to = None
                if entity == "attendance":
                    day = _date_param(request, "date")
                    date_from = _date_param(request, "date_from")
                    date_to = _date_param(request, "date_to")
                    if day is not None:
                        date_from = max(day, date_from) if date_from else day
                        date_to = min(day, date_to) if date_to else day
                return 200, t.list_page(entity, page, size, since, date_from, date_to)
            return await api(request, org_id, label, handler, list_entity=entity)

        list_records.__name__ = f"list_{entity}"
        app.add_api_route(f"/orgs/{{org_id}}{label}", list_records, methods=["GET"])

    for entity in LIST_ENTITIES:
        list_route(entity)

    @app.get("/orgs/{org_id}/api/v1/employees/{key}")
    async def employee_detail(org_id: str, key: str, request: Request) -> Response:
        return await api(request, org_id, "/api/v1/employees/{id}", lambda t: (200, t.employee_detail(key)))

    @app.get("/orgs/{org_id}/api/v1/employees/{key}/leave-balance")
    async def leave_balance(org_id: str, key: str, request: Request) -> Response:
        def handler(t: Tenant) -> tuple[int, Any]:
            year = request.query_params.get("year")
            if year is not None:
                try:
                    year_i = int(year)
                except ValueError:
                    raise ApiError(400, "year must be an integer") from None
            return 200, t.leave_balance(key, year_i if year is not None else None)
        return await api(request, org_id, "/api/v1/employees/{id}/leave-balance", handler)

    @app.get("/orgs/{org_id}/api/v1/employees/{key}/reporting-chain")
    async def reporting_chain(org_id: str, key: str, request: Request) -> Response:
        return await api(request, org_id, "/api/v1/employees/{id}/reporting-chain",
                         lambda t: (200, t.reporting_chain(key)))

    @app.get("/orgs/{org_id}/api/v1/employees/{key}/employments")
    async def employee_employments(org_id: str, key: str, request: Request) -> Response:
        def handler(t: Tenant) -> tuple[int, Any]:
            page, size, since = _page_params(request, t)
            return 200, t.employee_employments(key, page, size, since)
        return await api(request, org_id, "/api/v1/employees/{id}/employments", handler)

    @app.get("/orgs/{org_id}/api/v1/job-requisitions/{key}")
    async def requisition_detail(org_id: str, key: str, request: Request) -> Response:
        return await api(request, org_id, "/api/v1/job-requisitions/{id}",
                         lambda t: (200, t.requisition_detail(key)))

    @app.get("/orgs/{org_id}/api/v1/candidates/{key}")
    async def candidate_detail(org_id: str, key: str, request: Request) -> Response:
        return await api(request, org_id, "/api/v1/candidates/{id}", lambda t: (200, t.candidate_detail(key)))

    def plain_detail(entity: str) -> None:
        label = f"/api/v1/{API_PATHS[entity]}/{{id}}"

        async def detail(org_id: str, key: str, request: Request) -> Response:
            def handler(t: Tenant) -> tuple[int, Any]:
                return 200, t.detail(entity, key)
            return await api(request, org_id, label, handler)

        detail.__name__ = f"get_{entity}"
        app.add_api_route(f"/orgs/{{org_id}}/api/v1/{API_PATHS[entity]}/{{key}}", detail, methods=["GET"])

    for entity in ("departments", "employments", "interviews", "leave_requests", "attendance"):
        plain_detail(entity)

    @app.post("/orgs/{org_id}/api/v1/candidates")
    async def create_candidate(org_id: str, request: Request) -> Response:
        try:
            body = await _body(request)
        except ApiError as exc:
            body = exc
        return await api(request, org_id, "/api/v1/candidates",
                         lambda t: (201, t.create_candidate(_raise_or(body))))

    @app.post("/orgs/{org_id}/api/v1/interviews")
    async def create_interview(org_id: str, request: Request) -> Response:
        try:
            body = await _body(request)
        except ApiError as exc:
            body = exc
        return await api(request, org_id, "/api/v1/interviews",
                         lambda t: (201, t.create_interview(_raise_or(body))))

    @app.patch("/orgs/{org_id}/api/v1/interviews/{key}")
    async def patch_interview(org_id: str, key: str, request: Request) -> Response:
        try:
            body = await _body(request)
        except ApiError as exc:
            body = exc
        return await api(request, org_id, "/api/v1/interviews/{id}",
                         lambda t: (200, t.patch_interview(key, _raise_or(body))))

    @app.post("/orgs/{org_id}/api/v1/leave-requests")
    async def create_leave_request(org_id: str, request: Request) -> Response:
        try:
            body = await _body(request)
        except ApiError as exc:
            body = exc
        return await api(request, org_id, "/api/v1/leave-requests",
                         lambda t: (201, t.create_leave_request(_raise_or(body))))

    @app.api_route("/orgs/{org_id}/api/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def unknown_api_path(org_id: str, rest: str, request: Request) -> Response:
        def handler(t: Tenant) -> tuple[int, Any]:
            raise ApiError(404, f"no such endpoint: {request.method} /api/v1/{rest}")
        return await api(request, org_id, "(unknown)", handler)

    # ================================================================== control API
    def control_tenant(org_id: str) -> Tenant:
        tenant = store.get(org_id)
        if tenant is None:
            raise ApiError(404, f"unknown organization {org_id!r}")
        return tenant

    async def control(fn: Callable[[], Any], status: int = 200) -> Response:
        try:
            result = fn()
            if asyncio.iscoroutine(result):
                result = await result
        except ApiError as exc:
            return _error(exc.status, exc.detail)
        if isinstance(result, Response):
            return result
        return _json(result, status)

    @app.get("/_control/health")
    async def health() -> Response:
        return _json({"status": "ok", "tenants": len(store)})

    @app.post("/_control/tenants")
    async def create_tenant(request: Request) -> Response:
        async def run() -> Response:
            body = await _body(request)
            known = {"org_id", "seed", "size", "token", "timezone", "attendance_days", "realtime_clock",
                     "reference_style", "leave_allocations", "clock_start", "attendance_months"}
            unknown = set(body) - known
            if unknown:
                raise ApiError(422, f"unknown field(s): {', '.join(sorted(unknown))}")
            missing = [k for k in ("org_id", "seed", "size") if k not in body]
            if missing:
                raise ApiError(422, f"missing field(s): {', '.join(missing)}")
            spec = TenantSpec(org_id=body["org_id"], seed=body["seed"], size=body["size"],
                              token=body.get("token") or DEFAULT_TOKEN,
                              timezone=body.get("timezone") or DEFAULT_TIMEZONE,
                              attendance_days=body.get("attendance_days", 5),
                              realtime_clock=body.get("realtime_clock", True),
                              reference_style="id" if body.get("reference_style") is None else body["reference_style"],
                              leave_allocations=body.get("leave_allocations"),
                              clock_start=body.get("clock_start"), attendance_months=body.get("attendance_months"))
            try:
                spec.validate()
                tenant, created = await asyncio.to_thread(store.create, spec)
            except ValueError as exc:
                raise ApiError(422, str(exc)) from None
            except KeyError:
                raise ApiError(409, f"organization {spec.org_id!r} exists with other parameters") from None
            info = tenant.info()
            return _json(info, 201 if created else 200)
        return await control(run)

    @app.get("/_control/tenants")
    async def list_tenants() -> Response:
        return _json([t.info() for t in store])

    @app.get("/_control/tenants/{org_id}")
    async def tenant_info(org_id: str) -> Response:
        return await control(lambda: control_tenant(org_id).info())

    @app.delete("/_control/tenants/{org_id}")
    async def delete_tenant(org_id: str) -> Response:
        def run() -> Any:
            if not store.delete(org_id):
                raise ApiError(404, f"unknown organization {org_id!r}")
            return {"deleted": org_id}
        return await control(run)

    @app.get("/_control/tenants/{org_id}/records/{entity}")
    async def all_records(org_id: str, entity: str) -> Response:
        def run() -> Response:
            tenant = control_tenant(org_id)
            name = _entity_name(entity)
            with tenant.lock:
                body = orjson.dumps({"data": tenant.records(name)})
            return Response(body, media_type="application/json")
        return await control(run)

    @app.post("/_control/tenants/{org_id}/records/{entity}/{key}")
    async def update_record(org_id: str, entity: str, key: str, request: Request) -> Response:
        async def run() -> Any:
            body = await _body(request)
            tenant = control_tenant(org_id)
            fields = body.get("fields")
            if not isinstance(fields, dict):
                raise ApiError(400, 'body must be {"fields": {...}}')
            return tenant.update_record(_entity_name(entity), key, fields)
        return await control(run)

    @app.delete("/_control/tenants/{org_id}/records/{entity}/{key}")
    async def delete_record(org_id: str, entity: str, key: str) -> Response:
        def run() -> Any:
            control_tenant(org_id).delete_record(_entity_name(entity), key)
            return {"deleted": key}
        return await control(run)

    @app.post("/_control/tenants/{org_id}/employees/{key}/raise")
    async def give_raise(org_id: str, key: str, request: Request) -> Response:
        async def run() -> Any:
            body = await _body(request)
            tenant = control_tenant(org_id)
            emp = tenant.get("employees", key)
            return tenant.give_raise(emp["id"], body.get("salary"))
        return await control(run)

    @app.post("/_control/tenants/{org_id}/employees/{key}/leave-types")
    async def set_leave_types(org_id: str, key: str, request: Request) -> Response:
        async def run() -> Any:
            body = await _body(request)
            tenant = control_tenant(org_id)
            if set(body) != {"leave_types"}:
                raise ApiError(422, 'body must be {"leave_types": ["annual", ...]}')
            return tenant.set_leave_types(key, body["leave_types"])
        return await control(run)

    @app.post("/_control/tenants/{org_id}/advance")
    async def advance(org_id: str, request: Request) -> Response:
        async def run() -> Any:
            body = await _body(request)
            unknown = set(body) - {"hours", "change_fraction", "seed"}
            if unknown:
                raise ApiError(422, f"unknown field(s): {', '.join(sorted(unknown))}")
            tenant = control_tenant(org_id)
            return await asyncio.to_thread(tenant.advance, body.get("hours", 24), body.get("change_fraction", 0.01),
                                           body.get("seed"))
        return await control(run)

    @app.get("/_control/tenants/{org_id}/faults")
    async def get_faults(org_id: str) -> Response:
        return await control(lambda: control_tenant(org_id).faults.to_dict())

    @app.put("/_control/tenants/{org_id}/faults")
    async def put_faults(org_id: str, request: Request) -> Response:
        async def run() -> Any:
            body = await _body(request)
            return control_tenant(org_id).set_faults(body).to_dict()
        return await control(run)

    @app.get("/_control/tenants/{org_id}/stats")
    async def get_stats(org_id: str) -> Response:
        return await control(lambda: control_tenant(org_id).get_stats())

    @app.get("/_control/tenants/{org_id}/arrivals")
    async def get_arrivals(org_id: str) -> Response:
        return await control(lambda: {"arrivals": control_tenant(org_id).get_arrivals()})

    @app.post("/_control/tenants/{org_id}/stats/reset")
    async def reset_stats(org_id: str) -> Response:
        def run() -> Any:
            tenant = control_tenant(org_id)
            tenant.reset_stats()
            return tenant.get_stats()
        return await control(run)

    @app.get("/_control/tenants/{org_id}/changes")
    async def get_changes(org_id: str) -> Response:
        def run() -> Any:
            tenant = control_tenant(org_id)
            with tenant.lock:
                return tenant.changes.to_dict()
        return await control(run)

    @app.post("/_control/tenants/{org_id}/changes/reset")
    async def reset_changes(org_id: str) -> Response:
        def run() -> Any:
            tenant = control_tenant(org_id)
            with tenant.lock:
                tenant.changes.clear()
                return tenant.changes.to_dict()
        return await control(run)

    return app


def _raise_or(body: dict[str, Any] | ApiError) -> dict[str, Any]:
    if isinstance(body, ApiError):
        raise body
    return body
