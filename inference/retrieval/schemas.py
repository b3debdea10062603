"""Request and response bodies of the documents and search API (msgspec, bounded, unknown fields refused)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from lumen.core.http.types import NOT_BLANK_TEXT

__all__ = [
    "MAX_JSON_TEXT_CHARS",
    "MAX_UPLOAD_BYTES",
    "DocumentCreate",
    "DocumentOut",
    "DocumentPage",
    "PassageOut",
    "SearchFiltersIn",
    "SearchRequest",
    "SearchResponse",
    "VersionOut",
]

MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # multipart uploads (PDF, DOCX...)
MAX_JSON_TEXT_CHARS = 4_000_000  # JSON bodies carry text inline
MAX_JSON_BODY_BYTES = 16 * 1024 * 1024

Title = Annotated[str, Meta(min_length=1, max_length=300, pattern=NOT_BLANK_TEXT)]
Code = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._/-]*$")]
Jurisdiction = Annotated[str, Meta(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9-]+$")]
CorpusName = Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_-]*$")]
ContentType = Annotated[str, Meta(min_length=3, max_length=100, pattern=r"^[A-Za-z0-9.+/-]+$")]


class DocumentCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A document sent as JSON: its text inline (PDF and DOCX go as multipart uploads)."""

    title: Title
    text: Annotated[str, Meta(min_length=1, max_length=MAX_JSON_TEXT_CHARS)]
    content_type: ContentType = "text/plain"
    jurisdiction: Jurisdiction | None = None
    document_type: Code | None = None
    effective_date: date | None = None


class VersionOut(msgspec.Struct, kw_only=True):
    version: int
    state: str  # queued, ready, failed
    content_type: str
    content_hash: str
    size_bytes: int
    chunks: int
    pages: int | None
    filename: str | None
    job_id: uuid.UUID | None
    error: str | None
    created_at: datetime
    ready_at: datetime | None


class DocumentOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    title: str
    latest_version: int
    current_version: int  # the version search sees; 0 until one is ready
    state: str  # of the latest version
    created_at: datetime
    updated_at: datetime
    job_id: uuid.UUID | None = None  # the latest version's ingestion job (GET /v1/jobs/{id})
    deduplicated: bool = False  # this upload's bytes were already stored: nothing new was made
    version: VersionOut | None = None  # the latest version
    versions: list[VersionOut] | None = None  # all versions (GET of one document)


class DocumentPage(msgspec.Struct):
    items: list[DocumentOut]
    next_cursor: str | None = None


class SearchFiltersIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    jurisdiction: Annotated[list[Jurisdiction], Meta(max_length=20)] | Jurisdiction | None = None
    document_type: Annotated[list[Code], Meta(max_length=20)] | Code | None = None
    effective_date: date | None = None  # in force on or before (undated documents pass)


class SearchRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    query: Annotated[str, Meta(min_length=1, max_length=2000, pattern=NOT_BLANK_TEXT)]
    corpora: Annotated[list[CorpusName], Meta(min_length=1, max_length=20)] | None = None
    filters: SearchFiltersIn | None = None
    k: Annotated[int, Meta(ge=1, le=50)] = 5


class PassageOut(msgspec.Struct, kw_only=True):
    document_id: str  # a tenant document's id, or a shared corpus document's stable source id
    version: int
    corpus: str
    title: str
    section_id: str | None
    heading: str | None
    page: int | None
    start: int  # character offsets into that version's text
    end: int
    text: str
    score: float
    source_url: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class SearchResponse(msgspec.Struct, kw_only=True):
    passages: list[PassageOut]
    corpora: list[str]  # the corpora searched
