"""Migrations as a deployment runs them: from an empty database to the head, by several processes at once."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from lumen.core.db.migrate import alembic_config, upgrade
from lumen.core.db.session import async_url
from lumen.core.settings import Settings


@pytest.fixture
async def empty_database(settings: Settings) -> AsyncIterator[str]:
    """A new, empty database on the embedded server, made as it makes its own (roles exist, the superuser
    adds the `vector` extension); the owner's URL."""
    assert settings.database.owner_url is not None
    name = "lumen_migrate_" + secrets.token_hex(4)
    owner = make_url(settings.database.owner_url)
    superuser = owner.set(username="postgres", password=None)
    admin = create_async_engine(
        async_url(superuser.render_as_string(hide_password=False)), isolation_level="AUTOCOMMIT"
    )
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}" OWNER "{owner.username}"'))
    inside = create_async_engine(
        async_url(superuser.set(database=name).render_as_string(hide_password=False)),
        isolation_level="AUTOCOMMIT",
    )
    async with inside.connect() as conn:
        await conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
    await inside.dispose()
    yield owner.set(database=name).render_as_string(hide_password=False)
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    await admin.dispose()


async def test_two_processes_migrating_at_once_leave_one_clean_head(
    empty_database: str, settings: Settings
) -> None:
    # Each migration commits on its own (so one may build an index CONCURRENTLY outside a transaction);
    # the session-level lock still keeps the second upgrade out until the first is done.
    await asyncio.gather(
        upgrade(empty_database, settings.database.app_role),
        upgrade(empty_database, settings.database.app_role),
    )
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    engine = create_async_engine(async_url(empty_database))
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all() == [head]
        invalid = (await conn.execute(text("SELECT count(*) FROM pg_index WHERE NOT indisvalid"))).scalar()
        assert invalid == 0
        # Nobody holds the migration lock any more.
        held = (
            await conn.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"))
        ).scalar()
        assert held == 0
    await engine.dispose()
