"""Per-tenant plugin data cached in each worker: loaded once, dropped everywhere when a change commits, and
never kept when it was read just before a change this worker has already heard about."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from lumen.core.settings import Settings
from lumen.core.tenancy.data_cache import TenantDataCache
from lumen.core.tenancy.invalidation import Invalidation, InvalidationBus

NAME = "interactions:rules"


class Worker:
    """One API worker's cache, listening on the shared Redis like a real worker."""

    def __init__(self, url: str, ttl: float = 300.0) -> None:
        self.client = aioredis.Redis.from_url(url)
        self.bus = InvalidationBus(self.client)
        self.cache = TenantDataCache(ttl_seconds=ttl, bus=self.bus)

    async def start(self) -> None:
        await self.bus.start()
        await asyncio.sleep(0.2)  # let it subscribe

    async def stop(self) -> None:
        await self.bus.stop()
        await self.client.aclose()


@pytest.fixture
async def workers(settings: Settings) -> AsyncIterator[tuple[Worker, Worker]]:
    assert settings.redis.url is not None
    pair = (Worker(settings.redis.url), Worker(settings.redis.url))
    for w in pair:
        await w.start()
    yield pair
    for w in pair:
        await w.stop()


class Store:
    """The data's source of truth, counting reads."""

    def __init__(self) -> None:
        self.value = ["rule-1"]
        self.reads = 0

    async def load(self) -> list[str]:
        self.reads += 1
        return list(self.value)


async def _eventually(predicate, seconds: float = 2.0) -> bool:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds / 0.02)):
        if await predicate():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_a_value_is_loaded_once_then_served_from_memory(workers: tuple[Worker, Worker]) -> None:
    cache, store, tenant = workers[0].cache, Store(), uuid.uuid4()
    assert await cache.get(tenant, NAME, store.load) == ["rule-1"]
    store.value = ["changed without telling anyone"]
    assert await cache.get(tenant, NAME, store.load) == ["rule-1"]
    assert store.reads == 1
    # Other tenants and other names are separate entries.
    assert await cache.get(uuid.uuid4(), NAME, store.load) == ["changed without telling anyone"]
    assert await cache.get(tenant, "other:thing", store.load) == ["changed without telling anyone"]


async def test_a_change_reaches_this_worker_at_once_and_the_other_within_moments(
    workers: tuple[Worker, Worker],
) -> None:
    here, there = workers
    store, tenant, neighbour = Store(), uuid.uuid4(), uuid.uuid4()
    for w in workers:
        await w.cache.get(tenant, NAME, store.load)
        await w.cache.get(neighbour, NAME, store.load)
    store.value = ["rule-1", "rule-2"]
    await here.cache.forget(tenant, NAME)
    assert await here.cache.get(tenant, NAME, store.load) == ["rule-1", "rule-2"]

    async def other_sees_it() -> bool:
        return await there.cache.get(tenant, NAME, store.load) == ["rule-1", "rule-2"]

    assert await _eventually(other_sees_it)
    # The neighbour's entry was not touched.
    reads = store.reads
    await there.cache.get(neighbour, NAME, store.load)
    assert store.reads == reads


async def test_a_load_that_raced_with_a_change_is_answered_but_not_kept(
    workers: tuple[Worker, Worker],
) -> None:
    cache, tenant = workers[0].cache, uuid.uuid4()
    store = Store()

    async def slow_old_read() -> list[str]:
        old = await store.load()
        # The change commits and is announced while this read is still on its way back.
        store.value = ["new"]
        await cache.forget(tenant, NAME)
        return old

    assert await cache.get(tenant, NAME, slow_old_read) == ["rule-1"]
    assert await cache.get(tenant, NAME, store.load) == ["new"]


async def test_a_tenant_note_drops_everything_of_that_tenant_only() -> None:
    cache, store = TenantDataCache(ttl_seconds=300), Store()
    tenant, other = uuid.uuid4(), uuid.uuid4()
    for t in (tenant, other):
        await cache.get(t, NAME, store.load)
        await cache.get(t, "glossary:terms", store.load)
    cache._on_invalidation(Invalidation(kind="tenant", tenant_id=str(tenant)))
    assert store.reads == 4
    await cache.get(tenant, NAME, store.load)
    await cache.get(tenant, "glossary:terms", store.load)
    assert store.reads == 6
    await cache.get(other, NAME, store.load)
    assert store.reads == 6
    # Keys notes are for the key cache; an interrupted channel (None) drops everything.
    cache._on_invalidation(Invalidation(kind="keys", tenant_id=str(other)))
    await cache.get(other, NAME, store.load)
    assert store.reads == 6
    cache._on_invalidation(None)
    await cache.get(other, NAME, store.load)
    assert store.reads == 7


async def test_entries_expire_when_no_note_comes() -> None:
    cache, store, tenant = TenantDataCache(ttl_seconds=0.05), Store(), uuid.uuid4()
    await cache.get(tenant, NAME, store.load)
    await asyncio.sleep(0.08)
    await cache.get(tenant, NAME, store.load)
    assert store.reads == 2
