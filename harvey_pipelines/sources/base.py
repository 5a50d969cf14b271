"""What an adapter is: a declaration of how one HR system differs from the others.

The engine (``http.HttpEngine``) and the paginators do the talking; an adapter only
declares its auth, its paginator, the path of each entity and how a payload maps onto
the canonical record. Entities that a vendor serves per parent record (leave balances
per employee) declare a fan-out over the parent's ids.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, ClassVar, Iterable, Iterator

from harvey_pipelines.organizations import Organization
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


class SourceAdapter:
    hrms_type: ClassVar[str]
    endpoints: ClassVar[dict[str, Endpoint]]
    rate_limit_per_second: ClassVar[float] = 50.0  # a polite default for unknown servers
    fan_out_workers: ClassVar[int] = 8

    def __init__(self, org: Organization, credential: Secret, retry: RetryPolicy | None = None):
        self.org = org
        self.credential = credential
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
        return HttpEngine(
            self.org.base_url,
            self.auth(),
            name=f"{self.org.id}/{self.hrms_type}",
            retry=self.retry,
            rate_limit_per_second=self.org.rate_limit_per_second or self.rate_limit_per_second,
            credential_hint=f"the environment variable {self.org.credential_env}",
        )

    def supports(self, entity: str) -> bool:
        return entity in self.endpoints

    def fetch(
        self, engine: HttpEngine, entity: str, since: dt.datetime | None, state: PagingState,
        context: FetchContext | None = None,
    ) -> Iterator[list[dict]]:
        endpoint = self.endpoints[entity]
        if endpoint.fan_out_over:
            yield from self._fan_out(engine, entity, endpoint, context or FetchContext())
        else:
            yield from self.paginator().pages(engine, endpoint.path, since, state)

    def _fan_out(self, engine, entity, endpoint, context) -> Iterator[list[dict]]:
        def one(parent_id: str) -> list[dict]:
            try:
                body = engine.get_json(endpoint.path.format(id=parent_id)).body
            except ConfigurationError as exc:
                if exc.status == 404:  # the parent vanished since it was synced
                    return []
                raise
            return self.records_from_fan_out(entity, parent_id, body)

        ids = iter(context.parent_ids(endpoint.fan_out_over))
        with ThreadPoolExecutor(self.fan_out_workers) as pool:
            while chunk := [i for _, i in zip(range(200), ids)]:
                page = [row for rows in pool.map(one, chunk) for row in rows]
                if page:
                    yield page


ADAPTERS: dict[str, type[SourceAdapter]] = {}


def register(cls: type[SourceAdapter]) -> type[SourceAdapter]:
    ADAPTERS[cls.hrms_type] = cls
    return cls


def adapter_for(org: Organization, retry: RetryPolicy | None = None) -> SourceAdapter:
    from harvey_pipelines.sources import custom  # noqa: F401  (registers itself)

    try:
        cls = ADAPTERS[org.hrms_type]
    except KeyError:
        raise ConfigurationError(f"no adapter for hrms_type {org.hrms_type!r}") from None
    return cls(org, Secret(org.credential()), retry=retry)
