"""Inference benchmark: the local engine's batching, mixed-adapter batches, the pool's overhead, time to first
token and memory. Prints a table and writes bench/results/inference.json.

    python bench/inference.py [--tokens 48] [--quick]

1. 8 clients arriving over 200 ms vs the same 8 requests one after another (aggregate output tokens/s).
2. A batch of 8 mixing 4 adapters vs a base-only batch of 8 (output tokens/s).
3. Router overhead: the same tiny request through InferencePool vs straight to the replica (p50/p99 ms).
4. Time to first token for a ~200-token prompt (p50/p95), and peak RSS with base + 8 adapters loaded.

Everything runs on this machine's CPU with SmolLM2-135M; a GPU run (7B-shaped model) is reported only where
one is available.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lumen.core.settings import InferenceSettings
from lumen.inference.local.engine import Engine, GenerationRequest
from lumen.inference.local.store import ModelStore
from lumen.inference.pool.router import InferencePool
from tests.inference.conftest import MODEL_DIR, EngineProcess, make_adapter

RESULTS = Path(__file__).resolve().parent / "results"
PROMPTS = [
    "Explain what a drug interaction is.",
    "What does a pharmacist do?",
    "Describe how vaccines work.",
    "Why is sleep important?",
    "What is blood pressure?",
    "How do antibiotics work?",
    "What is a balanced diet?",
    "Why should you wash your hands?",
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def collect(engine: Engine, request: GenerationRequest, delay: float = 0.0) -> tuple[int, float, float]:
    """(completion tokens, seconds to first token, seconds to finish) measured from submission."""
    await asyncio.sleep(delay)
    start = time.perf_counter()
    first = None
    tokens = 0
    async for chunk in engine.stream(request):
        if first is None and chunk.text:
            first = time.perf_counter() - start
        if chunk.finish_reason:
            tokens = chunk.completion_tokens
    return tokens, first or 0.0, time.perf_counter() - start


def ask(engine: Engine, prompt: str, tokens: int, adapter: str | None = None) -> GenerationRequest:
    ids = engine.encode_chat([{"role": "user", "content": prompt}])
    # A fixed length for every request (no early stop), so both arms decode the same number of tokens.
    return GenerationRequest(prompt_ids=ids, max_tokens=tokens, adapter=adapter, ignore_eos=True)


async def batching(engine: Engine, tokens: int) -> dict[str, Any]:
    # Every request decodes exactly `tokens` (ignore_eos), so both arms do the same work.
    start = time.perf_counter()
    sequential = 0
    for prompt in PROMPTS:
        sequential += (await collect(engine, ask(engine, prompt, tokens)))[0]
    seq_time = time.perf_counter() - start
    start = time.perf_counter()
    spread = [0.2 * i / (len(PROMPTS) - 1) for i in range(len(PROMPTS))]
    results = await asyncio.gather(
        *(collect(engine, ask(engine, p, tokens), delay=d) for p, d in zip(PROMPTS, spread, strict=True))
    )
    conc_time = time.perf_counter() - start
    concurrent = sum(r[0] for r in results)
    return {
        "sequential_tokens_per_s": sequential / seq_time,
        "concurrent_tokens_per_s": concurrent / conc_time,
        "speedup": (concurrent / conc_time) / (sequential / seq_time),
    }


async def mixed_adapters(engine: Engine, tokens: int, adapters: list[str]) -> dict[str, Any]:
    async def batch(names: list[str | None]) -> float:
        start = time.perf_counter()
        done = await asyncio.gather(
            *(collect(engine, ask(engine, p, tokens, a)) for p, a in zip(PROMPTS, names, strict=True))
        )
        return sum(d[0] for d in done) / (time.perf_counter() - start)

    await batch([None] * 8)  # warm-up
    mixed_names: list[str | None] = [adapters[i % 4] for i in range(8)]
    base_runs, mixed_runs = [], []
    for _ in range(3):  # interleaved, so the machine's other load hits both arms alike
        base_runs.append(await batch([None] * 8))
        mixed_runs.append(await batch(mixed_names))
    base, mixed = statistics.median(base_runs), statistics.median(mixed_runs)
    return {"base_tokens_per_s": base, "mixed_tokens_per_s": mixed, "ratio": mixed / base}


async def ttft(engine: Engine, runs: int) -> dict[str, Any]:
    long_prompt = " ".join(["The patient's medication list includes several common drugs."] * 20)
    ids = engine.encode_chat([{"role": "user", "content": long_prompt}])
    firsts = []
    for _ in range(runs):
        _, first, _ = await collect(engine, GenerationRequest(prompt_ids=ids, max_tokens=2))
        firsts.append(first * 1000)
    return {"prompt_tokens": len(ids), "p50_ms": statistics.median(firsts), "p95_ms": pct(firsts, 0.95)}


async def router_overhead(replica: EngineProcess, runs: int) -> dict[str, Any]:
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1, "temperature": 0}
    pool = InferencePool([replica.url], InferenceSettings())
    await pool.start()
    direct_ms, pooled_ms = [], []
    async with httpx.AsyncClient(base_url=replica.url, timeout=60) as http:
        for _ in range(5):  # warm both paths
            await http.post("/v1/chat/completions", json={**body, "model": "lumen-base"})
            await pool.complete("/v1/chat/completions", body, None)
        for _ in range(runs):  # interleaved, so drift in the replica's speed hits both arms alike
            t = time.perf_counter()
            await http.post("/v1/chat/completions", json={**body, "model": "lumen-base"})
            direct_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            await pool.complete("/v1/chat/completions", body, None)
            pooled_ms.append((time.perf_counter() - t) * 1000)
    await pool.close()
    return {
        "direct_p50_ms": statistics.median(direct_ms),
        "direct_p99_ms": pct(direct_ms, 0.99),
        "pool_p50_ms": statistics.median(pooled_ms),
        "pool_p99_ms": pct(pooled_ms, 0.99),
        "overhead_p50_ms": statistics.median(pooled_ms) - statistics.median(direct_ms),
        "overhead_p99_ms": pct(pooled_ms, 0.99) - pct(direct_ms, 0.99),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=48)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    model = ModelStore(MODEL_DIR).resolve("smollm2-135m-instruct")
    process = psutil.Process()
    rss_start = process.memory_info().rss
    engine = Engine(model, max_batch=16, max_adapters=8)
    rss_base = process.memory_info().rss
    work = Path(tempfile.mkdtemp(prefix="lumen-bench-"))
    names = []
    for i in range(8):
        make_adapter(model, work / f"a{i}", seed=100 + i, rank=8)
        engine.load_adapter(f"a{i}", str(work / f"a{i}"))
        names.append(f"a{i}")
    rss_adapters = process.memory_info().rss

    one = await batching(engine, args.tokens)
    two = await mixed_adapters(engine, args.tokens, names[:4])
    four = await ttft(engine, 5 if args.quick else 15)
    engine.close()

    replica = EngineProcess(work / "replica")
    replica.start()
    try:
        three = await router_overhead(replica, 30 if args.quick else 150)
    finally:
        replica.stop()

    load = os.getloadavg()[0]
    rows = [
        (
            "1. 8 clients over 200 ms vs sequential",
            f"{one['concurrent_tokens_per_s']:.1f} vs {one['sequential_tokens_per_s']:.1f} tok/s",
            f"{one['speedup']:.2f}x",
            ">= 4x",
        ),
        (
            "2. 4-adapter mixed batch vs base batch",
            f"{two['mixed_tokens_per_s']:.1f} vs {two['base_tokens_per_s']:.1f} tok/s",
            f"{two['ratio'] * 100:.0f}%",
            ">= 80%",
        ),
        (
            "3. router overhead (pool - direct)",
            f"p50 {three['overhead_p50_ms']:.2f} ms, p99 {three['overhead_p99_ms']:.2f} ms",
            f"direct p99 {three['direct_p99_ms']:.1f} ms",
            "p99 <= 2 ms",
        ),
        (
            f"4. TTFT, {four['prompt_tokens']}-token prompt",
            f"p50 {four['p50_ms']:.0f} ms, p95 {four['p95_ms']:.0f} ms",
            "",
            "",
        ),
        (
            "4. peak RSS: base model / + 8 adapters",
            f"{(rss_base - rss_start) / 2**20:.0f} MiB / "
            f"{(rss_adapters - rss_start) / 2**20:.0f} MiB (process {rss_adapters / 2**20:.0f} MiB)",
            "",
            "",
        ),
        ("GPU (7B-shaped, bf16)", "not measured: no GPU on this machine", "", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(
        f"\nInference benchmark ({args.tokens} output tokens per request; load average {load:.1f} on "
        f"{os.cpu_count()} CPUs)\n"
    )
    for name, value, ratio, goal in rows:
        print(f"{name:<{width}}  {value:<44} {ratio:<22} {goal}")
    RESULTS.mkdir(exist_ok=True)
    out = {
        "batching": one,
        "mixed_adapters": two,
        "router": three,
        "ttft": four,
        "rss_mib": {
            "base": (rss_base - rss_start) / 2**20,
            "with_8_adapters": (rss_adapters - rss_start) / 2**20,
        },
        "load_average": load,
        "gpu": "not measured",
    }
    (RESULTS / "inference.json").write_text(json.dumps(out, indent=2))
    print(f"\nwrote {RESULTS / 'inference.json'}")


if __name__ == "__main__":
    asyncio.run(main())
