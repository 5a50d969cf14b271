"""The one list of HR systems an organization can sync from: ``hrms_type`` -> where its adapter
lives, which credentials it needs and which options its systems take. The registry validates
against it without importing any adapter (nor Dagster); ``sources.base.adapter_for`` imports the
adapter's module when a sync needs it. Adding a vendor is one row here plus its module."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, field_validator


class VendorOptions(BaseModel):
    """What a system of a vendor is configured with beyond its address and credentials (the
    registry's ``options:``); a vendor that takes options declares a subclass. This one takes none."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class BambooHrOptions(VendorOptions):
    # employee field -> BambooHR field: an id (4001, customField4001), alias or name. Custom field
    # ids differ per company; the sync checks them against the company's /meta/fields
    custom_fields: dict[str, str] = {}

    @field_validator("custom_fields")
    @classmethod
    def _employee_fields(cls, value: dict[str, str]) -> dict[str, str]:
        from harvey_pipelines.records import Employee  # only when an organization maps custom fields

        fields = [n for n in Employee.model_fields if n not in ("id", "updated_at")]
        for name, ref in value.items():
            if name not in fields or not ref.strip():
                raise ValueError(f"{name}: {ref!r}: map an employee field ({', '.join(fields)}) onto a BambooHR "
                                 "field (an id such as 4001, or an alias)")
        return {name: ref.strip() for name, ref in value.items()}


class WorkdayOptions(VendorOptions):
    tenant: str  # the tenant's name in its URLs (/ccx/api/v1/{tenant})
    report_owner: str  # the account that owns the custom reports (RaaS URLs name it)
    terminated_workers_report: str = "Terminated_Workers"
    job_history_report: str = "Job_History"
    # the job-history report's prompt selecting workers changed since an instant, when the tenant's
    # report has one; without it every sync reads the whole history
    changed_since_prompt: str | None = None


# EmployeeTime time type codes (each tenant names its own) -> canonical leave types; a system's
# ``time_types`` option adds to these or overrides them
DEFAULT_TIME_TYPES = {
    "VACATION": "annual", "ANNUAL_LEAVE": "annual", "HOLIDAY": "annual", "TT_VAC_REC": "annual",
    "SICK": "sick", "SICKNESS": "sick", "SICK_LEAVE": "sick", "TT_SICK": "sick",
    "PERSONAL": "casual", "CASUAL": "casual",
    "MATERNITY": "maternity", "MATERNITY_LEAVE": "maternity",
    "PATERNITY": "paternity", "PATERNITY_LEAVE": "paternity",
    "UNPAID": "unpaid", "UNPAID_LEAVE": "unpaid",
}


class SuccessFactorsOptions(VendorOptions):
    # Basic auth is ``username@company_id`` with the password from the environment
    username: str
    company_id: str
    # time type code (EmployeeTime.timeType) -> leave type, over DEFAULT_TIME_TYPES
    time_types: dict[str, str] = {}

    @field_validator("time_types")
    @classmethod
    def _leave_types(cls, value: dict[str, str]) -> dict[str, str]:
        from typing import get_args

        from harvey_pipelines.records import LeaveRequest  # only when an organization maps time types

        known = get_args(LeaveRequest.model_fields["leave_type"].annotation)
        for code, kind in value.items():
            if not code.strip() or kind not in known:
                raise ValueError(f"{code}: {kind!r}: map a time type code onto a leave type ({', '.join(known)})")
        return {code.strip().upper(): kind for code, kind in value.items()}

    def leave_type(self, time_type: str | None) -> str | None:
        """The leave type of a time type code (case does not matter); None when unmapped."""
        if time_type is None:
            return None
        code = time_type.strip().upper()
        return self.time_types.get(code) or DEFAULT_TIME_TYPES.get(code)

    @field_validator("username", "company_id")
    @classmethod
    def _given(cls, value: str) -> str:
        if not value.strip() or "@" in value:
            raise ValueError(f"{value!r}: the API user's name and the company id, each without '@'")
        return value.strip()


@dataclass(frozen=True)
class Vendor:
    adapter: str  # "module:ClassName" of its SourceAdapter
    # the secrets it needs, each named by an environment variable in the registry; one secret is
    # named by a plain ``credential_env: VAR``, several by ``credential_env: {name: VAR, ...}``
    credentials: tuple[str, ...] = ("token",)
    options: type[VendorOptions] = VendorOptions


VENDORS: dict[str, Vendor] = {
    "custom": Vendor("harvey_pipelines.sources.custom:CustomHrmsAdapter"),
    # the secret: its API key
    "bamboohr": Vendor("harvey_pipelines.sources.bamboohr:BambooHrAdapter", options=BambooHrOptions),
    "greenhouse": Vendor("harvey_pipelines.sources.greenhouse:GreenhouseHarvestAdapter",
                         credentials=("client_id", "client_secret")),
    # the secret: the company's API token; base_url ends in /v4/{companyId}
    "employes": Vendor("harvey_pipelines.sources.employes:EmployesAdapter"),
    # REST by OAuth (an API client and its refresh token), reports by an integration user
    "workday": Vendor("harvey_pipelines.sources.workday:WorkdayAdapter",
                      credentials=("client_id", "client_secret", "refresh_token", "report_user", "report_password"),
                      options=WorkdayOptions),
    # the secret: the API user's password; base_url ends in /odata/v2
    "successfactors": Vendor("harvey_pipelines.sources.successfactors:SuccessFactorsAdapter",
                             credentials=("password",), options=SuccessFactorsOptions),
}
HRMS_TYPES = tuple(VENDORS)
