"""Turn a bearer token into a Principal: the platform key, or one tenant's API key.

Verified keys are cached in the worker for a few seconds (`server.auth_cache_seconds`), so a busy client
costs one database lookup per key per interval instead of one per request. Changes that must take effect at
once (revoke, rotate, suspend, delete) invalidate the cache after their commit, in this worker directly and
in every other worker through a Redis channel; the TTL bounds staleness if Redis is unreachable.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from litestar.types import Scope

from lumen.core.auth.keys import InvalidKeyFormat, hash_key, keys_match, parse_key
from lumen.core.auth.principal import Principal
from lumen.core.db.base import utcnow
from lumen.core.db.session import Database
from lumen.core.http.errors import LumenProblem, Unauthenticated
from lumen.core.tenancy.context import PLATFORM
from lumen.core.tenancy.invalidation import Invalidation, InvalidationBus

__all__ = ["KeyAuthenticator", "forget_keys_after_commit"]

log = structlog.get_logger()

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


class KeyAuthenticator:
    def __init__(
        self,
        db: Database,
        platform_key: str | None,
        *,
        cache_seconds: float = 5.0,
        bus: InvalidationBus | None = None,
    ) -> None:
        self._db = db
        self._platform_hash = hash_key(platform_key) if platform_key else None
        self._ttl = cache_seconds
        self._cache: dict[bytes, _Cached] = {}
        self._bus = bus
        if bus is not None:
            bus.subscribe(self._on_invalidation)

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

    def _on_invalidation(self, note: Invalidation | None) -> None:
        if note is None:
            self._cache.clear()
        elif note.kind == "keys" or note.kind == "tenant":
            self.forget(tenant_id=note.tenant_uuid, key_id=note.key_uuid)

    async def invalidate(
        self, *, tenant_id: uuid.UUID | None = None, key_id: uuid.UUID | None = None
    ) -> None:
        """Forget here and tell every other worker; call after the change committed."""
        note = Invalidation(
            kind="keys",
            tenant_id=str(tenant_id) if tenant_id else None,
            key_id=str(key_id) if key_id else None,
        )
        if self._bus is not None:
            await self._bus.announce(note)
        else:
            self._on_invalidation(note)


def forget_keys_after_commit(
    scope: Scope, *, tenant_id: uuid.UUID | None = None, key_id: uuid.UUID | None = None
) -> None:
    """Once this request's change commits, no worker may keep trusting the affected keys."""
    from lumen.core.db.unit_of_work import unit_of_work

    authenticator: KeyAuthenticator = scope["litestar_app"].state.authenticator

    async def invalidate() -> None:
        await authenticator.invalidate(tenant_id=tenant_id, key_id=key_id)

    unit_of_work(scope).after_commit(invalidate)
