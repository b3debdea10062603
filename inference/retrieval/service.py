"""Retrieval's logic: accepting a document (parse, dedup, version, chunk; the embedding runs as a job),
the ingestion job itself, syncing the platform-shared corpora, and search. Services never commit: the request
or the job boundary does."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.db.session import Database
from lumen.core.jobs.outbox import create_job
from lumen.core.tenancy.context import PLATFORM, Scope
from lumen.inference.embeddings import Embedder
from lumen.inference.retrieval.backend import (
    TENANT_CORPUS,
    RetrievalBackend,
    SearchFilters,
    SearchQuery,
)
from lumen.inference.retrieval.chunking import Chunk, chunk_document
from lumen.inference.retrieval.models import CorpusDocument, Document, DocumentVersion
from lumen.inference.retrieval.parsing import ParsedDocument, parse
from lumen.inference.retrieval.repository import CorpusRepository, DocumentRepository, iso_date
from lumen.plugins.sdk.inference import Passage
from lumen.plugins.sdk.types import CorpusDocument as SharedDocument

__all__ = [
    "INGEST_JOB",
    "AcceptedDocument",
    "DocumentIngestor",
    "embedding_input",
    "ingest_version",
    "sync_corpora",
]

log = structlog.get_logger()

INGEST_JOB = "retrieval.ingest"
EMBED_BATCH = 64


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def embedding_input(title: str | None, heading: str | None, text: str) -> str:
    """What is embedded for a chunk: its text with the title and heading it sits under (they carry the topic
    a paragraph often leaves implicit). The stored text stays the exact span."""
    context = " — ".join(p for p in (title, heading) if p and p not in text[: len(p) + 8])
    return f"{context}\n{text}" if context else text


@dataclass(frozen=True)
class AcceptedDocument:
    document: Document
    version: DocumentVersion
    deduplicated: bool


@dataclass(frozen=True)
class DocumentFields:
    title: str
    content_type: str
    filename: str | None = None
    jurisdiction: str | None = None
    document_type: str | None = None
    effective_date: date | None = None


class DocumentIngestor:
    """Accepts a tenant's upload inside the request's transaction."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.documents = DocumentRepository(session, tenant_id)

    async def accept(self, data: bytes, fields: DocumentFields) -> AcceptedDocument:
        digest = content_hash(data)
        existing = await self.documents.version_by_hash(digest)
        if existing is not None:
            document = await self.documents.get(existing.document_id)
            assert document is not None
            return AcceptedDocument(document, existing, deduplicated=True)
        # Parsing is CPU work on untrusted bytes: off the event loop.
        parsed: ParsedDocument = await asyncio.to_thread(parse, data, fields.content_type)
        chunks = chunk_document(parsed, title=fields.title)
        document = await self.documents.by_title(fields.title)
        if document is None:
            document = await self.documents.add(
                Document(title=fields.title, latest_version=0, current_version=0)
            )
        document.latest_version += 1
        meta = parsed.metadata
        version = await self.documents.add_version(
            DocumentVersion(
                document_id=document.id,
                version=document.latest_version,
                state="queued",
                content_type=fields.content_type,
                filename=fields.filename,
                content_hash=digest,
                size_bytes=len(data),
                text=parsed.text,
                chunk_count=len(chunks),
                pages=parsed.pages,
                jurisdiction=fields.jurisdiction or meta.get("jurisdiction"),
                document_type=fields.document_type or meta.get("document_type"),
                effective_date=fields.effective_date or iso_date(meta.get("effective_date")),
            )
        )
        await self.documents.add_chunks(version, chunks)
        job = await create_job(
            self.session,
            self.tenant_id,
            INGEST_JOB,
            {"tenant_id": str(self.tenant_id), "version_id": str(version.id)},
        )
        version.job_id = job.id
        await self.session.flush()
        log.info(
            "retrieval.document_accepted", version=version.version, chunks=len(chunks), format=parsed.format
        )
        return AcceptedDocument(document, version, deduplicated=False)


Progress = Callable[[float, str | None], Awaitable[None]]


async def ingest_version(
    db: Database,
    embedder: Embedder,
    backend: RetrievalBackend,
    *,
    tenant_id: str,
    version_id: str,
    report_progress: Progress,
    **_: Any,
) -> dict[str, Any]:
    """The ingestion job: embed the version's chunks batch by batch (each batch committed, so a retry
    resumes), then make the version searchable in one transaction. Idempotent: arq may run it twice."""
    tenant, ident = uuid.UUID(tenant_id), uuid.UUID(version_id)
    scope = Scope.tenant(tenant)
    async with db.transaction(scope) as session:
        repo = DocumentRepository(session, tenant)
        version = await repo.version(ident)
        if version is None:
            return {"skipped": "the document was deleted"}
        total, title = version.chunk_count, (await repo.get(version.document_id))
        title_text = title.title if title else None
        remaining = await repo.count_unembedded(ident)
    done = total - remaining
    while True:
        async with db.transaction(scope) as session:
            repo = DocumentRepository(session, tenant)
            batch = await repo.unembedded(ident, EMBED_BATCH)
        if not batch:
            break
        vectors = await embedder.embed(
            [embedding_input(title_text, heading, text) for _, text, heading in batch]
        )
        async with db.transaction(scope) as session:
            await DocumentRepository(session, tenant).set_embeddings(
                [(chunk_id, vector) for (chunk_id, _, _), vector in zip(batch, vectors, strict=True)]
            )
        done += len(batch)
        await report_progress(0.95 * done / max(total, 1), f"embedded {done} of {total} chunks")
    async with db.transaction(scope) as session:
        repo = DocumentRepository(session, tenant)
        version = await repo.version(ident)
        document = await repo.get(version.document_id) if version is not None else None
        if version is None or document is None:
            return {"skipped": "the document was deleted"}
        await repo.activate(document, version)
        document_id = document.id
    await backend.version_ready(tenant, document_id, ident)
    log.info("retrieval.version_ready", chunks=total)
    return {"document_id": str(document_id), "version": version.version, "chunks": total}


async def sync_corpora(
    db: Database,
    embedder: Embedder,
    backend: RetrievalBackend,
    documents: Sequence[tuple[str, SharedDocument]],
) -> dict[str, int]:
    """Ingest the plugins' shared-corpus documents (plugin name, document): a content hash already present
    is skipped, a changed one becomes a new current version, a source no plugin ships any more stops being
    searchable. Safe to run from several processes at once (the unique keys settle races)."""
    async with db.transaction(PLATFORM) as session:
        known = await CorpusRepository(session).hashes()
    added = unchanged = reactivated = 0
    shipped: dict[str, set[str]] = {}
    for plugin, doc in documents:
        shipped.setdefault(doc.corpus, set()).add(doc.source_id)
        data = doc.text.encode()
        digest = content_hash(data + b"\x00" + _corpus_fingerprint(doc))
        if known.get((doc.corpus, doc.source_id)) == digest:
            unchanged += 1
            continue
        async with db.transaction(PLATFORM) as session:
            repo = CorpusRepository(session)
            earlier = await repo.by_hash(doc.corpus, doc.source_id, digest)
            if earlier is not None:  # back to a text shipped before: that version is current again
                await repo.make_current(earlier)
        if earlier is not None:
            await backend.corpus_document_ready(doc.corpus, earlier.id)
            reactivated += 1
            continue
        parsed = parse(
            data, doc.content_type if doc.content_type in ("text/markdown", "text/plain") else "text/plain"
        )
        chunks = chunk_document(parsed, title=doc.title, section_id=doc.section_id)
        if not chunks:
            continue
        vectors = await embedder.embed([embedding_input(doc.title, c.heading, c.text) for c in chunks])
        async with db.transaction(PLATFORM) as session:
            repo = CorpusRepository(session)
            if await repo.by_hash(doc.corpus, doc.source_id, digest) is not None:
                unchanged += 1  # another process got there first
                continue
            row = CorpusDocument(
                corpus=doc.corpus,
                source_id=doc.source_id,
                plugin=plugin,
                version=await repo.next_version(doc.corpus, doc.source_id),
                content_hash=digest,
                title=doc.title,
                content_type=doc.content_type,
                text=parsed.text,
                section_id=doc.section_id,
                jurisdiction=doc.jurisdiction,
                document_type=doc.document_type,
                effective_date=iso_date(doc.effective_date),
                source_url=doc.source_url,
                extra=dict(doc.metadata),
                current=True,
            )
            await repo.add(row, _with_base_section(chunks, doc.section_id), vectors)
            await repo.make_current(row)
        await backend.corpus_document_ready(doc.corpus, row.id)
        added += 1
    retired = 0
    async with db.transaction(PLATFORM) as session:
        repo = CorpusRepository(session)
        for corpus, keep in shipped.items():
            retired += await repo.retire(corpus, keep)
    counts = {"added": added, "unchanged": unchanged, "reactivated": reactivated, "retired": retired}
    log.info("retrieval.corpora_synced", **counts)
    return counts


def _corpus_fingerprint(doc: SharedDocument) -> bytes:
    """Metadata that changes what search returns is part of the content hash."""
    return "|".join(
        str(x or "")
        for x in (
            doc.title,
            doc.section_id,
            doc.jurisdiction,
            doc.document_type,
            doc.effective_date,
            doc.source_url,
        )
    ).encode()


def _with_base_section(chunks: Sequence[Chunk], section_id: str | None) -> list[Chunk]:
    if not section_id:
        return list(chunks)
    return [
        c if c.section_id else Chunk(c.ordinal, c.start, c.end, c.text, c.heading, section_id, c.page)
        for c in chunks
    ]


class Searcher:
    """Search for one tenant over the corpora it may read."""

    def __init__(self, embedder: Embedder, backend: RetrievalBackend, *, cached_queries: int = 2048) -> None:
        self.embedder = embedder
        self.backend = backend
        # Embedding the query is most of a search's CPU time; the same question (a plugin's standing query,
        # a retry) is embedded once. Vectors only: nothing of any tenant's results is cached.
        self._vectors: OrderedDict[str, list[float]] = OrderedDict()
        self._cached_queries = cached_queries

    async def query_vector(self, query: str) -> list[float]:
        vector = self._vectors.get(query)
        if vector is None:
            vector = (await self.embedder.embed([query]))[0]
            self._vectors[query] = vector
            if len(self._vectors) > self._cached_queries:
                self._vectors.popitem(last=False)
        else:
            self._vectors.move_to_end(query)
        return vector

    async def search(
        self,
        tenant_id: uuid.UUID,
        query: str,
        *,
        corpora: Sequence[str],
        filters: SearchFilters,
        k: int,
    ) -> list[Passage]:
        vector = await self.query_vector(query)
        return await self.backend.search(
            SearchQuery(
                tenant_id=tenant_id,
                text=query,
                vector=vector,
                tenant_documents=TENANT_CORPUS in corpora,
                shared=tuple(c for c in corpora if c != TENANT_CORPUS),
                filters=filters,
                k=k,
            )
        )


def readable_corpora(corpus_plugins: Mapping[str, set[str]], enabled_plugins: frozenset[str]) -> list[str]:
    """The tenant's own documents plus every shared corpus fed by a plugin the tenant has enabled."""
    return [TENANT_CORPUS, *sorted(c for c, plugins in corpus_plugins.items() if plugins & enabled_plugins)]
