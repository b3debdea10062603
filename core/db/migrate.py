"""Run Alembic migrations programmatically (on start with embedded defaults, or `lumen db upgrade`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from lumen.core.db.roles import grant_app_privileges
from lumen.core.db.session import async_url

__all__ = ["alembic_config", "upgrade"]


def alembic_config() -> Config:
    import lumen.migrations

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(lumen.migrations.__file__).parent))
    return cfg


def _upgrade(connection: Connection, revision: str) -> None:
    cfg = alembic_config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


async def upgrade(owner_url: str, app_role: str, revision: str = "head") -> None:
    """Migrate to `revision` as the owner, then (re)grant the application role its privileges."""
    engine = create_async_engine(async_url(owner_url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_upgrade, revision)
            await grant_app_privileges(conn, app_role)
    finally:
        await engine.dispose()
