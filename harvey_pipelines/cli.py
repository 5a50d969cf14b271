"""The ``harvey`` command: organizations, syncs, the mock HRMS and the demo."""

from __future__ import annotations

import argparse
import sys

from harvey_pipelines import settings
from harvey_pipelines.organizations import Organization, OrganizationRegistry, RegistryError


def _orgs(args) -> int:
    registry = OrganizationRegistry(args.registry)
    if args.orgs_command == "list":
        orgs = registry.load()
        if not orgs:
            print(f"no organizations in {registry.path}")
        for o in orgs:
            state = "enabled" if o.enabled else "disabled"
            print(f"{o.id:<20} {state:<9} {o.hrms_type:<8} {o.timezone:<16} {o.base_url}  (credential: ${o.credential_env})")
        return 0
    if args.orgs_command == "add":
        org = Organization(
            id=args.id, name=args.name or args.id, hrms_type=args.hrms_type, base_url=args.base_url,
            credential_env=args.credential_env, timezone=args.timezone, enabled=not args.disabled,
            rate_limit_per_second=args.rate_limit,
        )
        registry.add(org, replace=args.replace)
        print(f"added {org.id}; its partition appears through the organizations_registry sensor "
              "or at once with `harvey orgs sync-partitions`")
        return 0
    if args.orgs_command in ("disable", "enable"):
        org = registry.set_enabled(args.id, args.orgs_command == "enable")
        print(f"{org.id} is now {'enabled' if org.enabled else 'disabled'}")
        return 0
    if args.orgs_command == "sync-partitions":
        from dagster import DagsterInstance

        from harvey_pipelines.organizations import sync_partitions

        added = sync_partitions(DagsterInstance.get(), registry)
        print(f"added partitions: {', '.join(added) or 'none'}")
        return 0
    raise AssertionError(args.orgs_command)


def _sync(args) -> int:
    from harvey_pipelines.records import ENTITIES
    from harvey_pipelines.sync import SyncFailed, sync_entity, upstream_failed
    from harvey_pipelines.warehouse import Warehouse

    registry = OrganizationRegistry(args.registry)
    org = registry.get(args.org)
    names = [s.name for s in ENTITIES] if args.entity == "all" else args.entity.split(",")
    warehouse = Warehouse()
    if args.confirm_deletes and args.mode != "reconcile":
        print("error: --confirm-deletes goes with --mode reconcile", file=sys.stderr)
        return 2
    status, failed = 0, set()
    for name in names:
        if blocked := upstream_failed(name, failed):
            print(f"{org.id}/{name}: NOT SYNCED: {', '.join(blocked)} failed", file=sys.stderr)
            failed.add(name)
            status = 1
            continue
        try:
            r = sync_entity(org, name, warehouse, mode=args.mode, trigger="manual", triggered_by="cli",
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


def _backfill(args) -> int:
    """Submit one run per organization and entity to the running instance (its queue)."""
    import getpass
    import uuid
    from urllib.parse import urlparse

    from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

    from harvey_pipelines.assets.entities import entity_key
    from harvey_pipelines.assets.jobs import run_config, run_tags, sync_organization_job
    from harvey_pipelines.organizations import ORGANIZATIONS_PARTITION
    from harvey_pipelines.records import ENTITIES, entity

    registry = OrganizationRegistry(args.registry)
    if args.all_orgs:
        orgs = [o.id for o in registry.enabled()]
    else:
        known = {o.id for o in registry.load()}  # the file is read once
        orgs = args.orgs.split(",")
        for org_id in orgs:
            if org_id not in known:
                raise RegistryError(f"organization {org_id!r} is not in the registry {registry.path}")
    entities = [s.name for s in ENTITIES] if args.all_entities else [entity(e).name for e in args.entity.split(",")]
    if not orgs:
        print(f"error: no enabled organizations in {registry.path}", file=sys.stderr)
        return 2
    url = urlparse(args.url)
    client = DagsterGraphQLClient(url.hostname, port_number=url.port, use_https=url.scheme == "https")
    backfill_id = uuid.uuid4().hex[:12]
    mode = "full" if args.full else "incremental"
    submitted = 0
    for org_id in orgs:
        for name in entities:
            try:
                run_id = client.submit_job_execution(
                    sync_organization_job.name,
                    run_config=run_config([name], mode),
                    tags={"dagster/partition": org_id, "harvey/backfill": backfill_id,
                          **run_tags([name], "backfill", f"cli:{getpass.getuser()}")},
                    asset_selection=[list(entity_key(name).path)],
                )
            except DagsterGraphQLClientError as exc:
                print(f"{org_id}/{name}: not submitted: {exc}", file=sys.stderr)
                return 1
            submitted += 1
            print(f"queued {org_id}/{name} ({mode}): run {run_id}")
    print(f"backfill {backfill_id}: {submitted} runs queued on {args.url} "
          f"(partitions dimension: {ORGANIZATIONS_PARTITION}); follow them in the UI")
    return 0


def _demo(args) -> int:
    from harvey_pipelines.demo import run_demo

    return run_demo(port=args.port, keep_mock=args.keep_mock)


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
    add.add_argument("--credential-env", required=True, help="name of the environment variable holding its token")
    add.add_argument("--timezone", default="Asia/Kolkata")
    add.add_argument("--rate-limit", type=float, help="calls per second its HRMS accepts (default: adapter's)")
    add.add_argument("--disabled", action="store_true")
    add.add_argument("--replace", action="store_true", help="overwrite an existing entry")
    for verb in ("disable", "enable"):
        p = orgs_sub.add_parser(verb, help=f"{verb} an organization (its data is kept)")
        p.add_argument("id")
    orgs_sub.add_parser("sync-partitions", help="add Dagster partitions for new organizations now")
    orgs.set_defaults(func=_orgs)

    sync = sub.add_parser("sync", help="sync one organization directly (no Dagster run)")
    sync.add_argument("--org", required=True)
    sync.add_argument("--entity", default="all", help="entity name, comma list, or all")
    sync.add_argument("--mode", default="incremental", choices=["incremental", "full", "reconcile"])
    sync.add_argument("--confirm-deletes", action="store_true",
                      help="reconcile: apply a delete wave it would otherwise hold back (see README, Syncing)")
    sync.set_defaults(func=_sync)

    backfill = sub.add_parser("backfill", help="re-sync organizations through the running instance's queue")
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

    mock = sub.add_parser("mock-hrms", help="the mock HRMS server")
    mock_sub = mock.add_subparsers(dest="mock_command", required=True)
    mock_sub.add_parser("serve", help="serve the mock HRMS (options: harvey mock-hrms serve --help)")

    demo = sub.add_parser("demo", help="the main job: mock HRMS, three organizations, a full sync through Dagster")
    demo.add_argument("--port", type=int, default=8765)
    demo.add_argument("--keep-mock", action="store_true", help="leave the mock HRMS running afterwards")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] == ["mock-hrms", "serve"]:  # its options belong to the mock's own parser
        from harvey_pipelines.mock_hrms import main as mock_main

        return mock_main(argv[2:]) or 0
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # pydantic validation of registry input
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
