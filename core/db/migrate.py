"""Run Alembic migrations programmatically (on start with embedded defaults, or `lumen db upgrade`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from lumen.core.db.roles import grant_app_privileges
from lumen.core.db.session import async_url

__all__ = ["alembic_config", "upgrade"]

log = structlog.get_logger()


def alembic_config() -> Config:
    import lumen.migrations

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(lumen.migrations.__file__).parent))
    return cfg


def _upgrade(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


# Held for the whole upgrade, so two processes starting at once do not both migrate.
_LOCK_KEY = 7406251


async def _lock(conn: AsyncConnection) -> None:
    """Take the migration lock, polling. A process blocked in pg_advisory_lock() sits in an open
    transaction, and CREATE INDEX CONCURRENTLY in the process holding the lock waits for every open
    transaction to finish: each would wait for the other (PostgreSQL reports a deadlock). Between polls this
    one holds no transaction."""
    waited = False
    while True:
        got = (await conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": _LOCK_KEY})).scalar()
        await conn.commit()
        if got:
            return
        if not waited:
            log.info("db.migration_waiting", reason="another process is migrating")
            waited = True
        await asyncio.sleep(0.25)


async def upgrade(owner_url: str, app_role: str, revision: str = "head") -> None:
    """Migrate to `revision` as the owner, then (re)grant the application role its privileges.

    Each migration commits in its own transaction (migrations/env.py), so one may leave its transaction
    for work PostgreSQL refuses inside one, such as `CREATE INDEX CONCURRENTLY` on a table in use. A
    session-level advisory lock, not a transaction-level one, therefore keeps a second process out until the
    last migration and the grants are done; the second then finds nothing left to do."""
    engine = create_async_engine(async_url(owner_url))
    try:
        async with engine.connect() as conn:
            await _lock(conn)
            try:
                await conn.run_sync(_upgrade, revision)
                await conn.commit()
                await grant_app_privileges(conn, app_role)
                await conn.commit()
            finally:
                await conn.rollback()  # whatever a failure left open, so that the unlock can run
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _LOCK_KEY})
                await conn.commit()
    finally:
        await engine.dispose()
