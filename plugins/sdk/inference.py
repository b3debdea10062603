"""What a plugin gets from the shared model services through its PluginContext: generation and embeddings
from the inference pool (vLLM in production, Lumen's local engine here) and passages from retrieval
(Weaviate in production, pgvector + full-text search here).

The app wires one `ModelServices` per process; plugins call `ctx.generate()` (or `ctx.generate_stream()`
for the text as it is produced), `ctx.embed()` and `ctx.retrieve()`, which add the tenant. inference/ knows
a tenant id, never a domain.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Literal, Protocol

import msgspec

__all__ = ["ChatMessage", "Generation", "ModelServices", "Passage"]


class ChatMessage(msgspec.Struct, frozen=True, kw_only=True):
    role: Literal["system", "user", "assistant"]
    content: str


class Generation(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    model: str  # "lumen-base" or the adapter's name
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" or "length"


class Passage(msgspec.Struct, frozen=True, kw_only=True):
    """One retrieved chunk, with everything a citation needs to point at the exact span."""

    document_id: str
    version: int
    corpus: str  # "tenant" or the name of a platform-shared corpus ("regulatory", "patient-education")
    title: str
    text: str
    score: float
    section_id: str | None = None  # "21 CFR 211.100(a)", "EU GMP Annex 11 §4.8"
    heading: str | None = None
    page: int | None = None
    start: int = 0  # character offsets into the document version's text
    end: int = 0
    source_url: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class ModelServices(Protocol):
    """Implemented by the app's wiring over the inference pool and the retrieval backend."""

    async def generate(
        self,
        tenant_id: uuid.UUID,
        messages: Sequence[ChatMessage],
        *,
        model: str = "lumen-base",
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
    ) -> Generation: ...

    def generate_stream(
        self,
        tenant_id: uuid.UUID,
        messages: Sequence[ChatMessage],
        *,
        model: str = "lumen-base",
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
    ) -> AsyncIterator[str]: ...

    async def embed(self, tenant_id: uuid.UUID, texts: Sequence[str]) -> list[list[float]]: ...

    async def retrieve(
        self,
        tenant_id: uuid.UUID,
        query: str,
        *,
        corpora: Sequence[str] | None = None,
        filters: Mapping[str, Any] | None = None,
        k: int = 5,
    ) -> list[Passage]: ...
