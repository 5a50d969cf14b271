"""Roles and per-organization access on PostgreSQL (README: Personal data).

Three group roles, named ``<prefix>_loader``, ``<prefix>_analyst`` and ``<prefix>_hr``
(HARVEY_ACCESS_ROLE_PREFIX, default ``harvey``); people and services log in as roles of their
own that are members of them:

- the loader writes raw, core and sync (the syncs) and builds the dbt schemas (dbt runs as it);
- an analyst reads the masked tables (``marts_masked``) only;
- HR reads the marts unmasked (and the masked tables).

Which organizations a login may see is a row per (login, organization) in
``access.organization_access``; every table of ``marts`` and ``marts_masked`` has row-level
security whose policy reads it for ``current_user``. dbt drops and creates those tables on
each build, so dbt applies the policy and the grants again (the post-hook
``protect_by_organization``, which calls ``access.protect_table`` made here). Everything here
is idempotent: ``setup`` may run after each release.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa

from harvey_pipelines.warehouse import audit, schema

ACCESS_SCHEMA = "access"
GRANTS_TABLE = f"{ACCESS_SCHEMA}.organization_access"
# what the syncs write (rate_limits: the rate limit's buckets when they live in the warehouse)
INGESTION_SCHEMAS = (schema.RAW, schema.CORE, schema.SYNC, "rate_limits")
# what dbt builds (dbt_project.yml)
MODEL_SCHEMAS = ("staging", "intermediate", "marts", "marts_masked", "seeds")
PROTECTED_SCHEMAS = ("marts", "marts_masked")
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,40}")


class AccessError(ValueError):
    """A request the warehouse cannot do (said so, for the command line)."""


@dataclass(frozen=True)
class AccessRoles:
    prefix: str = "harvey"

    def __post_init__(self):
        if not _NAME.fullmatch(self.prefix):
            raise AccessError(f"role prefix {self.prefix!r}: lower-case letters, digits and _ (e.g. harvey)")

    @property
    def loader(self) -> str:
        return f"{self.prefix}_loader"

    @property
    def analyst(self) -> str:
        return f"{self.prefix}_analyst"

    @property
    def hr(self) -> str:
        return f"{self.prefix}_hr"


def _postgres(engine: sa.Engine) -> None:
    if engine.dialect.name != "postgresql":
        raise AccessError("roles and row-level security are PostgreSQL's; a DuckDB warehouse is one file: "
                          "protect the file (README: Personal data)")


def _create_role(name: str) -> str:
    return (f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') "
            f"THEN CREATE ROLE {name} NOLOGIN; END IF; END $$")


def _protect_function(roles: AccessRoles) -> str:
    return f"""
CREATE OR REPLACE FUNCTION {ACCESS_SCHEMA}.protect_table(target regclass) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    target_schema text := (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                           WHERE c.oid = target);
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', target);
    EXECUTE format('DROP POLICY IF EXISTS organization_access ON %s', target);
    EXECUTE format('CREATE POLICY organization_access ON %s FOR SELECT USING (organization_id IN '
                   '(SELECT organization_id FROM {GRANTS_TABLE} WHERE role_name = current_user))', target);
    EXECUTE format('GRANT SELECT ON %s TO {roles.hr}', target);
    IF target_schema = 'marts_masked' THEN
        EXECUTE format('GRANT SELECT ON %s TO {roles.analyst}', target);
    END IF;
END $fn$"""


def setup_statements(roles: AccessRoles, database: str) -> list[str]:
    """The statements of ``setup``, in order (each idempotent)."""
    loader, analyst, hr = roles.loader, roles.analyst, roles.hr
    ingestion, models = ", ".join(INGESTION_SCHEMAS), ", ".join(MODEL_SCHEMAS)
    statements = [_create_role(name) for name in (loader, analyst, hr)]
    statements += [f"CREATE SCHEMA IF NOT EXISTS {name}" for name in (ACCESS_SCHEMA, *INGESTION_SCHEMAS,
                                                                       *MODEL_SCHEMAS)]
    statements += [
        f"CREATE TABLE IF NOT EXISTS {GRANTS_TABLE} (role_name text NOT NULL, organization_id text NOT NULL, "
        "granted_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (role_name, organization_id))",
        f"COMMENT ON TABLE {GRANTS_TABLE} IS 'The organizations each login may see in marts and marts_masked "
        "(row-level security); written by harvey access grant/revoke'",
        # a reader sees its own grants (the policies of the marts read them as that reader)
        f"ALTER TABLE {GRANTS_TABLE} ENABLE ROW LEVEL SECURITY",
        f"DROP POLICY IF EXISTS own_grants ON {GRANTS_TABLE}",
        f"CREATE POLICY own_grants ON {GRANTS_TABLE} FOR SELECT USING (role_name = current_user)",
        f"GRANT USAGE ON SCHEMA {ACCESS_SCHEMA} TO {loader}, {analyst}, {hr}",
        f"GRANT SELECT ON {GRANTS_TABLE} TO {loader}, {analyst}, {hr}",
        _protect_function(roles),
        f"REVOKE ALL ON FUNCTION {ACCESS_SCHEMA}.protect_table(regclass) FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION {ACCESS_SCHEMA}.protect_table(regclass) TO {loader}",
        # the loader: syncs (raw, core, sync, rate limits) and dbt (creates its schemas' tables)
        f'GRANT CONNECT, CREATE ON DATABASE "{database}" TO {loader}',
        f"GRANT USAGE, CREATE ON SCHEMA {ingestion}, {models} TO {loader}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA {ingestion} TO {loader}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {ingestion} TO {loader}",
        # tables a later migration adds (run by whoever runs `harvey migrate`)
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {ingestion} "
        f"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO {loader}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {ingestion} GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {loader}",
        # readers: the schemas of what they may read, nothing else (the tables: protect_table)
        f'GRANT CONNECT ON DATABASE "{database}" TO {analyst}, {hr}',
        f"GRANT USAGE ON SCHEMA marts_masked TO {analyst}, {hr}",
        f"GRANT USAGE ON SCHEMA marts TO {hr}",
    ]
    return statements


def setup(engine: sa.Engine, roles: AccessRoles, loaders: tuple[str, ...] = (), actor: str = "cli") -> int:
    """Create or bring up to date the roles, the grants table, the function dbt's post-hook
    calls, and protect the marts and masked tables that exist already; make ``loaders`` members
    of the loader role. Returns the number of tables protected now."""
    _postgres(engine)
    with engine.begin() as conn:
        for statement in setup_statements(roles, conn.exec_driver_sql("SELECT current_database()").scalar_one()):
            conn.execute(sa.text(statement))  # text(): the % of format() stays itself
        for login in loaders:
            _require_role(conn, login)
            conn.exec_driver_sql(f"GRANT {roles.loader} TO {_quoted(login)}")
        audit.record(conn, "role_grant", actor=actor, target="setup",
                     details={"roles": [roles.loader, roles.analyst, roles.hr], "loaders": list(loaders)})
        tables = conn.execute(sa.text(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname = ANY(:schemas)"),
            {"schemas": list(PROTECTED_SCHEMAS)}).scalars().all()
        for table in tables:
            conn.execute(sa.text(f"SELECT {ACCESS_SCHEMA}.protect_table(CAST(:t AS regclass))"), {"t": table})
    return len(tables)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _require_role(conn, login: str) -> None:
    if not conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": login}).first():
        raise AccessError(f"no role {login!r} in this PostgreSQL: create the login first "
                          f"(CREATE ROLE {_quoted(login)} LOGIN PASSWORD ...)")


def _require_setup(conn, roles: AccessRoles) -> None:
    if conn.execute(sa.text("SELECT to_regclass(:t)"), {"t": GRANTS_TABLE}).scalar() is None or \
            not conn.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": roles.analyst}).first():
        raise AccessError("the access roles are not set up in this warehouse: run `harvey access setup` first")


def grant(engine: sa.Engine, roles: AccessRoles, login: str, organization_id: str, hr: bool = False,
          actor: str = "cli") -> None:
    """Let ``login`` read the masked tables (and with ``hr`` the marts) of ``organization_id``."""
    _postgres(engine)
    with engine.begin() as conn:
        _require_setup(conn, roles)
        _require_role(conn, login)
        conn.exec_driver_sql(f"GRANT {roles.analyst} TO {_quoted(login)}")
        if hr:
            conn.exec_driver_sql(f"GRANT {roles.hr} TO {_quoted(login)}")
        conn.execute(sa.text(f"INSERT INTO {GRANTS_TABLE} (role_name, organization_id) VALUES (:r, :o) "
                             "ON CONFLICT DO NOTHING"), {"r": login, "o": organization_id})
        audit.record(conn, "role_grant", actor=actor, organization_id=organization_id, target=login,
                     details={"change": "grant", "hr": hr})


def revoke(engine: sa.Engine, roles: AccessRoles, login: str, organization_id: str | None = None,
           hr_only: bool = False, actor: str = "cli") -> None:
    """Take ``organization_id`` (or, with None, every organization) from ``login``; once it has
    none left, or with ``hr_only``, its membership of the reader roles goes too (of HR only)."""
    _postgres(engine)
    with engine.begin() as conn:
        _require_setup(conn, roles)
        _require_role(conn, login)
        if not hr_only:
            conn.execute(sa.text(f"DELETE FROM {GRANTS_TABLE} WHERE role_name = :r "
                                 "AND (CAST(:o AS text) IS NULL OR organization_id = :o)"),
                         {"r": login, "o": organization_id})
        left = conn.execute(sa.text(f"SELECT count(*) FROM {GRANTS_TABLE} WHERE role_name = :r"),
                            {"r": login}).scalar_one()
        if hr_only or not left:
            conn.exec_driver_sql(f"REVOKE {roles.hr} FROM {_quoted(login)}")
        if not left and not hr_only:
            conn.exec_driver_sql(f"REVOKE {roles.analyst} FROM {_quoted(login)}")
        audit.record(conn, "role_grant", actor=actor, organization_id=organization_id, target=login,
                     details={"change": "revoke_hr" if hr_only else "revoke", "organizations_left": left})


def grants(engine: sa.Engine, roles: AccessRoles) -> list[tuple[str, str, str]]:
    """(login, organization, analyst|hr) of every grant."""
    _postgres(engine)
    with engine.connect() as conn:
        _require_setup(conn, roles)
        return [tuple(row) for row in conn.execute(sa.text(
            f"SELECT g.role_name, g.organization_id, CASE WHEN pg_has_role(g.role_name, :hr, 'member') "
            f"THEN 'hr' ELSE 'analyst' END FROM {GRANTS_TABLE} g ORDER BY 1, 2"), {"hr": roles.hr})]
