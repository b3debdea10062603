"""Interaction checker speed: a 10-drug regimen checked in-process, and checks per second through the
authenticated API of a real `lumen serve`.

  in-process  Checker.check() on 10-drug regimens drawn from common medicines (45 pairs, patient context,
              food, duplicates): p50/p99 with a warm pair cache (the steady state of a server) and for
              each regimen's first check (cold pairs). Goal: p99 <= 2 ms (warm).
  API         POST /v1/interactions/check with a tenant's admin key, driven by wrk against `lumen serve`
              (granian, embedded PostgreSQL and Redis, fresh data dir), measured once the server is idle:
              key (cached), rate limit and metering (one Redis round trip), policy decision, strict body
              decode, the tenant's own rules (kept in the worker, dropped when they change), the check and
              its safety envelope. A check is a read: metered, not audited (an audited PHI read is the
              patient_id form). Goal >= 1,000/s.

Run from the repository root in the project's virtualenv (about a minute):

    python bench/interactions_speed.py
    python bench/interactions_speed.py --seconds 10 --connections 32 --workers 1
    python bench/interactions_speed.py --in-process-only

Prints a table and writes JSON to bench/results/interactions_speed.json. The API part needs wrk
(`apt-get install wrk`) and is skipped with a message without it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway import (
    HOST,
    BenchError,
    Route,
    Server,
    base_env,
    free_port,
    lumen_argv,
    request,
    run_wrk,
    setup_tenant,
)

from lumen.plugins.interactions.schemas import Patient
from lumen.plugins.interactions.service import Checker, checker

RESULTS = Path(__file__).resolve().parent / "results"
COMMON = [
    "atorvastatin",
    "simvastatin",
    "amlodipine",
    "lisinopril",
    "losartan",
    "metformin",
    "omeprazole",
    "levothyroxine",
    "metoprolol",
    "aspirin",
    "clopidogrel",
    "warfarin",
    "apixaban",
    "furosemide",
    "hydrochlorothiazide",
    "spironolactone",
    "sertraline",
    "citalopram",
    "fluoxetine",
    "trazodone",
    "gabapentin",
    "tramadol",
    "oxycodone",
    "paracetamol",
    "ibuprofen",
    "naproxen",
    "prednisone",
    "salbutamol",
    "fluticasone",
    "montelukast",
    "cetirizine",
    "alprazolam",
    "zolpidem",
    "quetiapine",
    "amoxicillin",
    "azithromycin",
    "ciprofloxacin",
    "doxycycline",
    "insulin glargine",
    "sitagliptin",
    "empagliflozin",
    "tamsulosin",
    "finasteride",
    "allopurinol",
    "digoxin",
    "amiodarone",
    "diltiazem",
    "carvedilol",
    "pantoprazole",
    "Zocor",
    "Lipitor 20 mg tablets",
    "Tylenol",
    "Bactrim DS",
]
P99_GOAL_MS = 2.0
API_GOAL = 1000.0

LUA = """
wrk.method = "POST"
wrk.body = '%(body)s'
wrk.headers["Content-Type"] = "application/json"
local keys = {%(keys)s}
local n = 0
request = function()
  n = n + 1
  wrk.headers["Authorization"] = "Bearer " .. keys[(n %% #keys) + 1]
  return wrk.format()
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%%d,"duration_us":%%d,"bytes":%%d,"connect_errors":%%d,"read_errors":%%d,' ..
    '"write_errors":%%d,"status_errors":%%d,"timeouts":%%d,"p50_us":%%d,"p90_us":%%d,"p99_us":%%d,' ..
    '"p999_us":%%d,"max_us":%%d,"mean_us":%%.1f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
"""


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def in_process(engine: Checker, regimens: int, repeats: int) -> dict[str, Any]:
    rng = random.Random(7)
    sets = [rng.sample(COMMON, 10) for _ in range(regimens)]
    patient = Patient(age=72, egfr=45, conditions=["asthma", "heart failure"], allergies=["penicillin"])
    engine._pair_cache.clear()
    cold: list[float] = []
    for meds in sets:
        started = time.perf_counter()
        engine.check(meds, patient)
        cold.append((time.perf_counter() - started) * 1e3)
    warm: list[float] = []
    warm_cpu: list[float] = []
    for _ in range(repeats):
        for meds in sets:
            started, cpu = time.perf_counter(), time.thread_time()
            engine.check(meds, patient)
            warm.append((time.perf_counter() - started) * 1e3)
            warm_cpu.append((time.thread_time() - cpu) * 1e3)
    return {
        "regimens": regimens,
        "checks_warm": len(warm),
        "warm_p50_ms": round(statistics.median(warm), 3),
        "warm_p99_ms": round(_percentile(warm, 0.99), 3),
        # CPU time of the checking thread: what a check costs, without time spent preempted on a busy machine.
        "warm_cpu_p50_ms": round(statistics.median(warm_cpu), 3),
        "warm_cpu_p99_ms": round(_percentile(warm_cpu, 0.99), 3),
        "load_average_1min": round(os.getloadavg()[0], 1),
        "cold_p50_ms": round(statistics.median(cold), 3),
        "cold_p99_ms": round(_percentile(cold, 0.99), 3),
        "goal_p99_ms": P99_GOAL_MS,
        "met": _percentile(warm, 0.99) <= P99_GOAL_MS,
    }


def through_api(args: argparse.Namespace) -> dict[str, Any]:
    wrk = shutil.which("wrk")
    if wrk is None:
        return {"skipped": "wrk is not installed"}
    data_dir = Path(tempfile.mkdtemp(prefix="lumen-ddi-"))
    platform_key = "lm_platform_bench_" + secrets.token_hex(16)
    port = free_port()
    env = base_env(data_dir, platform_key)
    # The API alone: the checker needs no background worker (which would spend the first minutes of a fresh
    # data dir indexing the shared corpora) and no local generation engine. Production runs both elsewhere.
    env.update(LUMEN_JOBS__EMBEDDED_WORKER="false", LUMEN_INFERENCE__LOCAL_ENGINE="false")
    argv = [*lumen_argv(), "serve", "--host", HOST, "--port", str(port), "--workers", str(args.workers)]
    server = Server("lumen serve", argv, env, port, RESULTS / "interactions_speed-server.log")
    try:
        server.start(timeout=180)
        server.wait_until_idle()
        keys = [setup_tenant(port, platform_key)[0] for _ in range(args.tenants)]
        key = keys[0]
        body = {"medications": random.Random(3).sample(COMMON, 10), "patient": {"age": 72, "egfr": 45}}
        status, answer = request(port, "POST", "/v1/interactions/check", body=body, key=key)
        if status != 200:
            raise BenchError(f"POST /v1/interactions/check: {status} {answer}")
        script = RESULTS / "interactions_speed.lua"
        script.write_text(
            LUA % {"body": json.dumps(body), "keys": ", ".join(f'"{k}"' for k in keys)}, encoding="utf-8"
        )
        route = Route("check", "/v1/interactions/check")
        run_wrk(wrk, port, route, script, seconds=2, connections=args.connections, threads=args.threads)
        sample = run_wrk(
            wrk, port, route, script, seconds=args.seconds, connections=args.connections, threads=args.threads
        )
        script.unlink()
        # For context: an authenticated GET of the same plugin (a small answer, no body to decode).
        search = RESULTS / "interactions_search.lua"
        search.write_text(
            LUA.replace('wrk.method = "POST"', 'wrk.method = "GET"').replace("wrk.body = '%(body)s'", "")
            % {"keys": ", ".join(f'"{k}"' for k in keys)},
            encoding="utf-8",
        )
        read = run_wrk(
            wrk,
            port,
            Route("search", "/v1/drugs?q=warf&limit=5"),
            search,
            seconds=args.seconds,
            connections=args.connections,
            threads=args.threads,
        )
        search.unlink()
        return {
            "search_per_s": round(read.rps, 1),
            "search_p50_ms": round(read.p50_ms, 2),
            "search_p99_ms": round(read.p99_ms, 2),
            "workers": args.workers,
            "tenants": args.tenants,
            "connections": args.connections,
            "seconds": args.seconds,
            "checks_per_s": round(sample.rps, 1),
            "p50_ms": round(sample.p50_ms, 2),
            "p99_ms": round(sample.p99_ms, 2),
            "errors": sample.errors,
            "interactions_in_answer": len(answer["interactions"]),
            "cpus": os.cpu_count(),
            "goal_checks_per_s": API_GOAL,
            "met": sample.rps >= API_GOAL,
        }
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--regimens", type=int, default=200)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--seconds", type=int, default=10)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=2)  # granian workers: one per core of this machine
    # Requests rotate over this many tenants: one tenant's audit chain serialises its own writes.
    p.add_argument("--tenants", type=int, default=1)
    p.add_argument("--in-process-only", action="store_true")
    args = p.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    local = in_process(checker(), args.regimens, args.repeats)
    api = {"skipped": "--in-process-only"} if args.in_process_only else through_api(args)
    print("Interaction checker speed (10-drug regimens, patient context)")
    print(f"{'measure':<38} {'p50':>9} {'p99':>9} {'rate':>12}  goal")
    print(
        f"{'in-process, warm pair cache':<38} {local['warm_p50_ms']:>7}ms {local['warm_p99_ms']:>7}ms "
        f"{'':>12}  p99 <= {P99_GOAL_MS} ms {'met' if local['met'] else 'NOT met'}"
    )
    print(
        f"{'in-process, warm, CPU time per check':<38} {local['warm_cpu_p50_ms']:>7}ms "
        f"{local['warm_cpu_p99_ms']:>7}ms"
        f" {'':>12}  (1-min load average {local['load_average_1min']} on {os.cpu_count()} CPUs)"
    )
    print(
        f"{'in-process, first check (cold pairs)':<38} {local['cold_p50_ms']:>7}ms "
        f"{local['cold_p99_ms']:>7}ms"
    )
    if "skipped" in api:
        print(f"{'API':<38} skipped: {api['skipped']}")
    else:
        label = f"API ({api['workers']} worker, {api['connections']} conns, {api['tenants']} tenants)"
        print(
            f"{label:<38} "
            f"{api['p50_ms']:>7}ms {api['p99_ms']:>7}ms {api['checks_per_s']:>9}/s  >= {API_GOAL:.0f}/s "
            f"{'met' if api['met'] else 'NOT met'}  errors {api['errors']}"
        )
        print(
            f"{'  for context: GET /v1/drugs?q=':<38} {api['search_p50_ms']:>7}ms "
            f"{api['search_p99_ms']:>7}ms {api['search_per_s']:>9}/s"
        )
    (RESULTS / "interactions_speed.json").write_text(json.dumps({"in_process": local, "api": api}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
