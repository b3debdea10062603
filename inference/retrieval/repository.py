"""All SQL for a tenant's documents, versions and chunks (tenant-filtered explicitly; RLS underneath), and for
the platform-shared corpora (written in the platform scope only)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.db.base import utcnow
from lumen.core.db.pagination import paginate
from lumen.inference.retrieval.chunking import Chunk
from lumen.inference.retrieval.models import (
    CorpusChunk,
    CorpusDocument,
    Document,
    DocumentChunk,
    DocumentVersion,
)
from lumen.plugins.sdk.repository import TenantRepository

__all__ = ["CorpusRepository", "DocumentRepository", "vector_literal"]


def vector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form; passed as text and cast in SQL (no driver codec needed)."""
    return "[" + ",".join(f"{x:.7g}" for x in vector) + "]"


_SET_EMBEDDING = {
    "document_chunks": text(
        "UPDATE document_chunks SET embedding = CAST(CAST(:v AS text) AS vector) "
        "WHERE id = :id AND tenant_id = :tenant"
    ),
    "corpus_chunks": text(
        "UPDATE corpus_chunks SET embedding = CAST(CAST(:v AS text) AS vector) WHERE id = :id"
    ),
}


def _chunk_rows(chunks: Sequence[Chunk], **common: Any) -> list[dict[str, Any]]:
    return [
        {
            "id": uuid.uuid4(),
            "ordinal": c.ordinal,
            "text": c.text,
            "heading": c.heading[:500] if c.heading else None,
            "section_id": c.section_id[:200] if c.section_id else None,
            "page": c.page,
            "start": c.start,
            "end": c.end,
            "active": False,
            **common,
        }
        for c in chunks
    ]


class DocumentRepository(TenantRepository[Document]):
    model = Document

    async def by_title(self, title: str) -> Document | None:
        found = await self.session.scalars(
            select(Document)
            .where(Document.tenant_id == self.tenant_id, Document.title == title)
            .with_for_update()
        )
        return found.one_or_none()

    async def version_by_hash(self, content_hash: str) -> DocumentVersion | None:
        found = await self.session.scalars(
            select(DocumentVersion)
            .where(
                DocumentVersion.tenant_id == self.tenant_id,
                DocumentVersion.content_hash == content_hash,
                DocumentVersion.state != "failed",
            )
            .order_by(DocumentVersion.created_at.desc())
            .limit(1)
        )
        return found.one_or_none()

    async def versions(self, document_id: uuid.UUID) -> Sequence[DocumentVersion]:
        found = await self.session.scalars(
            select(DocumentVersion)
            .where(DocumentVersion.tenant_id == self.tenant_id, DocumentVersion.document_id == document_id)
            .order_by(DocumentVersion.version)
        )
        return found.all()

    async def latest_versions(self, document_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, DocumentVersion]:
        if not document_ids:
            return {}
        found = await self.session.scalars(
            select(DocumentVersion)
            .join(Document, Document.id == DocumentVersion.document_id)
            .where(
                DocumentVersion.tenant_id == self.tenant_id,
                DocumentVersion.document_id.in_(document_ids),
                DocumentVersion.version == Document.latest_version,
            )
        )
        return {v.document_id: v for v in found.all()}

    async def version(self, version_id: uuid.UUID) -> DocumentVersion | None:
        found = await self.session.scalars(
            select(DocumentVersion).where(
                DocumentVersion.tenant_id == self.tenant_id, DocumentVersion.id == version_id
            )
        )
        return found.one_or_none()

    async def add_version(self, version: DocumentVersion) -> DocumentVersion:
        version.tenant_id = self.tenant_id
        self.session.add(version)
        await self.session.flush()
        return version

    async def add_chunks(
        self,
        version: DocumentVersion,
        chunks: Sequence[Chunk],
    ) -> None:
        rows = _chunk_rows(
            chunks,
            tenant_id=self.tenant_id,
            document_id=version.document_id,
            version_id=version.id,
            version=version.version,
            jurisdiction=version.jurisdiction,
            document_type=version.document_type,
            effective_date=version.effective_date,
        )
        for i in range(0, len(rows), 1000):
            await self.session.execute(insert(DocumentChunk), rows[i : i + 1000])

    async def unembedded(
        self, version_id: uuid.UUID, limit: int
    ) -> Sequence[tuple[uuid.UUID, str, str | None]]:
        rows = await self.session.execute(
            select(DocumentChunk.id, DocumentChunk.text, DocumentChunk.heading)
            .where(
                DocumentChunk.tenant_id == self.tenant_id,
                DocumentChunk.version_id == version_id,
                DocumentChunk.embedding.is_(None),
            )
            .order_by(DocumentChunk.ordinal)
            .limit(limit)
        )
        return [(r[0], r[1], r[2]) for r in rows.all()]

    async def count_unembedded(self, version_id: uuid.UUID) -> int:
        return int(
            await self.session.scalar(
                select(func.count())
                .select_from(DocumentChunk)
                .where(
                    DocumentChunk.tenant_id == self.tenant_id,
                    DocumentChunk.version_id == version_id,
                    DocumentChunk.embedding.is_(None),
                )
            )
            or 0
        )

    async def set_embeddings(self, pairs: Sequence[tuple[uuid.UUID, Sequence[float]]]) -> None:
        await self.session.execute(
            _SET_EMBEDDING["document_chunks"],
            [{"id": ident, "v": vector_literal(v), "tenant": self.tenant_id} for ident, v in pairs],
        )

    async def activate(self, document: Document, version: DocumentVersion) -> None:
        """Switch search over to `version`, in one statement: its chunks on, every other version's off."""
        await self.session.execute(
            update(DocumentChunk)
            .where(DocumentChunk.tenant_id == self.tenant_id, DocumentChunk.document_id == document.id)
            .values(active=DocumentChunk.version_id == version.id)
        )
        version.state, version.ready_at = "ready", utcnow()
        if version.version >= document.current_version:
            document.current_version = version.version
        await self.session.flush()

    async def document_page(self, *, cursor: str | None, limit: int) -> tuple[Sequence[Document], str | None]:
        return await paginate(self.session, self.select(), Document, cursor=cursor, limit=limit)


class CorpusRepository:
    """The shared corpora. Reads work in any scope; writes only in the platform scope (RLS)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def current(self, corpus: str, source_id: str) -> CorpusDocument | None:
        found = await self.session.scalars(
            select(CorpusDocument).where(
                CorpusDocument.corpus == corpus, CorpusDocument.source_id == source_id, CorpusDocument.current
            )
        )
        return found.one_or_none()

    async def hashes(self) -> dict[tuple[str, str], str]:
        rows = await self.session.execute(
            select(CorpusDocument.corpus, CorpusDocument.source_id, CorpusDocument.content_hash).where(
                CorpusDocument.current
            )
        )
        return {(r[0], r[1]): r[2] for r in rows.all()}

    async def by_hash(self, corpus: str, source_id: str, content_hash: str) -> CorpusDocument | None:
        found = await self.session.scalars(
            select(CorpusDocument).where(
                CorpusDocument.corpus == corpus,
                CorpusDocument.source_id == source_id,
                CorpusDocument.content_hash == content_hash,
            )
        )
        return found.one_or_none()

    async def next_version(self, corpus: str, source_id: str) -> int:
        latest = await self.session.scalar(
            select(func.max(CorpusDocument.version)).where(
                CorpusDocument.corpus == corpus, CorpusDocument.source_id == source_id
            )
        )
        return int(latest or 0) + 1

    async def add(
        self, document: CorpusDocument, chunks: Sequence[Chunk], vectors: Sequence[Sequence[float]]
    ) -> None:
        self.session.add(document)
        await self.session.flush()
        rows = _chunk_rows(
            chunks,
            document_id=document.id,
            corpus=document.corpus,
            version=document.version,
            jurisdiction=document.jurisdiction,
            document_type=document.document_type,
            effective_date=document.effective_date,
        )
        for i in range(0, len(rows), 1000):
            await self.session.execute(insert(CorpusChunk), rows[i : i + 1000])
        await self.session.execute(
            _SET_EMBEDDING["corpus_chunks"],
            [{"id": row["id"], "v": vector_literal(v)} for row, v in zip(rows, vectors, strict=True)],
        )

    async def make_current(self, document: CorpusDocument) -> None:
        """The new version becomes the searchable one; older versions stay for the citations naming them."""
        await self.session.execute(
            update(CorpusDocument)
            .where(CorpusDocument.corpus == document.corpus, CorpusDocument.source_id == document.source_id)
            .values(current=CorpusDocument.id == document.id)
        )
        await self.session.execute(
            update(CorpusChunk)
            .where(
                CorpusChunk.document_id.in_(
                    select(CorpusDocument.id).where(
                        CorpusDocument.corpus == document.corpus,
                        CorpusDocument.source_id == document.source_id,
                    )
                )
            )
            .values(active=CorpusChunk.document_id == document.id)
        )

    async def retire(self, corpus: str, keep: set[str]) -> int:
        """Sources no plugin ships any more stop being searchable (their rows stay for old citations)."""
        result = await self.session.execute(
            update(CorpusDocument)
            .where(
                CorpusDocument.corpus == corpus, CorpusDocument.current, CorpusDocument.source_id.not_in(keep)
            )
            .values(current=False)
            .returning(CorpusDocument.id)
        )
        ids = [r[0] for r in result.all()]
        if ids:
            await self.session.execute(
                update(CorpusChunk).where(CorpusChunk.document_id.in_(ids)).values(active=False)
            )
        return len(ids)


def iso_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None
