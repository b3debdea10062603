"""Retrieval tables: a tenant's documents (versions and chunks, under row-level security) and the
platform-shared corpora (no tenant column: every tenant may read them, only the platform scope writes).

Chunk text is an exact slice of its version's `text` (`text[start:end]`), so a citation's offsets always
point at the span it quotes. Search reads chunks with `active = true` only: a version's chunks are written
inactive and switched on in the one transaction that marks the version ready, so nothing half-ingested is
ever visible.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.types import UserDefinedType

from lumen.core.db.base import TenantModel, TimestampedModel

__all__ = [
    "EMBEDDING_DIMENSIONS",
    "CorpusChunk",
    "CorpusDocument",
    "Document",
    "DocumentChunk",
    "DocumentVersion",
]

EMBEDDING_DIMENSIONS = 384


class Vector(UserDefinedType[list[float]]):
    """pgvector's `vector(n)`. Values are written as text (`'[0.1,0.2]'`) through explicit casts in SQL."""

    cache_ok = True

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions

    def get_col_spec(self, **_: Any) -> str:
        return f"vector({self.dimensions})"


class Document(TenantModel):
    """A tenant's document: a title and its versions (a re-upload under the same title adds one)."""

    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("tenant_id", "title"),)

    title: Mapped[str] = mapped_column(String(300))
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    # The version search sees (the newest ready one); 0 until the first version is ready.
    current_version: Mapped[int] = mapped_column(Integer, default=0)


class DocumentVersion(TenantModel):
    __tablename__ = "document_versions"
    __table_args__ = (UniqueConstraint("document_id", "version"),)

    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued, ready, failed
    content_type: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str | None] = mapped_column(String(300), default=None)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(Integer)
    # The extracted text every chunk's offsets point into.
    text: Mapped[str] = mapped_column(Text)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    pages: Mapped[int | None] = mapped_column(Integer, default=None)
    job_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(String(500), default=None)
    jurisdiction: Mapped[str | None] = mapped_column(String(16), default=None)
    document_type: Mapped[str | None] = mapped_column(String(64), default=None)
    effective_date: Mapped[date | None] = mapped_column(Date, default=None)
    ready_at: Mapped[datetime | None] = mapped_column(default=None)


class _ChunkColumns:
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    heading: Mapped[str | None] = mapped_column(String(500), default=None)
    section_id: Mapped[str | None] = mapped_column(String(200), default=None)
    page: Mapped[int | None] = mapped_column(Integer, default=None)
    start: Mapped[int] = mapped_column("start_offset", Integer)
    end: Mapped[int] = mapped_column("end_offset", Integer)
    jurisdiction: Mapped[str | None] = mapped_column(String(16), default=None)
    document_type: Mapped[str | None] = mapped_column(String(64), default=None)
    effective_date: Mapped[date | None] = mapped_column(Date, default=None)
    # Written NULL at upload, filled by the ingestion job; `tsv` (a generated column) exists only in SQL.
    embedding: Mapped[list[float] | None] = mapped_column(Vector(EMBEDDING_DIMENSIONS), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=False)


class DocumentChunk(_ChunkColumns, TenantModel):
    __tablename__ = "document_chunks"

    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("document_versions.id", ondelete="CASCADE"), index=True
    )
    version: Mapped[int] = mapped_column(Integer)


class CorpusDocument(TimestampedModel):
    """One version of one document of a platform-shared corpus (from a plugin's register_corpora)."""

    __tablename__ = "corpus_documents"
    __table_args__ = (
        UniqueConstraint("corpus", "source_id", "version"),
        UniqueConstraint("corpus", "source_id", "content_hash"),
    )

    corpus: Mapped[str] = mapped_column(String(64))
    source_id: Mapped[str] = mapped_column(String(200))
    plugin: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    section_id: Mapped[str | None] = mapped_column(String(200), default=None)
    jurisdiction: Mapped[str | None] = mapped_column(String(16), default=None)
    document_type: Mapped[str | None] = mapped_column(String(64), default=None)
    effective_date: Mapped[date | None] = mapped_column(Date, default=None)
    source_url: Mapped[str | None] = mapped_column(String(2048), default=None)
    extra: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)
    current: Mapped[bool] = mapped_column(Boolean, default=True)


class CorpusChunk(_ChunkColumns, TimestampedModel):
    __tablename__ = "corpus_chunks"

    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("corpus_documents.id", ondelete="CASCADE"), index=True
    )
    corpus: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
