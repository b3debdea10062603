"""Tenant and API key logic. Services never commit: the request (or CLI command) boundary does."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.auth.keys import generate_key
from lumen.core.auth.scopes import ADMIN, ScopeRegistry
from lumen.core.db.base import utcnow
from lumen.core.http.errors import Conflict, Forbidden, NotFound, UnprocessableEntity
from lumen.tenants.models import ApiKey, KeyMode, Tenant, TenantStatus
from lumen.tenants.repository import ApiKeyRepository, TenantRepository

__all__ = ["ApiKeyService", "IssuedKey", "TenantService", "key_status"]

log = structlog.get_logger()

MAX_KEY_LIFETIME = timedelta(days=3650)


class TenantService:
    def __init__(self, session: AsyncSession) -> None:
        self.tenants = TenantRepository(session)
        self.session = session

    async def create(self, *, slug: str, name: str) -> Tenant:
        if await self.tenants.get_by_slug(slug) is not None:
            raise Conflict(f"slug: a tenant with slug {slug!r} already exists")
        try:
            async with self.session.begin_nested():
                tenant = await self.tenants.add(Tenant(slug=slug, name=name, status=TenantStatus.ACTIVE))
        except IntegrityError:  # a concurrent create with the same slug won the race
            raise Conflict(f"slug: a tenant with slug {slug!r} already exists") from None
        log.info("tenants.tenant_created", tenant_id=str(tenant.id))
        return tenant

    async def get(self, tenant_id: uuid.UUID) -> Tenant:
        tenant = await self.tenants.get(tenant_id)
        if tenant is None:
            raise NotFound("tenant not found")
        return tenant

    async def list(self, *, cursor: str | None, limit: int) -> tuple[Sequence[Tenant], str | None]:
        return await self.tenants.list(cursor=cursor, limit=limit)

    async def update(self, tenant_id: uuid.UUID, *, name: str | None, status: str | None) -> Tenant:
        tenant = await self.get(tenant_id)
        if name is not None:
            tenant.name = name
        if status is not None and status != tenant.status:
            tenant.status = TenantStatus(status)
            log.info("tenants.tenant_status_changed", tenant_id=str(tenant.id), status=status)
        await self.session.flush()
        return tenant

    async def delete(self, tenant_id: uuid.UUID) -> None:
        tenant = await self.get(tenant_id)
        await self.tenants.delete(tenant)
        log.info("tenants.tenant_deleted", tenant_id=str(tenant_id))


class IssuedKey:
    """A stored key and its secret, which exists only in this object and the one response."""

    def __init__(self, record: ApiKey, secret: str) -> None:
        self.record = record
        self.secret = secret


def key_status(key: ApiKey, now: datetime | None = None) -> str:
    now = now or utcnow()
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


class ApiKeyService:
    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID, scopes: ScopeRegistry) -> None:
        self.keys = ApiKeyRepository(session, tenant_id)
        self.tenant_id = tenant_id
        self.scope_registry = scopes

    async def issue(
        self,
        *,
        name: str,
        scopes: Sequence[str],
        mode: str = "live",
        expires_at: datetime | None = None,
        created_by: uuid.UUID | None = None,
        rotated_from: uuid.UUID | None = None,
        creator_scopes: frozenset[str] | None = None,
    ) -> IssuedKey:
        """`creator_scopes`: the issuing key's scopes (None for the platform operator). A key that is not
        `admin` - say one a tenant's policy lets create keys - can never issue scopes it does not hold."""
        unknown = sorted(s for s in set(scopes) if s not in self.scope_registry)
        if unknown:
            raise UnprocessableEntity(
                f"scopes: unknown scope(s) {', '.join(unknown)}", slug="validation-error", status_code=422
            )
        if creator_scopes is not None and ADMIN not in creator_scopes:
            beyond = sorted(set(scopes) - creator_scopes)
            if beyond:
                raise Forbidden(
                    f"scopes: this API key cannot grant scopes it does not hold ({', '.join(beyond)})"
                )
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise UnprocessableEntity(
                    "expires_at: must include a timezone (e.g. 2027-01-01T00:00:00Z)",
                    slug="validation-error",
                    status_code=422,
                )
            if expires_at <= utcnow():
                raise UnprocessableEntity(
                    "expires_at: must be in the future", slug="validation-error", status_code=422
                )
            if expires_at > utcnow() + MAX_KEY_LIFETIME:
                raise UnprocessableEntity(
                    "expires_at: at most 10 years ahead", slug="validation-error", status_code=422
                )
        generated = generate_key(mode)
        while await self.keys.prefix_exists(generated.prefix):  # ~1 in 2e14; cheap to rule out
            generated = generate_key(mode)
        record = await self.keys.add(
            ApiKey(
                tenant_id=self.tenant_id,
                name=name,
                mode=KeyMode(mode),
                prefix=generated.prefix,
                secret_hash=generated.secret_hash,
                scopes=sorted(set(scopes)),
                expires_at=expires_at,
                created_by_key_id=created_by,
                rotated_from_id=rotated_from,
            )
        )
        log.info("keys.key_issued", key_id=str(record.id), mode=mode)
        return IssuedKey(record, generated.key)

    async def get(self, key_id: uuid.UUID) -> ApiKey:
        key = await self.keys.get(key_id)
        if key is None:
            raise NotFound("API key not found")
        return key

    async def list(self, *, cursor: str | None, limit: int) -> tuple[Sequence[ApiKey], str | None]:
        return await self.keys.list(cursor=cursor, limit=limit)

    async def revoke(self, key_id: uuid.UUID) -> ApiKey:
        key = await self.get(key_id)
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            log.info("keys.key_revoked", key_id=str(key.id))
        return key

    async def rotate(
        self,
        key_id: uuid.UUID,
        *,
        overlap_seconds: int,
        created_by: uuid.UUID | None,
        creator_scopes: frozenset[str] | None = None,
    ) -> IssuedKey:
        """A new key with the same name, mode and scopes; the old one keeps working for the overlap."""
        old = await self.get(key_id)
        if key_status(old) != "active":
            raise Conflict(f"API key is {key_status(old)} and cannot be rotated")
        new = await self.issue(
            name=old.name,
            scopes=old.scopes,
            mode=old.mode,
            expires_at=old.expires_at,
            created_by=created_by,
            rotated_from=old.id,
            creator_scopes=creator_scopes,
        )
        cutoff = utcnow() + timedelta(seconds=overlap_seconds)
        if overlap_seconds == 0:
            old.revoked_at = utcnow()
        elif old.expires_at is None or old.expires_at > cutoff:
            old.expires_at = cutoff
        log.info("keys.key_rotated", key_id=str(old.id), new_key_id=str(new.record.id))
        return new
