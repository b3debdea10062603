"""A per-worker cache of small per-tenant data that a plugin reads on every request (a hospital's own
interaction rules, say), dropped in every worker as soon as a change to it commits.

Entries are keyed by (tenant, name), where the name is the plugin's own (`<plugin>:<what>`). A change
announces a "data" note on the invalidation bus after its commit (`forget_after_commit`): this worker drops
the entry at once, the others when the note arrives (milliseconds). The TTL bounds staleness if the note is
lost (Redis down). A load that raced with a change is not kept: each (tenant, name) has a generation,
bumped by every invalidation, and a value read before the bump is returned to its caller but never cached,
so a worker cannot keep serving what was read just before a commit it has already been told about.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from lumen.core.tenancy.invalidation import Invalidation, InvalidationBus

__all__ = ["TenantDataCache", "forget_after_commit"]

T = TypeVar("T")

_MAX_CACHED = 10_000


class TenantDataCache:
    def __init__(self, *, ttl_seconds: float = 60.0, bus: InvalidationBus | None = None) -> None:
        self._ttl = ttl_seconds
        self._bus = bus
        self._cache: dict[tuple[uuid.UUID, str], tuple[float, Any]] = {}
        self._generation: dict[tuple[uuid.UUID, str], int] = {}
        self._epoch = 0  # bumped when everything is dropped
        if bus is not None:
            bus.subscribe(self._on_invalidation)

    def _on_invalidation(self, note: Invalidation | None) -> None:
        if note is None:
            self._cache.clear()
            self._generation.clear()
            self._epoch += 1
            return
        tenant = note.tenant_uuid
        if tenant is None:
            return
        if note.kind == "data" and note.name:
            self._drop((tenant, note.name))
        elif note.kind == "tenant":  # the tenant changed (or went): nothing of it is kept
            for key in [k for k in self._cache if k[0] == tenant]:
                self._drop(key)

    def _drop(self, key: tuple[uuid.UUID, str]) -> None:
        self._cache.pop(key, None)
        self._generation[key] = self._generation.get(key, 0) + 1

    def _stamp(self, key: tuple[uuid.UUID, str]) -> tuple[int, int]:
        return self._epoch, self._generation.get(key, 0)

    async def get(self, tenant_id: uuid.UUID, name: str, load: Callable[[], Awaitable[T]]) -> T:
        """The cached value, or `load()`'s (kept unless it changed while loading)."""
        key = (tenant_id, name)
        hit = self._cache.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]  # type: ignore[no-any-return]
        before = self._stamp(key)
        value = await load()
        if self._ttl > 0 and self._stamp(key) == before:
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            self._cache[key] = (time.monotonic() + self._ttl, value)
        return value

    async def forget(self, tenant_id: uuid.UUID, name: str) -> None:
        """Drop the entry here and in every other worker (call once the change is committed)."""
        note = Invalidation(kind="data", tenant_id=str(tenant_id), name=name)
        if self._bus is not None:
            await self._bus.announce(note)
        else:
            self._on_invalidation(note)


def forget_after_commit(scope: Any, cache: TenantDataCache, tenant_id: uuid.UUID, name: str) -> None:
    """In a request that changes the data: once it commits, every worker drops its copy."""
    from lumen.core.db.unit_of_work import unit_of_work

    async def announce() -> None:
        await cache.forget(tenant_id, name)

    unit_of_work(scope).after_commit(announce)
