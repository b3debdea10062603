"""Resolve settings into running services: start embedded PostgreSQL/Redis where no URL is configured,
create the roles and database, and migrate. With URLs set, nothing embedded is ever started."""

from __future__ import annotations

import asyncio
from types import TracebackType

import msgspec
import structlog
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from lumen.core.db.migrate import upgrade
from lumen.core.db.roles import bootstrap_embedded
from lumen.core.db.session import async_url
from lumen.core.embedded.postgres import EmbeddedPostgres
from lumen.core.embedded.redis import EmbeddedRedis
from lumen.core.settings import Settings

__all__ = ["EMBEDDED_DATABASE", "EMBEDDED_OWNER", "EmbeddedServices"]

log = structlog.get_logger()

EMBEDDED_DATABASE = "lumen"
EMBEDDED_OWNER = "lumen_owner"


def _as_role(url: str, role: str, database: str) -> str:
    return (
        make_url(url)
        .set(username=role, password=None, database=database)
        .render_as_string(hide_password=False)
    )


async def _bootstrap(superuser_url: str, app_role: str) -> None:
    engine = create_async_engine(async_url(superuser_url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await bootstrap_embedded(conn, owner=EMBEDDED_OWNER, app=app_role, database=EMBEDDED_DATABASE)
    finally:
        await engine.dispose()
    # Extensions need the superuser; tables do not.
    engine = create_async_engine(
        async_url(_as_role(superuser_url, "postgres", EMBEDDED_DATABASE)), isolation_level="AUTOCOMMIT"
    )
    try:
        async with engine.connect() as conn:
            await conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
    finally:
        await engine.dispose()


class EmbeddedServices:
    """`with EmbeddedServices(settings) as resolved:` gives settings whose URLs all point at live servers."""

    def __init__(self, settings: Settings, *, migrate: bool = True) -> None:
        self.settings = settings
        self.migrate = migrate
        self._postgres: EmbeddedPostgres | None = None
        self._redis: EmbeddedRedis | None = None

    def start(self) -> Settings:
        settings = self.settings
        data_path = settings.data_path
        data_path.mkdir(parents=True, exist_ok=True, mode=0o700)
        database = settings.database
        redis = settings.redis
        try:
            if settings.uses_embedded_database:
                self._postgres = EmbeddedPostgres(data_path)
                superuser_url = self._postgres.start()
                asyncio.run(_bootstrap(superuser_url, database.app_role))
                owner_url = _as_role(superuser_url, EMBEDDED_OWNER, EMBEDDED_DATABASE)
                app_url = _as_role(superuser_url, database.app_role, EMBEDDED_DATABASE)
                if self.migrate:
                    asyncio.run(upgrade(owner_url, database.app_role))
                    log.info("db.migrated", database="embedded")
                database = msgspec.structs.replace(database, url=app_url, owner_url=owner_url)
            if settings.uses_embedded_redis:
                self._redis = EmbeddedRedis(data_path)
                redis = msgspec.structs.replace(redis, url=self._redis.start())
        except BaseException:
            self.stop()
            raise
        return settings.with_overrides(database=database, redis=redis)

    def stop(self) -> None:
        if self._redis is not None:
            self._redis.stop()
            self._redis = None
        if self._postgres is not None:
            self._postgres.stop()
            self._postgres = None

    def __enter__(self) -> Settings:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
