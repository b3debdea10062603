"""The two database roles (ARCHITECTURE §3): an owner that runs migrations and an application role that
owns nothing, is not superuser and has no BYPASSRLS, so row-level security always binds it."""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

__all__ = ["APPEND_ONLY_TABLES", "bootstrap_embedded", "grant_app_privileges"]

# Tables the application may read and append to but never change.
APPEND_ONLY_TABLES: frozenset[str] = frozenset({"audit_events"})
# Tables the application never touches.
PRIVATE_TABLES = frozenset({"alembic_version"})

_IDENT = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def _ident(name: str) -> str:
    if not _IDENT.match(name):
        raise ValueError(f"invalid role or database name: {name!r}")
    return name


async def bootstrap_embedded(superuser: AsyncConnection, *, owner: str, app: str, database: str) -> None:
    """Create the roles and the database on the embedded server (AUTOCOMMIT connection as superuser)."""
    owner, app, database = _ident(owner), _ident(app), _ident(database)
    for role in (owner, app):
        exists = await superuser.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role})
        if not exists:
            # Local unix socket with trust auth only; production roles get passwords from the DBA.
            await superuser.execute(
                text(
                    f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION"
                )
            )
    if not await superuser.scalar(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database}):
        await superuser.execute(text(f"CREATE DATABASE {database} OWNER {owner}"))


async def grant_app_privileges(owner_conn: AsyncConnection, app: str) -> None:
    """Give the application role DML on every table (minus the exceptions above); run after migrations."""
    app = _ident(app)
    if not await owner_conn.scalar(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": app}):
        raise RuntimeError(f"application role {app!r} does not exist: create it (LOGIN, no BYPASSRLS) first")
    await owner_conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {app}"))
    tables = (
        await owner_conn.scalars(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
    ).all()
    for table in tables:
        await owner_conn.execute(text(f'REVOKE ALL ON TABLE public."{table}" FROM {app}'))
        if table in PRIVATE_TABLES:
            continue
        privileges = "SELECT, INSERT" if table in APPEND_ONLY_TABLES else "SELECT, INSERT, UPDATE, DELETE"
        await owner_conn.execute(text(f'GRANT {privileges} ON TABLE public."{table}" TO {app}'))
    await owner_conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app}"))
