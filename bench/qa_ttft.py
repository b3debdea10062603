"""Time to first token of the Q&A answer, before and after streaming as the model generates, interleaved.

    python bench/qa_ttft.py [--rounds 3] [--inference-url http://127.0.0.1:PORT]

Starts a real `lumen serve` (its embedded PostgreSQL and Redis, and the local CPU engine unless
--inference-url names a pool), so the SSE body crosses a real socket. For each education question, in
alternation (A, B, A, B...):

  before  POST /v1/qa/ask (JSON): the answer phrased whole, checked whole, then sent. This is when the
          earlier stream sent its first delta (it computed the whole checked answer before the first byte).
  after   POST /v1/qa/ask/stream: seconds to the first `delta` event (each model sentence is checked,
          then sent), and to the last event.

Prints `uptime` load, a table (median TTFT per arm, the ratio, how many answers the model phrased and how
many streams ended withdrawn) and writes bench/results/qa_ttft.json.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
QUESTIONS = [
    "What helps with hay fever?",
    "How long does a cold last?",
    "What is gout?",
    "How do I stop smoking?",
    "What should I do for a nosebleed?",
    "How can I sleep better?",
    "What causes heartburn?",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(key: str, inference_url: str | None) -> tuple[subprocess.Popen[bytes], str, Path]:
    data = Path(tempfile.mkdtemp(prefix="lumen-ttft-"))
    port = _free_port()
    env = {**os.environ, "LUMEN_PLATFORM_KEY": key, "LUMEN_LOG_LEVEL": "warning"}
    if inference_url:
        env |= {"LUMEN_INFERENCE_URLS": inference_url, "LUMEN_INFERENCE__LOCAL_ENGINE": "false"}
    log = data / "serve.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "lumen.core.cli", "serve", "--port", str(port), "--data-dir", str(data)],
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("lumen serve exited: " + log.read_text()[-2000:])
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return proc, url, log
        except httpx.HTTPError:
            pass
        time.sleep(1)
    proc.terminate()
    raise SystemExit("lumen serve not ready in 15 minutes")


def tenant_key(http: httpx.Client, key: str) -> dict[str, str]:
    platform = {"authorization": f"Bearer {key}"}
    t = http.post(
        "/v1/tenants", json={"slug": "ttft-" + secrets.token_hex(3), "name": "T"}, headers=platform
    ).json()
    k = http.post(f"/v1/tenants/{t['id']}/keys", json={"name": "b", "scopes": ["admin"]}, headers=platform)
    return {"authorization": f"Bearer {k.json()['key']}"}


def before(http: httpx.Client, headers: dict[str, str], question: str) -> dict[str, Any]:
    started = time.perf_counter()
    r = http.post("/v1/qa/ask", json={"question": question}, headers=headers)
    r.raise_for_status()
    body = r.json()
    return {"ttft": time.perf_counter() - started, "generated": body["generated"], "withdrawn": False}


def after(http: httpx.Client, headers: dict[str, str], question: str) -> dict[str, Any]:
    started = time.perf_counter()
    first = None
    last: dict[str, Any] = {}
    deltas = 0
    with http.stream("POST", "/v1/qa/ask/stream", json={"question": question}, headers=headers) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[6:])
            if event["type"] == "delta":
                deltas += 1
                if first is None:
                    first = time.perf_counter() - started
            last = event
    total = time.perf_counter() - started
    return {
        "ttft": first if first is not None else total,
        "total": total,
        "deltas": deltas,
        "generated": bool(last.get("generated")),
        "withdrawn": last.get("type") == "withdrawn",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inference-url", default=None)
    parser.add_argument("--rounds", type=int, default=2, help="passes over the questions")
    args = parser.parse_args()
    load_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    key = "lm_platform_bench_" + secrets.token_hex(8)
    proc, url, _log = start_server(key, args.inference_url)
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    try:
        with httpx.Client(base_url=url, timeout=900) as http:
            headers = tenant_key(http, key)
            after(http, headers, "What is asthma?")  # warm-up (model load, caches), not counted
            n = 0
            for _ in range(args.rounds):
                for question in QUESTIONS:
                    # A, B, A, B... and which goes first alternates too, so drift hits both arms alike.
                    order = ("before", "after") if n % 2 == 0 else ("after", "before")
                    for arm in order:
                        result = (before if arm == "before" else after)(http, headers, question)
                        runs[arm].append({"question": question, **result})
                        print(f"{arm:<7} {result['ttft']:8.2f} s  {question}", flush=True)
                    n += 1
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
    load_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()

    def p50(arm: str, field: str = "ttft") -> float:
        return round(statistics.median(r[field] for r in runs[arm]), 3)

    report = {
        "model": "pool at " + args.inference_url if args.inference_url else "local CPU engine (lumen serve)",
        "pairs": len(runs["after"]),
        "before_ttft_p50_s": p50("before"),
        "after_ttft_p50_s": p50("after"),
        "ratio_after_over_before": round(p50("after") / p50("before"), 3),
        "after_total_p50_s": p50("after", "total"),
        "before_ttft_max_s": round(max(r["ttft"] for r in runs["before"]), 3),
        "after_ttft_max_s": round(max(r["ttft"] for r in runs["after"]), 3),
        "generated": {arm: sum(r["generated"] for r in runs[arm]) for arm in runs},
        "withdrawn_streams": sum(r["withdrawn"] for r in runs["after"]),
        "uptime_before": load_before,
        "uptime_after": load_after,
        "runs": runs,
    }
    print(f"load before: {load_before}\nload after:  {load_after}")
    print(f"model: {report['model']}; {report['pairs']} interleaved pairs")
    print(f"{'arm':<8} {'TTFT p50 s':>11} {'TTFT max s':>11} {'generated':>10}")
    print(
        f"{'before':<8} {report['before_ttft_p50_s']:>11} {report['before_ttft_max_s']:>11} "
        f"{report['generated']['before']:>10}"
    )
    print(
        f"{'after':<8} {report['after_ttft_p50_s']:>11} {report['after_ttft_max_s']:>11} "
        f"{report['generated']['after']:>10}"
    )
    print(
        f"after/before TTFT ratio {report['ratio_after_over_before']}; after: whole stream p50 "
        f"{report['after_total_p50_s']} s, {report['withdrawn_streams']} withdrawn"
    )
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "qa_ttft.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
