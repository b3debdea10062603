"""The retrieval backend interface and the embedded one: PostgreSQL full-text search plus pgvector
HNSW, fused by reciprocal rank fusion, in the tenant's scope (row-level security) with the shared
corpora unioned in.

Multi-tenant pitfall: all tenants share one HNSW index, and pgvector applies `WHERE tenant_id = ...` after the
index scan, so a tenant owning 1% of the rows used to get ~1 result out of 10. A tenant (or set of shared
corpora) below EXACT_BELOW chunks is therefore searched exactly, by an index-only scan of the covering index
(tenant_id) INCLUDE (id, embedding); a larger one goes through the HNSW index with
`hnsw.iterative_scan = relaxed_order` (pgvector >= 0.8): the scan continues until enough rows pass the filter.
Full text starts from a (tenant_id, tsv) GIN index (btree_gin) and reads an inline tsvector (migration
0020_retrieval_search, which records what the profile showed).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any, Protocol

import msgspec
from sqlalchemy import text

from lumen.core.db.session import Database
from lumen.core.tenancy.context import Scope
from lumen.inference.retrieval.repository import vector_literal
from lumen.plugins.sdk.inference import Passage

__all__ = ["TENANT_CORPUS", "PgVectorBackend", "RetrievalBackend", "SearchFilters", "SearchQuery", "tsquery"]

TENANT_CORPUS = "tenant"
RRF_K = 60  # the constant of reciprocal rank fusion (Cormack et al. 2009)


class SearchFilters(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    jurisdiction: tuple[str, ...] = ()
    document_type: tuple[str, ...] = ()
    effective_date: date | None = None  # in force on or before this date (undated documents pass)


class SearchQuery(msgspec.Struct, frozen=True, kw_only=True):
    tenant_id: uuid.UUID
    text: str
    vector: list[float]
    tenant_documents: bool  # search the tenant's own documents
    shared: tuple[str, ...]  # platform corpora to union in
    filters: SearchFilters = SearchFilters()
    k: int = 5


class RetrievalBackend(Protocol):
    """Where chunks are searched. The tenant's chunk rows in PostgreSQL are the source of truth; a backend
    that keeps its own copy (Weaviate) is told when a version goes live and when rows are erased."""

    name: str

    async def search(self, query: SearchQuery) -> list[Passage]: ...

    async def version_ready(
        self, tenant_id: uuid.UUID, document_id: uuid.UUID, version_id: uuid.UUID
    ) -> None: ...

    async def corpus_document_ready(self, corpus: str, document_id: uuid.UUID) -> None: ...

    async def document_deleted(self, tenant_id: uuid.UUID, document_id: uuid.UUID) -> None: ...

    async def tenant_deleted(self, tenant_id: uuid.UUID) -> None: ...

    async def aclose(self) -> None: ...


_WORD = re.compile(r"[a-z0-9]+(?:\.[0-9]+)*")


def tsquery(query: str, max_terms: int = 32) -> str:
    """An OR query over the question's words (AND would demand every word of a natural question); the
    'english' configuration drops stop words and stems the rest; ranking rewards passages matching more."""
    words = list(dict.fromkeys(_WORD.findall(query.lower())))[:max_terms]
    return " | ".join(f"'{w}'" for w in words)


def _filter_sql(filters: SearchFilters, params: dict[str, Any]) -> str:
    clauses = []
    if filters.jurisdiction:
        params["f_jurisdiction"] = list(filters.jurisdiction)
        clauses.append("jurisdiction = ANY(:f_jurisdiction)")
    if filters.document_type:
        params["f_document_type"] = list(filters.document_type)
        clauses.append("document_type = ANY(:f_document_type)")
    if filters.effective_date is not None:
        params["f_effective"] = filters.effective_date
        clauses.append("(effective_date IS NULL OR effective_date <= :f_effective)")
    return "".join(f" AND {c}" for c in clauses)


# Below this many searchable chunks, a tenant's (or the chosen shared corpora's) vector candidates come from
# an exact scan of its own rows (recall 1.0): an index-only scan of ix_document_chunks_tenant_id_embedding,
# which reads the tenant's vectors from contiguous leaf pages. Profiled at 100k rows (docs/retrieval.md), a
# 5,000-chunk tenant's 50 candidates took 28 ms p50 this way against 432 ms through the shared HNSW index with
# an iterative scan (interleaved, same loaded machine), which visits ~20 other tenants' rows per row of its
# own at a 5% share. Above it, HNSW.
EXACT_BELOW = 10_000
COUNT_TTL_SECONDS = 60.0


class PgVectorBackend:
    name = "pgvector"

    def __init__(
        self,
        db: Database,
        *,
        candidates: int = 50,
        ef_search: int = 100,
        exact_below: int = EXACT_BELOW,
    ) -> None:
        self._db = db
        self._candidates = candidates
        self._ef_search = ef_search
        self._exact_below = exact_below
        self._counts: dict[tuple[str, ...], tuple[int, float]] = {}

    def session_settings(self) -> dict[str, str]:
        """Settings for the search's transaction only (set_config(..., is_local => true))."""
        return {
            "hnsw.iterative_scan": "relaxed_order",
            "hnsw.ef_search": str(self._ef_search),
            # A pooled connection re-executes this prepared statement; after five runs PostgreSQL may switch
            # to a generic plan, in which the query vector and tsquery are no longer constants: they are then
            # parsed again for every row scanned (measured 15-27x slower at 100k rows). Planning each search
            # with its own values costs ~1 ms and keeps the tenant's size and terms visible to the planner.
            "plan_cache_mode": "force_custom_plan",
        }

    async def _size(self, session: Any, key: tuple[str, ...], sql: str, params: dict[str, Any]) -> int:
        """Searchable chunks of a tenant or a set of corpora, cached for a minute (sizes change slowly)."""
        cached = self._counts.get(key)
        now = time.monotonic()
        if cached is not None and cached[1] > now:
            return cached[0]
        count = int((await session.execute(text(sql), params)).scalar_one())
        if len(self._counts) > 100_000:
            self._counts.clear()
        self._counts[key] = (count, now + COUNT_TTL_SECONDS)
        return count

    def statement(
        self,
        query: SearchQuery,
        params: dict[str, Any],
        *,
        exact_tenant: bool = False,
        exact_shared: bool = False,
    ) -> str:
        """The hybrid search SQL. `exact_*` (a source below EXACT_BELOW chunks): order its vector candidates
        by an expression the HNSW index cannot serve (`(distance) + 0`), so PostgreSQL scans those rows
        exactly. Full text is always matched over the source's own rows."""
        n = max(self._candidates, query.k * 4)
        params.update(
            qv=vector_literal(query.vector), qt=tsquery(query.text), n=n, k=query.k, tid=query.tenant_id
        )
        # Only fixed SQL fragments are joined here; every value travels as a bound parameter.
        where = _filter_sql(query.filters, params)
        distance = "embedding <=> CAST(CAST(:qv AS text) AS vector)"
        # The tsquery is written out (not taken from a CTE) so that the planner sees its terms when it chooses
        # between matching through the GIN index and filtering the owner's rows.
        tsq = "to_tsquery('english', :qt)" if params["qt"] else "NULL::tsquery"
        rank = f"ts_rank(tsv, {tsq})"  # only its order matters to RRF; cheaper than ts_rank_cd
        sources = []
        if query.tenant_documents:
            sources.append(("'tenant'::text", "document_chunks", "tenant_id = :tid", exact_tenant))
        if query.shared:
            params["shared"] = list(query.shared)
            sources.append(("corpus", "corpus_chunks", "corpus = ANY(:shared)", exact_shared))
        vec = [
            f"(SELECT {corpus} AS corpus, id, {distance} AS d FROM {table} "  # noqa: S608
            f"WHERE {owner} AND active AND embedding IS NOT NULL{where} "
            f"ORDER BY {f'({distance}) + 0' if exact else distance} LIMIT :n)"
            for corpus, table, owner, exact in sources
        ]
        # Full text over the source's own rows: (tenant_id, tsv) / (corpus, tsv) GIN indexes start from the
        # owner, so the planner may let the index do the matching (rare terms) or scan the owner's rows and
        # filter (common terms); either way no other tenant's rows are read.
        fts = [
            f"(SELECT {corpus} AS corpus, id, {rank} AS s FROM {table} "  # noqa: S608
            f"WHERE {owner} AND active{where} AND tsv @@ {tsq} "
            "ORDER BY s DESC LIMIT :n)"
            for corpus, table, owner, _ in sources
        ]
        return f"""
        WITH vec AS (
            SELECT corpus, id, row_number() OVER (ORDER BY d) AS r
            FROM ({" UNION ALL ".join(vec)}) u ORDER BY d LIMIT :n
        ),
        fts AS (
            SELECT corpus, id, row_number() OVER (ORDER BY s DESC) AS r
            FROM ({" UNION ALL ".join(fts)}) u ORDER BY s DESC LIMIT :n
        ),
        fused AS (
            SELECT corpus, id, sum(1.0 / ({RRF_K} + r)) AS score
            FROM (SELECT * FROM vec UNION ALL SELECT * FROM fts) x
            GROUP BY corpus, id ORDER BY score DESC, id LIMIT :k
        )
        SELECT f.corpus, f.score,
               coalesce(dc.document_id::text, cd.source_id) AS document_id,
               coalesce(dc.version, cc.version) AS version,
               coalesce(d.title, cd.title) AS title,
               coalesce(dc.text, cc.text) AS text,
               coalesce(dc.section_id, cc.section_id) AS section_id,
               coalesce(dc.heading, cc.heading) AS heading,
               coalesce(dc.page, cc.page) AS page,
               coalesce(dc.start_offset, cc.start_offset) AS start_offset,
               coalesce(dc.end_offset, cc.end_offset) AS end_offset,
               cd.source_url, cd.id AS corpus_document_id,
               coalesce(dc.jurisdiction, cc.jurisdiction) AS jurisdiction,
               coalesce(dc.document_type, cc.document_type) AS document_type,
               coalesce(dc.effective_date, cc.effective_date) AS effective_date
        FROM fused f
        LEFT JOIN document_chunks dc ON f.corpus = 'tenant' AND dc.id = f.id AND dc.tenant_id = :tid
        LEFT JOIN documents d ON d.id = dc.document_id AND d.tenant_id = :tid
        LEFT JOIN corpus_chunks cc ON f.corpus <> 'tenant' AND cc.id = f.id
        LEFT JOIN corpus_documents cd ON cd.id = cc.document_id
        ORDER BY f.score DESC, f.id
        """  # noqa: S608

    async def search(self, query: SearchQuery) -> list[Passage]:
        if not query.tenant_documents and not query.shared:
            return []
        params: dict[str, Any] = {}
        async with self._db.transaction(Scope.tenant(query.tenant_id)) as session:
            exact_tenant = exact_shared = False
            if query.tenant_documents:
                size = await self._size(
                    session,
                    ("tenant", str(query.tenant_id)),
                    "SELECT count(*) FROM document_chunks WHERE tenant_id = :t AND active",
                    {"t": query.tenant_id},
                )
                exact_tenant = size < self._exact_below
            if query.shared:
                size = await self._size(
                    session,
                    ("shared", *sorted(query.shared)),
                    "SELECT count(*) FROM corpus_chunks WHERE corpus = ANY(:c) AND active",
                    {"c": list(query.shared)},
                )
                exact_shared = size < self._exact_below
            sql = self.statement(query, params, exact_tenant=exact_tenant, exact_shared=exact_shared)
            settings = self.session_settings()
            await session.execute(
                text("SELECT " + ", ".join(f"set_config(:n{i}, :v{i}, true)" for i in range(len(settings)))),
                {
                    f"{p}{i}": x
                    for i, kv in enumerate(settings.items())
                    for p, x in zip("nv", kv, strict=True)
                },
            )
            rows = (await session.execute(text(sql), params)).mappings().all()
        return [_passage(row) for row in rows if row["text"] is not None]

    async def version_ready(
        self, tenant_id: uuid.UUID, document_id: uuid.UUID, version_id: uuid.UUID
    ) -> None:
        return None  # the chunk rows are the index

    async def corpus_document_ready(self, corpus: str, document_id: uuid.UUID) -> None:
        return None

    async def document_deleted(self, tenant_id: uuid.UUID, document_id: uuid.UUID) -> None:
        return None  # ON DELETE CASCADE removed the chunks and their vectors

    async def tenant_deleted(self, tenant_id: uuid.UUID) -> None:
        return None

    async def aclose(self) -> None:
        return None


def _passage(row: Any) -> Passage:
    metadata: dict[str, Any] = {}
    for key in ("jurisdiction", "document_type"):
        if row[key]:
            metadata[key] = row[key]
    if row["effective_date"]:
        metadata["effective_date"] = row["effective_date"].isoformat()
    if row["corpus_document_id"]:
        metadata["corpus_document_id"] = str(row["corpus_document_id"])
    return Passage(
        document_id=row["document_id"],
        version=row["version"],
        corpus=row["corpus"],
        title=row["title"] or "",
        text=row["text"],
        score=float(row["score"]),
        section_id=row["section_id"],
        heading=row["heading"],
        page=row["page"],
        start=row["start_offset"],
        end=row["end_offset"],
        source_url=row["source_url"],
        metadata=metadata,
    )


def as_tuple(value: str | Sequence[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)
