"""Time to first token of POST /v1/qa/ask/stream: seconds from sending the question to the first `delta`
event, in-process against the real app on embedded PostgreSQL and Redis.

    python bench/qa_ttft.py [--inference-url http://127.0.0.1:PORT] [--n 10]

Without --inference-url the model is not configured and answers are extractive (the guards' floor); with it
the model phrases them (the answer is checked before the first byte, so TTFT includes generation). Prints a
table and writes bench/results/qa_ttft.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from lumen.core.app import create_app
from lumen.core.embedded import EmbeddedServices
from lumen.core.settings import Settings, load_settings

HERE = Path(__file__).resolve().parent
QUESTIONS = [
    "What helps with hay fever?",
    "How long does a cold last?",
    "What is gout?",
    "How do I stop smoking?",
    "What should I do for a nosebleed?",
    "What is the maximum daily dose of paracetamol for a healthy adult?",
    "I have crushing chest pain and I'm sweating, which antacid should I take?",
    "How can I sleep better?",
    "What causes heartburn?",
    "When should I worry about a child's rash?",
]


async def measure(settings: Settings, key: str, url: str | None, n: int) -> dict[str, object]:
    app = create_app(settings)
    for hook in app.on_startup:
        await hook()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://b", timeout=600
        ) as http:
            platform = {"authorization": f"Bearer {key}"}
            t = (
                await http.post(
                    "/v1/tenants",
                    json={"slug": "ttft-" + secrets.token_hex(3), "name": "T"},
                    headers=platform,
                )
            ).json()
            k = (
                await http.post(
                    f"/v1/tenants/{t['id']}/keys", json={"name": "b", "scopes": ["admin"]}, headers=platform
                )
            ).json()
            headers = {"authorization": f"Bearer {k['key']}"}
            times, generated = [], 0
            for q in (QUESTIONS * ((n // len(QUESTIONS)) + 1))[:n]:
                started = time.perf_counter()
                first = None
                async with http.stream(
                    "POST", "/v1/qa/ask/stream", json={"question": q}, headers=headers
                ) as r:
                    async for line in r.aiter_lines():
                        if line.startswith("event: delta") and first is None:
                            first = time.perf_counter() - started
                        if line.startswith("data: ") and '"generated":true' in line.replace(" ", ""):
                            generated += 1
                times.append(first or 0.0)
    finally:
        for hook in app.on_shutdown:
            await hook()
    return {
        "model": "configured pool" if url else "none (extractive)",
        "questions": n,
        "ttft_p50_s": round(statistics.median(times), 3),
        "ttft_max_s": round(max(times), 3),
        "generated_answers": generated,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inference-url", default=None)
    parser.add_argument("--n", type=int, default=10)
    args = parser.parse_args()
    key = "lm_platform_bench_" + secrets.token_hex(8)
    env = {
        "LUMEN_DATA_DIR": tempfile.mkdtemp(prefix="lumen-ttft-"),
        "LUMEN_PLATFORM_KEY": key,
        "LUMEN_LOG_LEVEL": "warning",
    }
    if args.inference_url:
        env["LUMEN_INFERENCE_URLS"] = args.inference_url
    services = EmbeddedServices(load_settings(env))
    try:
        report = asyncio.run(measure(services.start(), key, args.inference_url, args.n))
    finally:
        services.stop()
    print(f"{'model':<20} {'n':>3} {'TTFT p50 s':>11} {'TTFT max s':>11} {'generated':>10}")
    print(
        f"{report['model']:<20} {report['questions']:>3} {report['ttft_p50_s']:>11} "
        f"{report['ttft_max_s']:>11} {report['generated_answers']:>10}"
    )
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "qa_ttft.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
