"""The one list of HR systems an organization can sync from: ``hrms_type`` -> where its adapter
lives and which credentials it needs. The registry validates against it without importing any
adapter (nor Dagster); ``sources.base.adapter_for`` imports the adapter's module when a sync
needs it. Adding a vendor is one row here plus its module."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Vendor:
    adapter: str  # "module:ClassName" of its SourceAdapter
    # the secrets it needs, each named by an environment variable in the registry; one secret is
    # named by a plain ``credential_env: VAR``, several by ``credential_env: {name: VAR, ...}``
    credentials: tuple[str, ...] = ("token",)


VENDORS: dict[str, Vendor] = {
    "custom": Vendor("harvey_pipelines.sources.custom:CustomHrmsAdapter"),
    "bamboohr": Vendor("harvey_pipelines.sources.bamboohr:BambooHrAdapter"),  # the secret: its API key
    "greenhouse": Vendor("harvey_pipelines.sources.greenhouse:GreenhouseHarvestAdapter",
                         credentials=("client_id", "client_secret")),
}
HRMS_TYPES = tuple(VENDORS)
