"""All SQL for tenants and API keys.

Tenant-owned queries filter by tenant explicitly; row-level security is the second wall.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.db.pagination import paginate
from lumen.tenants.models import ApiKey, Branding, Tenant, TenantStatus

__all__ = ["ApiKeyRepository", "BrandingRepository", "TenantRepository"]


class TenantRepository:
    """Platform-scope access to tenants (a tenant key's session sees only its own row)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, tenant: Tenant) -> Tenant:
        self.session.add(tenant)
        await self.session.flush()
        return tenant

    async def get(self, tenant_id: uuid.UUID) -> Tenant | None:
        return await self.session.get(Tenant, tenant_id)

    async def get_by_slug(self, slug: str) -> Tenant | None:
        return (await self.session.scalars(select(Tenant).where(Tenant.slug == slug))).one_or_none()

    async def list(self, *, cursor: str | None, limit: int) -> tuple[Sequence[Tenant], str | None]:
        return await paginate(self.session, select(Tenant), Tenant, cursor=cursor, limit=limit)

    async def delete(self, tenant: Tenant) -> None:
        # Tenant-owned rows go with it: every tenant_id foreign key is ON DELETE CASCADE.
        await self.session.delete(tenant)
        await self.session.flush()


class ApiKeyRepository:
    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID | None = None) -> None:
        self.session = session
        self.tenant_id = tenant_id

    def _tenant(self) -> uuid.UUID:
        if self.tenant_id is None:
            raise RuntimeError("ApiKeyRepository needs a tenant for this query")
        return self.tenant_id

    async def add(self, key: ApiKey) -> ApiKey:
        if key.tenant_id != self._tenant():
            raise ValueError("key belongs to another tenant")
        self.session.add(key)
        await self.session.flush()
        return key

    async def get(self, key_id: uuid.UUID) -> ApiKey | None:
        statement = select(ApiKey).where(ApiKey.id == key_id, ApiKey.tenant_id == self._tenant())
        return (await self.session.scalars(statement)).one_or_none()

    async def prefix_exists(self, prefix: str) -> bool:
        return (await self.session.scalar(select(ApiKey.id).where(ApiKey.prefix == prefix))) is not None

    async def list(self, *, cursor: str | None, limit: int) -> tuple[Sequence[ApiKey], str | None]:
        statement = select(ApiKey).where(ApiKey.tenant_id == self._tenant())
        return await paginate(self.session, statement, ApiKey, cursor=cursor, limit=limit)

    async def find_for_authentication(self, prefix: str) -> tuple[ApiKey, TenantStatus] | None:
        """Platform scope only: the one key with this prefix, and its tenant's status."""
        statement = (
            select(ApiKey, Tenant.status)
            .join(Tenant, Tenant.id == ApiKey.tenant_id)
            .where(ApiKey.prefix == prefix)
        )
        row = (await self.session.execute(statement)).one_or_none()
        return None if row is None else (row[0], row[1])


class BrandingRepository:
    """The tenant's one branding row; the session is the tenant's own (RLS), and the query says so too."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def get(self) -> Branding | None:
        query = select(Branding).where(Branding.tenant_id == self.tenant_id)
        return (await self.session.scalars(query)).one_or_none()

    async def add(self, branding: Branding) -> Branding:
        branding.tenant_id = self.tenant_id
        self.session.add(branding)
        await self.session.flush()
        return branding
