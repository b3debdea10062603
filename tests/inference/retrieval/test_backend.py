"""The embedded backend at the SQL level: another tenant's chunks are invisible even to a query without a
tenant filter, tenant deletion erases every chunk and vector, and a tenant owning 1% of the rows of the
shared HNSW index still gets k results (the multi-tenant pitfall)."""

from __future__ import annotations

import random
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from lumen.inference.retrieval.backend import EXACT_BELOW, PgVectorBackend, SearchQuery
from lumen.inference.retrieval.repository import vector_literal
from tests.conftest import TenantHandle, create_tenant, platform_headers
from tests.inference.retrieval.conftest import new_title, until_ready, upload_text

DIM = 384


def _unit(rng: random.Random) -> list[float]:
    v = [rng.gauss(0, 1) for _ in range(DIM)]
    norm = sum(x * x for x in v) ** 0.5
    return [x / norm for x in v]


async def _seed(engine: AsyncEngine, tenant: uuid.UUID, chunks: int, rng: random.Random) -> None:
    """Chunk rows as ingestion leaves them (embedded, active), written in the tenant's own scope."""
    document, version = uuid.uuid4(), uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(tenant)})
        await conn.execute(
            text(
                "INSERT INTO documents (id, tenant_id, title, latest_version, current_version) "
                "VALUES (:d, :t, :n, 1, 1)"
            ),
            {"d": document, "t": tenant, "n": new_title()},
        )
        await conn.execute(
            text(
                "INSERT INTO document_versions (id, tenant_id, document_id, version, state, content_type, "
                "content_hash, size_bytes, text) VALUES (:v, :t, :d, 1, 'ready', 'text/plain', :h, 1, 'x')"
            ),
            {"v": version, "t": tenant, "d": document, "h": uuid.uuid4().hex},
        )
        await conn.execute(
            text(
                "INSERT INTO document_chunks (id, tenant_id, document_id, version_id, version, "
                "ordinal, text, "
                "start_offset, end_offset, active, embedding) VALUES (gen_random_uuid(), :t, :d, :v, 1, :o, "
                "'seeded', 0, 6, true, CAST(CAST(:e AS text) AS vector))"
            ),
            [
                {"t": tenant, "d": document, "v": version, "o": i, "e": vector_literal(_unit(rng))}
                for i in range(chunks)
            ],
        )


async def _vector_hits(
    engine: AsyncEngine, tenant: uuid.UUID, vector: list[float], iterative: str
) -> tuple[int, str]:
    backend = PgVectorBackend(None, candidates=10)  # type: ignore[arg-type]
    params: dict[str, Any] = {}
    query = SearchQuery(tenant_id=tenant, text="", vector=vector, tenant_documents=True, shared=(), k=10)
    sql = backend.statement(query, params)
    async with engine.begin() as conn:
        await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(tenant)})
        await conn.execute(text("SELECT set_config('hnsw.iterative_scan', :m, true)"), {"m": iterative})
        # As at 100k rows: the planner walks the HNSW index rather than sorting the tenant's rows.
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            await conn.execute(text(f"SET LOCAL {setting} = off"))
        plan = "\n".join((await conn.scalars(text("EXPLAIN " + sql), params)).all())
        rows = (await conn.execute(text(sql), params)).all()
    return len(rows), plan


async def test_a_tenant_with_one_percent_of_the_rows_still_gets_k_results(
    client: httpx.AsyncClient, app_engine: AsyncEngine
) -> None:
    rng = random.Random(7)  # noqa: S311 - test data, not secrets
    big, small = await create_tenant(client), await create_tenant(client)
    await _seed(app_engine, big.id, 3000, rng)
    await _seed(app_engine, small.id, 30, rng)
    query = _unit(rng)
    naive, plan = await _vector_hits(app_engine, small.id, query, "off")
    assert "ix_document_chunks_embedding" in plan  # the shared HNSW index is what is being scanned
    assert naive < 10  # the pitfall is real in this set-up: post-filtering starves the small tenant
    fixed, _ = await _vector_hits(app_engine, small.id, query, "relaxed_order")
    assert fixed == 10


async def test_sql_without_a_tenant_filter_sees_no_other_tenants_chunks(
    client: httpx.AsyncClient, app_engine: AsyncEngine, settings: Any
) -> None:
    owner, intruder = await create_tenant(client), await create_tenant(client)
    await _seed(app_engine, owner.id, 5, random.Random(1))  # noqa: S311
    async with app_engine.begin() as conn:
        await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(intruder.id)})
        for table in ("documents", "document_versions", "document_chunks"):
            assert (
                await conn.scalar(text(f"SELECT count(*) FROM {table} WHERE tenant_id = :o"), {"o": owner.id})
                == 0
            )
        # The search statement itself, with the owner's id forged into its parameters, finds nothing either.
        params: dict[str, Any] = {}
        sql = PgVectorBackend(None).statement(  # type: ignore[arg-type]
            SearchQuery(
                tenant_id=owner.id,
                text="seeded",
                vector=_unit(random.Random(2)),  # noqa: S311
                tenant_documents=True,
                shared=(),
                k=10,
            ),
            params,
        )
        assert (await conn.execute(text(sql), params)).all() == []


async def test_deleting_a_tenant_removes_every_chunk_and_vector(
    client: httpx.AsyncClient, owner_engine: AsyncEngine, app_engine: AsyncEngine, ingest_worker: None
) -> None:
    tenant = await create_tenant(client)
    created = await upload_text(
        client, tenant, new_title(), "The quillback pump is primed daily.", "text/plain"
    )
    await until_ready(client, tenant, created["id"])

    async def rows() -> int:
        async with app_engine.begin() as conn:
            await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(tenant.id)})
            return int(
                await conn.scalar(text("SELECT count(*) FROM document_chunks WHERE embedding IS NOT NULL"))
            )

    assert await rows() == 1
    r = await client.delete(f"/v1/tenants/{tenant.id}", headers=platform_headers())
    assert r.status_code == 204, r.text
    assert await rows() == 0


async def test_deleting_a_document_removes_its_chunks_at_the_sql_level(
    client: httpx.AsyncClient, app_engine: AsyncEngine, ingest_worker: None, tenant_a: TenantHandle
) -> None:
    created = await upload_text(
        client, tenant_a, new_title(), "The bramblewick filter is replaced weekly.", "text/plain"
    )
    await until_ready(client, tenant_a, created["id"])
    assert (
        await client.delete(f"/v1/documents/{created['id']}", headers=tenant_a.headers)
    ).status_code == 204
    async with app_engine.begin() as conn:
        await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(tenant_a.id)})
        for table in ("document_chunks", "document_versions"):
            count = await conn.scalar(
                text(f"SELECT count(*) FROM {table} WHERE document_id = :d"), {"d": created["id"]}
            )
            assert count == 0, table


@pytest.mark.parametrize("query", ["'; DROP TABLE document_chunks; --", "a & b | !c <-> d", "\\x00 :* ()"])
async def test_hostile_query_text_is_just_words(
    client: httpx.AsyncClient, tenant_a: TenantHandle, query: str
) -> None:
    r = await client.post("/v1/search", json={"query": query}, headers=tenant_a.headers)
    assert r.status_code == 200, r.text


async def test_tenant_deletion_reaches_the_backend_listener(client: httpx.AsyncClient, app: Any) -> None:
    """An external backend (Weaviate) keeps tenant data outside PostgreSQL; it is told after the commit."""
    assert app.state.retrieval.backend.tenant_deleted in app.state.plugins.tenant_deleted_listeners
    told: list[uuid.UUID] = []

    async def record(tenant_id: uuid.UUID) -> None:
        told.append(tenant_id)

    app.state.plugins.tenant_deleted_listeners.append(record)
    try:
        tenant = await create_tenant(client)
        assert (
            await client.delete(f"/v1/tenants/{tenant.id}", headers=platform_headers())
        ).status_code == 204
        assert told == [tenant.id]
    finally:
        app.state.plugins.tenant_deleted_listeners.remove(record)


async def test_small_tenants_are_searched_exactly_not_through_the_shared_index(
    client: httpx.AsyncClient, app_engine: AsyncEngine, app: Any
) -> None:
    """Below EXACT_BELOW chunks the tenant's own rows are scanned exactly (recall 1.0 by construction): the
    search counts the tenant's chunks, and its SQL cannot be served by the HNSW index even when the
    planner is pushed towards indexes."""
    rng = random.Random(11)  # noqa: S311
    tenant = await create_tenant(client)
    await _seed(app_engine, tenant.id, 300, rng)
    backend = app.state.retrieval.backend
    query = SearchQuery(
        tenant_id=tenant.id, text="", vector=_unit(rng), tenant_documents=True, shared=(), k=10
    )
    assert len(await backend.search(query)) == 10
    assert backend._counts[("tenant", str(tenant.id))][0] == 300 < EXACT_BELOW
    params: dict[str, Any] = {}
    sql = backend.statement(query, params, exact_tenant=True)
    async with app_engine.begin() as conn:
        await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(tenant.id)})
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join((await conn.scalars(text("EXPLAIN " + sql), params)).all())
    assert "ix_document_chunks_embedding" not in plan


@pytest.mark.parametrize("exact_below", [1, EXACT_BELOW], ids=["hnsw-iterative", "exact-covering-index"])
async def test_every_tenant_gets_k_results_whatever_its_share_and_vector_path(
    client: httpx.AsyncClient, app_engine: AsyncEngine, app: Any, exact_below: int
) -> None:
    """Through the backend's own search: a tenant with 1% of the rows and one with 99% each get k passages,
    whether their vector candidates come from the shared HNSW index (iterative scan) or the exact scan."""
    rng = random.Random(13)  # noqa: S311
    big, small = await create_tenant(client), await create_tenant(client)
    await _seed(app_engine, big.id, 2000, rng)
    await _seed(app_engine, small.id, 20, rng)
    backend = PgVectorBackend(app.state.db, exact_below=exact_below)
    for tenant in (small, big):
        passages = await backend.search(
            SearchQuery(
                tenant_id=tenant.id, text="", vector=_unit(rng), tenant_documents=True, shared=(), k=10
            )
        )
        assert len(passages) == 10


async def test_exact_search_reads_the_tenants_vectors_from_the_covering_index(
    client: httpx.AsyncClient, app_engine: AsyncEngine, owner_engine: AsyncEngine, app: Any
) -> None:
    """The exact path is an index-only scan of (tenant_id) INCLUDE (id, embedding) once the rows are visible
    to all (VACUUM): no heap rows of any tenant are read to rank vectors."""
    rng = random.Random(17)  # noqa: S311
    tenant = await create_tenant(client)
    await _seed(app_engine, tenant.id, 400, rng)
    async with owner_engine.connect() as conn:  # what autovacuum does for a live table
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE document_chunks"))
    backend = app.state.retrieval.backend
    query = SearchQuery(
        tenant_id=tenant.id, text="", vector=_unit(rng), tenant_documents=True, shared=(), k=10
    )
    params: dict[str, Any] = {}
    sql = backend.statement(query, params, exact_tenant=True)
    async with app_engine.begin() as conn:
        await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(tenant.id)})
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        await conn.execute(text("SET LOCAL enable_bitmapscan = off"))
        plan = "\n".join((await conn.scalars(text("EXPLAIN " + sql), params)).all())
    assert "ix_document_chunks_tenant_id_embedding" in plan
    assert "ix_document_chunks_embedding " not in plan


async def test_the_tsvector_stays_in_the_row_and_full_text_indexes_start_from_the_owner(
    app_engine: AsyncEngine,
) -> None:
    async with app_engine.connect() as conn:
        storage = dict(
            (
                await conn.execute(
                    text(
                        "SELECT attrelid::regclass::text, attstorage::text FROM pg_attribute "
                        "WHERE attname = 'tsv' AND attrelid IN ('document_chunks'::regclass, "
                        "'corpus_chunks'::regclass)"
                    )
                )
            ).all()
        )
        indexes = set(
            (
                await conn.scalars(
                    text(
                        "SELECT indexdef FROM pg_indexes "
                        "WHERE tablename IN ('document_chunks', 'corpus_chunks')"
                    )
                )
            ).all()
        )
    assert storage == {"document_chunks": "m", "corpus_chunks": "m"}
    assert any("gin (tenant_id, tsv)" in i and "WHERE active" in i for i in indexes)
    assert any("gin (corpus, tsv)" in i for i in indexes)
    assert not any("gin (tsv)" in i for i in indexes)  # a tenant-blind full-text index is gone
