"""One process's retrieval: the embedder, the backend (pgvector embedded, or Weaviate when
LUMEN_WEAVIATE_URL is set) and which plugin feeds which shared corpus. Built once by create_app and by the
worker; never a module global."""

from __future__ import annotations

import gc
import threading
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from lumen.core.db.session import Database
from lumen.core.http.errors import UnprocessableEntity
from lumen.core.plugins.host import PluginHost
from lumen.core.settings import Settings
from lumen.inference.embeddings import Embedder, shared_local_embedder
from lumen.inference.embeddings.cache import VectorCache, default_cache_dir
from lumen.inference.retrieval.backend import (
    TENANT_CORPUS,
    PgVectorBackend,
    RetrievalBackend,
    SearchFilters,
    as_tuple,
)
from lumen.inference.retrieval.service import Searcher, readable_corpora, sync_corpora
from lumen.plugins.sdk.inference import Passage
from lumen.plugins.sdk.types import CorpusDocument

__all__ = ["Retrieval", "make_backend"]

MAX_K = 50


def make_backend(settings: Settings, db: Database) -> RetrievalBackend:
    if settings.weaviate_url:
        from lumen.inference.retrieval.weaviate import WeaviateBackend

        return WeaviateBackend(db, settings.weaviate_url)
    return PgVectorBackend(db)


class Retrieval:
    def __init__(
        self,
        db: Database,
        backend: RetrievalBackend,
        *,
        embedder: Embedder | None = None,
        shared: Sequence[tuple[str, CorpusDocument]] = (),
        cache: VectorCache | None = None,
    ) -> None:
        self.db = db
        self.backend = backend
        self.embedder: Embedder = embedder or shared_local_embedder()
        self.shared = list(shared)
        self.cache = cache
        self.corpus_plugins: dict[str, set[str]] = {}
        for plugin, document in self.shared:
            self.corpus_plugins.setdefault(document.corpus, set()).add(plugin)
        self.searcher = Searcher(self.embedder, backend)

    @classmethod
    def for_host(
        cls, settings: Settings, db: Database, host: PluginHost, *, embedder: Embedder | None = None
    ) -> Retrieval:
        shared = [(p.name, d) for p in host.plugins.values() for d in p.corpora]
        cache = VectorCache(default_cache_dir())
        return cls(db, make_backend(settings, db), embedder=embedder, shared=shared, cache=cache)

    def corpora_for(self, enabled_plugins: frozenset[str]) -> list[str]:
        return readable_corpora(self.corpus_plugins, enabled_plugins)

    def choose_corpora(self, requested: Sequence[str] | None, enabled_plugins: frozenset[str]) -> list[str]:
        """The corpora a search covers: what was asked for (each must be readable), else all readable."""
        readable = self.corpora_for(enabled_plugins)
        if requested is None:
            return readable
        unknown = [c for c in requested if c not in readable]
        if unknown:
            raise UnprocessableEntity(
                f"corpora: {', '.join(map(repr, unknown))} is not a corpus this tenant can read "
                f"(readable: {', '.join(readable)})",
                slug="validation-error",
            )
        return list(dict.fromkeys(requested))

    async def search(
        self,
        tenant_id: uuid.UUID,
        query: str,
        *,
        corpora: Sequence[str],
        filters: SearchFilters,
        k: int,
    ) -> list[Passage]:
        return await self.searcher.search(tenant_id, query, corpora=corpora, filters=filters, k=k)

    def warm_in_background(self) -> None:
        """Start loading the embedding model in a thread; searches that arrive meanwhile wait for it."""
        warm = getattr(self.embedder, "warm", None)
        if not callable(warm):
            return

        def warm_then_freeze() -> None:
            warm()
            if gc.get_freeze_count():
                # A server's worker froze its start-up heap (lumen.core.app): the model lives as long as
                # the process too, so keep full collections from walking it as well.
                gc.freeze()

        threading.Thread(target=warm_then_freeze, name="lumen-embedder-warm", daemon=True).start()

    async def sync_corpora(self) -> dict[str, int]:
        return await sync_corpora(self.db, self.embedder, self.backend, self.shared, self.cache)

    async def aclose(self) -> None:
        await self.backend.aclose()


def filters_from(raw: Mapping[str, Any] | None) -> SearchFilters:
    """A plugin's `filters` mapping → SearchFilters; a bad one is a 422 naming the field."""
    if not raw:
        return SearchFilters()
    values = dict(raw)
    for key in ("jurisdiction", "document_type"):
        if key in values:
            values[key] = list(as_tuple(values[key]))
    try:
        return msgspec.convert(values, SearchFilters, strict=False)
    except msgspec.ValidationError as exc:
        raise UnprocessableEntity(f"filters: {exc}", slug="validation-error") from None


__all__ += ["MAX_K", "TENANT_CORPUS", "filters_from"]
