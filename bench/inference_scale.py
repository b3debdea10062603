"""Inference scale-out proof: two local engine replicas behind Lumen's router, an adapter-heavy load.

Two `lumen inference serve` processes (SmolLM2-135M on the CPU, one thread each) on loopback, behind the
router the API uses (`InferencePool`, inference/pool/router.py, in this process), serving several tenants'
LoRA adapters (real peft adapters made here) with fewer adapter slots per replica than adapters, as in
production (`--max-loras` on a vLLM replica is far below the number of tenants with an adapter). Every
request streams (`/v1/chat/completions`, stream=true), as the tenant-facing API does.

A. Adapter affinity on vs off. The same request sequence (80% adapter requests spread over the tenants, 20%
   base model) through the router as it is (affinity: an adapter's requests follow the replica that has it)
   and through the same router with affinity off (round robin over the replicas with a free slot; loading,
   LRU eviction and failover unchanged). The arms alternate (A, B, A, B...) in the same run; each block
   starts with no adapter loaded anywhere. Adapter loads are counted by the replicas themselves
   (`lumen_engine_adapter_loads_total` on each engine's /metrics), not by the router.
B. A replica SIGKILLed mid-load (its whole process group, as a crash or an OOM kill). Every request is
   classified: served; ended with a clean error event after tokens had streamed (the answer was cut; the
   client is told to retry); failed before anything streamed (the router's failover should make this 0);
   hung (no answer within the timeout: should be 0).

    python bench/inference_scale.py                     # 11 minutes on 2 cores under load average 28
    python bench/inference_scale.py --requests 100 --rounds 3

Prints a table and writes bench/results/inference_scale.json (and .txt). bench/scale.py runs this as its
section 6.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lumen.core.settings import InferenceSettings
from lumen.inference.pool.router import AdapterHandle, InferencePool, PoolError, Replica
from tests.inference.conftest import MODEL_DIR, EngineProcess, make_adapter

RESULTS_DIR = Path(__file__).resolve().parent / "results"
PROMPTS = [
    "What is a drug interaction?",
    "Why take a medicine with food?",
    "What does a pharmacist check?",
    "How should tablets be stored?",
    "What is a side effect?",
    "Why finish a course of antibiotics?",
]


class RoundRobinPool(InferencePool):
    """The baseline arm: the router with adapter affinity off. Replicas with a free slot take turns; loading,
    LRU eviction, backpressure and failover are the real router's."""

    _turn = 0

    def _choose(self, candidates: list[Replica], adapter: AdapterHandle | None) -> Replica:
        self._turn += 1
        return candidates[self._turn % len(candidates)]


@dataclass
class Outcome:
    kind: str  # served | cut_mid_stream | failed_before_stream | hung
    seconds: float
    first_event_s: float | None = None
    replica_error: str = ""
    ended_at: float = 0.0


@dataclass
class Block:
    arm: str
    round: int
    requests: int = 0
    adapter_requests: int = 0
    seconds: float = 0.0
    loads: list[int] = field(default_factory=list)  # per replica, counted by the engines
    unloads: list[int] = field(default_factory=list)
    router_loads: int = 0
    evictions: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    failed_detail: list[str] = field(default_factory=list)
    p50_ms: float = 0.0
    p95_ms: float = 0.0


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def workload(n: int, adapters: list[AdapterHandle], seed: int) -> list[tuple[AdapterHandle | None, str]]:
    """n requests: 80% for a tenant adapter (uniform over the tenants: a cache's hard case), 20% base."""
    rng = random.Random(seed)
    return [(None if rng.random() < 0.2 else rng.choice(adapters), rng.choice(PROMPTS)) for _ in range(n)]


async def engine_counters(url: str) -> tuple[int, int]:
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(f"{url}/metrics")).text
    values = {
        line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line.startswith("lumen_")
    }
    return (
        int(values.get("lumen_engine_adapter_loads_total", 0)),
        int(values.get("lumen_engine_adapter_unloads_total", 0)),
    )


async def unload_everything(urls: list[str]) -> None:
    async with httpx.AsyncClient(timeout=60) as http:
        for url in urls:
            models = (await http.get(f"{url}/v1/models")).json()["data"]
            for m in models:
                if m.get("parent"):
                    await http.post(f"{url}/v1/unload_lora_adapter", json={"lora_name": m["id"]})


async def one_request(
    pool: InferencePool, adapter: AdapterHandle | None, prompt: str, tokens: int, hang_after: float
) -> Outcome:
    body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": tokens, "temperature": 0}
    start = time.perf_counter()
    first: float | None = None
    try:
        async with asyncio.timeout(hang_after):
            async for event in pool.stream("/v1/chat/completions", body, adapter):
                if "error" in event:
                    kind = "cut_mid_stream" if first is not None else "failed_before_stream"
                    return Outcome(kind, time.perf_counter() - start, first, str(event["error"])[:80])
                if first is None:
                    first = time.perf_counter() - start
    except TimeoutError:
        return Outcome("hung", time.perf_counter() - start, first)
    except PoolError as exc:
        return Outcome(
            "failed_before_stream", time.perf_counter() - start, first, f"{exc.status} {exc.detail}"
        )
    except Exception as exc:  # anything else the router let escape is a lost request too
        return Outcome("failed_before_stream", time.perf_counter() - start, first, type(exc).__name__)
    return Outcome("served", time.perf_counter() - start, first)


async def drive(
    pool: InferencePool,
    requests: list[tuple[AdapterHandle | None, str]],
    concurrency: int,
    tokens: int,
    hang_after: float,
    on_done: Any = None,
) -> list[Outcome]:
    """A closed loop: `concurrency` clients, each sending its next request when the last one ends."""
    queue = list(reversed(requests))
    outcomes: list[Outcome] = []

    async def client() -> None:
        while queue:
            adapter, prompt = queue.pop()
            outcome = await one_request(pool, adapter, prompt, tokens, hang_after)
            outcome.ended_at = time.monotonic()
            outcomes.append(outcome)
            if on_done is not None:
                await on_done(len(outcomes))

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return outcomes


def count(outcomes: list[Outcome]) -> dict[str, int]:
    kinds = ("served", "cut_mid_stream", "failed_before_stream", "hung")
    return {k: sum(1 for o in outcomes if o.kind == k) for k in kinds}


async def affinity_block(
    arm: str, round_no: int, replicas: list[EngineProcess], adapters: list[AdapterHandle], opts: Any
) -> Block:
    urls = [r.url for r in replicas]
    await unload_everything(urls)
    settings = InferenceSettings(max_adapters_per_replica=opts.slots, queue_timeout_seconds=120)
    pool = (InferencePool if arm == "affinity" else RoundRobinPool)(urls, settings)
    await pool.start()
    before = [await engine_counters(u) for u in urls]
    requests = workload(opts.requests, adapters, seed=1000 + round_no)  # the same sequence for both arms
    start = time.perf_counter()
    outcomes = await drive(pool, requests, opts.concurrency, opts.tokens, opts.timeout)
    seconds = time.perf_counter() - start
    after = [await engine_counters(u) for u in urls]
    await pool.close()
    served = [o.seconds * 1000 for o in outcomes if o.kind == "served"]
    return Block(
        arm=arm,
        round=round_no,
        requests=len(requests),
        adapter_requests=sum(1 for a, _ in requests if a is not None),
        seconds=seconds,
        loads=[a[0] - b[0] for a, b in zip(after, before, strict=True)],
        unloads=[a[1] - b[1] for a, b in zip(after, before, strict=True)],
        router_loads=sum(r.loads for r in pool.replicas),
        evictions=sum(r.evictions for r in pool.replicas),
        outcomes=count(outcomes),
        failed_detail=[o.replica_error for o in outcomes if o.kind != "served"][:5],
        p50_ms=statistics.median(served) if served else 0.0,
        p95_ms=pct(served, 0.95),
    )


async def kill_run(replicas: list[EngineProcess], adapters: list[AdapterHandle], opts: Any) -> dict[str, Any]:
    urls = [r.url for r in replicas]
    await unload_everything(urls)
    pool = InferencePool(
        urls, InferenceSettings(max_adapters_per_replica=opts.slots, queue_timeout_seconds=120)
    )
    await pool.start()
    victim = replicas[1]
    killed_at: list[float] = []
    in_flight_at_kill: list[int] = []
    killed_after: list[int] = []

    async def on_done(done: int) -> None:
        # After a third of the requests, at a moment when the victim has at least half the clients' requests
        # in flight (some streaming, some not yet): the hard case. At two thirds, whatever it has.
        busy = pool.replicas[1].outstanding >= max(1, opts.concurrency // 2)
        if (
            not killed_at
            and done >= opts.kill_requests // 3
            and (busy or done >= 2 * opts.kill_requests // 3)
        ):
            in_flight_at_kill.append(pool.replicas[1].outstanding)
            killed_after.append(done)
            await asyncio.to_thread(victim.kill)
            killed_at.append(time.monotonic())

    requests = workload(opts.kill_requests, adapters, seed=7)
    start = time.perf_counter()
    outcomes = await drive(pool, requests, opts.concurrency, opts.kill_tokens, opts.timeout, on_done)
    seconds = time.perf_counter() - start
    snapshot = pool.snapshot()
    stats = dict(pool.stats)
    await pool.close()
    cut = [o for o in outcomes if o.kind == "cut_mid_stream"]
    after_kill = [o for o in outcomes if killed_at and o.ended_at >= killed_at[0]]
    return {
        "requests": len(outcomes),
        "seconds": seconds,
        "tokens": opts.kill_tokens,
        "killed_after_requests": killed_after[0] if killed_after else None,
        "victim_in_flight_at_kill": in_flight_at_kill[0] if in_flight_at_kill else 0,
        "outcomes": count(outcomes),
        "failovers": stats["failovers"],
        "requests_ending_after_kill": len(after_kill),
        "cut_error_seconds_after_kill": [round(o.ended_at - killed_at[0], 3) for o in cut]
        if killed_at
        else [],
        "failed_detail": [o.replica_error for o in outcomes if o.kind == "failed_before_stream"][:5],
        "victim_marked_down": not snapshot[1]["healthy"],
        "survivor_adapters": snapshot[0]["adapters"],
        "holds": count(outcomes)["failed_before_stream"] == 0 and count(outcomes)["hung"] == 0,
    }


async def run_async(opts: Any, work: Path) -> dict[str, Any]:
    from lumen.inference.local.store import ModelStore

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # The engines' adapter capacity matches the router's, as vLLM's --max-loras matches the pool's setting.
    os.environ["LUMEN_INFERENCE__MAX_ADAPTERS_PER_REPLICA"] = str(opts.slots)
    model = ModelStore(MODEL_DIR).resolve("smollm2-135m-instruct")
    t = time.perf_counter()
    folders = [make_adapter(model, work / f"tenant{i}", seed=300 + i) for i in range(opts.adapters)]
    adapters = [AdapterHandle(served_name=f"a-tenant{i}", path=str(f)) for i, f in enumerate(folders)]
    made = time.perf_counter() - t
    replicas = [EngineProcess(work / f"engine{i}") for i in range(2)]
    try:
        await asyncio.gather(*(asyncio.to_thread(r.start) for r in replicas))
        # Warm both replicas (first request compiles/allocates), outside the measured blocks.
        warm = InferencePool([r.url for r in replicas], InferenceSettings())
        await warm.start()
        await asyncio.gather(*(one_request(warm, None, "hi", 2, opts.timeout) for _ in range(4)))
        await warm.close()
        blocks: list[Block] = []
        for round_no in range(opts.rounds):
            order = ("affinity", "round_robin") if round_no % 2 == 0 else ("round_robin", "affinity")
            for arm in order:
                print(f"   round {round_no + 1}: {arm}", flush=True)
                blocks.append(await affinity_block(arm, round_no, replicas, adapters, opts))
        print("   kill a replica mid-load", flush=True)
        kill = await kill_run(replicas, adapters, opts)
    finally:
        for r in replicas:
            r.stop()
    return {"adapter_build_seconds": made, "blocks": blocks, "kill": kill}


def summarise(blocks: list[Block]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for arm in ("affinity", "round_robin"):
        mine = [b for b in blocks if b.arm == arm]
        loads = sum(sum(b.loads) for b in mine)
        adapter_requests = sum(b.adapter_requests for b in mine)
        out[arm] = {
            "blocks": len(mine),
            "requests": sum(b.requests for b in mine),
            "adapter_requests": adapter_requests,
            "engine_loads": loads,
            "loads_per_100_adapter_requests": 100 * loads / max(1, adapter_requests),
            "evictions": sum(b.evictions for b in mine),
            "req_per_s": sum(b.requests for b in mine) / sum(b.seconds for b in mine),
            "p50_ms": statistics.median(b.p50_ms for b in mine),
            "p95_ms": statistics.median(b.p95_ms for b in mine),
            "lost": sum(b.outcomes["failed_before_stream"] + b.outcomes["hung"] for b in mine),
        }
    a, r = out["affinity"], out["round_robin"]
    out["load_ratio_off_vs_on"] = r["engine_loads"] / max(1, a["engine_loads"])
    out["throughput_ratio_on_vs_off"] = a["req_per_s"] / r["req_per_s"]
    return out


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report(results: dict[str, Any]) -> str:
    o = results["options"]
    s = results["summary"]
    out = [
        f"A. Adapter affinity on vs off: 2 replicas x {o['slots']} adapter slots, {o['adapters']} tenant "
        f"adapters, {o['requests']} streamed requests per block (80% adapter), {o['concurrency']} clients, "
        f"{o['tokens']} tokens each; arms interleaved, {o['rounds']} blocks each; load average "
        f"{results['load_average'][0]:.1f} / {results['load_average'][1]:.1f} on {results['cpus']} CPUs"
    ]
    rows = [["block", "arm", "req/s", "p50 ms", "p95 ms", "engine loads (r1+r2)", "evictions", "lost"]]
    for b in results["blocks"]:
        rows.append(
            [
                str(b["round"] + 1),
                b["arm"],
                f"{b['requests'] / b['seconds']:.2f}",
                f"{b['p50_ms']:.0f}",
                f"{b['p95_ms']:.0f}",
                f"{sum(b['loads'])} ({'+'.join(str(n) for n in b['loads'])})",
                str(b["evictions"]),
                str(b["outcomes"]["failed_before_stream"] + b["outcomes"]["hung"]),
            ]
        )
    out.append(table(rows))
    rows = [["arm", "adapter requests", "engine loads", "loads / 100 adapter req", "req/s", "p50 ms", "lost"]]
    for arm in ("affinity", "round_robin"):
        a = s[arm]
        rows.append(
            [
                arm,
                str(a["adapter_requests"]),
                str(a["engine_loads"]),
                f"{a['loads_per_100_adapter_requests']:.1f}",
                f"{a['req_per_s']:.2f}",
                f"{a['p50_ms']:.0f}",
                str(a["lost"]),
            ]
        )
    out.append("")
    out.append(table(rows))
    for b in results["blocks"]:
        if b["failed_detail"]:
            out.append(f"   block {b['round'] + 1} {b['arm']} lost: " + "; ".join(b["failed_detail"]))
    out.append(
        f"adapter loads, affinity off / on: {s['load_ratio_off_vs_on']:.1f}x; "
        f"throughput, affinity on / off: {s['throughput_ratio_on_vs_off']:.2f}x"
    )
    k = results["kill"]
    out.append(
        f"\nB. SIGKILL of replica 2 after {k['killed_after_requests']} of {k['requests']} streamed requests "
        f"({o['concurrency']} clients, {k['tokens']} tokens each; {k['victim_in_flight_at_kill']} in flight "
        "on it at the kill)"
    )
    c = k["outcomes"]
    out.append(
        table(
            [
                [
                    "requests",
                    "served",
                    "cut mid-stream (clean error)",
                    "failed before streaming",
                    "hung",
                    "failovers",
                    "holds",
                ],
                [
                    str(k["requests"]),
                    str(c["served"]),
                    str(c["cut_mid_stream"]),
                    str(c["failed_before_stream"]),
                    str(c["hung"]),
                    str(k["failovers"]),
                    "yes" if k["holds"] else "NO",
                ],
            ]
        )
    )
    if k["cut_error_seconds_after_kill"]:
        out.append(
            "   cut streams got their error event "
            + ", ".join(f"{t:.2f}" for t in k["cut_error_seconds_after_kill"])
            + " s after the kill"
        )
    if k["failed_detail"]:
        out.append("   failed: " + "; ".join(k["failed_detail"]))
    return "\n".join(out)


def jsonable(results: dict[str, Any]) -> dict[str, Any]:
    out = dict(results)
    out["blocks"] = [b.__dict__ for b in results["blocks"]]
    return out


def add_arguments(p: argparse.ArgumentParser, prefix: str = "") -> None:
    p.add_argument(f"--{prefix}adapters", type=int, default=6, help="tenant adapters (default 6)")
    p.add_argument(f"--{prefix}slots", type=int, default=4, help="adapter slots per replica (default 4)")
    p.add_argument(f"--{prefix}requests", type=int, default=40, help="requests per block (default 40)")
    p.add_argument(f"--{prefix}rounds", type=int, default=2, help="blocks per arm (default 2)")
    p.add_argument(f"--{prefix}concurrency", type=int, default=6, help="concurrent clients (default 6)")
    p.add_argument(f"--{prefix}tokens", type=int, default=4, help="output tokens per request (default 4)")
    p.add_argument(
        f"--{prefix}kill-requests", type=int, default=40, help="requests in the kill run (default 40)"
    )
    p.add_argument(
        f"--{prefix}kill-tokens", type=int, default=16, help="output tokens in the kill run (default 16)"
    )
    p.add_argument(f"--{prefix}timeout", type=float, default=180, help="a request counts as hung after this")


def run(opts: argparse.Namespace, work: Path | None = None) -> dict[str, Any]:
    """Runs both parts; returns JSON-able results with the printed table under "table"."""
    work = work or Path(tempfile.mkdtemp(prefix="lumen-inference-scale-"))
    raw = asyncio.run(run_async(opts, work))
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "options": {k.removeprefix("inference_"): v for k, v in vars(opts).items()},
        "load_average": os.getloadavg(),
        **raw,
        "summary": summarise(raw["blocks"]),
    }
    results = jsonable(results)
    results["table"] = report(results)
    return results


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_arguments(p)
    p.add_argument("--output", type=Path, default=RESULTS_DIR / "inference_scale.json")
    opts = p.parse_args(argv)
    output = opts.output
    del opts.output
    results = run(opts)
    print()
    print(results["table"])
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2, default=str) + "\n")
    output.with_suffix(".txt").write_text(results["table"] + "\n")
    print(f"\nwrote {output}")
    return 0 if results["kill"]["holds"] and results["summary"]["affinity"]["lost"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
