"""Noisy neighbour, measured long enough to resolve 10%: tenant B's success rate and p50/p99 latency alone
and while tenant A sends 3x its limit, plus a control (B alone again) that shows the machine's own noise.

The same design as tests/core/limits/test_noisy_neighbour.py (read its docstring for the why), run for
minutes instead of seconds: the app in-process over ASGI on embedded PostgreSQL and Redis; A on the free
plan (60 requests/min) sending 180/min, its allowance used up before each block it hammers; B in a closed
loop with a limit it never reaches; the three conditions interleaved in short blocks, order rotated.

    python bench/noisy_neighbour.py                  # 60 s per condition
    python bench/noisy_neighbour.py --seconds 120 --a-limit 600

Prints a table and writes JSON to bench/results/noisy_neighbour.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import secrets
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from lumen.core.app import create_app
from lumen.core.embedded import EmbeddedServices
from lumen.core.limits import RateLimiter
from lumen.core.settings import load_settings

RESULTS = Path(__file__).parent / "results"
PLATFORM_KEY = "lm_platform_bench_" + secrets.token_hex(16)
BLOCK_SECONDS = 1.0
CONDITIONS = ("alone", "with A", "alone (control)")


def quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


async def tenant(http: httpx.AsyncClient, plan: str, **overrides: int) -> tuple[str, str, str]:
    platform = {"authorization": f"Bearer {PLATFORM_KEY}"}
    slug = "bench-" + secrets.token_hex(4)
    r = await http.post("/v1/tenants", json={"slug": slug, "name": slug}, headers=platform)
    tenant_id = r.json()["id"]
    r = await http.post(
        f"/v1/tenants/{tenant_id}/keys", json={"name": "k", "scopes": ["admin"]}, headers=platform
    )
    key = r.json()
    r = await http.put(
        f"/v1/tenants/{tenant_id}/limits", json={"plan": plan, "overrides": overrides}, headers=platform
    )
    r.raise_for_status()
    return tenant_id, key["id"], key["key"]


async def closed_loop(http: httpx.AsyncClient, key: str, seconds: float) -> list[tuple[int, float]]:
    loop = asyncio.get_running_loop()
    done: list[tuple[int, float]] = []
    end = loop.time() + seconds
    while loop.time() < end:
        started = loop.time()
        r = await http.get("/v1/keys", headers={"authorization": f"Bearer {key}"})
        done.append((r.status_code, loop.time() - started))
    return done


async def paced(http: httpx.AsyncClient, key: str, rate: float, seconds: float) -> list[int]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    statuses: list[int] = []

    async def one(at: float) -> None:
        await asyncio.sleep(max(0.0, at - loop.time()))
        statuses.append((await http.get("/v1/keys", headers={"authorization": f"Bearer {key}"})).status_code)

    await asyncio.gather(*(one(start + i / rate) for i in range(max(1, round(rate * seconds)))))
    return statuses


async def run(settings: Any, seconds: float, a_limit: int) -> dict[str, Any]:
    app = create_app(settings)
    for hook in app.on_startup:
        await hook()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as http:
            a_id, a_key_id, a_key = await tenant(
                http, "free", requests_per_minute=a_limit, key_requests_per_minute=a_limit
            )
            _, _, b_key = await tenant(
                http,
                "enterprise",
                requests_per_minute=10_000_000,
                key_requests_per_minute=10_000_000,
                requests_per_day=10**9,
            )
            limiter: RateLimiter = app.state.rate_limiter
            a_uuid, a_key_uuid = uuid.UUID(a_id), uuid.UUID(a_key_id)
            await closed_loop(http, b_key, 1.0)
            samples: dict[str, list[tuple[int, float]]] = {c: [] for c in CONDITIONS}
            a_statuses: list[int] = []
            rounds = max(1, round(seconds / BLOCK_SECONDS))
            for round_ in range(rounds):
                order = CONDITIONS[round_ % 3 :] + CONDITIONS[: round_ % 3]
                for condition in order:
                    if condition != "with A":
                        samples[condition] += await closed_loop(http, b_key, BLOCK_SECONDS)
                        continue
                    while (v := await limiter.check_request(a_uuid, a_key_uuid)) is not None and v.admitted:
                        pass
                    b_block, a_block = await asyncio.gather(
                        closed_loop(http, b_key, BLOCK_SECONDS),
                        paced(http, a_key, 3 * a_limit / 60, BLOCK_SECONDS),
                    )
                    samples[condition] += b_block
                    a_statuses += a_block
    finally:
        for hook in app.on_shutdown:
            await hook()
    rows = []
    for condition, done in samples.items():
        latencies = [t * 1000 for _, t in done]
        rows.append(
            {
                "condition": condition,
                "requests": len(done),
                "success_rate": sum(s == 200 for s, _ in done) / len(done),
                "p50_ms": round(quantile(latencies, 0.5), 3),
                "p99_ms": round(quantile(latencies, 0.99), 3),
            }
        )
    return {
        "seconds_per_condition": seconds,
        "a_limit_per_minute": a_limit,
        "a_requests": len(a_statuses),
        "a_admitted": a_statuses.count(200),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured seconds per condition")
    parser.add_argument("--a-limit", type=int, default=60, help="tenant A's requests per minute")
    parser.add_argument("--output", type=Path, default=RESULTS / "noisy_neighbour.json")
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="lumen-bench-")
    services = EmbeddedServices(
        load_settings(
            {"LUMEN_DATA_DIR": data, "LUMEN_LOG_LEVEL": "warning", "LUMEN_PLATFORM_KEY": PLATFORM_KEY}
        )
    )
    settings = services.start()
    started = time.monotonic()
    try:
        result = asyncio.run(run(settings, args.seconds, args.a_limit))
    finally:
        services.stop()
        shutil.rmtree(data, ignore_errors=True)
    rows = result["rows"]
    alone = next(r for r in rows if r["condition"] == "alone")
    print(
        f"Noisy neighbour: A at 3x {args.a_limit}/min "
        f"({result['a_admitted']}/{result['a_requests']} admitted), "
        f"B closed loop, {args.seconds:.0f} s per condition, {time.monotonic() - started:.0f} s in all"
    )
    print(f"{'condition':<16} {'requests':>9} {'ok':>7} {'p50 ms':>8} {'p99 ms':>8} {'p99 vs alone':>13}")
    for row in rows:
        print(
            f"{row['condition']:<16} {row['requests']:>9} {row['success_rate']:>7.1%} {row['p50_ms']:>8.2f} "
            f"{row['p99_ms']:>8.2f} {row['p99_ms'] / alone['p99_ms']:>13.2f}"
        )
    hammered = next(r for r in rows if r["condition"] == "with A")
    met = (
        hammered["success_rate"] >= 0.9 * alone["success_rate"]
        and hammered["p99_ms"] <= 1.1 * alone["p99_ms"]
    )
    print(f"goal (B's success rate and p99 within 10% of B alone): {'met' if met else 'NOT MET'}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({**result, "goal_met": met}, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
