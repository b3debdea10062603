"""All SQL for patients and their tenant's data key, filtered by tenant explicitly (RLS underneath)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.db.pagination import paginate
from lumen.tenants.patients.models import Patient, PatientAppLink, PatientDataKey

__all__ = ["PatientAppLinkRepository", "PatientRepository"]


class PatientRepository:
    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def data_key(self) -> PatientDataKey | None:
        return (
            await self.session.scalars(
                select(PatientDataKey).where(PatientDataKey.tenant_id == self.tenant_id)
            )
        ).one_or_none()

    async def add_data_key(self, kid: str, wrapped: bytes) -> PatientDataKey:
        """Insert the tenant's first data key; a concurrent first write keeps whichever won."""
        await self.session.execute(
            insert(PatientDataKey)
            .values(id=uuid.uuid4(), tenant_id=self.tenant_id, kid=kid, wrapped_key=wrapped)
            .on_conflict_do_nothing(index_elements=["tenant_id"])
        )
        found = await self.data_key()
        assert found is not None
        return found

    async def get(self, patient_id: uuid.UUID) -> Patient | None:
        return (
            await self.session.scalars(
                select(Patient).where(Patient.tenant_id == self.tenant_id, Patient.id == patient_id)
            )
        ).one_or_none()

    async def by_external_ref(self, ref_hash: bytes) -> Patient | None:
        return (
            await self.session.scalars(
                select(Patient).where(
                    Patient.tenant_id == self.tenant_id, Patient.external_ref_hash == ref_hash
                )
            )
        ).one_or_none()

    async def add(self, patient: Patient) -> Patient:
        patient.tenant_id = self.tenant_id
        self.session.add(patient)
        await self.session.flush()
        return patient

    async def flush(self) -> None:
        await self.session.flush()

    async def delete(self, patient: Patient) -> None:
        await self.session.delete(patient)
        await self.session.flush()

    async def page(
        self, *, cursor: str | None, limit: int, ref_hash: bytes | None = None
    ) -> tuple[Sequence[Patient], str | None]:
        statement = select(Patient).where(Patient.tenant_id == self.tenant_id)
        if ref_hash is not None:
            statement = statement.where(Patient.external_ref_hash == ref_hash)
        return await paginate(self.session, statement, Patient, cursor=cursor, limit=limit)


class PatientAppLinkRepository:
    """One-time sign-in links: issued for one patient, redeemed at most once, before they expire."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def add(self, patient_id: uuid.UUID, code_hash: bytes, expires_at: datetime) -> PatientAppLink:
        link = PatientAppLink(
            id=uuid.uuid4(),
            tenant_id=self.tenant_id,
            patient_id=patient_id,
            code_hash=code_hash,
            expires_at=expires_at,
        )
        self.session.add(link)
        await self.session.flush()
        return link

    async def redeem(self, code_hash: bytes, now: datetime) -> uuid.UUID | None:
        """The patient a live, unused link names, marking it used in the same statement: of two
        concurrent redemptions exactly one gets the patient."""
        return (
            await self.session.execute(
                update(PatientAppLink)
                .where(
                    PatientAppLink.tenant_id == self.tenant_id,
                    PatientAppLink.code_hash == code_hash,
                    PatientAppLink.used_at.is_(None),
                    PatientAppLink.expires_at > now,
                )
                .values(used_at=now, updated_at=now)
                .returning(PatientAppLink.patient_id)
            )
        ).scalar_one_or_none()

    async def revoke_unused(self, patient_id: uuid.UUID, now: datetime) -> int:
        """Mark the patient's outstanding links used (the tenant signs the patient out everywhere)."""
        result = await self.session.execute(
            update(PatientAppLink)
            .where(
                PatientAppLink.tenant_id == self.tenant_id,
                PatientAppLink.patient_id == patient_id,
                PatientAppLink.used_at.is_(None),
            )
            .values(used_at=now, updated_at=now)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def purge_stale(self, now: datetime) -> None:
        """Links dead for a day carry no information worth keeping."""
        await self.session.execute(
            delete(PatientAppLink).where(
                PatientAppLink.tenant_id == self.tenant_id,
                PatientAppLink.expires_at < now - timedelta(days=1),
            )
        )
