"""All of the GMP plugin's SQL, always filtered by the tenant (row-level security is the second wall)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import distinct_on, insert

from lumen.plugins.gmp.models import (
    GmpCapa,
    GmpCapaAction,
    GmpCounter,
    GmpDeviation,
    GmpDocument,
    GmpExtension,
    GmpSignature,
    GmpSigner,
    GmpTemplate,
)
from lumen.plugins.sdk import TenantRepository

__all__ = [
    "CapaActionRepository",
    "CapaRepository",
    "CounterRepository",
    "DeviationRepository",
    "DocumentRepository",
    "ExtensionRepository",
    "SignatureRepository",
    "SignerRepository",
    "TemplateRepository",
]


class TemplateRepository(TenantRepository[GmpTemplate]):
    model = GmpTemplate

    async def latest(self, key: str, version: int | None = None) -> GmpTemplate | None:
        query = (
            select(GmpTemplate).where(GmpTemplate.tenant_id == self.tenant_id).where(GmpTemplate.key == key)
        )
        if version is not None:
            query = query.where(GmpTemplate.version == version)
        query = query.order_by(GmpTemplate.version.desc()).limit(1)
        return (await self.session.scalars(query)).one_or_none()

    async def all_latest(self) -> Sequence[GmpTemplate]:
        query = (
            select(GmpTemplate)
            .where(GmpTemplate.tenant_id == self.tenant_id)
            .ext(distinct_on(GmpTemplate.key))
            .order_by(GmpTemplate.key, GmpTemplate.version.desc())
            .limit(500)
        )
        return (await self.session.scalars(query)).all()


class CounterRepository(TenantRepository[GmpCounter]):
    model = GmpCounter

    async def next(self, series: str) -> int:
        """The next number of a series, atomically (concurrent requests queue on the row)."""
        statement = (
            insert(GmpCounter)
            .values(id=uuid.uuid4(), tenant_id=self.tenant_id, series=series, value=1)
            .on_conflict_do_update(
                index_elements=[GmpCounter.tenant_id, GmpCounter.series],
                set_={"value": GmpCounter.value + 1},
            )
            .returning(GmpCounter.value)
        )
        return int((await self.session.execute(statement)).scalar_one())


class SignerRepository(TenantRepository[GmpSigner]):
    model = GmpSigner

    async def by_user_id(self, user_id: str) -> GmpSigner | None:
        return (
            await self.session.scalars(
                select(GmpSigner)
                .where(GmpSigner.tenant_id == self.tenant_id)
                .where(GmpSigner.user_id == user_id)
            )
        ).one_or_none()

    async def many(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, GmpSigner]:
        if not ids:
            return {}
        rows = (
            await self.session.scalars(
                select(GmpSigner)
                .where(GmpSigner.tenant_id == self.tenant_id)
                .where(GmpSigner.id.in_(set(ids)))
            )
        ).all()
        return {row.id: row for row in rows}

    async def record_failure(self, signer_id: uuid.UUID, limit: int, now: datetime) -> tuple[int, bool]:
        """Count a failed signing attempt; lock at `limit`. Returns (failures, locked now)."""
        row = (
            await self.session.execute(
                update(GmpSigner)
                .where(GmpSigner.tenant_id == self.tenant_id, GmpSigner.id == signer_id)
                .values(failed_attempts=GmpSigner.failed_attempts + 1)
                .returning(GmpSigner.failed_attempts, GmpSigner.locked_at)
            )
        ).one()
        failures, locked_at = int(row[0]), row[1]
        if failures >= limit and locked_at is None:
            await self.session.execute(
                update(GmpSigner)
                .where(GmpSigner.tenant_id == self.tenant_id, GmpSigner.id == signer_id)
                .values(locked_at=now, session_token_sha256=None, session_expires_at=None)
            )
            return failures, True
        return failures, False


class DocumentRepository(TenantRepository[GmpDocument]):
    model = GmpDocument

    async def get_for_update(self, ident: uuid.UUID) -> GmpDocument | None:
        query = (
            select(GmpDocument)
            .where(GmpDocument.tenant_id == self.tenant_id)
            .where(GmpDocument.id == ident)
            .with_for_update()
        )
        return (await self.session.scalars(query)).one_or_none()

    async def open_revision(self, series_id: uuid.UUID) -> GmpDocument | None:
        """A revision of the series not yet effective or closed (one at a time)."""
        query = (
            select(GmpDocument)
            .where(GmpDocument.tenant_id == self.tenant_id)
            .where(
                GmpDocument.series_id == series_id,
                GmpDocument.status.in_(("draft", "in_review", "approved")),
            )
        )
        return (await self.session.scalars(query.limit(1))).one_or_none()

    async def effective_in_series(self, series_id: uuid.UUID, other_than: uuid.UUID) -> Sequence[GmpDocument]:
        query = (
            select(GmpDocument)
            .where(GmpDocument.tenant_id == self.tenant_id)
            .where(
                GmpDocument.series_id == series_id,
                GmpDocument.status == "effective",
                GmpDocument.id != other_than,
            )
        )
        return (await self.session.scalars(query.with_for_update())).all()


class SignatureRepository(TenantRepository[GmpSignature]):
    model = GmpSignature

    async def for_document(self, document_id: uuid.UUID) -> Sequence[GmpSignature]:
        query = (
            select(GmpSignature)
            .where(GmpSignature.tenant_id == self.tenant_id)
            .where(GmpSignature.document_id == document_id)
            .order_by(GmpSignature.signed_at)
        )
        return (await self.session.scalars(query)).all()


class DeviationRepository(TenantRepository[GmpDeviation]):
    model = GmpDeviation

    async def overdue_unnotified(self, today: date, limit: int = 500) -> Sequence[GmpDeviation]:
        query = (
            select(GmpDeviation)
            .where(GmpDeviation.tenant_id == self.tenant_id)
            .where(
                GmpDeviation.status == "open",
                GmpDeviation.due_date < today,
                GmpDeviation.overdue_notified_at.is_(None),
            )
            .order_by(GmpDeviation.due_date)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.scalars(query)).all()


class ExtensionRepository(TenantRepository[GmpExtension]):
    model = GmpExtension

    async def for_deviations(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[GmpExtension]]:
        found: dict[uuid.UUID, list[GmpExtension]] = {i: [] for i in ids}
        if ids:
            query = (
                select(GmpExtension)
                .where(GmpExtension.tenant_id == self.tenant_id)
                .where(GmpExtension.deviation_id.in_(ids))
                .order_by(GmpExtension.created_at)
            )
            for row in (await self.session.scalars(query)).all():
                found[row.deviation_id].append(row)
        return found

    async def pending(self, deviation_id: uuid.UUID) -> int:
        query = select(func.count()).where(
            GmpExtension.tenant_id == self.tenant_id,
            GmpExtension.deviation_id == deviation_id,
            GmpExtension.status == "requested",
        )
        return int((await self.session.execute(query)).scalar_one())


class CapaRepository(TenantRepository[GmpCapa]):
    model = GmpCapa

    async def effectiveness_due(self, today: date, limit: int = 500) -> Sequence[GmpCapa]:
        query = (
            select(GmpCapa)
            .where(GmpCapa.tenant_id == self.tenant_id)
            .where(
                GmpCapa.status != "closed",
                GmpCapa.effectiveness_result.is_(None),
                GmpCapa.effectiveness_check_due <= today,
                GmpCapa.effectiveness_notified_at.is_(None),
            )
            .order_by(GmpCapa.effectiveness_check_due)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return (await self.session.scalars(query)).all()


class CapaActionRepository(TenantRepository[GmpCapaAction]):
    model = GmpCapaAction

    async def for_capas(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[GmpCapaAction]]:
        found: dict[uuid.UUID, list[GmpCapaAction]] = {i: [] for i in ids}
        if ids:
            query = (
                select(GmpCapaAction)
                .where(GmpCapaAction.tenant_id == self.tenant_id)
                .where(GmpCapaAction.capa_id.in_(ids))
                .order_by(GmpCapaAction.due_date)
            )
            for row in (await self.session.scalars(query)).all():
                found[row.capa_id].append(row)
        return found
