"""The app's ModelServices (lumen.plugins.sdk.inference): what `ctx.generate()`, `ctx.embed()` and
`ctx.retrieve()` reach: generation through the inference pool (its gateway resolves the tenant's adapters
and charges its token budgets), embeddings and retrieval through the retrieval runtime (the same embedding
model that indexed the passages)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from lumen.core.http.errors import LumenProblem, UnprocessableEntity
from lumen.core.tenancy.config import TenantConfigCache
from lumen.inference.pool.service import InferenceGateway
from lumen.inference.retrieval.runtime import MAX_K, Retrieval, filters_from
from lumen.plugins.sdk.inference import ChatMessage, Generation, Passage

__all__ = ["ModelServicesImpl"]

MAX_EMBED_TEXTS = 256


class ModelServicesImpl:
    def __init__(
        self,
        retrieval: Retrieval,
        tenant_config: TenantConfigCache,
        generator: InferenceGateway | None = None,
    ) -> None:
        self.retrieval = retrieval
        self._tenant_config = tenant_config
        self._generator = generator

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
    ) -> Generation:
        if self._generator is None:
            raise LumenProblem(
                "The inference pool is not configured on this Lumen.", slug="service-unavailable"
            )
        return await self._generator.generate(
            tenant_id,
            messages,
            model=model,
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            seed=seed,
        )

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
    ) -> AsyncIterator[str]:
        if self._generator is None:
            raise LumenProblem(
                "The inference pool is not configured on this Lumen.", slug="service-unavailable"
            )
        return self._generator.generate_stream(
            tenant_id,
            messages,
            model=model,
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            seed=seed,
        )

    async def embed(self, tenant_id: uuid.UUID, texts: Sequence[str]) -> list[list[float]]:
        if len(texts) > MAX_EMBED_TEXTS:
            raise UnprocessableEntity(f"texts: at most {MAX_EMBED_TEXTS} per call", slug="validation-error")
        return await self.retrieval.embedder.embed(texts)

    async def retrieve(
        self,
        tenant_id: uuid.UUID,
        query: str,
        *,
        corpora: Sequence[str] | None = None,
        filters: Mapping[str, Any] | None = None,
        k: int = 5,
    ) -> list[Passage]:
        if not query.strip():
            raise UnprocessableEntity("query: must not be blank", slug="validation-error")
        if not 1 <= k <= MAX_K:
            raise UnprocessableEntity(f"k: must be between 1 and {MAX_K}", slug="validation-error")
        config = await self._tenant_config.get(tenant_id)
        chosen = self.retrieval.choose_corpora(corpora, config.enabled_plugins)
        return await self.retrieval.search(
            tenant_id, query, corpora=chosen, filters=filters_from(filters), k=k
        )
