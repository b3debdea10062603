"""PubMedQA (PQA-L) through the Q&A engine: each test question with its own abstract as the context, answered
yes / no / maybe by the configured model, scored with accuracy and macro-F1 on the official 500-question
test split (test_ground_truth.json).

    python bench/pubmedqa_eval.py [--limit N] [--seed 0] [--data ../shared/benchmarks/pubmedqa]

test_ground_truth.json lists the questions grouped by label (its first 276 are all "yes"), so the questions
run in a seeded random order: `--limit N` is a random sample of the split, the same one for the same seed.
The JSON is rewritten after every question, so a run stopped early still reports what it measured (with
`"complete": false` and the N it reached).

The model: the OpenAI-compatible servers in LUMEN_INFERENCE_URLS (the production pool, e.g. vLLM), else a
local engine started here (`lumen inference serve`, the CPU model; slow). Prints a table and writes JSON to
bench/results/pubmedqa.json. The data is for evaluation only and never enters the product.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from lumen.plugins.qa.service import pubmedqa_decide
from lumen.plugins.sdk import ChatMessage, Generation

HERE = Path(__file__).resolve().parent
LABELS = ("yes", "no", "maybe")


def macro_f1(gold: Sequence[str], pred: Sequence[str]) -> float:
    scores = []
    for label in LABELS:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == p == label)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if p == label and g != label)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / len(scores)


def start_local_engine() -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    engine = subprocess.Popen(
        [sys.executable, "-m", "lumen.core.cli", "inference", "serve", "--port", str(port)]
    )
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if engine.poll() is not None:
            raise SystemExit(f"the local engine exited with {engine.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1.0).status_code == 200:
                return engine, url
        except httpx.HTTPError:
            pass
        time.sleep(1)
    engine.terminate()
    raise SystemExit("the local engine did not start in 15 minutes")


def summary(
    gold: list[str], pred: list[str], seconds: list[float], model: str, planned: int, seed: int
) -> dict[str, Any]:
    accuracy = sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold)
    return {
        "harness": "pubmedqa",
        "split": "PQA-L test (test_ground_truth.json)",
        "questions": len(gold),
        "planned": planned,
        "complete": len(gold) == planned,
        "order": f"random, seed {seed}",
        "model": model,
        "endpoint": "LUMEN_INFERENCE_URLS" if os.environ.get("LUMEN_INFERENCE_URLS") else "local CPU engine",
        "accuracy": round(accuracy, 4),
        "macro_f1": round(macro_f1(gold, pred), 4),
        "predicted": {label: pred.count(label) for label in LABELS},
        "gold": {label: gold.count(label) for label in LABELS},
        "seconds_per_question": round(sum(seconds) / len(seconds), 3),
    }


def write(out: Path, report: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))


async def run(
    data: Path, limit: int | None, url: str, model: str, seed: int = 0, out: Path | None = None
) -> dict[str, Any]:
    items = json.loads((data / "ori_pqal.json").read_text())
    truth: dict[str, str] = json.loads((data / "test_ground_truth.json").read_text())
    pmids = list(truth)
    random.Random(seed).shuffle(pmids)
    pmids = pmids[:limit] if limit else pmids
    async with httpx.AsyncClient(base_url=url, timeout=600) as http:

        async def generate(messages: Sequence[ChatMessage], max_tokens: int) -> Generation:
            r = await http.post(
                "/v1/chat/completions",
                json={
                    "model": model,
                    "messages": [{"role": m.role, "content": m.content} for m in messages],
                    "max_tokens": max_tokens,
                    "temperature": 0.0,
                },
            )
            r.raise_for_status()
            body = r.json()
            return Generation(
                text=body["choices"][0]["message"]["content"] or "",
                model=body.get("model", model),
                prompt_tokens=body.get("usage", {}).get("prompt_tokens", 0),
                completion_tokens=body.get("usage", {}).get("completion_tokens", 0),
                finish_reason=body["choices"][0].get("finish_reason") or "stop",
            )

        gold: list[str] = []
        pred: list[str] = []
        seconds: list[float] = []
        for pmid in pmids:
            item = items[pmid]
            started = time.perf_counter()
            label, _ = await pubmedqa_decide(generate, item["QUESTION"], " ".join(item["CONTEXTS"]))
            seconds.append(time.perf_counter() - started)
            gold.append(truth[pmid])
            pred.append(label)
            if out is not None:  # a checkpoint: a run stopped early still has its figures
                write(out, summary(gold, pred, seconds, model, len(pmids), seed))
    return summary(gold, pred, seconds, model, len(pmids), seed)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="First N test questions only.")
    parser.add_argument(
        "--data", type=Path, default=HERE.parent.parent / "shared" / "benchmarks" / "pubmedqa"
    )
    parser.add_argument("--seed", type=int, default=0, help="Order of the questions (random, reproducible).")
    parser.add_argument("--model", default="lumen-base")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "pubmedqa.json")
    args = parser.parse_args(argv)
    if not args.data.exists():
        alt = Path("/work/shared/benchmarks/pubmedqa")
        args.data = alt if alt.exists() else args.data
    urls = [u for u in os.environ.get("LUMEN_INFERENCE_URLS", "").split(",") if u]
    engine = None
    if urls:
        url = urls[0].rstrip("/")
    else:
        engine, url = start_local_engine()
    try:
        report = asyncio.run(run(args.data, args.limit, url, args.model, args.seed, args.out))
    finally:
        if engine is not None:
            engine.terminate()
            engine.wait(30)
    print(f"{'harness':<10} {'questions':>9} {'accuracy':>9} {'macro-F1':>9} {'s/question':>11}  model")
    print(
        f"{'pubmedqa':<10} {report['questions']:>9} {report['accuracy']:>9.3f} {report['macro_f1']:>9.3f} "
        f"{report['seconds_per_question']:>11.2f}  {report['model']} ({report['endpoint']})"
    )
    print(f"predicted {report['predicted']}  gold {report['gold']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
