"""What every connector returns: one fetched source document in its own format, ready either to upload as a
tenant document (POST /v1/documents) or to ship as a platform corpus document (register_corpora)."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec

from lumen.inference.retrieval.chunking import chunk_document
from lumen.inference.retrieval.parsing import ParsedDocument, parse
from lumen.plugins.sdk.types import CorpusDocument

__all__ = ["USER_AGENT", "FetchedDocument", "new_client"]

USER_AGENT = "Lumen retrieval connector (+https://lumen.example/docs/retrieval)"
MAX_RESPONSE_BYTES = 50 * 1024 * 1024


class FetchedDocument(msgspec.Struct, frozen=True, kw_only=True):
    source: str  # "openfda", "dailymed", "ecfr", "medlineplus"
    source_id: str  # stable: set id, CFR section, topic id
    title: str
    content_type: str  # as POST /v1/documents takes it
    data: bytes
    source_url: str
    section_id: str | None = None
    jurisdiction: str | None = "US"
    document_type: str | None = None
    effective_date: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)

    def parse(self) -> ParsedDocument:
        return parse(self.data, self.content_type)

    def as_corpus_document(self, corpus: str) -> CorpusDocument:
        """Markdown with the source's headings, so the chunker finds the same sections again."""
        parsed = self.parse()
        lines: list[str] = []
        for block in parsed.blocks:
            span = parsed.text[block.start : block.end]
            lines.append(f"## {span}" if block.is_heading else span)
        return CorpusDocument(
            corpus=corpus,
            source_id=self.source_id,
            title=self.title,
            text="\n\n".join(lines),
            content_type="text/markdown",
            section_id=self.section_id,
            jurisdiction=self.jurisdiction,
            document_type=self.document_type,
            effective_date=self.effective_date,
            source_url=self.source_url,
            metadata={"source": self.source, **self.metadata},
        )

    def section_ids(self) -> list[str | None]:
        return [
            c.section_id for c in chunk_document(self.parse(), title=self.title, section_id=self.section_id)
        ]


def new_client(timeout: float = 30.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=timeout, follow_redirects=True, headers={"user-agent": USER_AGENT}, http2=False
    )


async def get_bytes(client: httpx.AsyncClient, url: str, params: dict[str, Any] | None = None) -> bytes:
    """GET with a size bound: a source that answers with more than MAX_RESPONSE_BYTES is refused."""
    async with client.stream("GET", url, params=params) as response:
        response.raise_for_status()
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise ValueError(f"{url}: response larger than {MAX_RESPONSE_BYTES} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
