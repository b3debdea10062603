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

    async def delete_for_patient(self, patient_ref: str) -> int:
        """Erase the interviews recorded for one patient reference (patient erasure); returns how many."""
        rows = (
            await self.session.execute(self.select().where(TriageInterview.patient_ref == patient_ref))
        ).scalars()
        count = 0
        for row in list(rows):
            await self.session.delete(row)
            count += 1
        await self.session.flush()
        return count

    async def save(self) -> None:
        await self.session.flush()
