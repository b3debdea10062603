"""Scoped sessions: the scope is applied at every BEGIN and a session without one refuses to run."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from lumen.core.db.session import Database
from lumen.core.settings import Settings
from lumen.core.tenancy.context import PLATFORM, Scope
from tests.conftest import TenantHandle


@pytest.fixture(scope="module")
async def database(settings: Settings):  # type: ignore[no-untyped-def]
    db = Database(settings.database)
    yield db
    await db.dispose()


async def test_scope_is_applied_in_every_transaction(database: Database, tenant_a: TenantHandle) -> None:
    session = database.session(Scope.tenant(tenant_a.id))
    async with session:
        for _ in range(2):  # a second transaction on the same session gets the scope again
            async with session.begin():
                assert await session.scalar(text("SELECT current_setting('lumen.tenant_id')")) == str(
                    tenant_a.id
                )
                assert await session.scalar(text("SELECT count(*) FROM tenants")) == 1


async def test_platform_scope_sees_tenants_but_not_tenant_data(
    database: Database, tenant_a: TenantHandle
) -> None:
    async with database.transaction(PLATFORM) as session:
        assert (
            await session.scalar(text("SELECT count(*) FROM tenants WHERE id = :t"), {"t": tenant_a.id}) == 1
        )
        # idempotency records are not platform-readable
        assert await session.scalar(text("SELECT count(*) FROM idempotency_keys")) == 0


async def test_session_without_scope_refuses_to_begin(database: Database) -> None:
    session = database._sessions()  # bypasses Database.session on purpose
    async with session:
        with pytest.raises(RuntimeError, match="no tenant scope"):
            await session.execute(text("SELECT 1"))


def test_scope_is_one_tenant_or_the_platform() -> None:
    with pytest.raises(ValueError, match="never both or neither"):
        Scope(tenant_id=None)
