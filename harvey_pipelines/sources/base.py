"""What an adapter is: a declaration of how one HR system differs from the others.

The engine (``http.HttpEngine``) and the paginators do the talking; an adapter only
declares its auth, its paginator, the path of each entity and how a payload maps onto
the canonical record. Entities that a vendor serves per parent record (leave balances
per employee) declare a fan-out over the parent's ids.
"""

from __future__ import annotations

import datetime as dt
import importlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, ClassVar, Iterable, Iterator, Mapping

from harvey_pipelines.organizations import Organization, System
from harvey_pipelines.records import entity as entity_spec
from harvey_pipelines.sources.errors import ConfigurationError
from harvey_pipelines.sources.http import Auth, HttpEngine, RetryPolicy, Secret
from harvey_pipelines.sources.paging import Paginator, PagingState


@dataclass(frozen=True)
class Endpoint:
    path: str
    # fan-out endpoints are called once per parent id: path holds "{id}"
    fan_out_over: str | None = None


@dataclass
class FetchContext:
    """What a fetch may ask of the warehouse: ids of already synced parent records."""

    parent_ids: Callable[[str], Iterable[str]] = lambda entity: ()


class FanOutPage(list):
    """A page of a fan-out: the rows of whole answers. ``parents`` are the parents whose answer
    was received and names every child by id: such an answer replaces the parent's earlier
    children (those it no longer lists are flagged deleted)."""

    def __init__(self, rows, parent_entity: str, parents: list[str]):
        super().__init__(rows)
        self.parent_entity = parent_entity
        self.parents = parents


class DeletionsPage(list):
    """A page of a change feed that also names records the source says were deleted
    (``deleted_ids``, source ids of the entity fetched): the sync flags them deleted with the
    batch the page ends in, as a reconcile would, without waiting for one."""

    def __init__(self, rows, deleted_ids: list[str]):
        super().__init__(rows)
        self.deleted_ids = deleted_ids


def _identified(rows: list) -> bool:
    return all(isinstance(r, dict) and r.get("id") not in (None, "") for r in rows)


class SourceAdapter:
    hrms_type: ClassVar[str]
    endpoints: ClassVar[dict[str, Endpoint]]
    rate_limit_per_second: ClassVar[float] = 50.0  # a polite default for unknown servers
    fan_out_workers: ClassVar[int] = 8
    # a fan-out fails as misconfigured when more than half of the parents asked answer 404 and
    # at least this many (or all asked, at the end, when fewer): a parent deleted since it was
    # synced answers 404 too, but not most of them
    fan_out_not_found_min: ClassVar[int] = 5

    def __init__(self, org: Organization, credential: Secret | Mapping[str, Secret], retry: RetryPolicy | None = None,
                 system: System | None = None):
        self.org = org
        self.system = system or org.primary_system()
        # secret name (vendors.Vendor.credentials) -> value; ``credential``: a one-secret vendor's
        self.credentials = dict(credential) if isinstance(credential, Mapping) else {"token": credential}
        self.credential = next(iter(self.credentials.values()))
        self.retry = retry

    # -- what an adapter declares -------------------------------------------------
    def auth(self) -> Auth:
        raise NotImplementedError

    def paginator(self) -> Paginator:
        raise NotImplementedError

    def records_from_fan_out(self, entity: str, parent_id: str, body) -> list[dict]:
        """Turn one fan-out answer into payloads (each a flat dict with an ``id``)."""
        raise NotImplementedError

    def to_canonical(self, entity: str, payload: dict) -> dict:
        """Map a payload's field names and shapes onto the canonical record's."""
        return payload

    # -- what the engine does with it ---------------------------------------------
    def engine(self) -> HttpEngine:
        variables = list(self.system.credential_variables().values())
        return HttpEngine(
            self.system.base_url,
            self.auth(),
            name=f"{self.org.id}/{self.hrms_type}",
            retry=self.retry,
            rate_limit_per_second=self.system.rate_limit_per_second or self.rate_limit_per_second,
            credential_hint=f"the environment variable{'s' if len(variables) > 1 else ''} {' and '.join(variables)}",
        )

    def supports(self, entity: str) -> bool:
        return entity in self.endpoints

    def fetch(
        self, engine: HttpEngine, entity: str, since: dt.datetime | None, state: PagingState,
        context: FetchContext | None = None,
    ) -> Iterator[list[dict]]:
        if entity not in self.endpoints:
            raise ConfigurationError(f"{engine.name}: {self.hrms_type} serves no {entity} (it serves "
                                     f"{', '.join(self.endpoints)}); take {entity} from another system")
        endpoint = self.endpoints[entity]
        if endpoint.fan_out_over:
            yield from self._fan_out(engine, entity, endpoint, context or FetchContext(), state)
        else:
            yield from self.paginator().pages(engine, endpoint.path, since, state)

    def _fan_out(self, engine, entity, endpoint, context, state) -> Iterator[FanOutPage]:
        def one(parent_id: str) -> list[dict] | None:
            try:
                body = engine.get_json(endpoint.path.format(id=parent_id)).body
            except ConfigurationError as exc:
                if exc.status == 404:  # gone since it was synced, or a wrong path: counted below
                    return None
                raise
            return self.records_from_fan_out(entity, parent_id, body)

        asked = missing = 0
        ids = iter(context.parent_ids(endpoint.fan_out_over))
        with ThreadPoolExecutor(self.fan_out_workers) as pool:
            while chunk := [i for _, i in zip(range(200), ids)]:
                answers = list(pool.map(one, chunk))
                asked += len(chunk)
                missing += sum(a is None for a in answers)
                self._check_not_found(engine, endpoint, asked, missing, final=False)
                yield FanOutPage(
                    [row for rows in answers if rows for row in rows], endpoint.fan_out_over,
                    [p for p, rows in zip(chunk, answers) if rows is not None and _identified(rows)])
        self._check_not_found(engine, endpoint, asked, missing, final=True)
        if missing:
            state.notes.append(
                f"{missing} of {asked} {endpoint.fan_out_over} answered 404 on {endpoint.path} (deleted at the "
                f"source since they were synced): no answer, so their {entity} were not replaced")

    def _check_not_found(self, engine, endpoint, asked: int, missing: int, final: bool) -> None:
        if missing * 2 > asked and (missing >= self.fan_out_not_found_min or final):
            raise ConfigurationError(
                f"{engine.name}: {missing} of {asked} {endpoint.fan_out_over} answered HTTP 404 on GET "
                f"{endpoint.path} with base_url {self.system.base_url}: that many cannot have been deleted; "
                "check the organization's base_url and the adapter's paths", status=404)


def adapter_class(hrms_type: str) -> type[SourceAdapter]:
    """The adapter of ``hrms_type`` as vendors.VENDORS declares it, its module imported now."""
    from harvey_pipelines.vendors import VENDORS

    try:
        module, _, name = VENDORS[hrms_type].adapter.partition(":")
    except KeyError:
        raise ConfigurationError(f"no adapter for hrms_type {hrms_type!r}") from None
    return getattr(importlib.import_module(module), name)


def serves(org: Organization, entity: str) -> bool:
    """Whether the system that owns ``entity``'s group has it (BambooHR has no attendance): the
    adapters' declarations, read without credentials."""
    return entity in adapter_class(org.system_for(entity_spec(entity).group).hrms_type).endpoints


def _adapter_of(org: Organization, system: System, retry: RetryPolicy | None) -> SourceAdapter:
    secrets = {name: Secret(value) for name, value in system.credentials(org.id).items()}
    return adapter_class(system.hrms_type)(org, secrets, retry=retry, system=system)


def adapter_for(org: Organization, retry: RetryPolicy | None = None) -> SourceAdapter:
    """The adapter that syncs ``org``: its one system's, or, when it takes some entity groups from
    other systems (``Organization.systems``), one that hands each entity to the system owning it."""
    if org.systems:
        adapter_class(org.hrms_type)  # an unknown type fails now, as for one system
        return OrganizationSystems(org, retry)
    return _adapter_of(org, org.primary_system(), retry)


class SystemEngines:
    """The engines of an organization's systems, made when an entity of the system is fetched;
    counts and closing as one engine's (sync.py reads ``api_calls``, ``retries``, ``close``)."""

    def __init__(self) -> None:
        self.engines: dict[str, HttpEngine] = {}

    def of(self, adapter: SourceAdapter) -> HttpEngine:
        key = adapter.system.model_dump_json()
        if key not in self.engines:
            self.engines[key] = adapter.engine()
        return self.engines[key]

    @property
    def name(self) -> str:
        return ", ".join(e.name for e in self.engines.values())

    @property
    def api_calls(self) -> int:
        return sum(e.api_calls for e in self.engines.values())

    @property
    def retries(self) -> int:
        return sum(e.retries for e in self.engines.values())

    def close(self) -> None:
        for engine in self.engines.values():
            engine.close()


class OrganizationSystems(SourceAdapter):
    """An organization whose entity groups come from different systems (HR from BambooHR,
    recruiting from Greenhouse): each entity goes to its group's system, whose credentials are
    read when one of its entities is synced. The Dagster partition stays the organization."""

    hrms_type = "several"
    endpoints = {}

    def __init__(self, org: Organization, retry: RetryPolicy | None = None):
        self.org, self.retry, self.system = org, retry, org.primary_system()
        self.credentials, self.credential = {}, Secret("")
        self._adapters: dict[str, SourceAdapter] = {}

    def adapter(self, entity: str) -> SourceAdapter:
        if entity not in self._adapters:
            self._adapters[entity] = _adapter_of(self.org, self.org.system_for(entity_spec(entity).group), self.retry)
        return self._adapters[entity]

    def engine(self) -> SystemEngines:  # type: ignore[override]
        return SystemEngines()

    def supports(self, entity: str) -> bool:
        return self.adapter(entity).supports(entity)

    def fetch(self, engine, entity, since, state, context=None):  # type: ignore[override]
        adapter = self.adapter(entity)
        yield from adapter.fetch(engine.of(adapter), entity, since, state, context)

    def to_canonical(self, entity: str, payload: dict) -> dict:
        return self.adapter(entity).to_canonical(entity, payload)
