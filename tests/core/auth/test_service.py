"""Key verification cache: fast for a busy key, and revocation still reaches every worker at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis

from lumen.core.auth.service import KeyAuthenticator
from lumen.core.db.session import Database
from lumen.core.http.errors import LumenProblem, Unauthenticated
from lumen.core.settings import Settings
from lumen.core.tenancy.invalidation import InvalidationBus
from tests.conftest import TenantHandle, create_tenant, platform_headers


@pytest.fixture
async def other_worker(settings: Settings) -> AsyncIterator[KeyAuthenticator]:
    """A second worker's authenticator with a long cache, listening on the same Redis."""
    assert settings.redis.url is not None
    db = Database(settings.database)
    client = aioredis.Redis.from_url(settings.redis.url)
    bus = InvalidationBus(client)
    authenticator = KeyAuthenticator(db, None, cache_seconds=300, bus=bus)
    await bus.start()
    await asyncio.sleep(0.2)  # let it subscribe
    yield authenticator
    await bus.stop()
    await client.aclose()
    await db.dispose()


async def _refused_within(authenticator: KeyAuthenticator, key: str, error: type[Exception]) -> bool:
    for _ in range(40):
        try:
            await authenticator.authenticate(key)
        except error:
            return True
        await asyncio.sleep(0.05)
    return False


async def test_cached_key_is_not_looked_up_again(
    other_worker: KeyAuthenticator, tenant_a: TenantHandle, settings: Settings
) -> None:
    first = await other_worker.authenticate(tenant_a.key)
    # Even with the database unreachable for this authenticator, the cached principal answers.
    await other_worker._db.dispose()
    other_worker._db = Database(settings.database, url="postgresql://nobody@127.0.0.1:1/none")
    assert await other_worker.authenticate(tenant_a.key) == first


async def test_revocation_reaches_another_worker(
    other_worker: KeyAuthenticator, client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.post(
        "/v1/keys", json={"name": "cached", "scopes": ["keys:read"]}, headers=tenant_a.headers
    )
    key, key_id = r.json()["key"], r.json()["id"]
    await other_worker.authenticate(key)  # now cached for 300 s
    assert (await client.delete(f"/v1/keys/{key_id}", headers=tenant_a.headers)).status_code == 204
    assert await _refused_within(other_worker, key, Unauthenticated)


async def test_suspension_reaches_another_worker(
    other_worker: KeyAuthenticator, client: httpx.AsyncClient
) -> None:
    tenant = await create_tenant(client)
    await other_worker.authenticate(tenant.key)
    r = await client.patch(
        f"/v1/tenants/{tenant.id}", json={"status": "suspended"}, headers=platform_headers()
    )
    assert r.status_code == 200
    assert await _refused_within(other_worker, tenant.key, LumenProblem)
