"""Turn a bearer token into a Principal: the platform key, or one tenant's API key.

Verified keys are cached in the worker for a few seconds (`server.auth_cache_seconds`), so a busy client
costs one database lookup per key per interval instead of one per request. Changes that must take effect at
once (revoke, rotate, suspend, delete) invalidate the cache after their commit, in this worker directly and
in every other worker through a Redis channel; the TTL bounds staleness if Redis is unreachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec
import redis.asyncio as aioredis
import structlog
from litestar.types import Scope

from lumen.core.auth.keys import InvalidKeyFormat, hash_key, keys_match, parse_key
from lumen.core.auth.principal import Principal
from lumen.core.db.base import utcnow
from lumen.core.db.session import Database
from lumen.core.http.errors import LumenProblem, Unauthenticated
from lumen.core.tenancy.context import PLATFORM

__all__ = ["INVALIDATION_CHANNEL", "KeyAuthenticator", "announce_invalidation", "forget_keys_after_commit"]

log = structlog.get_logger()

INVALIDATION_CHANNEL = "lumen:auth:invalidate"
# last_used_at is advisory; writing it on every request would turn each read into a write.
_LAST_USED_RESOLUTION = timedelta(seconds=60)
# Compared against when no key has the presented prefix, so that path costs the same as a mismatch.
_NO_SUCH_KEY = hash_key("lm_live_" + "0" * 36)
_MAX_CACHED = 50_000


@dataclass(frozen=True, slots=True)
class _Cached:
    principal: Principal
    key_expires_at: datetime | None
    valid_until: float  # time.monotonic()


class _Invalidation(msgspec.Struct):
    tenant_id: str | None = None
    key_id: str | None = None


class KeyAuthenticator:
    def __init__(
        self,
        db: Database,
        platform_key: str | None,
        *,
        cache_seconds: float = 5.0,
        redis: aioredis.Redis | None = None,
    ) -> None:
        self._db = db
        self._platform_hash = hash_key(platform_key) if platform_key else None
        self._ttl = cache_seconds
        self._cache: dict[bytes, _Cached] = {}
        self._redis = redis
        self._listener: asyncio.Task[None] | None = None

    async def authenticate(self, token: str) -> Principal:
        presented = hash_key(token)
        if self._platform_hash is not None and keys_match(self._platform_hash, presented):
            return Principal.platform()
        cached = self._cache.get(presented)
        if cached is not None and cached.valid_until > time.monotonic():
            if cached.key_expires_at is not None and cached.key_expires_at <= utcnow():
                raise Unauthenticated("API key has expired")
            return cached.principal
        principal, expires_at = await self._lookup(token, presented)
        if self._ttl > 0:
            if len(self._cache) >= _MAX_CACHED:
                self._cache.clear()
            self._cache[presented] = _Cached(principal, expires_at, time.monotonic() + self._ttl)
        return principal

    async def _lookup(self, token: str, presented: bytes) -> tuple[Principal, datetime | None]:
        try:
            parsed = parse_key(token)
        except InvalidKeyFormat as exc:
            raise Unauthenticated(str(exc)) from None
        from lumen.tenants.models import TenantStatus
        from lumen.tenants.repository import ApiKeyRepository

        # Platform scope: the key's tenant is what we are trying to learn. One indexed lookup by prefix.
        async with self._db.transaction(PLATFORM) as session:
            found = await ApiKeyRepository(session).find_for_authentication(parsed.prefix)
            if found is None:
                keys_match(_NO_SUCH_KEY, presented)
                raise Unauthenticated("unknown API key")
            key, tenant_status = found
            if not keys_match(key.secret_hash, parsed.secret_hash):
                raise Unauthenticated("unknown API key")
            now = utcnow()
            if key.revoked_at is not None:
                raise Unauthenticated("API key has been revoked")
            if key.expires_at is not None and key.expires_at <= now:
                raise Unauthenticated("API key has expired")
            if tenant_status != TenantStatus.ACTIVE:
                raise LumenProblem("The tenant of this API key is suspended.", slug="tenant-suspended")
            if key.last_used_at is None or now - key.last_used_at >= _LAST_USED_RESOLUTION:
                key.last_used_at = now
        principal = Principal(
            tenant_id=key.tenant_id, key_id=key.id, scopes=frozenset(key.scopes), mode=key.mode
        )
        return principal, key.expires_at

    def forget(self, *, tenant_id: uuid.UUID | None = None, key_id: uuid.UUID | None = None) -> None:
        """Drop cached keys of a tenant, or one key, in this worker."""
        stale = [
            h
            for h, c in self._cache.items()
            if (tenant_id is not None and c.principal.tenant_id == tenant_id)
            or (key_id is not None and c.principal.key_id == key_id)
        ]
        for digest in stale:
            self._cache.pop(digest, None)

    async def invalidate(
        self, *, tenant_id: uuid.UUID | None = None, key_id: uuid.UUID | None = None
    ) -> None:
        """Forget here and tell every other worker; call after the change committed."""
        self.forget(tenant_id=tenant_id, key_id=key_id)
        if self._redis is not None:
            await announce_invalidation(self._redis, tenant_id=tenant_id, key_id=key_id)

    async def start(self) -> None:
        if self._redis is not None and self._ttl > 0:
            self._listener = asyncio.create_task(self._listen(self._redis))

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    async def _listen(self, client: aioredis.Redis) -> None:
        while True:
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(INVALIDATION_CHANNEL)
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        note = msgspec.json.decode(message["data"], type=_Invalidation)
                        self.forget(
                            tenant_id=uuid.UUID(note.tenant_id) if note.tenant_id else None,
                            key_id=uuid.UUID(note.key_id) if note.key_id else None,
                        )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis restarted or unreachable: retry; the TTL covers the gap
                log.warning("auth.invalidation_listener_failed", error_type=type(exc).__name__)
                self._cache.clear()
                await asyncio.sleep(1.0)


async def announce_invalidation(
    client: aioredis.Redis, *, tenant_id: uuid.UUID | None = None, key_id: uuid.UUID | None = None
) -> None:
    """Tell every worker to stop trusting cached keys (also used by the CLI beside a running server)."""
    message = _Invalidation(
        tenant_id=str(tenant_id) if tenant_id else None, key_id=str(key_id) if key_id else None
    )
    try:
        await client.publish(INVALIDATION_CHANNEL, msgspec.json.encode(message))
    except Exception as exc:  # the TTL still bounds staleness
        log.warning("auth.invalidation_not_published", error_type=type(exc).__name__)


def forget_keys_after_commit(
    scope: Scope, *, tenant_id: uuid.UUID | None = None, key_id: uuid.UUID | None = None
) -> None:
    """Once this request's change commits, no worker may keep trusting the affected keys."""
    from lumen.core.db.unit_of_work import unit_of_work

    authenticator: KeyAuthenticator = scope["litestar_app"].state.authenticator

    async def invalidate() -> None:
        await authenticator.invalidate(tenant_id=tenant_id, key_id=key_id)

    unit_of_work(scope).after_commit(invalidate)
