"""The tenant registry: which organizations we sync, from where, with which credential.

The registry is a YAML file (``settings.organizations_file()``); each organization becomes a
partition of the entity assets (``assets/partitions.py``; this module knows nothing of
Dagster). Credentials are never stored here: an organization names the environment variable
that holds its token.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from harvey_pipelines import settings
from harvey_pipelines.org_settings import LEAVE_TYPE, HolidayCalendar, LeaveRule, parse_hhmm, parse_weekdays
from harvey_pipelines.vendors import HRMS_TYPES, VENDORS, VendorOptions

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

SLUG = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
# entity groups (records.EntitySpec.group) a second system may own; records imports nothing of ours,
# but the registry is read where the records' models are not needed, so the names are checked here
ENTITY_GROUPS = ("people", "recruiting", "time_off", "attendance")


class RegistryError(ValueError):
    pass


def _known_type(value: str) -> str:
    if value not in HRMS_TYPES:
        raise ValueError(f"unknown hrms_type {value!r}; known: {', '.join(HRMS_TYPES)}")
    return value


def _base_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError(f"base_url {value!r} must start with http:// or https://")
    return value.rstrip("/")


def _credential_names(hrms_type: str, value: str | dict[str, str]) -> str | dict[str, str]:
    """One variable name for a vendor with one secret, ``{secret: variable}`` for one with several."""
    needed = VENDORS[hrms_type].credentials if hrms_type in VENDORS else ("token",)
    names = {needed[0]: value} if isinstance(value, str) and len(needed) == 1 else value
    if not isinstance(names, dict) or sorted(names) != sorted(needed):
        raise ValueError(f"hrms_type {hrms_type!r} needs credential_env as "
                         + (f"{{{', '.join(f'{n}: VARIABLE' for n in needed)}}}" if len(needed) > 1
                            else "one environment variable name"))
    for name in names.values():
        if not isinstance(name, str) or not ENV_NAME.match(name):
            raise ValueError(f"credential_env {name!r} must be an environment variable name")
    return value


def _options(hrms_type: str, value: dict[str, Any] | None) -> VendorOptions:
    """``options`` as the vendor declares them (vendors.Vendor.options)."""
    declared = VENDORS[hrms_type].options if hrms_type in VENDORS else VendorOptions
    try:
        return declared.model_validate(value or {})
    except ValidationError as exc:
        raise ValueError(f"options of a {hrms_type} system: {describe(exc)}") from None


class System(BaseModel):
    """Where some of an organization's entities come from: a vendor, its address and the names of
    the environment variables holding its secrets (never the secrets)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hrms_type: str
    base_url: str
    credential_env: str | dict[str, str]
    # calls per second this system accepts from us; empty: the adapter's default
    rate_limit_per_second: float | None = None
    # vendor settings of this system, as its vendor declares them (vendors.py), e.g. BambooHR's custom_fields
    options: dict[str, Any] | None = None

    @field_validator("hrms_type")
    @classmethod
    def _type(cls, value: str) -> str:
        return _known_type(value)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _base_url(value)

    @model_validator(mode="after")
    def _credentials(self):
        _credential_names(self.hrms_type, self.credential_env)
        _options(self.hrms_type, self.options)
        return self

    def vendor_options(self) -> VendorOptions:
        """``options`` validated by its vendor's model (vendors.Vendor.options)."""
        return _options(self.hrms_type, self.options)

    def credential_variables(self) -> dict[str, str]:
        """secret name -> environment variable name."""
        if isinstance(self.credential_env, str):
            return {VENDORS[self.hrms_type].credentials[0]: self.credential_env}
        return dict(self.credential_env)

    def describe_credentials(self) -> str:
        return ", ".join(f"${v}" for v in self.credential_variables().values())

    def credentials(self, org_id: str) -> dict[str, str]:
        """The secrets themselves, read at the moment of use; never stored or logged."""
        values = {}
        for name, variable in self.credential_variables().items():
            value = os.environ.get(variable) or settings.local_env().get(variable)
            if not value:
                raise RegistryError(
                    f"organization {org_id!r}: environment variable {variable} (its "
                    f"{'HRMS credential' if name == 'token' else f'{self.hrms_type} {name}'}) is not set "
                    f"(nor in {settings.local_env_file()}); "
                    f"set {variable} in the environment of the process that syncs (the Dagster code "
                    "server and daemon, or your shell for harvey sync)"
                )
            values[name] = value
        return values


class Retention(BaseModel):
    """An organization's own retention in days, per kind of data (warehouse/retention.py);
    one left out keeps the HARVEY_RETENTION_*_DAYS default, 0 keeps that kind forever."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    raw_versions_days: int | None = Field(default=None, ge=0)
    quarantine_days: int | None = Field(default=None, ge=0)
    sync_runs_days: int | None = Field(default=None, ge=0)
    dead_letters_days: int | None = Field(default=None, ge=0)


class Organization(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str
    hrms_type: str = "custom"
    base_url: str
    credential_env: str | dict[str, str]
    timezone: str = "Asia/Kolkata"
    enabled: bool = True
    # calls per second this organization's HRMS accepts from us (all entities together);
    # empty: the adapter's default
    rate_limit_per_second: float | None = None
    # vendor settings of its HRMS (System.options)
    options: dict[str, Any] | None = None
    # working-time rules, holidays and leave policy of the marts (org_settings.py publishes
    # them for dbt); empty: the `_default` row of the dbt seed of the same name
    work_start: str | None = Field(default=None, description="start of the working day, local HH:MM")
    grace_minutes: int | None = Field(default=None, ge=0, le=24 * 60)
    standard_hours: float | None = Field(default=None, gt=0, le=24)
    max_daily_overtime_hours: float | None = Field(default=None, ge=0, le=24)
    weekend_days: tuple[str, ...] | None = Field(default=None, description="e.g. [sat, sun]; [] for none")
    holidays: HolidayCalendar | None = None
    leave_policy: dict[str, LeaveRule] | None = Field(default=None, description="leave type: rule")
    # one organization, several systems: entity group (records.EntitySpec.group) -> the system it
    # comes from; groups not named come from the system above (hrms_type, base_url, credential_env)
    systems: dict[str, System] | None = None
    # days each kind of data is kept (Retention); empty: the HARVEY_RETENTION_*_DAYS defaults
    retention: Retention | None = None

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
        return _known_type(value)

    @model_validator(mode="after")
    def _credentials(self):
        _credential_names(self.hrms_type, self.credential_env)
        _options(self.hrms_type, self.options)
        return self

    @field_validator("systems")
    @classmethod
    def _groups(cls, value):
        for group in value or {}:
            if group not in ENTITY_GROUPS:
                raise ValueError(f"systems: unknown entity group {group!r}; known: {', '.join(ENTITY_GROUPS)}")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("work_start", mode="before")
    @classmethod
    def _hhmm(cls, value):
        return None if value is None else parse_hhmm(value)

    @field_validator("weekend_days", mode="before")
    @classmethod
    def _weekdays(cls, value):
        return None if value is None else parse_weekdays(value)

    @field_validator("leave_policy")
    @classmethod
    def _leave_types(cls, value):
        if value is None:
            return None
        for leave_type in value:
            if not LEAVE_TYPE.match(leave_type):
                raise ValueError(
                    f"leave type {leave_type!r} must be lowercase (a-z, 0-9, _), as leave requests name it")
        return dict(sorted(value.items()))

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _base_url(value)

    def primary_system(self) -> System:
        return System(hrms_type=self.hrms_type, base_url=self.base_url, credential_env=self.credential_env,
                      rate_limit_per_second=self.rate_limit_per_second, options=self.options)

    def system_for(self, group: str) -> System:
        """The system the entities of ``group`` come from."""
        return (self.systems or {}).get(group) or self.primary_system()

    def credential(self) -> str:
        """The primary system's one secret (vendors with several: ``System.credentials``)."""
        return next(iter(self.primary_system().credentials(self.id).values()))


class OrganizationRegistry:
    """The registry file. Writes are atomic and serialized by a lock file."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else settings.organizations_file()

    def load(self) -> list[Organization]:
        if not self.path.exists():
            return []
        # libyaml's loader where it is built in (PyPI's wheels have it): a registry of 1,000 organizations
        # is read by every sensor tick and schedule evaluation, ~10x faster than the pure-Python one
        raw = yaml.load(self.path.read_text(), Loader=SAFE_LOADER) or {}
        orgs = []
        for number, item in enumerate(raw.get("organizations") or [], 1):
            try:
                orgs.append(Organization.model_validate(item))
            except ValidationError as exc:
                name = item.get("id") if isinstance(item, dict) else None
                raise RegistryError(f"{self.path}: organization {name or f'#{number}'!r}: {describe(exc)}") from None
        ids = [o.id for o in orgs]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise RegistryError(f"{self.path}: duplicate organization ids {dupes}")
        return orgs

    def get(self, org_id: str) -> Organization:
        for org in self.load():
            if org.id == org_id:
                return org
        raise self.unknown(org_id)

    def unknown(self, org_id: str) -> RegistryError:
        return RegistryError(f"organization {org_id!r} is not in the registry {self.path}")

    def enabled(self) -> list[Organization]:
        return [o for o in self.load() if o.enabled]

    def add(self, org: Organization, *, replace: bool = False) -> None:
        self.add_all([org], replace=replace)

    def add_all(self, added: list[Organization], *, replace: bool = False) -> None:
        """Add several entries in one write of the file (a write per entry is quadratic in them)."""
        with self._locked():
            orgs = self.load()
            new_ids = [o.id for o in added]
            taken = sorted({o.id for o in orgs} & set(new_ids)) if not replace else []
            repeated = sorted({i for i in new_ids if new_ids.count(i) > 1})
            if taken or repeated:
                raise RegistryError(f"organization {(taken or repeated)[0]!r} already exists")
            self._write([o for o in orgs if o.id not in set(new_ids)] + added)

    def set_enabled(self, org_id: str, enabled: bool) -> Organization:
        return self.update(org_id, enabled=enabled)

    def update(self, org_id: str, *, unset: tuple[str, ...] = (), **changes) -> Organization:
        """Change fields of one entry (``unset``: back to their default), validated as a whole;
        the file changes only if the result is valid."""
        with self._locked():
            orgs = self.load()
            current = next((o for o in orgs if o.id == org_id), None)
            if current is None:
                raise self.unknown(org_id)
            values = current.model_dump()
            for name in unset:
                if name not in Organization.model_fields or Organization.model_fields[name].is_required():
                    raise RegistryError(f"{name!r} is not an optional field of an organization")
                values.pop(name)
            try:
                updated = Organization.model_validate({**values, **changes, "id": org_id})
            except ValidationError as exc:
                raise RegistryError(f"organization {org_id!r}: {describe(exc)}") from None
            self._write([updated if o.id == org_id else o for o in orgs])
            return updated

    def remove(self, org_id: str) -> Organization:
        """Drop an entry; returns it. Its warehouse data and Dagster partition are not touched."""
        with self._locked():
            orgs = self.load()
            removed = next((o for o in orgs if o.id == org_id), None)
            if removed is None:
                raise self.unknown(org_id)
            self._write([o for o in orgs if o.id != org_id])
            return removed

    def _write(self, orgs: list[Organization]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = yaml.safe_dump(
            # unset optional fields are left out: the file shows what was chosen
            {"organizations": [o.model_dump(mode="json", exclude_none=True) for o in sorted(orgs, key=lambda o: o.id)]},
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


def describe(exc: ValidationError) -> str:
    """pydantic's errors as one line: ``field: message; ...``."""
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'entry'}: {err['msg'].removeprefix('Value error, ')}"
        for err in exc.errors()
    )
