"""Cross-worker cache invalidation over one Redis channel.

Workers cache what every request needs (verified keys, tenant configuration) for a few seconds. A change
that must take effect at once publishes a note after its commit; every worker's listener drops what the
note names. If Redis is unreachable the caches' TTLs bound how stale anything can be.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any, Literal

import msgspec
import redis.asyncio as aioredis
import structlog

__all__ = ["CHANNEL", "Invalidation", "InvalidationBus", "forget_tenant_after_commit", "publish"]

log = structlog.get_logger()

CHANNEL = "lumen:invalidate"

Kind = Literal["keys", "tenant", "data"]


class Invalidation(msgspec.Struct, frozen=True):
    # keys: cached API keys; tenant: cached tenant configuration (plugins, policy data); data: one named
    # piece of a tenant's plugin data (`lumen.core.tenancy.data_cache`)
    kind: Kind
    tenant_id: str | None = None
    key_id: str | None = None
    name: str | None = None

    @property
    def tenant_uuid(self) -> uuid.UUID | None:
        return uuid.UUID(self.tenant_id) if self.tenant_id else None

    @property
    def key_uuid(self) -> uuid.UUID | None:
        return uuid.UUID(self.key_id) if self.key_id else None


async def publish(client: aioredis.Redis, note: Invalidation) -> None:
    """Announce to every worker (also used by the CLI beside a running server)."""
    try:
        await client.publish(CHANNEL, msgspec.json.encode(note))
    except Exception as exc:  # the TTLs still bound staleness
        log.warning("cache.invalidation_not_published", kind=note.kind, error_type=type(exc).__name__)


class InvalidationBus:
    def __init__(self, redis: aioredis.Redis | None) -> None:
        self._redis = redis
        self._listeners: list[Callable[[Invalidation | None], None]] = []
        self._task: asyncio.Task[None] | None = None

    def subscribe(self, listener: Callable[[Invalidation | None], None]) -> None:
        """`listener(note)`; `listener(None)` means "drop everything" (the channel was interrupted)."""
        self._listeners.append(listener)

    def _dispatch(self, note: Invalidation | None) -> None:
        for listener in self._listeners:
            listener(note)

    async def announce(self, note: Invalidation) -> None:
        self._dispatch(note)  # this worker at once, whatever Redis does
        if self._redis is not None:
            await publish(self._redis, note)

    async def start(self) -> None:
        if self._redis is not None and self._task is None:
            self._task = asyncio.create_task(self._listen(self._redis))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen(self, client: aioredis.Redis) -> None:
        while True:
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._dispatch(msgspec.json.decode(message["data"], type=Invalidation))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarted or unreachable: forget everything, then retry
                log.warning("cache.invalidation_listener_failed", error_type=type(exc).__name__)
                self._dispatch(None)
                await asyncio.sleep(1.0)


def forget_tenant_after_commit(scope: Any, tenant_id: uuid.UUID | str) -> None:
    """In a request that changed a tenant's configuration (plugins, policy data, limits): once it commits,
    every worker drops what it cached about that tenant."""
    from lumen.core.db.unit_of_work import unit_of_work

    bus: InvalidationBus = scope["litestar_app"].state.bus
    note = Invalidation(kind="tenant", tenant_id=str(tenant_id))

    async def announce() -> None:
        await bus.announce(note)

    unit_of_work(scope).after_commit(announce)
