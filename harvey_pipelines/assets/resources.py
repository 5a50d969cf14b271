"""Dagster resources: the warehouse and the organization registry, chosen by environment."""


from typing import Optional

from dagster import ConfigurableResource
from pydantic import Field

from harvey_pipelines.organizations import OrganizationRegistry
from harvey_pipelines.warehouse import Warehouse

_warehouses: dict[str, Warehouse] = {}


class WarehouseResource(ConfigurableResource):
    """The warehouse. ``url`` empty means HARVEY_WAREHOUSE_URL, else the embedded DuckDB file."""

    url: Optional[str] = Field(default=None, description="SQLAlchemy URL; leave empty to use the environment")

    def get(self) -> Warehouse:
        from harvey_pipelines import settings

        url = self.url or settings.warehouse_url()
        if url not in _warehouses:  # one engine (and pool) per process
            _warehouses[url] = Warehouse(url)
        return _warehouses[url]


class OrganizationsResource(ConfigurableResource):
    """The tenant registry file. ``path`` empty means HARVEY_ORGANIZATIONS_FILE or data/organizations.yaml."""

    path: Optional[str] = Field(default=None, description="path of the registry YAML file")

    def registry(self) -> OrganizationRegistry:
        return OrganizationRegistry(self.path)
