"""All SQL for a tenant's interaction rules, always filtered by the tenant (RLS is the second wall)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from lumen.plugins.interactions.models import TenantInteractionRule
from lumen.plugins.sdk import TenantRepository

__all__ = ["InteractionRuleRepository"]

# A tenant's rule book is small by design; the checker reads all of it on every check.
MAX_RULES_PER_TENANT = 500


class InteractionRuleRepository(TenantRepository[TenantInteractionRule]):
    model = TenantInteractionRule

    async def all(self) -> Sequence[TenantInteractionRule]:
        statement = self.select().order_by(self.model.created_at, self.model.id).limit(MAX_RULES_PER_TENANT)
        return cast("Sequence[TenantInteractionRule]", (await self.session.scalars(statement)).all())

    async def count(self) -> int:
        return len(await self.all())
