"""A per-worker cache of something every request needs about its tenant, kept for a few seconds and dropped
at once in every worker when it changes (a "tenant" note on the invalidation bus)."""

from __future__ import annotations

import time
import uuid
from abc import ABC, abstractmethod
from typing import Generic, TypeVar

from lumen.core.tenancy.invalidation import Invalidation, InvalidationBus

__all__ = ["TenantCache"]

T = TypeVar("T")

_MAX_CACHED = 10_000


class TenantCache(ABC, Generic[T]):
    """Subclasses implement `load(tenant_id)`; `get` serves it from the cache while fresh."""

    def __init__(self, *, ttl_seconds: float = 5.0, bus: InvalidationBus | None = None) -> None:
        self._ttl = ttl_seconds
        self._cache: dict[uuid.UUID, tuple[float, T]] = {}
        if bus is not None:
            bus.subscribe(self._on_invalidation)

    def _on_invalidation(self, note: Invalidation | None) -> None:
        if note is None:
            self._cache.clear()
        elif note.kind == "tenant" and note.tenant_uuid is not None:
            self._cache.pop(note.tenant_uuid, None)

    async def get(self, tenant_id: uuid.UUID) -> T:
        hit = self._cache.get(tenant_id)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        found = await self.load(tenant_id)
        if self._ttl > 0:
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            self._cache[tenant_id] = (time.monotonic() + self._ttl, found)
        return found

    @abstractmethod
    async def load(self, tenant_id: uuid.UUID) -> T:
        """Read the current value from its store (a tenant-scoped transaction)."""
