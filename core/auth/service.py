"""Turn a bearer token into a Principal: the platform key, or one tenant's API key."""

from __future__ import annotations

from datetime import timedelta

import structlog

from lumen.core.auth.keys import InvalidKeyFormat, hash_key, keys_match, parse_key
from lumen.core.auth.principal import Principal
from lumen.core.db.base import utcnow
from lumen.core.db.session import Database
from lumen.core.http.errors import LumenProblem, Unauthenticated
from lumen.core.tenancy.context import PLATFORM

__all__ = ["KeyAuthenticator"]

log = structlog.get_logger()

# last_used_at is advisory; writing it on every request would turn each read into a write.
_LAST_USED_RESOLUTION = timedelta(seconds=60)
# Compared against when no key has the presented prefix, so that path costs the same as a mismatch.
_NO_SUCH_KEY = hash_key("lm_live_" + "0" * 36)


class KeyAuthenticator:
    def __init__(self, db: Database, platform_key: str | None) -> None:
        self._db = db
        self._platform_hash = hash_key(platform_key) if platform_key else None

    async def authenticate(self, token: str) -> Principal:
        presented = hash_key(token)
        if self._platform_hash is not None and keys_match(self._platform_hash, presented):
            return Principal.platform()
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
        return Principal(tenant_id=key.tenant_id, key_id=key.id, scopes=frozenset(key.scopes), mode=key.mode)
