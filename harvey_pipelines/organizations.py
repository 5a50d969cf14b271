"""The tenant registry: which organizations we sync, from where, with which credential.

The registry is a YAML file (``settings.organizations_file()``). Each organization is
one Dagster dynamic partition of every entity asset; ``sync_partitions`` keeps the
instance's partitions in step with the file. Credentials are never stored here: an
organization names the environment variable that holds its token.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from dagster import DynamicPartitionsDefinition
from pydantic import BaseModel, ConfigDict, field_validator

from harvey_pipelines import settings

ORGANIZATIONS_PARTITION = "organizations"
organizations_partitions = DynamicPartitionsDefinition(name=ORGANIZATIONS_PARTITION)

SLUG = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
HRMS_TYPES = ("custom",)  # vendor adapters register here as they are built


class RegistryError(ValueError):
    pass


class Organization(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    hrms_type: str = "custom"
    base_url: str
    credential_env: str
    timezone: str = "Asia/Kolkata"
    enabled: bool = True
    # calls per second this organization's HRMS accepts from us (all entities together);
    # empty: the adapter's default
    rate_limit_per_second: float | None = None

    @field_validator("id")
    @classmethod
    def _slug(cls, value: str) -> str:
        if len(value) > 63 or not SLUG.match(value):
            raise ValueError(
                f"organization id {value!r} must be a lowercase slug "
                "(a-z, 0-9, single '-' or '_' between parts, at most 63 characters)"
            )
        return value

    @field_validator("hrms_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in HRMS_TYPES:
            raise ValueError(f"unknown hrms_type {value!r}; known: {', '.join(HRMS_TYPES)}")
        return value

    @field_validator("credential_env")
    @classmethod
    def _env_name(cls, value: str) -> str:
        if not re.match(r"^[A-Z_][A-Z0-9_]*$", value):
            raise ValueError(f"credential_env {value!r} must be an environment variable name")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url {value!r} must start with http:// or https://")
        return value.rstrip("/")

    def credential(self) -> str:
        """The secret itself, read at the moment of use; never stored or logged."""
        value = os.environ.get(self.credential_env)
        if not value:
            raise RegistryError(
                f"organization {self.id!r}: environment variable {self.credential_env} "
                "(its HRMS credential) is not set"
            )
        return value


class OrganizationRegistry:
    """The registry file. Writes are atomic and serialized by a lock file."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else settings.organizations_file()

    def load(self) -> list[Organization]:
        if not self.path.exists():
            return []
        raw = yaml.safe_load(self.path.read_text()) or {}
        orgs = [Organization(**item) for item in raw.get("organizations", [])]
        ids = [o.id for o in orgs]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise RegistryError(f"{self.path}: duplicate organization ids {dupes}")
        return orgs

    def get(self, org_id: str) -> Organization:
        for org in self.load():
            if org.id == org_id:
                return org
        raise RegistryError(f"organization {org_id!r} is not in the registry {self.path}")

    def enabled(self) -> list[Organization]:
        return [o for o in self.load() if o.enabled]

    def add(self, org: Organization, *, replace: bool = False) -> None:
        with self._locked():
            orgs = self.load()
            if any(o.id == org.id for o in orgs) and not replace:
                raise RegistryError(f"organization {org.id!r} already exists")
            orgs = [o for o in orgs if o.id != org.id] + [org]
            self._write(orgs)

    def set_enabled(self, org_id: str, enabled: bool) -> Organization:
        with self._locked():
            orgs = self.load()
            if not any(o.id == org_id for o in orgs):
                raise RegistryError(f"organization {org_id!r} is not in the registry {self.path}")
            orgs = [o.model_copy(update={"enabled": enabled}) if o.id == org_id else o for o in orgs]
            self._write(orgs)
            return next(o for o in orgs if o.id == org_id)

    def _write(self, orgs: list[Organization]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = yaml.safe_dump(
            {"organizations": [o.model_dump() for o in sorted(orgs, key=lambda o: o.id)]},
            sort_keys=False,
        )
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".organizations.")
        with os.fdopen(fd, "w") as handle:
            handle.write(body)
        os.replace(tmp, self.path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield


def sync_partitions(instance, registry: OrganizationRegistry | None = None) -> list[str]:
    """Add a partition for every registered organization; returns the ones added.

    Partitions of disabled or removed organizations are kept, so their history and
    data stay visible; the schedules decide from the registry whom to sync.
    """
    registry = registry or OrganizationRegistry()
    existing = set(instance.get_dynamic_partitions(ORGANIZATIONS_PARTITION))
    new = [o.id for o in registry.load() if o.id not in existing]
    if new:
        instance.add_dynamic_partitions(ORGANIZATIONS_PARTITION, new)
    return new
