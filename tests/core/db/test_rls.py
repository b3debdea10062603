"""The database wall: row-level security binds the application role even when a query forgets its filter."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from lumen.core.settings import Settings
from tests.conftest import TenantHandle

TENANT_TABLES_SQL = text(
    """
    SELECT c.relname
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind = 'r'
      AND EXISTS (SELECT 1 FROM pg_attribute a
                  WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
    ORDER BY 1
    """
)


async def _tenant_tables(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.scalars(TENANT_TABLES_SQL)).all())


async def test_every_tenant_table_has_enabled_and_forced_rls(owner_engine: AsyncEngine) -> None:
    tables = await _tenant_tables(owner_engine)
    assert {"api_keys", "idempotency_keys"} <= set(tables)
    async with owner_engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    """SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                              (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
                       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = 'public' AND c.relname = ANY(:tables)"""
                ),
                {"tables": [*tables, "tenants"]},
            )
        ).all()
    missing = [name for name, enabled, forced, policies in rows if not (enabled and forced and policies)]
    assert missing == [], f"tables without enabled+forced RLS and a policy: {missing}"
    assert len(rows) == len(tables) + 1


async def test_application_role_is_unprivileged(app_engine: AsyncEngine, settings: Settings) -> None:
    async with app_engine.connect() as conn:
        me = await conn.scalar(text("SELECT current_user"))
        assert me == settings.database.app_role
        role = (
            await conn.execute(
                text(
                    "SELECT rolsuper, rolbypassrls, rolcreaterole, rolcreatedb "
                    "FROM pg_roles WHERE rolname = current_user"
                )
            )
        ).one()
        assert tuple(role) == (False, False, False, False)
        owned = (
            await conn.scalars(
                text(
                    "SELECT c.relname FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner "
                    "WHERE r.rolname = current_user"
                )
            )
        ).all()
        assert owned == []
        owns_schema = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner "
                "WHERE r.rolname = current_user"
            )
        )
        assert owns_schema == 0


async def _visible(engine: AsyncEngine, table: str, tenant: uuid.UUID | None) -> list[uuid.UUID]:
    column = "id" if table == "tenants" else "tenant_id"
    async with engine.begin() as conn:
        if tenant is not None:
            await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(tenant)})
        # Deliberately no WHERE clause: RLS alone must hide other tenants' rows.
        return list((await conn.scalars(text(f"SELECT {column} FROM {table}"))).all())


async def test_raw_select_sees_only_the_set_tenant(
    app_engine: AsyncEngine, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    for table in [*await _tenant_tables(app_engine), "tenants"]:
        seen = await _visible(app_engine, table, tenant_a.id)
        assert set(seen) <= {tenant_a.id}, f"{table} leaks other tenants' rows"
        if table in ("tenants", "api_keys"):
            assert tenant_a.id in seen, f"{table} hides the tenant's own rows"


async def test_raw_select_without_tenant_sees_nothing(
    app_engine: AsyncEngine, tenant_a: TenantHandle
) -> None:
    for table in [*await _tenant_tables(app_engine), "tenants"]:
        assert await _visible(app_engine, table, None) == [], f"{table} visible with no tenant set"


async def test_writes_for_another_tenant_are_refused(
    app_engine: AsyncEngine, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    async with app_engine.begin() as conn:
        await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(tenant_a.id)})
        changed = await conn.execute(
            text("UPDATE api_keys SET name = 'hijacked' WHERE tenant_id = :b"), {"b": tenant_b.id}
        )
        assert changed.rowcount == 0
        deleted = await conn.execute(text("DELETE FROM tenants WHERE id = :b"), {"b": tenant_b.id})
        assert deleted.rowcount == 0
    async with app_engine.connect() as conn:
        await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(tenant_a.id)})
        try:
            await conn.execute(
                text(
                    "INSERT INTO idempotency_keys (id, tenant_id, key, request_hash, method, path) "
                    "VALUES (gen_random_uuid(), :b, 'x', decode(repeat('00', 32), 'hex'), 'POST', '/')"
                ),
                {"b": tenant_b.id},
            )
        except Exception as exc:  # the WITH CHECK clause refuses the row
            assert "row-level security" in str(exc)
        else:
            raise AssertionError("inserting a row for another tenant was allowed")
        finally:
            await conn.rollback()


async def test_tenant_setting_does_not_outlive_its_transaction(
    app_engine: AsyncEngine, tenant_a: TenantHandle
) -> None:
    """SET LOCAL semantics: a pooled connection reused after commit carries no tenant."""
    async with app_engine.connect() as conn:
        await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(tenant_a.id)})
        assert (await conn.scalar(text("SELECT count(*) FROM api_keys"))) >= 1
        await conn.commit()
        assert (await conn.scalar(text("SELECT count(*) FROM api_keys"))) == 0
        assert (await conn.scalar(text("SELECT count(*) FROM tenants"))) == 0


async def test_application_role_cannot_touch_migration_state(app_engine: AsyncEngine) -> None:
    async with app_engine.connect() as conn:
        try:
            await conn.execute(text("SELECT * FROM alembic_version"))
        except Exception as exc:
            assert "permission denied" in str(exc)
        else:
            raise AssertionError("application role can read alembic_version")
