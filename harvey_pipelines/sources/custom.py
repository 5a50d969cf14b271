"""The custom HRMS adapter (../shared/hrms-api-contract.md): bearer token, page/page_size
lists with ``updated_since``, canonical field names already, leave balances per employee."""

from __future__ import annotations

import orjson

from harvey_pipelines.sources.base import Endpoint, SourceAdapter
from harvey_pipelines.sources.errors import UnreadableResponse
from harvey_pipelines.sources.http import BearerAuth
from harvey_pipelines.sources.paging import UpdatedSinceKeyset


class CustomHrmsAdapter(SourceAdapter):
    hrms_type = "custom"
    rate_limit_per_second = 100.0
    endpoints = {
        "employees": Endpoint("/api/v1/employees"),
        "departments": Endpoint("/api/v1/departments"),
        "employments": Endpoint("/api/v1/employments"),
        "job_requisitions": Endpoint("/api/v1/job-requisitions"),
        "candidates": Endpoint("/api/v1/candidates"),
        "interviews": Endpoint("/api/v1/interviews"),
        "leave_requests": Endpoint("/api/v1/leave-requests"),
        "leave_balances": Endpoint("/api/v1/employees/{id}/leave-balance", fan_out_over="employees"),
        "attendance": Endpoint("/api/v1/attendance"),
    }

    def auth(self):
        return BearerAuth(self.credential)

    def paginator(self):
        return UpdatedSinceKeyset(page_size=100)

    def records_from_fan_out(self, entity, parent_id, body):
        # {"employee_id", "year", "leave_balances": [{"leave_type", ...}]} -> one row per type;
        # the answer replaces the employee's earlier balances, so it must be one
        if not isinstance(body, dict) or not isinstance(body.get("leave_balances"), list):
            raise UnreadableResponse(
                f"{self.org.id}/{self.hrms_type}: the leave balance of employee {parent_id} has no list "
                "under 'leave_balances'", orjson.dumps(body))
        employee_id = str(body.get("employee_id") or parent_id)
        year = body.get("year")
        return [
            {**row, "id": f"{employee_id}:{year}:{row.get('leave_type')}", "employee_id": employee_id, "year": year}
            if isinstance(row, dict) else row  # not an object: quarantined, and the answer not trusted to replace
            for row in body["leave_balances"]
        ]
