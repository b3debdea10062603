"""The hash chain: linear under concurrency, append-only in the database, every kind of tampering found."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from lumen.core.audit.models import AuditEvent
from lumen.core.audit.service import CANONICAL_FIELDS, GENESIS, AuditEntry, AuditTrail, _fields, verify_chain
from lumen.core.db.base import utcnow
from lumen.core.db.session import Database
from lumen.core.settings import Settings
from lumen.core.tenancy.context import Scope
from tests.conftest import TenantHandle


@pytest.fixture(scope="module")
async def database(settings: Settings):  # type: ignore[no-untyped-def]
    db = Database(settings.database)
    yield db
    await db.dispose()


async def _append(db: Database, tenant: uuid.UUID, n: int = 1, action: str = "test.thing") -> None:
    async with db.transaction(Scope.tenant(tenant)) as session:
        await AuditTrail(session, tenant).append(
            [AuditEntry(action=action, resource_id=str(i)) for i in range(n)]
        )


async def _verify(db: Database, tenant: uuid.UUID):  # type: ignore[no-untyped-def]
    async with db.transaction(Scope.tenant(tenant)) as session:
        return await verify_chain(session, tenant)


async def _as_attacker(owner: AsyncEngine, tenant: uuid.UUID, *statements: str) -> None:
    """A database owner bypassing the append-only trigger (it can disable triggers on its own table)."""
    async with owner.begin() as conn:
        await _enter(conn, tenant)
        await conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_immutable"))
        for statement in statements:
            await conn.execute(text(statement), {"t": tenant})
        await conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER audit_events_immutable"))


async def _enter(conn: AsyncConnection, tenant: uuid.UUID) -> None:
    await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(tenant)})


def test_hash_covers_every_field_but_id_and_hash() -> None:
    record = AuditEvent(
        tenant_id=None,
        seq=1,
        occurred_at=utcnow(),
        action="a",
        actor_kind="key",
        outcome="success",
        changed_fields=[],
        details={},
    )
    assert tuple(_fields(None, 1, utcnow(), record, GENESIS)) == CANONICAL_FIELDS
    columns = {c.name for c in AuditEvent.__table__.columns} - {"id", "hash"}
    assert columns == set(CANONICAL_FIELDS)


async def test_fresh_chain_verifies(database: Database) -> None:
    tenant = uuid.uuid4()  # a chain needs no tenant row: the trail outlives deleted tenants
    await _append(database, tenant, 5)
    report = await _verify(database, tenant)
    assert report.ok
    assert report.checked == 5


async def test_fifty_concurrent_writers_keep_one_linear_chain(database: Database) -> None:
    tenant = uuid.uuid4()
    await asyncio.gather(*[_append(database, tenant, 2) for _ in range(50)])
    report = await _verify(database, tenant)
    assert report.ok, report.first_bad
    assert report.checked == 100


async def test_application_role_cannot_change_records(app_engine: AsyncEngine, database: Database) -> None:
    tenant = uuid.uuid4()
    await _append(database, tenant, 1)
    for statement in (
        "UPDATE audit_events SET action = 'x'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "UPDATE audit_heads SET seq = 0 WHERE false",
    ):
        async with app_engine.connect() as conn:
            await _enter(conn, tenant)
            if statement.startswith("UPDATE audit_heads"):
                await conn.execute(text(statement))  # heads are the app's to move forward
                continue
            with pytest.raises(Exception, match="permission denied"):
                await conn.execute(text(statement))
            await conn.rollback()


async def test_owner_is_refused_by_the_trigger(owner_engine: AsyncEngine, database: Database) -> None:
    tenant = uuid.uuid4()
    await _append(database, tenant, 1)
    for statement in (
        "UPDATE audit_events SET action = 'x' WHERE tenant_id = :t",
        "DELETE FROM audit_events WHERE tenant_id = :t",
    ):
        async with owner_engine.connect() as conn:
            await _enter(conn, tenant)
            with pytest.raises(Exception, match="append-only"):
                await conn.execute(text(statement), {"t": tenant})
            await conn.rollback()


@pytest.mark.parametrize(
    ("name", "statements", "bad_seq", "reason"),
    [
        ("edit", ["UPDATE audit_events SET action = 'forged' WHERE tenant_id = :t AND seq = 3"], 3, "edited"),
        ("delete", ["DELETE FROM audit_events WHERE tenant_id = :t AND seq = 2"], 2, "gap"),
        ("delete tail", ["DELETE FROM audit_events WHERE tenant_id = :t AND seq = 5"], 5, "at the end"),
        (
            "swap",
            [
                "UPDATE audit_events SET seq = -2 WHERE tenant_id = :t AND seq = 2",
                "UPDATE audit_events SET seq = 2 WHERE tenant_id = :t AND seq = 3",
                "UPDATE audit_events SET seq = 3 WHERE tenant_id = :t AND seq = -2",
            ],
            2,
            "link",
        ),
        (
            "insert",
            [
                "UPDATE audit_events SET seq = seq + 100 WHERE tenant_id = :t AND seq >= 3",
                "UPDATE audit_events SET seq = seq - 99 WHERE tenant_id = :t AND seq >= 103",
                "INSERT INTO audit_events SELECT gen_random_uuid(), tenant_id, 3, occurred_at, request_id, "
                "actor_kind, actor_key_id, actor_member_id, 'forged', resource_type, resource_id, outcome, "
                "policy_decision_id, changed_fields, details, hash, hash FROM audit_events "
                "WHERE tenant_id = :t AND seq = 2",
            ],
            3,
            "edited",
        ),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
async def test_verify_names_the_first_tampered_record(
    owner_engine: AsyncEngine, database: Database, name: str, statements: list[str], bad_seq: int, reason: str
) -> None:
    tenant = uuid.uuid4()
    await _append(database, tenant, 5)
    assert (await _verify(database, tenant)).ok
    await _as_attacker(owner_engine, tenant, *statements)
    report = await _verify(database, tenant)
    assert not report.ok, name
    assert report.first_bad is not None
    assert report.first_bad["seq"] == bad_seq, report.first_bad
    assert reason in report.first_bad["reason"], report.first_bad


async def test_chains_of_tenants_are_separate(
    database: Database, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    await _append(database, tenant_a.id, 2)
    async with database.transaction(Scope.tenant(tenant_b.id)) as session:
        seen = (
            await session.execute(
                text("SELECT count(*) FROM audit_events WHERE tenant_id = :a"), {"a": tenant_a.id}
            )
        ).scalar_one()
    assert seen == 0


async def test_retention_purge_reanchors_the_chain(settings: Settings, database: Database) -> None:
    """The documented retention job is the one way past the trigger, and the chain still verifies."""
    from lumen.core.audit.service import purge_before

    tenant = uuid.uuid4()
    await _append(database, tenant, 3)
    cutoff = utcnow()
    await _append(database, tenant, 2)
    owner = Database(settings.database, url=settings.database.owner_url)
    try:
        async with owner.transaction(Scope.tenant(tenant)) as session:
            assert await purge_before(session, tenant, cutoff) == 3
    finally:
        await owner.dispose()
    report = await _verify(database, tenant)
    assert report.ok, report.first_bad
    assert report.checked == 2
    await _append(database, tenant, 1)  # appends continue from the head
    assert (await _verify(database, tenant)).checked == 3


async def test_application_role_cannot_purge(database: Database) -> None:
    from lumen.core.audit.service import purge_before

    tenant = uuid.uuid4()
    await _append(database, tenant, 2)
    with pytest.raises(Exception, match="permission denied"):
        async with database.transaction(Scope.tenant(tenant)) as session:
            await purge_before(session, tenant, utcnow())
    assert (await _verify(database, tenant)).checked == 2
