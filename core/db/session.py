"""Engine and scoped sessions.

Every session is created for one Scope (a tenant, or the platform). At each BEGIN the scope is applied with
``set_config(name, value, is_local => true)``, so it lasts exactly one transaction: a pooled connection
never carries a tenant into the next checkout. A session without a scope refuses to begin (fail closed).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, SessionTransaction

from lumen.core.settings import DatabaseSettings
from lumen.core.tenancy.context import Scope

__all__ = ["Database", "ScopedSession", "async_url"]

_SCOPE_KEY = "lumen.scope"
# Sent as driver SQL (no SQLAlchemy compile step): it runs at every BEGIN, on every request's hot path.
_APPLY_SCOPE = "SELECT set_config('lumen.tenant_id', $1, true), set_config('lumen.platform', $2, true)"


class ScopedSession(Session):
    """The sync half of every AsyncSession Lumen makes; carries its Scope in ``info``."""


@event.listens_for(ScopedSession, "after_begin")
def _apply_scope(session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    scope = session.info.get(_SCOPE_KEY)
    if not isinstance(scope, Scope):
        raise RuntimeError("database session has no tenant scope; refusing to run unscoped SQL")
    connection.exec_driver_sql(_APPLY_SCOPE, (str(scope.tenant_id or ""), "on" if scope.platform else ""))


def async_url(url: str) -> str:
    """Accept the usual `postgresql://` spellings and use asyncpg underneath."""
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    return parsed.render_as_string(hide_password=False)


class Database:
    """One engine per process; sessions per unit of work (request or job), each bound to one Scope."""

    def __init__(self, settings: DatabaseSettings, *, url: str | None = None) -> None:
        dsn = url or settings.url
        if dsn is None:
            raise ValueError("no database URL: start the embedded services first or set LUMEN_DATABASE_URL")
        self.engine: AsyncEngine = create_async_engine(
            async_url(dsn),
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            # No pre-ping: it costs three round trips per checkout; a dead connection fails its
            # statement instead and is replaced by the pool (pool_recycle bounds their age).
            pool_recycle=1800,
            echo=settings.echo,
        )
        self._sessions = async_sessionmaker(
            self.engine, expire_on_commit=False, sync_session_class=ScopedSession, autoflush=True
        )

    def session(self, scope: Scope) -> AsyncSession:
        return self._sessions(info={_SCOPE_KEY: scope})

    @asynccontextmanager
    async def transaction(self, scope: Scope) -> AsyncIterator[AsyncSession]:
        """One transaction in `scope`: commits when the block ends cleanly, rolls back otherwise."""
        async with self.session(scope) as session, session.begin():
            yield session

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


def scope_of(session: AsyncSession) -> Scope:
    scope: Any = session.info.get(_SCOPE_KEY)
    if not isinstance(scope, Scope):
        raise RuntimeError("session has no scope")
    return scope
