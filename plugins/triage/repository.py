"""All SQL for triage interviews, always filtered by tenant (row-level security underneath)."""

from __future__ import annotations

import uuid
from typing import cast

from lumen.plugins.sdk import TenantRepository
from lumen.plugins.triage.models import TriageInterview

__all__ = ["InterviewRepository"]


class InterviewRepository(TenantRepository[TriageInterview]):
    model = TriageInterview

    async def for_update(self, ident: uuid.UUID) -> TriageInterview | None:
        """The interview, locked for this transaction so that two answers cannot race."""
        statement = self.select().where(TriageInterview.id == ident).with_for_update()
        found = (await self.session.execute(statement)).scalar_one_or_none()
        return cast("TriageInterview | None", found)

    async def save(self) -> None:
        await self.session.flush()
