"""Triage speed: one-shot assessment latency in-process (text reading + level + full response), without the
model and without HTTP, as the POST /v1/triage/assess handler computes it.

    python bench/triage_speed.py                 # every vignette, 5 rounds
    python bench/triage_speed.py --rounds 20

Goal: p99 <= 20 ms on this machine. Prints a table and writes JSON to bench/results/triage_speed.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import msgspec

from lumen.plugins.triage.schemas import TriageSettings
from lumen.plugins.triage.service import load_triage

HERE = Path(__file__).parent
GOAL_P99_MS = 20.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE / "triage_vignettes.jsonl")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "triage_speed.json")
    args = parser.parse_args()
    texts = [json.loads(line)["text"] for line in args.data.read_text().splitlines() if line.strip()]
    started = time.perf_counter()
    triage = load_triage()
    load_s = time.perf_counter() - started
    settings = TriageSettings()
    encoder = msgspec.json.Encoder()

    def once(text: str) -> None:
        encoder.encode(triage.assess(triage.read(text), settings))

    for text in texts[:20]:  # warm-up
        once(text)
    samples: list[float] = []
    for _ in range(args.rounds):
        for text in texts:
            t0 = time.perf_counter()
            once(text)
            samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()

    def q(p: float) -> float:
        return samples[min(len(samples) - 1, int(p * len(samples)))]

    report = {
        "assessments": len(samples),
        "texts": len(texts),
        "mean_chars": statistics.mean(len(t) for t in texts),
        "startup_s": round(load_s, 3),
        "p50_ms": round(q(0.50), 3),
        "p95_ms": round(q(0.95), 3),
        "p99_ms": round(q(0.99), 3),
        "max_ms": round(samples[-1], 3),
        "goal_p99_ms": GOAL_P99_MS,
        "goal_met": q(0.99) <= GOAL_P99_MS,
    }
    print(
        f"triage one-shot assessment, in-process ({report['assessments']} runs over {len(texts)} texts, "
        f"mean {report['mean_chars']:.0f} chars)"
    )
    print("| startup | p50 | p95 | p99 | max | goal p99 <= 20 ms |\n|---|---|---|---|---|---|")
    print(
        f"| {report['startup_s']} s | {report['p50_ms']} ms | {report['p95_ms']} ms | "
        f"{report['p99_ms']} ms | "
        f"{report['max_ms']} ms | {'met' if report['goal_met'] else 'NOT met'} |"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
