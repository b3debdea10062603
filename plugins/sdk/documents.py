"""A tenant's uploaded documents as a plugin reads them: `await ctx.document(id)` in a request and
`await tx.document(id)` in a job's (or a separate) transaction give the extracted text of one document that
the tenant uploaded to retrieval (POST /v1/documents), so a plugin can work on the whole text (a gap analysis
of an SOP) rather than on the passages search returns.

The read goes through the request's or the job's own transaction, in the tenant's scope: the query filters by
the tenant explicitly and row-level security stands underneath, so another tenant's document is simply not
found. Never log what it returns.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["TenantDocument", "read_tenant_document"]


class TenantDocument(msgspec.Struct, frozen=True, kw_only=True):
    """One version of one of the tenant's documents, with the text every retrieval citation's offsets point
    into (`Passage.start`/`end` of a tenant passage index this same text)."""

    id: uuid.UUID
    title: str
    version: int
    # Search readiness of this version: "queued" (embedding), "ready" (searchable) or "failed". The text is
    # there from the upload on, whatever the state.
    state: str
    content_type: str
    filename: str | None
    text: str
    jurisdiction: str | None = None
    document_type: str | None = None
    effective_date: date | None = None
    created_at: datetime | None = None


async def read_tenant_document(
    session: AsyncSession, tenant_id: uuid.UUID, document_id: uuid.UUID, *, version: int | None = None
) -> TenantDocument | None:
    """The document's `version`, or its newest one; None when the tenant has no such document or version."""
    # Imported here: retrieval's tables belong to lumen.inference, which itself imports the SDK's types.
    from lumen.inference.retrieval.models import Document, DocumentVersion

    document = (
        await session.scalars(
            select(Document).where(Document.tenant_id == tenant_id, Document.id == document_id)
        )
    ).one_or_none()
    if document is None:
        return None
    wanted = version if version is not None else document.latest_version
    row = (
        await session.scalars(
            select(DocumentVersion).where(
                DocumentVersion.tenant_id == tenant_id,
                DocumentVersion.document_id == document_id,
                DocumentVersion.version == wanted,
            )
        )
    ).one_or_none()
    if row is None:
        return None
    return TenantDocument(
        id=document.id,
        title=document.title,
        version=row.version,
        state=row.state,
        content_type=row.content_type,
        filename=row.filename,
        text=row.text,
        jurisdiction=row.jurisdiction,
        document_type=row.document_type,
        effective_date=row.effective_date,
        created_at=row.created_at,
    )
