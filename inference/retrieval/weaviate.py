"""The Weaviate backend (LUMEN_WEAVIATE_URL): the same interface as the embedded one, over Weaviate's native
multi-tenancy with weaviate-client v4.

- One multi-tenant collection per corpus kind: `LumenTenantChunks` (a Weaviate tenant per Lumen tenant, named
  by its UUID) and `LumenSharedChunks` (a Weaviate tenant per shared corpus, e.g. `regulatory`). A tenant's
  query can only name its own shard, so isolation does not rest on a filter.
- Hybrid queries (BM25 + the vector we pass, ranked fusion); results of several shards are merged by
  reciprocal rank fusion, like the embedded backend.
- Tenant activity: shards are created and activated automatically; an INACTIVE or OFFLOADED shard that a
  query needs is activated first (an offloaded one may take a moment: the query is retried briefly).
- PostgreSQL stays the source of truth (document rows, versions, chunk text and vectors under RLS); Weaviate
  gets a version's chunks when it goes live and loses them when the document or the tenant is deleted.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import structlog
from sqlalchemy import text

from lumen.core.db.session import Database
from lumen.core.tenancy.context import PLATFORM, Scope
from lumen.inference.retrieval.backend import RRF_K, SearchQuery
from lumen.plugins.sdk.inference import Passage

__all__ = ["SHARED_COLLECTION", "TENANT_COLLECTION", "WeaviateBackend"]

log = structlog.get_logger()

TENANT_COLLECTION = "LumenTenantChunks"
SHARED_COLLECTION = "LumenSharedChunks"
_PROPERTIES = (
    ("chunk_id", "uuid"),
    ("document_id", "text"),
    ("version", "int"),
    ("corpus", "text"),
    ("title", "text"),
    ("text", "text"),
    ("heading", "text"),
    ("section_id", "text"),
    ("page", "int"),
    ("start", "int"),
    ("end", "int"),
    ("jurisdiction", "text"),
    ("document_type", "text"),
    ("effective_date", "date"),
    ("source_url", "text"),
)
_SEARCHABLE = ["text", "heading", "section_id", "title"]

_TENANT_CHUNKS = """
SELECT c.id, c.document_id::text AS document_id, c.version, 'tenant' AS corpus, d.title, c.text, c.heading,
       c.section_id, c.page, c.start_offset, c.end_offset, c.jurisdiction, c.document_type, c.effective_date,
       NULL AS source_url, c.embedding::text AS embedding
FROM document_chunks c JOIN documents d ON d.id = c.document_id
WHERE c.tenant_id = :tenant AND c.version_id = :version AND c.embedding IS NOT NULL
"""
_CORPUS_CHUNKS = """
SELECT c.id, d.source_id AS document_id, c.version, c.corpus, d.title, c.text, c.heading, c.section_id,
       c.page, c.start_offset, c.end_offset, c.jurisdiction, c.document_type, c.effective_date, d.source_url,
       c.embedding::text AS embedding
FROM corpus_chunks c JOIN corpus_documents d ON d.id = c.document_id
WHERE c.document_id = :document
"""


def _connect(url: str) -> Any:
    import weaviate

    parts = urlsplit(url)
    secure = parts.scheme == "https"
    host = parts.hostname or "localhost"
    port = parts.port or (443 if secure else 8080)
    # The gRPC port Weaviate serves next to HTTP (50051 unless the URL says `?grpc=<port>`).
    query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
    grpc_port = int(query.get("grpc", 50051))
    return weaviate.use_async_with_custom(
        http_host=host,
        http_port=port,
        http_secure=secure,
        grpc_host=query.get("grpc_host", host),
        grpc_port=grpc_port,
        grpc_secure=secure,
        auth_credentials=query.get("api_key") or None,
    )


class WeaviateBackend:
    name = "weaviate"

    def __init__(self, db: Database, url: str, *, client: Any = None) -> None:
        self._db = db
        self._url = url
        self._client = client
        self._ready = asyncio.Lock()
        self._connected = False

    # --- connection and schema -----------------------------------------------------------------------------

    async def _collections(self) -> Any:
        async with self._ready:
            if self._client is None:
                self._client = _connect(self._url)
            if not self._connected:
                await self._client.connect()
                for name in (TENANT_COLLECTION, SHARED_COLLECTION):
                    if not await self._client.collections.exists(name):
                        await self._create(name)
                self._connected = True
        return self._client.collections

    async def _create(self, name: str) -> None:
        from weaviate.classes.config import Configure, DataType, Property, VectorDistances

        types = {"uuid": DataType.UUID, "text": DataType.TEXT, "int": DataType.INT, "date": DataType.DATE}
        await self._client.collections.create(
            name=name,
            description="Lumen retrieval chunks; all-MiniLM-L6-v2 vectors (384, cosine) supplied by Lumen.",
            multi_tenancy_config=Configure.multi_tenancy(
                enabled=True, auto_tenant_creation=True, auto_tenant_activation=True
            ),
            vector_config=Configure.Vectors.self_provided(
                vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.COSINE)
            ),
            properties=[
                Property(
                    name=prop,
                    data_type=types[kind],
                    skip_vectorization=True,
                    index_searchable=prop in _SEARCHABLE,
                    index_filterable=prop not in ("text",),
                )
                for prop, kind in _PROPERTIES
            ],
        )

    async def _active(self, collection: Any, shard: str) -> Any | None:
        """The shard's handle, activated if it was INACTIVE or OFFLOADED; None if it does not exist yet."""
        from weaviate.classes.tenants import Tenant, TenantActivityStatus

        found = await collection.tenants.get_by_name(shard)
        if found is None:
            return None
        status = found.activity_status
        if status in (
            TenantActivityStatus.INACTIVE,
            TenantActivityStatus.OFFLOADED,
            TenantActivityStatus.COLD,
            TenantActivityStatus.FROZEN,
        ):
            await collection.tenants.update(Tenant(name=shard, activity_status=TenantActivityStatus.ACTIVE))
            log.info("retrieval.weaviate_shard_activated", from_status=str(status))
        for _ in range(50):  # ONLOADING: an offloaded shard coming back from cold storage
            if status not in (
                TenantActivityStatus.ONLOADING,
                TenantActivityStatus.OFFLOADED,
                TenantActivityStatus.FROZEN,
            ):
                break
            await asyncio.sleep(0.2)
            refreshed = await collection.tenants.get_by_name(shard)
            status = refreshed.activity_status if refreshed is not None else TenantActivityStatus.ACTIVE
        return collection.with_tenant(shard)

    # --- search -----------------------------------------------------------------------------------------

    def _filters(self, query: SearchQuery) -> Any:
        from weaviate.classes.query import Filter

        clauses = []
        f = query.filters
        if f.jurisdiction:
            clauses.append(Filter.by_property("jurisdiction").contains_any(list(f.jurisdiction)))
        if f.document_type:
            clauses.append(Filter.by_property("document_type").contains_any(list(f.document_type)))
        if f.effective_date is not None:
            cutoff = datetime(f.effective_date.year, f.effective_date.month, f.effective_date.day, tzinfo=UTC)
            clauses.append(
                Filter.by_property("effective_date").less_or_equal(cutoff)
                | Filter.by_property("effective_date").is_none(True)
            )
        return Filter.all_of(clauses) if clauses else None

    async def _hybrid(self, collection: Any, shard: str, query: SearchQuery, limit: int) -> list[Any]:
        from weaviate.classes.query import HybridFusion, MetadataQuery

        handle = await self._active(collection, shard)
        if handle is None:
            return []
        result = await handle.query.hybrid(
            query=query.text,
            vector=query.vector,
            alpha=0.5,
            fusion_type=HybridFusion.RANKED,
            query_properties=_SEARCHABLE,
            filters=self._filters(query),
            limit=limit,
            return_metadata=MetadataQuery(score=True),
        )
        return list(result.objects)

    async def search(self, query: SearchQuery) -> list[Passage]:
        collections = await self._collections()
        limit = max(50, query.k * 4)
        lists: list[list[Any]] = []
        if query.tenant_documents:
            lists.append(
                await self._hybrid(collections.get(TENANT_COLLECTION), str(query.tenant_id), query, limit)
            )
        for corpus in query.shared:
            lists.append(await self._hybrid(collections.get(SHARED_COLLECTION), corpus, query, limit))
        scores: dict[str, float] = {}
        objects: dict[str, Any] = {}
        for ranked in lists:
            for rank, obj in enumerate(ranked, start=1):
                key = str(obj.uuid)
                scores[key] = scores.get(key, 0.0) + 1.0 / (RRF_K + rank)
                objects[key] = obj
        best = sorted(scores, key=lambda key: (-scores[key], key))[: query.k]
        return [_passage(objects[key].properties, scores[key]) for key in best]

    # --- keeping Weaviate in step with PostgreSQL ----------------------------------------------------------

    async def _replace(self, collection: Any, shard: str, document_id: str, rows: list[Any]) -> None:
        from weaviate.classes.data import DataObject
        from weaviate.classes.query import Filter

        handle = await self._active(collection, shard)
        if handle is None:
            handle = collection.with_tenant(shard)  # auto tenant creation makes it on first insert
        else:
            await handle.data.delete_many(where=Filter.by_property("document_id").equal(document_id))
        objects = [
            DataObject(uuid=row.id, properties=_properties(row), vector=_vector(row.embedding))
            for row in rows
        ]
        for i in range(0, len(objects), 200):
            result = await handle.data.insert_many(objects[i : i + 200])
            if result.has_errors:
                raise RuntimeError(f"weaviate refused {len(result.errors)} chunks")

    async def version_ready(
        self, tenant_id: uuid.UUID, document_id: uuid.UUID, version_id: uuid.UUID
    ) -> None:
        async with self._db.transaction(Scope.tenant(tenant_id)) as session:
            rows = list(
                (
                    await session.execute(text(_TENANT_CHUNKS), {"tenant": tenant_id, "version": version_id})
                ).all()
            )
        collections = await self._collections()
        await self._replace(collections.get(TENANT_COLLECTION), str(tenant_id), str(document_id), rows)

    async def corpus_document_ready(self, corpus: str, document_id: uuid.UUID) -> None:
        async with self._db.transaction(PLATFORM) as session:
            rows = list((await session.execute(text(_CORPUS_CHUNKS), {"document": document_id})).all())
        if not rows:
            return
        collections = await self._collections()
        await self._replace(collections.get(SHARED_COLLECTION), corpus, rows[0].document_id, rows)

    async def document_deleted(self, tenant_id: uuid.UUID, document_id: uuid.UUID) -> None:
        from weaviate.classes.query import Filter

        collections = await self._collections()
        handle = await self._active(collections.get(TENANT_COLLECTION), str(tenant_id))
        if handle is not None:
            await handle.data.delete_many(where=Filter.by_property("document_id").equal(str(document_id)))

    async def tenant_deleted(self, tenant_id: uuid.UUID) -> None:
        """Called after the tenant's rows are gone from PostgreSQL: its whole shard goes too."""
        collections = await self._collections()
        await collections.get(TENANT_COLLECTION).tenants.remove([str(tenant_id)])
        log.info("retrieval.weaviate_shard_removed")

    async def aclose(self) -> None:
        if self._client is not None and self._connected:
            await self._client.close()
            self._connected = False


def _vector(literal: str) -> list[float]:
    return [float(x) for x in literal.strip("[]").split(",")]


def _properties(row: Any) -> dict[str, Any]:
    effective = row.effective_date
    return {
        "chunk_id": row.id,
        "document_id": row.document_id,
        "version": row.version,
        "corpus": row.corpus,
        "title": row.title or "",
        "text": row.text,
        "heading": row.heading,
        "section_id": row.section_id,
        "page": row.page,
        "start": row.start_offset,
        "end": row.end_offset,
        "jurisdiction": row.jurisdiction,
        "document_type": row.document_type,
        "effective_date": datetime(effective.year, effective.month, effective.day, tzinfo=UTC)
        if effective
        else None,
        "source_url": row.source_url,
    }


def _passage(props: dict[str, Any], score: float) -> Passage:
    metadata: dict[str, Any] = {k: props[k] for k in ("jurisdiction", "document_type") if props.get(k)}
    if props.get("effective_date"):
        metadata["effective_date"] = props["effective_date"].date().isoformat()
    return Passage(
        document_id=str(props["document_id"]),
        version=int(props["version"]),
        corpus=str(props["corpus"]),
        title=props.get("title") or "",
        text=props["text"],
        score=score,
        section_id=props.get("section_id"),
        heading=props.get("heading"),
        page=props.get("page"),
        start=int(props.get("start") or 0),
        end=int(props.get("end") or 0),
        source_url=props.get("source_url"),
        metadata=metadata,
    )
