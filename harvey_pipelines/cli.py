"""The ``harvey`` command: organizations, syncs, the mock HRMS and the demo."""

from __future__ import annotations

import argparse
import math
import sys

from pydantic import ValidationError

from harvey_pipelines import settings
from harvey_pipelines.organizations import (
    Organization,
    OrganizationRegistry,
    RegistryError,
    describe,
)

# registry fields the `orgs add` / `orgs set` options of the same name set directly
_SETTINGS = ("timezone", "work_start", "grace_minutes", "standard_hours", "max_daily_overtime_hours")
_UNSETTABLE = ("rate_limit_per_second", "options", "work_start", "grace_minutes", "standard_hours",
               "max_daily_overtime_hours", "weekend_days", "holidays", "leave_policy")


def _credential_env(values: list[str] | None) -> str | dict[str, str] | None:
    """``--credential-env VAR`` (one secret) or ``--credential-env name=VAR`` once per secret."""
    if not values:
        return None
    if len(values) == 1 and "=" not in values[0]:
        return values[0]
    pairs = [v.partition("=") for v in values]
    if any(not sep for _, sep, _ in pairs):
        raise RegistryError("several --credential-env: give each as SECRET=VARIABLE, e.g. client_id=ACME_GH_ID")
    return {name: variable for name, _, variable in pairs}


def _vendor_options(values: list[str] | None, current: dict | None = None) -> dict | None:
    """``--option NAME=VALUE`` once per option onto an entry's ``current`` options; a dotted name
    sets one key of a mapping option (``custom_fields.salary_band=4001``). The vendor's model
    (vendors.py) validates them with the entry."""
    if not values:
        return None
    options = {name: dict(value) if isinstance(value, dict) else value for name, value in (current or {}).items()}
    for item in values:
        name, sep, value = item.partition("=")
        keys = [key.strip() for key in name.split(".")]
        if not sep or not all(keys) or len(keys) > 2:
            raise RegistryError(f"--option {item!r}: expected NAME=VALUE or NAME.KEY=VALUE, "
                                "e.g. custom_fields.salary_band=4001")
        if len(keys) == 1:
            options[keys[0]] = value.strip()
            continue
        mapping = options.setdefault(keys[0], {})
        if not isinstance(mapping, dict):
            raise RegistryError(f"--option {item!r}: option {keys[0]!r} is not a mapping")
        mapping[keys[1]] = value.strip()
    return options


# `harvey orgs` commands that change the registry: each leaves a row in the audit trail
_REGISTRY_CHANGES = ("add", "set", "add-system", "remove-system", "disable", "enable", "remove")
_NOT_OPTIONS = ("func", "command", "orgs_command", "registry", "id")


def _orgs(args) -> int:
    code = _orgs_command(args)
    if code == 0 and args.orgs_command in _REGISTRY_CHANGES:
        from harvey_pipelines.warehouse import Warehouse, audit

        # the options given, by name: their values may name a credential's variable or a URL
        options = sorted(k for k, v in vars(args).items() if k not in _NOT_OPTIONS and v not in (None, False, [], ()))
        warehouse = Warehouse()
        try:
            warehouse.migrate()
            with warehouse.writer() as conn:
                audit.record(conn, "registry_change", actor=audit.cli_actor(), organization_id=args.id,
                             target=f"orgs {args.orgs_command}", details={"options": options})
        finally:
            warehouse.dispose()
    return code


def _orgs_command(args) -> int:
    registry = OrganizationRegistry(args.registry)
    if args.orgs_command == "list":
        orgs = registry.load()
        if not orgs:
            print(f"no organizations in {registry.path}")
        for o in orgs:
            state = "enabled" if o.enabled else "disabled"
            print(f"{o.id:<20} {state:<9} {o.hrms_type:<8} {o.timezone:<16} {o.base_url}  "
                  f"(credential: {o.primary_system().describe_credentials()})")
            for group, system in (o.systems or {}).items():
                print(f"{'':<20} {group + ':':<9} {system.hrms_type:<8} {'':<16} {system.base_url}  "
                      f"(credential: {system.describe_credentials()})")
        return 0
    if args.orgs_command == "show":
        import yaml

        print(yaml.safe_dump(registry.get(args.id).model_dump(mode="json", exclude_none=True), sort_keys=False), end="")
        return 0
    if args.orgs_command == "add":
        values = dict(id=args.id, name=args.name or args.id, hrms_type=args.hrms_type, base_url=args.base_url,
                      credential_env=_credential_env(args.credential_env), enabled=not args.disabled,
                      rate_limit_per_second=args.rate_limit, options=_vendor_options(args.option),
                      **_settings_changes(args, None))
        try:
            org = Organization.model_validate({k: v for k, v in values.items() if v is not None})
        except ValidationError as exc:
            raise RegistryError(f"organization {args.id!r}: {describe(exc)}") from None
        registry.add(org, replace=args.replace)
        print(f"added {org.id}; its partition appears through the organizations_registry sensor "
              "or at once with `harvey orgs sync-partitions`")
        return 0
    if args.orgs_command == "set":
        current = registry.get(args.id)
        changes = {k: v for k, v in dict(name=args.name, base_url=args.base_url,
                                         credential_env=_credential_env(args.credential_env),
                                         rate_limit_per_second=args.rate_limit,
                                         options=_vendor_options(args.option, current.options)).items()
                   if v is not None}
        changes |= _settings_changes(args, current)
        for name in args.unset:
            if name.startswith("leave_policy."):
                policy = dict(changes.get("leave_policy", current.leave_policy) or {})
                if policy.pop(name.split(".", 1)[1], None) is None:
                    raise RegistryError(f"{args.id} has no leave policy for {name.split('.', 1)[1]!r}")
                changes["leave_policy"] = policy or None
            elif name not in _UNSETTABLE:
                raise RegistryError(f"--unset {name!r}: one of {', '.join(_UNSETTABLE)} or leave_policy.<type>")
        unset = tuple(n for n in args.unset if n in _UNSETTABLE)
        if not changes and not unset:
            raise RegistryError("nothing to change: give at least one option (see `harvey orgs set --help`)")
        org = registry.update(args.id, unset=unset, **{k: v for k, v in changes.items() if k not in unset})
        print(f"updated {org.id}; the next sync publishes it for the marts, or now: "
              f"`harvey orgs publish-settings {org.id}`")
        return 0
    if args.orgs_command == "add-system":
        current = registry.get(args.id)
        entry = dict(hrms_type=args.hrms_type, base_url=args.base_url,
                     credential_env=_credential_env(args.credential_env), rate_limit_per_second=args.rate_limit,
                     options=_vendor_options(args.option))
        systems = {k: v.model_dump() for k, v in (current.systems or {}).items()}
        systems[args.group] = {k: v for k, v in entry.items() if v is not None}
        org = registry.update(args.id, systems=systems)
        print(f"{org.id}: {args.group} entities now come from {args.hrms_type} at "
              f"{org.system_for(args.group).base_url}")
        return 0
    if args.orgs_command == "remove-system":
        current = registry.get(args.id)
        systems = {k: v.model_dump() for k, v in (current.systems or {}).items() if k != args.group}
        registry.update(args.id, systems=systems or None)
        print(f"{args.id}: {args.group} entities come from its {current.hrms_type} system again")
        return 0
    if args.orgs_command == "publish-settings":
        from harvey_pipelines.sync import publish_settings
        from harvey_pipelines.warehouse import Warehouse

        orgs = [registry.get(i) for i in args.ids] if args.ids else registry.load()
        warehouse = Warehouse()
        try:
            for org in orgs:
                print(f"{org.id}: {'published' if publish_settings(org, warehouse) else 'unchanged'}")
        finally:
            warehouse.dispose()
        print(f"written to {warehouse}; the marts use them from their next build")
        return 0
    if args.orgs_command in ("disable", "enable"):
        org = registry.set_enabled(args.id, args.orgs_command == "enable")
        print(f"{org.id} is now {'enabled' if org.enabled else 'disabled'}")
        return 0
    if args.orgs_command == "remove":
        org = registry.remove(args.id)
        kept = "its data in the warehouse stays"
        if args.purge_partition:
            from harvey_pipelines.assets.partitions import ORGANIZATIONS_PARTITION

            with _local_instance() as instance:
                instance.delete_dynamic_partition(ORGANIZATIONS_PARTITION, org.id)
            kept += f"; its partition is deleted from the instance in {settings.dagster_home()} (run history stays)"
        else:
            kept += " and so does its partition with its history (as with `harvey orgs disable`)"
        print(f"removed {org.id} from {registry.path}: no longer synced; {kept}")
        return 0
    if args.orgs_command == "sync-partitions":
        from harvey_pipelines.assets.partitions import sync_partitions

        with _local_instance() as instance:
            added = sync_partitions(instance, registry)
        print(f"added partitions: {', '.join(added) or 'none'}")
        return 0
    raise AssertionError(args.orgs_command)


def _local_instance():
    """The local instance unless DAGSTER_HOME names another (settings decides, as for `make dev`)."""
    from dagster import DagsterInstance

    return DagsterInstance.from_config(str(settings.prepare_dagster_home()))


def _settings_changes(args, current: Organization | None) -> dict:
    """Registry values from the settings options; ``current``: the entry they change."""
    changes = {name: getattr(args, name) for name in _SETTINGS if getattr(args, name) is not None}
    if args.weekend is not None:
        changes["weekend_days"] = args.weekend
    calendar = current.holidays.model_dump(mode="json") if current and current.holidays else {}
    changed = dict(calendar, dates=dict(calendar.get("dates") or {}))
    if args.holiday_country is not None:
        changed["country"] = args.holiday_country or None  # '': no country calendar
    if args.holiday_subdivision is not None:
        changed["subdivision"] = args.holiday_subdivision or None
    for item in args.holiday:
        day, _, name = item.partition("=")
        changed["dates"][day.strip()] = name.strip() or "Holiday"
    for day in getattr(args, "remove_holiday", None) or []:
        if changed["dates"].pop(day.strip(), None) is None:
            raise RegistryError(f"{current.id if current else 'the organization'} has no holiday on {day}")
    if changed != dict(calendar, dates=calendar.get("dates") or {}):
        # nothing left: no calendar of its own (the default holidays apply again)
        changes["holidays"] = changed if changed.get("country") or changed["dates"] else None
    if args.leave_policy:
        policy = {k: v.model_dump() for k, v in (current.leave_policy or {}).items()} if current else {}
        for item in args.leave_policy:
            parts = item.split(":")
            if len(parts) not in (2, 3) or not parts[0]:
                raise RegistryError(f"--leave-policy {item!r}: expected TYPE:DAYS[:NOTICE_DAYS], e.g. annual:24:7")
            rule = dict(policy.get(parts[0], {}))
            for field, text in zip(("allocation_days", "min_notice_days"), parts[1:]):
                if text.strip():
                    rule[field] = text.strip()
            policy[parts[0]] = rule
        changes["leave_policy"] = policy
    return changes


def _sync(args) -> int:
    from harvey_pipelines.records import ENTITIES
    from harvey_pipelines.sources.base import serves
    from harvey_pipelines.sync import SyncFailed, sync_entity, upstream_failed
    from harvey_pipelines.warehouse import Warehouse
    from harvey_pipelines.warehouse.audit import cli_actor

    registry = OrganizationRegistry(args.registry)
    org = registry.get(args.org)
    # all: what its systems have (a BambooHR organization has no attendance); named: as asked
    names = [s.name for s in ENTITIES if serves(org, s.name)] if args.entity == "all" else _entity_names(args.entity)
    warehouse = Warehouse()
    if args.confirm_deletes and args.mode != "reconcile":
        print("error: --confirm-deletes goes with --mode reconcile", file=sys.stderr)
        return 2
    status, failed = 0, set[str]()
    for name in names:
        if blocked := upstream_failed(name, failed):
            print(f"{org.id}/{name}: NOT SYNCED: {', '.join(blocked)} failed", file=sys.stderr)
            failed.add(name)
            status = 1
            continue
        try:
            r = sync_entity(org, name, warehouse, mode=args.mode, trigger="manual", triggered_by=cli_actor(),
                            confirm_deletes=args.confirm_deletes)
            print(f"{org.id}/{name}: fetched {r.fetched} inserted {r.inserted} updated {r.updated} "
                  f"unchanged {r.unchanged} quarantined {r.quarantined} deleted {r.deleted} "
                  f"({r.api_calls} calls, {r.duration_seconds:.1f}s)")
            for note in r.notes:
                print(f"{org.id}/{name}: note: {note}")
        except SyncFailed as exc:
            print(f"{org.id}/{name}: FAILED: {exc.result.error}", file=sys.stderr)
            failed.add(name)
            status = 1
    return status


def _retention(args) -> int:
    from harvey_pipelines.warehouse import Warehouse, audit
    from harvey_pipelines.warehouse.retention import enforce

    registry = OrganizationRegistry(args.registry)
    registered = registry.load()
    if args.org is not None:
        registry.get(args.org)  # an unknown id is an error, not an empty purge
    warehouse = Warehouse()
    try:
        results = enforce(warehouse, registered, triggered_by=audit.cli_actor(), only=args.org, dry_run=args.dry_run)
    finally:
        warehouse.dispose()
    for result in results:
        print(result.summary())
    if not results:
        print("no organization holds data in the warehouse")
    return 0


def _migrate(args) -> int:
    from harvey_pipelines.warehouse import Warehouse, migrations

    if args.generate:
        path, by_hand = migrations.generate(args.generate)
        print(f"wrote {path}: review it, then run the tests" if path else
              "nothing to generate: the migrations add every table, column and index the code declares")
        for difference in by_hand:
            print(f"to write by hand: {difference}", file=sys.stderr)
        return 1 if by_hand else 0
    warehouse = Warehouse()
    try:
        head = migrations.head()
        if args.sql:
            with warehouse.writer() as conn:
                current = migrations.known(migrations.revision(conn))
                pending = not (current == head and migrations.is_current(conn))
                dialect = conn.dialect.name
            print(f"-- {warehouse}: {current or 'no revision'} -> {head} (head); nothing is applied")
            print(migrations.upgrade_sql(dialect, current) if pending else "-- nothing to do")
            return 0
        done = warehouse.migrate()
        print(f"{warehouse}: {done.before or 'no revision'} -> {done.after} (head)"
              + ("" if done.applied or done.derived else ": up to date"))
        for script in done.applied:
            print(f"  applied {script.revision}: {script.doc}")
        if done.derived:
            print("  made the view core.record_keys and the table and column comments")
        return 0
    except migrations.WarehouseAhead as exc:
        print(f"error: {warehouse}: {exc}", file=sys.stderr)
        return 1
    finally:
        warehouse.dispose()


def _access(args) -> int:
    from harvey_pipelines.warehouse import Warehouse, access, audit

    roles = access.AccessRoles(settings.current().access_role_prefix)
    warehouse = Warehouse()
    actor = audit.cli_actor()
    try:
        warehouse.migrate()  # the audit trail records every change of access
        if args.access_command == "setup":
            protected = access.setup(warehouse.engine, roles, tuple(args.loader), actor=actor)
            print(f"{warehouse}: roles {roles.loader}, {roles.analyst}, {roles.hr} ready; "
                  f"{protected} mart and masked tables under row-level security"
                  + "".join(f"; {login} is a loader" for login in args.loader))
        elif args.access_command == "grant":
            access.grant(warehouse.engine, roles, args.role, args.org, hr=args.hr, actor=actor)
            print(f"{args.role} reads {args.org}'s " + ("marts and masked tables" if args.hr else "masked tables"))
        elif args.access_command == "revoke":
            access.revoke(warehouse.engine, roles, args.role, args.org, hr_only=args.hr, actor=actor)
            print(f"{args.role}: " + ("no longer HR" if args.hr else f"{args.org or 'every organization'} revoked"))
        else:
            for login, organization_id, kind in access.grants(warehouse.engine, roles):
                print(f"{login:<24} {organization_id:<20} {kind}")
        return 0
    except access.AccessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        warehouse.dispose()


BACKFILL_MUTATION = """
mutation LaunchBackfill($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on Error { message }
  }
}"""


def _publish(args) -> int:
    from harvey_pipelines.warehouse import Warehouse

    warehouse = Warehouse()
    try:
        published = warehouse.publish()
    finally:
        warehouse.dispose()
    print(f"published {published}: analysts and BI tools read it (read-only)" if published
          else f"nothing to publish: readers of {warehouse} never block its writers")
    return 0


def _backfill(args) -> int:
    """Launch one Dagster asset backfill: the selected entity assets over the selected
    organization partitions. Its daemon makes one run per HARVEY_BACKFILL_ORGS_PER_RUN
    organizations (the entity assets' backfill policy), each organization's selected entities
    in dependency order; the UI's Backfills tab shows its progress and cancels it."""
    from harvey_pipelines.assets.entities import MODE_TAG, entity_key
    from harvey_pipelines.assets.jobs import run_tags
    from harvey_pipelines.records import ENTITIES
    from harvey_pipelines.sync import first_line
    from harvey_pipelines.warehouse.audit import cli_actor

    registry = OrganizationRegistry(args.registry)
    if args.all_orgs:
        orgs = [o.id for o in registry.enabled()]
    else:
        known = {o.id for o in registry.load()}  # the file is read once
        orgs = args.orgs.split(",")
        for org_id in orgs:
            if org_id not in known:
                raise registry.unknown(org_id)
    entities = [s.name for s in ENTITIES] if args.all_entities else _entity_names(args.entity)
    if not orgs:
        print(f"error: no enabled organizations in {registry.path}", file=sys.stderr)
        return 2
    if problem := _webserver_problem(args.url):
        print(f"error: no Dagster webserver answers at {args.url} ({problem}); start it (`make dev`) or pass "
              "--url (default $HARVEY_DAGSTER_UI_URL)", file=sys.stderr)
        return 1
    mode = "full" if args.full else "incremental"
    launched_by = cli_actor()
    tags = run_tags(entities, "backfill", launched_by, **{MODE_TAG: mode})
    what = f"{len(entities)} entities" if len(entities) > 1 else entities[0]
    params = {
        "assetSelection": [{"path": list(entity_key(name).path)} for name in entities],
        "partitionNames": orgs,
        "tags": [{"key": key, "value": value} for key, value in tags.items()],
        "title": f"harvey backfill ({mode}): {what} of {len(orgs)} organization(s)",
        "description": f"{mode} sync of {', '.join(entities)} for {', '.join(orgs[:20])}"
                       f"{f' and {len(orgs) - 20} more' if len(orgs) > 20 else ''}, launched by {launched_by}",
    }
    try:
        backfill_id = _launch_backfill(args.url, params)
    except RuntimeError as exc:
        print(f"error: backfill not launched: {first_line(exc)}", file=sys.stderr)
        return 1
    _audit_backfill(launched_by, backfill_id, mode, entities, orgs)
    per_run = settings.current().backfill_orgs_per_run
    print(f"backfill {backfill_id} ({mode}): {', '.join(entities)} of {len(orgs)} organization(s), about "
          f"{math.ceil(len(orgs) / per_run)} run(s) of up to {per_run} organizations, queued by the daemon; "
          f"progress and cancel: {args.url.rstrip('/')}/runs/b/{backfill_id}")
    return 0


def _erase(args) -> int:
    from harvey_pipelines.warehouse import Warehouse, audit
    from harvey_pipelines.warehouse.erasure import ErasureError, erase_many, lift

    subject, references = ("employee", args.employee) if args.employee else ("candidate", args.candidate)
    references = list(dict.fromkeys(references))
    warehouse = Warehouse()
    try:
        if args.lift:
            for reference in references:
                lift(warehouse, args.org, subject, reference, actor=audit.cli_actor())
                print(f"{args.org}: the suppression of {subject} {reference} is lifted; the next sync loads them "
                      "again (it reads their entities in full once)")
            return 0
        results = erase_many(warehouse, args.org, subject, references, actor=audit.cli_actor(),
                             compact=not args.no_compact)
    except ErasureError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        warehouse.dispose()
    for result in results:
        if isinstance(result, ErasureError):
            print(f"error: {result}", file=sys.stderr)
        elif result.already_erased:
            print(f"{args.org}: this {subject} was erased already (tombstone {result.subject_hash[:12]}); "
                  "still suppressed")
        else:
            print(f"{args.org}: {subject} erased (tombstone {result.subject_hash[:12]}), suppressed until "
                  f"`harvey erase --lift`")
            for what, counts in (("removed", result.removed), ("blanked in other records", result.blanked)):
                for table, n in sorted(counts.items()):
                    print(f"  {what}: {table} {n}")
    return 2 if any(isinstance(r, ErasureError) for r in results) else 0


def _audit_backfill(actor: str, backfill_id: str, mode: str, entities: list[str], orgs: list[str]) -> None:
    from harvey_pipelines.warehouse import Warehouse, audit

    warehouse = Warehouse()
    try:
        warehouse.migrate()
        with warehouse.writer() as conn:
            for org_id in orgs:
                audit.record(conn, "backfill", actor=actor, organization_id=org_id, target=",".join(entities),
                             details={"backfill_id": backfill_id, "mode": mode})
    finally:
        warehouse.dispose()


def _compact(args) -> int:
    from harvey_pipelines.warehouse import Warehouse
    from harvey_pipelines.warehouse.erasure import compact

    warehouse = Warehouse()
    try:
        tables = compact(warehouse)
    finally:
        warehouse.dispose()
    print(f"rewritten: {'the whole file' if warehouse.dialect.name == 'duckdb' else ', '.join(tables)}")
    return 0


def _launch_backfill(url: str, params: dict) -> str:
    """The id of the backfill the webserver at ``url`` launched; RuntimeError saying why not
    (the GraphQL error, never the query)."""
    import httpx

    try:
        response = httpx.post(f"{url.rstrip('/')}/graphql",
                              json={"query": BACKFILL_MUTATION, "variables": {"params": params}}, timeout=60)
    except httpx.HTTPError as exc:
        raise RuntimeError(str(exc) or type(exc).__name__) from None
    try:
        answer = response.json()  # GraphQL errors come with 200 or 400, in the body
    except ValueError:
        raise RuntimeError(f"HTTP {response.status_code} from {url}/graphql, not a GraphQL answer") from None
    if answer.get("errors") or not answer.get("data"):
        raise RuntimeError((answer.get("errors") or [{}])[0].get("message") or f"HTTP {response.status_code}, no data")
    result = answer["data"]["launchPartitionBackfill"]
    if result["__typename"] == "PartitionKeysNotFoundError":
        raise RuntimeError(f"{result['message'].rstrip('.')}: an organization becomes a partition within a minute "
                           "of `harvey orgs add` (the organizations_registry sensor), or at once with "
                           "`harvey orgs sync-partitions`")
    if result["__typename"] != "LaunchBackfillSuccess":
        raise RuntimeError(result.get("message") or result["__typename"])
    return result["backfillId"]


def _entity_names(text: str) -> list[str]:
    """A comma list of entity names; a name that is none raises ValueError naming the known ones."""
    from harvey_pipelines.records import ENTITIES_BY_NAME

    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in ENTITIES_BY_NAME]
    if unknown or not names:
        raise ValueError(f"unknown entity {', '.join(map(repr, unknown)) or repr(text)}; known: "
                         f"{', '.join(ENTITIES_BY_NAME)}")
    return names


def _webserver_problem(url: str) -> str | None:
    """Why the Dagster webserver at ``url`` does not answer, in one line; None when it does."""
    import httpx

    try:
        httpx.get(f"{url.rstrip('/')}/server_info", timeout=10).raise_for_status()
    except httpx.HTTPStatusError as exc:
        return f"HTTP {exc.response.status_code} on /server_info: is it a Dagster webserver?"
    except httpx.HTTPError as exc:
        return " ".join(str(exc).split())[:200] or type(exc).__name__
    return None


def _demo(args) -> int:
    from harvey_pipelines.demo import run_demo

    return run_demo(port=args.port, keep_mock=args.keep_mock, verbose=args.verbose)


def _option_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--option", action="append", metavar="NAME[.KEY]=VALUE",
                        help="a vendor option of the system (repeatable), e.g. bamboohr's "
                        "custom_fields.salary_band=4001")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harvey", description=__doc__)
    parser.add_argument("--registry", help="organization registry file (default: $HARVEY_ORGANIZATIONS_FILE)")
    sub = parser.add_subparsers(dest="command", required=True)

    orgs = sub.add_parser("orgs", help="the organization registry")
    orgs_sub = orgs.add_subparsers(dest="orgs_command", required=True)
    orgs_sub.add_parser("list", help="list registered organizations")
    add = orgs_sub.add_parser("add", help="register an organization")
    add.add_argument("id", help="lowercase slug, e.g. acme")
    add.add_argument("--name")
    add.add_argument("--hrms-type", default="custom")
    add.add_argument("--base-url", required=True)
    add.add_argument("--credential-env", required=True, action="append", metavar="[SECRET=]VARIABLE",
                     help="environment variable holding its token; a vendor with several secrets takes one "
                     "SECRET=VARIABLE each (greenhouse: client_id=... and client_secret=...)")
    add.add_argument("--rate-limit", type=float, help="calls per second its HRMS accepts (default: adapter's)")
    _option_option(add)
    add.add_argument("--disabled", action="store_true")
    add.add_argument("--replace", action="store_true", help="overwrite an existing entry")
    _settings_options(add)
    edit = orgs_sub.add_parser("set", help="change an organization's entry (written atomically, validated first)")
    edit.add_argument("id")
    edit.add_argument("--name")
    edit.add_argument("--base-url")
    edit.add_argument("--credential-env", action="append", metavar="[SECRET=]VARIABLE")
    edit.add_argument("--rate-limit", type=float)
    _option_option(edit)
    _settings_options(edit)
    edit.add_argument("--remove-holiday", action="append", default=[], metavar="DATE",
                      help="drop an explicit holiday (repeatable)")
    edit.add_argument("--unset", action="append", default=[], metavar="FIELD",
                      help=f"back to the default: {', '.join(_UNSETTABLE)}, or leave_policy.<type> (repeatable)")
    system = orgs_sub.add_parser(
        "add-system", help="take one entity group (people, recruiting, time_off, attendance) from another system")
    system.add_argument("id")
    system.add_argument("group", help="entity group, e.g. recruiting")
    system.add_argument("--hrms-type", required=True)
    system.add_argument("--base-url", required=True)
    system.add_argument("--credential-env", required=True, action="append", metavar="[SECRET=]VARIABLE")
    system.add_argument("--rate-limit", type=float)
    _option_option(system)
    drop_system = orgs_sub.add_parser("remove-system", help="take an entity group from the main system again")
    drop_system.add_argument("id")
    drop_system.add_argument("group")
    show = orgs_sub.add_parser("show", help="an organization's entry, as the registry holds it")
    show.add_argument("id")
    publish = orgs_sub.add_parser(
        "publish-settings", help="write organization settings to the warehouse for the marts now (a sync does it too)")
    publish.add_argument("ids", nargs="*", help="organizations (default: every one in the registry)")
    for verb in ("disable", "enable"):
        p = orgs_sub.add_parser(verb, help=f"{verb} an organization (its data is kept)")
        p.add_argument("id")
    remove = orgs_sub.add_parser(
        "remove", help="drop an organization from the registry (its data and partition are kept)")
    remove.add_argument("id")
    remove.add_argument("--purge-partition", action="store_true",
                        help="also delete its partition from the Dagster instance (DAGSTER_HOME or the local one)")
    orgs_sub.add_parser("sync-partitions", help="add Dagster partitions for new organizations now")
    orgs.set_defaults(func=_orgs)

    sync = sub.add_parser("sync", help="sync one organization directly (no Dagster run)")
    sync.add_argument("--org", required=True)
    sync.add_argument("--entity", default="all", help="entity name, comma list, or all")
    sync.add_argument("--mode", default="incremental", choices=["incremental", "full", "reconcile"])
    sync.add_argument("--confirm-deletes", action="store_true",
                      help="reconcile: apply a delete wave it would otherwise hold back (see README, Syncing)")
    sync.set_defaults(func=_sync)

    migrate = sub.add_parser("migrate", help="bring the warehouse's schema to this release (every sync does it too)")
    how = migrate.add_mutually_exclusive_group()
    how.add_argument("--sql", action="store_true", help="print the SQL the upgrade would run; change nothing")
    how.add_argument("--generate", metavar="MESSAGE",
                     help="write the revision that a change of records.py or warehouse/schema.py needs (developers)")
    migrate.set_defaults(func=_migrate)

    access = sub.add_parser("access", help="PostgreSQL roles and per-organization access (README: Personal data)")
    access_sub = access.add_subparsers(dest="access_command", required=True)
    access_setup = access_sub.add_parser(
        "setup", help="create or update the loader, analyst and HR roles, grants and row-level security (idempotent)")
    access_setup.add_argument("--loader", action="append", default=[], metavar="LOGIN",
                              help="make this login a member of the loader role (repeatable)")
    access_grant = access_sub.add_parser("grant", help="let a login read an organization's masked tables")
    access_grant.add_argument("--role", required=True, metavar="LOGIN", help="the login role (created beforehand)")
    access_grant.add_argument("--org", required=True, help="organization id")
    access_grant.add_argument("--hr", action="store_true", help="also the unmasked marts (the HR role)")
    access_revoke = access_sub.add_parser("revoke", help="take an organization (or HR, or everything) from a login")
    access_revoke.add_argument("--role", required=True, metavar="LOGIN")
    what = access_revoke.add_mutually_exclusive_group(required=True)
    what.add_argument("--org", help="organization id")
    what.add_argument("--all", action="store_true", help="every organization")
    what.add_argument("--hr", action="store_true", help="only the unmasked marts")
    access_sub.add_parser("list", help="every login's organizations")
    access.set_defaults(func=_access)

    retention = sub.add_parser("retention", help="remove what is past its retention (README: Retention)")
    retention_sub = retention.add_subparsers(dest="retention_command", required=True)
    retention_run = retention_sub.add_parser("run", help="purge every organization's expired raw versions, "
                                             "quarantine rows, sync runs and dead letters now")
    retention_run.add_argument("--org", help="only this organization")
    retention_run.add_argument("--dry-run", action="store_true", help="count what would go; remove nothing")
    retention.set_defaults(func=_retention)

    publish_copy = sub.add_parser("publish", help="publish the DuckDB warehouse's read-only copy for analysts now "
                                  "(every dbt build does it too)")
    publish_copy.set_defaults(func=_publish)

    backfill = sub.add_parser(
        "backfill", help="re-sync organizations: one Dagster backfill on the running instance (UI: Backfills tab)")
    which = backfill.add_mutually_exclusive_group(required=True)
    which.add_argument("--entity", help="entity name or comma list")
    which.add_argument("--all-entities", action="store_true")
    orgs_group = backfill.add_mutually_exclusive_group(required=True)
    orgs_group.add_argument("--orgs", help="comma list of organization ids")
    orgs_group.add_argument("--all-orgs", action="store_true", help="every enabled organization")
    backfill.add_argument("--full", action="store_true", help="ignore cursors: re-read everything (no duplicates)")
    backfill.add_argument("--url", default=settings.dagster_ui_url(),
                          help="the Dagster webserver (default $HARVEY_DAGSTER_UI_URL or http://127.0.0.1:3000)")
    backfill.set_defaults(func=_backfill)

    erase = sub.add_parser("erase", help="GDPR erasure of one person, and their suppression until lifted "
                           "(see README, Erasure and audit trail)")
    erase.add_argument("--org", required=True)
    person = erase.add_mutually_exclusive_group(required=True)
    person.add_argument("--employee", metavar="ID", action="append",
                        help="the employee's source id or employee number; repeated for several: "
                             "each in its own transaction, then one rewrite and publication for all")
    person.add_argument("--candidate", metavar="ID", action="append",
                        help="the candidate's source id or candidate code; several as for --employee")
    erase.add_argument("--lift", action="store_true",
                       help="lift the person's suppression instead: the next sync loads them again")
    erase.add_argument("--no-compact", action="store_true",
                       help="skip rewriting what held them (DuckDB: the file; PostgreSQL: VACUUM FULL of the tables); "
                            "their bytes stay in the files until `harvey compact`")
    erase.set_defaults(func=_erase)

    compact_parser = sub.add_parser("compact", help="rewrite what erasures touched, so that no bytes of erased "
                                    "people stay in the files (after `harvey erase --no-compact`)")
    compact_parser.set_defaults(func=_compact)

    mock = sub.add_parser("mock-hrms", help="the mock HRMS server")
    mock_sub = mock.add_subparsers(dest="mock_command", required=True)
    mock_sub.add_parser("serve", help="serve the mock HRMS (options: harvey mock-hrms serve --help)")

    demo = sub.add_parser("demo", help="the main job: mock HRMS, three organizations, a full sync through Dagster")
    demo.add_argument("--port", type=int, default=8765)
    demo.add_argument("--keep-mock", action="store_true", help="leave the mock HRMS running afterwards")
    demo.add_argument("--verbose", action="store_true",
                      help="print the syncs', dbt's and Dagster's logs here (else they go to data/demo.log)")
    demo.set_defaults(func=_demo)
    return parser


def _settings_options(parser: argparse.ArgumentParser) -> None:
    """What the marts assume of an organization; left out: the dbt seed's `_default`."""
    group = parser.add_argument_group("organization settings (marts)")
    group.add_argument("--timezone", help="IANA time zone of the working day (default Asia/Kolkata)")
    group.add_argument("--work-start", dest="work_start", metavar="HH:MM", help="start of the working day")
    group.add_argument("--grace-minutes", type=int, metavar="N", help="minutes after work start before 'late'")
    group.add_argument("--standard-hours", type=float, metavar="H", help="hours of a standard day")
    group.add_argument("--max-overtime-hours", dest="max_daily_overtime_hours", type=float, metavar="H",
                       help="overtime a day may carry before it is flagged")
    group.add_argument("--weekend", metavar="DAYS", help="non-working days, e.g. sat,sun or fri,sat ('' for none)")
    group.add_argument("--holiday-country", metavar="CC", help="public holidays of a country (ISO code, e.g. NL, IN)")
    group.add_argument("--holiday-subdivision", metavar="CODE", help="state/province of the country, e.g. MH")
    group.add_argument("--holiday", action="append", default=[], metavar="DATE[=NAME]",
                       help="an extra non-working day, e.g. 2027-01-27=Company day (repeatable)")
    group.add_argument("--leave-policy", action="append", default=[], metavar="TYPE:DAYS[:NOTICE]",
                       help="days per year and days of notice of a leave type, e.g. annual:24:7, sick:12 (repeatable)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:2] == ["mock-hrms", "serve"]:  # its options belong to the mock's own parser
            from harvey_pipelines.mock_hrms import main as mock_main

            return mock_main(argv[2:]) or 0
        args = build_parser().parse_args(argv)
        return args.func(args)
    except ModuleNotFoundError as exc:
        if exc.name not in ("fastapi", "uvicorn"):  # the mock HRMS's extra, which says how to install it
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # pydantic validation of registry input
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
