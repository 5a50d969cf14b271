"""Synchronous Python client of the mock HRMS control API (``/_control``)."""

from __future__ import annotations

from typing import Any

import httpx


class MockHrmsControlError(RuntimeError):
    def __init__(self, status: int, detail: Any):
        super().__init__(f"mock HRMS control API answered {status}: {detail}")
        self.status = status
        self.detail = detail


class MockHrmsControl:
    """``MockHrmsControl("http://127.0.0.1:8765")``: create tenants, read records, advance time,
    switch faults. Change logs are ``{"created"|"updated"|"deleted": {entity: [ids]}}``."""

    def __init__(self, base_url: str, timeout: float = 600.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> "MockHrmsControl":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, json: Any = None) -> Any:
        resp = self._client.request(method, f"/_control{path}", json=json)
        if resp.status_code >= 400:
            try:
                detail = resp.json().get("detail")
            except ValueError:
                detail = resp.text
            raise MockHrmsControlError(resp.status_code, detail)
        return resp.json()

    # tenants
    def create_tenant(self, org_id: str, seed: int, size: int, **kw: Any) -> dict[str, Any]:
        """kw: token, timezone, attendance_days, attendance_months, clock_start ("today",
        "YYYY-MM-DD"), realtime_clock, reference_style ("id", "business_key", "mixed"),
        leave_allocations ({"annual": 24, ...}). Idempotent for equal parameters."""
        return self._call("POST", "/tenants", {"org_id": org_id, "seed": seed, "size": size, **kw})

    def tenants(self) -> list[dict[str, Any]]:
        return self._call("GET", "/tenants")

    def tenant(self, org_id: str) -> dict[str, Any]:
        return self._call("GET", f"/tenants/{org_id}")

    def now(self, org_id: str) -> str:
        """The tenant clock, e.g. ``2026-11-02T09:00:03+05:30``."""
        return self.tenant(org_id)["now"]

    def delete_tenant(self, org_id: str) -> None:
        self._call("DELETE", f"/tenants/{org_id}")

    # records
    def records(self, org_id: str, entity: str) -> list[dict[str, Any]]:
        return self._call("GET", f"/tenants/{org_id}/records/{entity}")["data"]

    def update_record(self, org_id: str, entity: str, id: str, fields: dict[str, Any]) -> dict[str, Any]:
        return self._call("POST", f"/tenants/{org_id}/records/{entity}/{id}", {"fields": fields})

    def give_raise(self, org_id: str, employee_id: str, salary: float) -> dict[str, Any]:
        """Returns ``{"employee", "employment", "previous_employment"?}``."""
        return self._call("POST", f"/tenants/{org_id}/employees/{employee_id}/raise", {"salary": salary})

    def set_leave_types(self, org_id: str, employee_id: str, leave_types: list[str]) -> dict[str, Any]:
        """Only these leave types in the employee's balance answer from now on. Returns
        ``{"id", "leave_types", "created", "deleted"}`` (leave balance ids as the change log has them)."""
        return self._call("POST", f"/tenants/{org_id}/employees/{employee_id}/leave-types",
                          {"leave_types": leave_types})

    def delete_record(self, org_id: str, entity: str, id: str) -> None:
        self._call("DELETE", f"/tenants/{org_id}/records/{entity}/{id}")

    # time
    def advance(self, org_id: str, hours: float = 24, change_fraction: float = 0.01,
                seed: int | None = None) -> dict[str, dict[str, list[str]]]:
        body: dict[str, Any] = {"hours": hours, "change_fraction": change_fraction}
        if seed is not None:
            body["seed"] = seed
        return self._call("POST", f"/tenants/{org_id}/advance", body)

    # faults
    def set_faults(self, org_id: str, **cfg: Any) -> dict[str, Any]:
        """Partial update of the fault config (see ``FaultConfig``); restarts the request counter."""
        return self._call("PUT", f"/tenants/{org_id}/faults", cfg)

    def reset_faults(self, org_id: str) -> dict[str, Any]:
        return self._call("PUT", f"/tenants/{org_id}/faults", {"reset": True})

    def faults(self, org_id: str) -> dict[str, Any]:
        return self._call("GET", f"/tenants/{org_id}/faults")

    # observation
    def stats(self, org_id: str) -> dict[str, Any]:
        return self._call("GET", f"/tenants/{org_id}/stats")

    def arrivals(self, org_id: str) -> list[float]:
        """Arrival times of the tenant's last 10,000 API requests (seconds, the server's
        monotonic clock); ``reset_stats`` clears them."""
        return self._call("GET", f"/tenants/{org_id}/arrivals")["arrivals"]

    def reset_stats(self, org_id: str) -> dict[str, Any]:
        return self._call("POST", f"/tenants/{org_id}/stats/reset")

    def changes(self, org_id: str) -> dict[str, dict[str, list[str]]]:
        return self._call("GET", f"/tenants/{org_id}/changes")

    def reset_changes(self, org_id: str) -> dict[str, dict[str, list[str]]]:
        return self._call("POST", f"/tenants/{org_id}/changes/reset")
