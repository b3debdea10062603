"""All SQL for limits: the tenant's plan (`tenants.plan`) and its overrides (`tenant_limits`).

Queries filter by tenant explicitly; row-level security is the second wall. Reads run in the tenant's own
scope (the request path) or the platform scope (the operator's API); writes only in the platform scope.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.db.base import utcnow
from lumen.core.limits.models import TenantLimits
from lumen.tenants.models import Tenant

__all__ = ["TenantLimitsRepository"]


class TenantLimitsRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def read(self, tenant_id: uuid.UUID) -> tuple[str, dict[str, Any]] | None:
        """(plan, stored overrides), or None when the tenant does not exist (or is not visible)."""
        row = (
            await self.session.execute(
                select(Tenant.plan, TenantLimits.overrides)
                .outerjoin(TenantLimits, TenantLimits.tenant_id == Tenant.id)
                .where(Tenant.id == tenant_id)
            )
        ).one_or_none()
        if row is None:
            return None
        return str(row[0]), dict(row[1] or {})

    async def lock_tenant(self, tenant_id: uuid.UUID) -> bool:
        """Lock the tenant's row for the rest of the transaction (concurrent updates apply in turn)."""
        found = await self.session.scalar(select(Tenant.id).where(Tenant.id == tenant_id).with_for_update())
        return found is not None

    async def write(self, tenant_id: uuid.UUID, *, plan: str, overrides: dict[str, Any]) -> None:
        await self.session.execute(
            update(Tenant).where(Tenant.id == tenant_id).values(plan=plan, updated_at=utcnow())
        )
        statement = insert(TenantLimits).values(id=uuid.uuid4(), tenant_id=tenant_id, overrides=overrides)
        await self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[TenantLimits.tenant_id],
                set_={"overrides": statement.excluded.overrides, "updated_at": utcnow()},
            )
        )
