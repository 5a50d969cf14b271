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


class FanOutPage(list):
    """A page of a fan-out: the rows of whole answers. ``parents`` are the parents whose answer
    was received and names every child by id: such an answer replaces the parent's earlier
    children (those it no longer lists are flagged deleted)."""

    def __init__(self, rows, parent_entity: str, parents: list[str]):
        super().__init__(rows)
        self.parent_entity = parent_entity
        self.parents = parents


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
                f"{endpoint.path} with base_url {self.org.base_url}: that many cannot have been deleted; "
                "check the organization's base_url and the adapter's paths", status=404)


ADAPTERS: dict[str, type[SourceAdapter]] = {}


def register(cls: type[SourceAdapter]) -> type[SourceAdapter]:
    ADAPTERS[cls.hrms_type] = cls
    return cls


def adapter_for(org: Organization, retry: RetryPolicy | None = None) -> SourceAdapter:
    from harvey_pipelines.sources import bamboohr, custom  # noqa: F401  (register themselves)

    try:
        cls = ADAPTERS[org.hrms_type]
    except KeyError:
        raise ConfigurationError(f"no adapter for hrms_type {org.hrms_type!r}") from None
    return cls(org, Secret(org.credential()), retry=retry)
