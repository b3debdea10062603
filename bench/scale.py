"""Scale-out proof on one machine: several API processes behind HAProxy, sharing one PostgreSQL and Redis.

What it shows, each as a table (and JSON in ``bench/results/scale.json``):

1. Throughput vs API processes. 1, 2 and 3 ``lumen serve`` processes (one granian worker each, separate
   process groups, like replicas) behind HAProxy (round robin, health checks on /readyz), driven by wrk on
   an authenticated route (``GET /v1/keys/{id}``: key lookup, rate limiter in Redis, tenant-scoped row read
   under RLS, audit-free read). On a 2-core machine throughput rises until the cores saturate, then stays
   flat; the CPU per request of each tier (API, PostgreSQL, Redis, HAProxy) is reported for the capacity
   model in docs/scaling.md.
2. Rate limits across processes. A tenant limited to N requests/minute sends a burst spread by HAProxy
   over all API processes: exactly N (plus what GCRA refills during the burst) pass, the rest are 429,
   whichever process served them (the limiter is one Lua script in the shared Redis).
3. Idempotency across processes. The same ``POST /v1/keys`` with one Idempotency-Key, sent sequentially and
   then concurrently through every process: one key is created, every answer is that key
   (``Idempotent-Replayed: true`` on the repeats); the row lock in the shared PostgreSQL decides.
4. Kill and restart under load. An asyncio client (httpx, closed loop) runs against HAProxy while one API
   process gets SIGTERM (graceful: granian drains in-flight requests) and is restarted, then another is
   SIGKILLed with its whole process group (a crash) and restarted. Reported: requests, 5xx, transport
   errors. HAProxy retries a request whose connection was refused or reset (``retry-on``), as any real
   load balancer in front of Lumen is configured to (docs/operations.md).
5. Per-tenant cost: PostgreSQL bytes and Redis bytes per tenant after provisioning tenants that each make a
   few requests.
6. Inference replicas: two ``lumen inference serve`` replicas behind the router, an adapter-heavy load with
   adapter affinity on and off (interleaved), then one replica SIGKILLed mid-load: bench/inference_scale.py,
   which also runs on its own (its options are here as ``--inference-*``; ``--no-inference`` skips it).

Needs ``wrk`` and ``haproxy`` (``apt-get install wrk haproxy``). Only 127.0.0.1 is ever targeted.

Run from the repository root in the project's virtualenv (about 3 minutes)::

    python bench/scale.py                 # 10 s per throughput point
    python bench/scale.py --duration 20 --connections 64
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

HOST = "127.0.0.1"  # loopback only, always
RESULTS_DIR = Path(__file__).resolve().parent / "results"
READ_PRELUDE = """
wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer %(key)s"
wrk.headers["Accept"] = "application/json"
"""
# Writes rotate over many tenants' keys: each tenant's audit chain serialises that tenant's writes, so one
# tenant alone would measure its chain's lock rather than the system.
WRITE_PRELUDE = """
local keys = {%(keys)s}
local n = 0
request = function()
  n = n + 1
  local headers = {}
  headers["Authorization"] = "Bearer " .. keys[(n %% #keys) + 1]
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", "/v1/keys", headers, '{"name":"bench-write","scopes":["keys:read"]}')
end
"""
WRK_SCRIPT = """
%(prelude)s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,"status":%%d,' ..
    '"timeout":%%d,"p50_us":%%d,"p99_us":%%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


class BenchError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.1)
    raise BenchError(f"{url} never answered 200")


# --- the processes -------------------------------------------------------------------------------------


@dataclass
class ApiProcess:
    """One `lumen serve` (granian main + its worker) in its own process group: a replica."""

    name: str
    port: int
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = 0

    def start(self) -> None:
        argv = [sys.executable, "-m", "lumen.core.cli", "serve", "--host", HOST, "--port", str(self.port)]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*argv, "--workers", "1"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1

    def wait_ready(self) -> None:
        wait_http(f"http://{HOST}:{self.port}/readyz")

    def signal(self, sig: signal.Signals, *, group: bool = False) -> None:
        assert self.proc is not None
        if group:
            os.killpg(self.proc.pid, sig)
        else:
            self.proc.send_signal(sig)

    def wait_exit(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        code = self.proc.wait(timeout)
        # A crash (SIGKILL of the group) leaves nothing; a graceful stop has already reaped its worker.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        return code

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.wait_exit(30)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL, group=True)
                self.proc.wait()


class LoadBalancer:
    """HAProxy in the foreground, round robin over the given API processes, L7 retries on refused/reset."""

    def __init__(self, port: int, directory: Path) -> None:
        self.port = port
        self.directory = directory
        self.proc: subprocess.Popen[bytes] | None = None

    def config(self, apis: list[ApiProcess]) -> str:
        servers = "\n".join(
            f"    server {a.name} {HOST}:{a.port} check inter 500ms fall 2 rise 1" for a in apis
        )
        return f"""global
    maxconn 4096
    nbthread 1
defaults
    mode http
    timeout connect 2s
    timeout client 60s
    timeout server 60s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response response-timeout
frontend lumen
    bind {HOST}:{self.port}
    default_backend api
backend api
    balance roundrobin
    option httpchk GET /readyz
    http-response set-header X-Served-By %s
{servers}
"""

    def start(self, apis: list[ApiProcess]) -> None:
        self.stop()
        path = self.directory / "haproxy.cfg"
        path.write_text(self.config(apis))
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        with (self.directory / "haproxy.log").open("ab") as out:
            self.proc = subprocess.Popen(
                [haproxy, "-db", "-f", str(path)], stdout=out, stderr=subprocess.STDOUT
            )
        # Until every backend has passed a health check, round robin would skip some.
        time.sleep(1.5)
        wait_http(f"http://{HOST}:{self.port}/readyz")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


# --- CPU accounting ------------------------------------------------------------------------------------


def service_roots(data_dir: Path) -> dict[str, set[int]]:
    """PostgreSQL's postmaster and the redis-server of this benchmark's data dir."""
    groups: dict[str, set[int]] = {"postgres": set(), "redis": set()}
    for p in psutil.process_iter(["pid", "name", "cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if str(data_dir) not in cmd:
            continue
        if p.info["name"] == "postgres":
            groups["postgres"].add(p.info["pid"])
        elif "redis" in (p.info["name"] or ""):
            groups["redis"].add(p.info["pid"])
    return groups


def cpu_seconds(roots: set[int]) -> float:
    """CPU of each root, its live descendants, and the descendants it has already reaped.

    PostgreSQL forks a backend per connection and reaps it when the connection closes (SQLAlchemy's overflow
    connections come and go under load): their CPU moves into the postmaster's children times, so counting
    live processes alone would lose it.
    """
    total = 0.0
    for pid in roots:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(pid)
            t = root.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
            for child in root.children(recursive=True):
                with contextlib.suppress(psutil.Error):
                    c = child.cpu_times()
                    total += c.user + c.system
    return total


# --- setup through the API -----------------------------------------------------------------------------


def make_tenant(base: str, platform_key: str, **overrides: int) -> dict[str, str]:
    platform = {"Authorization": f"Bearer {platform_key}"}
    slug = "scale-" + secrets.token_hex(4)
    with httpx.Client(base_url=base, timeout=30) as http:
        r = http.post("/v1/tenants", json={"slug": slug, "name": slug}, headers=platform)
        r.raise_for_status()
        tenant_id = r.json()["id"]
        limits = {"requests_per_minute": 10_000_000, "key_requests_per_minute": 10_000_000}
        limits |= {"requests_per_day": 100_000_000} | overrides
        r = http.put(f"/v1/tenants/{tenant_id}/limits", json={"overrides": limits}, headers=platform)
        r.raise_for_status()
        r = http.post(
            f"/v1/tenants/{tenant_id}/keys", json={"name": "bench", "scopes": ["admin"]}, headers=platform
        )
        r.raise_for_status()
        return {"tenant_id": tenant_id, "key_id": r.json()["id"], "key": r.json()["key"]}


# --- 1. throughput -------------------------------------------------------------------------------------


@dataclass
class Point:
    processes: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)
    machine_busy: float = 0.0  # share of all CPUs busy during the run (ours and everyone else's)
    ours_busy: float = 0.0  # share of all CPUs used by this benchmark's processes


def run_wrk(
    port: int,
    path: str,
    key: str,
    seconds: float,
    connections: int,
    directory: Path,
    *,
    prelude: str | None = None,
) -> dict[str, Any]:
    script = directory / "wrk.lua"
    script.write_text(WRK_SCRIPT % {"prelude": prelude or READ_PRELUDE % {"key": key}})
    done = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://{HOST}:{port}{path}",
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return dict(json.loads(line.removeprefix("BENCH_JSON ")))
    raise BenchError(f"wrk printed no result: {done.stdout[-500:]} {done.stderr[-500:]}")


def measure_point(
    apis: list[ApiProcess],
    lb: LoadBalancer,
    tenant: dict[str, str],
    args: argparse.Namespace,
    data_dir: Path,
    directory: Path,
    n: int,
    prelude: str | None = None,
) -> Point:
    path = f"/v1/keys/{tenant['key_id']}"
    lb.start(apis[:n])
    # Warm caches and pools.
    run_wrk(lb.port, path, tenant["key"], args.warmup, args.connections, directory, prelude=prelude)
    services = service_roots(data_dir)
    groups = {
        "api": {a.proc.pid for a in apis[:n] if a.proc is not None},
        "postgres": services["postgres"],
        "redis": services["redis"],
        "haproxy": {lb.proc.pid} if lb.proc else set(),
    }
    before = {g: cpu_seconds(p) for g, p in groups.items()}
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    machine_before = psutil.cpu_times()
    result = run_wrk(
        lb.port, path, tenant["key"], args.duration, args.connections, directory, prelude=prelude
    )
    machine_after = psutil.cpu_times()
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    after = {g: cpu_seconds(p) for g, p in groups.items()}
    spent = {g: after[g] - before[g] for g in groups}
    spent["wrk"] = (wrk_after.ru_utime + wrk_after.ru_stime) - (wrk_before.ru_utime + wrk_before.ru_stime)
    requests = max(1, result["requests"])
    seconds = result["duration_us"] / 1e6
    idle = (machine_after.idle - machine_before.idle) + (machine_after.iowait - machine_before.iowait)
    total = sum(machine_after) - sum(machine_before)
    return Point(
        processes=n,
        rps=result["requests"] / seconds,
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        errors=sum(result[k] for k in ("connect", "read", "write", "status", "timeout")),
        cpu_ms_per_request={g: 1000 * v / requests for g, v in spent.items()},
        machine_busy=1 - idle / total if total else 0.0,
        ours_busy=sum(spent.values()) / (seconds * (psutil.cpu_count() or 1)),
    )


def throughput(
    apis: list[ApiProcess],
    lb: LoadBalancer,
    tenant: dict[str, str],
    args: argparse.Namespace,
    data_dir: Path,
    directory: Path,
) -> list[Point]:
    """Rounds of 1..N processes, interleaved so that other load on the machine hits every point alike; the
    round with the median throughput stands for each point."""
    runs: dict[int, list[Point]] = {n: [] for n in range(1, len(apis) + 1)}
    for round_no in range(args.rounds):
        for n in runs:
            runs[n].append(measure_point(apis, lb, tenant, args, data_dir, directory, n))
            print(f"  round {round_no + 1}: {n} API process(es): {runs[n][-1].rps:,.0f} req/s", flush=True)
    return [sorted(points, key=lambda p: p.rps)[len(points) // 2] for points in runs.values()]


# --- 2. rate limits, 3. idempotency ---------------------------------------------------------------------


async def rate_limit_across(base: str, platform_key: str, limit: int, burst: int) -> dict[str, Any]:
    tenant = make_tenant(base, platform_key, requests_per_minute=limit)
    headers = {"Authorization": f"Bearer {tenant['key']}"}
    path = f"/v1/keys/{tenant['key_id']}"
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        gate = asyncio.Semaphore(8)

        async def one() -> tuple[int, str]:
            async with gate:
                r = await http.get(path, headers=headers)
                return r.status_code, r.headers.get("x-served-by", "?")

        started = time.monotonic()
        answers = await asyncio.gather(*(one() for _ in range(burst)))
        elapsed = time.monotonic() - started
    passed = [s for s, _ in answers if s == 200]
    by_process = Counter(p for s, p in answers if s == 200)
    refused_by = Counter(p for s, p in answers if s == 429)
    # GCRA: a full allowance of `limit`, then one more every 60/limit s while the burst lasts.
    ceiling = limit + int(elapsed * limit / 60) + 1
    return {
        "limit_per_minute": limit,
        "sent": burst,
        "passed": len(passed),
        "refused_429": sum(1 for s, _ in answers if s == 429),
        "other": sum(1 for s, _ in answers if s not in (200, 429)),
        "burst_seconds": round(elapsed, 2),
        "allowed_at_most": ceiling,
        "passed_by_process": dict(sorted(by_process.items())),
        "refused_by_process": dict(sorted(refused_by.items())),
        "holds": limit <= len(passed) <= ceiling and len(by_process) > 1,
    }


async def idempotency_across(base: str, platform_key: str, processes: int) -> dict[str, Any]:
    tenant = make_tenant(base, platform_key)
    headers = {"Authorization": f"Bearer {tenant['key']}"}
    results: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        for mode in ("sequential", "concurrent"):
            key = {"Idempotency-Key": f"scale-{mode}-{secrets.token_hex(6)}", **headers}
            body = {"name": f"idem-{mode}", "scopes": ["keys:read"]}
            count = 3 * processes
            if mode == "sequential":
                answers = [await http.post("/v1/keys", json=body, headers=key) for _ in range(count)]
            else:
                answers = await asyncio.gather(
                    *(http.post("/v1/keys", json=body, headers=key) for _ in range(count))
                )
            ok = [a for a in answers if a.status_code == 201]
            ids = {a.json()["id"] for a in ok}
            listed = (await http.get("/v1/keys", headers=headers, params={"limit": 100})).json()
            created = [
                k
                for k in listed.get("items", listed if isinstance(listed, list) else [])
                if k.get("name") == body["name"]
            ]
            results[mode] = {
                "sent": count,
                "status": dict(Counter(a.status_code for a in answers)),
                "replayed": sum(1 for a in ok if a.headers.get("idempotent-replayed") == "true"),
                "distinct_key_ids_returned": len(ids),
                "keys_created": len(created),
                "served_by": dict(Counter(a.headers.get("x-served-by", "?") for a in answers)),
                "holds": len(ids) == 1 and len(created) == 1 and len(ok) == count,
            }
    return results


# --- 4. kill and restart under load ---------------------------------------------------------------------


async def kill_and_restart(
    apis: list[ApiProcess], lb: LoadBalancer, tenant: dict[str, str], seconds: float, concurrency: int
) -> dict[str, Any]:
    base = f"http://{HOST}:{lb.port}"
    headers = {"Authorization": f"Bearer {tenant['key']}"}
    path = f"/v1/keys/{tenant['key_id']}"
    statuses: Counter[int] = Counter()
    errors: Counter[str] = Counter()
    served: Counter[str] = Counter()
    events: list[dict[str, Any]] = []
    stop = time.monotonic() + seconds
    t0 = time.monotonic()

    async def client(http: httpx.AsyncClient) -> None:
        while time.monotonic() < stop:
            try:
                r = await http.get(path, headers=headers)
                statuses[r.status_code] += 1
                served[r.headers.get("x-served-by", "?")] += 1
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] += 1

    def note(what: str) -> None:
        events.append({"t": round(time.monotonic() - t0, 2), "event": what})

    async def chaos() -> None:
        loop = asyncio.get_running_loop()
        victim, crash = apis[1], apis[2]
        await asyncio.sleep(seconds * 0.2)
        note(f"SIGTERM {victim.name}")
        victim.signal(signal.SIGTERM)
        code = await loop.run_in_executor(None, victim.wait_exit)
        note(f"{victim.name} exited ({code}) after draining")
        await asyncio.sleep(1)
        victim.start()
        await loop.run_in_executor(None, victim.wait_ready)
        note(f"{victim.name} restarted and ready")
        await asyncio.sleep(seconds * 0.15)
        note(f"SIGKILL {crash.name} (process group)")
        crash.signal(signal.SIGKILL, group=True)
        await loop.run_in_executor(None, crash.wait_exit)
        await asyncio.sleep(1)
        crash.start()
        await loop.run_in_executor(None, crash.wait_ready)
        note(f"{crash.name} restarted and ready")

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as http:
        await asyncio.gather(chaos(), *(client(http) for _ in range(concurrency)))
    total = sum(statuses.values()) + sum(errors.values())
    return {
        "seconds": seconds,
        "concurrency": concurrency,
        "requests": total,
        "status": dict(sorted(statuses.items())),
        "server_errors_5xx": sum(n for s, n in statuses.items() if s >= 500),
        "transport_errors": dict(errors),
        "served_by": dict(sorted(served.items())),
        "events": events,
        "holds": total > 0 and set(statuses) == {200} and not errors,
    }


# --- 1b. the write path ---------------------------------------------------------------------------------


def database_bytes(owner_url: str) -> int:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from lumen.core.db.session import async_url

    async def size() -> int:
        engine = create_async_engine(async_url(owner_url))
        try:
            async with engine.connect() as conn:
                return int(await conn.scalar(text("SELECT pg_database_size(current_database())")) or 0)
        finally:
            await engine.dispose()

    return asyncio.run(size())


def write_path(
    apis: list[ApiProcess],
    lb: LoadBalancer,
    args: argparse.Namespace,
    data_dir: Path,
    directory: Path,
    owner_url: str,
    platform_key: str,
) -> dict[str, Any]:
    """POST /v1/keys over every process, rotating over many tenants: a state change with its audit record
    (hash chain), its webhook event in the outbox, in one transaction."""
    base = f"http://{HOST}:{lb.port}"
    lb.start(apis)
    tenants = [make_tenant(base, platform_key) for _ in range(args.write_tenants)]
    keys = ",".join(f'"{t["key"]}"' for t in tenants)
    before = database_bytes(owner_url)
    point = measure_point(
        apis, lb, tenants[0], args, data_dir, directory, len(apis), WRITE_PRELUDE % {"keys": keys}
    )
    after = database_bytes(owner_url)
    # The warm-up wrote too: count every key the benchmark created.
    created = 0
    with httpx.Client(base_url=base, timeout=30) as http:
        for t in tenants:
            cursor = None
            while True:
                params: dict[str, Any] = {"limit": 200} | ({"cursor": cursor} if cursor else {})
                page = http.get(
                    "/v1/keys", params=params, headers={"Authorization": f"Bearer {t['key']}"}
                ).json()
                created += sum(1 for k in page["items"] if k["name"] == "bench-write")
                cursor = page.get("next_cursor")
                if not cursor:
                    break
    return {
        "point": point.__dict__,
        "tenants": len(tenants),
        "writes_committed": created,
        "postgres_bytes_per_write": (after - before) / max(1, created),
    }


# --- 5. per-tenant cost ---------------------------------------------------------------------------------


def per_tenant_cost(
    base: str, platform_key: str, owner_url: str, redis_url: str, tenants: int
) -> dict[str, Any]:
    import redis as redis_sync

    def db_size() -> int:
        return database_bytes(owner_url)

    r = redis_sync.Redis.from_url(redis_url)

    def redis_bytes() -> int:
        # The keys' own footprint (MEMORY USAGE), not used_memory, which moves with buffers and fragmentation.
        return sum(int(r.memory_usage(key) or 0) for key in r.scan_iter(count=1000))

    db_before, redis_before = db_size(), redis_bytes()
    keys_before = int(r.dbsize())
    started = time.monotonic()
    with httpx.Client(base_url=base, timeout=30) as http:
        for _ in range(tenants):
            t = make_tenant(base, platform_key)
            for _ in range(5):  # limiter state, usage counters, key cache: what an active tenant leaves
                http.get(f"/v1/keys/{t['key_id']}", headers={"Authorization": f"Bearer {t['key']}"})
    elapsed = time.monotonic() - started
    db_after, redis_after = db_size(), redis_bytes()
    keys_after = int(r.dbsize())
    r.close()
    return {
        "tenants": tenants,
        "postgres_bytes_per_tenant": (db_after - db_before) / tenants,
        "redis_bytes_per_tenant": (redis_after - redis_before) / tenants,
        "redis_keys_per_tenant": (keys_after - keys_before) / tenants,
        "provisioning_seconds_per_tenant": elapsed / tenants,
    }


# --- 6. inference replicas (needs the inference engine issue) --------------------------------------------


def inference_available() -> str | None:
    """None when `lumen inference serve` exists; otherwise why this section cannot run."""
    done = subprocess.run(
        [sys.executable, "-m", "lumen.core.cli", "inference", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return None if done.returncode == 0 else "`lumen inference serve` is not installed in this build"


def inference_replicas(directory: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Two local engine replicas behind Lumen's router, adapter-heavy load: bench/inference_scale.py (which
    also runs on its own, without PostgreSQL, Redis or HAProxy)."""
    if args.no_inference:
        return {"run": False, "reason": "--no-inference"}
    reason = inference_available()
    if reason is not None:
        return {"run": False, "reason": reason}
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import inference_scale

    opts = argparse.Namespace(
        **{k.removeprefix("inference_"): v for k, v in vars(args).items() if k.startswith("inference_")}
    )
    work = directory / "inference"
    work.mkdir(exist_ok=True)
    return {"run": True, **inference_scale.run(opts, work)}


# --- report ---------------------------------------------------------------------------------------------


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
        for r in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def model_rps(p: Point, cpus: int) -> float:
    """What these CPU costs give on an otherwise idle machine: each API process (one granian worker) can use
    at most one core, and all tiers together at most every core (the load generator excluded)."""
    c = p.cpu_ms_per_request
    server_ms = sum(v for k, v in c.items() if k != "wrk")
    return min(p.processes * 1000 / c["api"], cpus * 1000 / server_ms)


def report(results: dict[str, Any]) -> str:
    cpus = int(results["machine"]["cpus"])
    out = []
    pts: list[Point] = results["throughput"]
    base_rps = pts[0].rps
    rows = [
        [
            "API processes",
            "req/s",
            "x vs 1",
            "p50 ms",
            "p99 ms",
            "errors",
            "api ms/req",
            "pg ms/req",
            "redis ms/req",
            "haproxy ms/req",
            "wrk ms/req",
            "CPUs busy (ours)",
            "req/s per CPU used",
            "idle-machine model req/s",
        ]
    ]
    for p in pts:
        c = p.cpu_ms_per_request
        rows.append(
            [
                str(p.processes),
                f"{p.rps:,.0f}",
                f"{p.rps / base_rps:.2f}",
                f"{p.p50_ms:.1f}",
                f"{p.p99_ms:.1f}",
                str(p.errors),
                f"{c['api']:.2f}",
                f"{c['postgres']:.2f}",
                f"{c['redis']:.2f}",
                f"{c['haproxy']:.2f}",
                f"{c['wrk']:.2f}",
                f"{p.machine_busy:.0%} ({p.ours_busy:.0%})",
                f"{p.rps / max(p.ours_busy * cpus, 1e-9):,.0f}",
                f"{model_rps(p, cpus):,.0f}",
            ]
        )
    out.append(
        f"1. Throughput vs API processes ({results['machine']['cpus']} CPUs, wrk "
        f"{results['args']['connections']} connections, {results['args']['duration']} s each, via HAProxy)"
    )
    out.append(table(rows))
    w = results["write"]
    wp = w["point"]
    wc = wp["cpu_ms_per_request"]
    out.append(
        f"\n1b. Write path: POST /v1/keys (state change + audit chain + outbox event, one transaction), "
        f"{wp['processes']} API processes, {w['tenants']} tenants"
    )
    out.append(
        table(
            [
                [
                    "req/s",
                    "p50 ms",
                    "p99 ms",
                    "errors",
                    "api ms/req",
                    "pg ms/req",
                    "redis ms/req",
                    "haproxy ms/req",
                    "CPUs busy (ours)",
                    "PostgreSQL bytes/write",
                ],
                [
                    f"{wp['rps']:,.0f}",
                    f"{wp['p50_ms']:.1f}",
                    f"{wp['p99_ms']:.1f}",
                    str(wp["errors"]),
                    f"{wc['api']:.2f}",
                    f"{wc['postgres']:.2f}",
                    f"{wc['redis']:.2f}",
                    f"{wc['haproxy']:.2f}",
                    f"{wp['machine_busy']:.0%} ({wp['ours_busy']:.0%})",
                    f"{w['postgres_bytes_per_write']:,.0f}",
                ],
            ]
        )
    )
    rl = results["rate_limit"]
    out.append("\n2. Rate limit across processes")
    out.append(
        table(
            [
                [
                    "limit/min",
                    "sent",
                    "passed",
                    "429",
                    "other",
                    "allowed at most",
                    "passed by process",
                    "holds",
                ],
                [
                    str(rl["limit_per_minute"]),
                    str(rl["sent"]),
                    str(rl["passed"]),
                    str(rl["refused_429"]),
                    str(rl["other"]),
                    str(rl["allowed_at_most"]),
                    " ".join(f"{k}={v}" for k, v in rl["passed_by_process"].items()),
                    "yes" if rl["holds"] else "NO",
                ],
            ]
        )
    )
    out.append("\n3. Idempotency across processes (one Idempotency-Key, POST /v1/keys)")
    rows = [["mode", "sent", "201", "replayed", "key ids returned", "keys created", "served by", "holds"]]
    for mode, r in results["idempotency"].items():
        rows.append(
            [
                mode,
                str(r["sent"]),
                str(r["status"].get(201, 0)),
                str(r["replayed"]),
                str(r["distinct_key_ids_returned"]),
                str(r["keys_created"]),
                " ".join(f"{k}={v}" for k, v in sorted(r["served_by"].items())),
                "yes" if r["holds"] else "NO",
            ]
        )
    out.append(table(rows))
    k = results["kill_restart"]
    out.append(f"\n4. Kill and restart under load ({k['seconds']} s, {k['concurrency']} concurrent clients)")
    out.append(
        table(
            [
                ["requests", "2xx", "5xx", "other status", "transport errors", "served by", "holds"],
                [
                    str(k["requests"]),
                    str(sum(n for s, n in k["status"].items() if 200 <= s < 300)),
                    str(k["server_errors_5xx"]),
                    str(sum(n for s, n in k["status"].items() if s < 200 or 300 <= s < 500)),
                    str(sum(k["transport_errors"].values())),
                    " ".join(f"{a}={n}" for a, n in k["served_by"].items()),
                    "yes" if k["holds"] else "NO",
                ],
            ]
        )
    )
    for e in k["events"]:
        out.append(f"   t={e['t']:>5.1f}s  {e['event']}")
    c = results["per_tenant"]
    out.append(f"\n5. Per-tenant cost ({c['tenants']} tenants, each with a key and 5 requests)")
    out.append(
        table(
            [
                [
                    "PostgreSQL bytes/tenant",
                    "Redis bytes/tenant",
                    "Redis keys/tenant",
                    "provisioning s/tenant",
                ],
                [
                    f"{c['postgres_bytes_per_tenant']:,.0f}",
                    f"{c['redis_bytes_per_tenant']:,.0f}",
                    f"{c['redis_keys_per_tenant']:.1f}",
                    f"{c['provisioning_seconds_per_tenant']:.3f}",
                ],
            ]
        )
    )
    inf = results["inference"]
    out.append("\n6. Inference replicas behind the router (bench/inference_scale.py)")
    out.append(inf["table"] if inf["run"] else f"not run ({inf['reason']})")
    return "\n".join(out)


def jsonable(results: dict[str, Any]) -> dict[str, Any]:
    out = dict(results)
    out["throughput"] = [p.__dict__ for p in results["throughput"]]
    return out


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--processes", type=int, default=3, help="most API processes (default 3)")
    p.add_argument("--duration", type=float, default=10, help="seconds per throughput point (default 10)")
    p.add_argument("--rounds", type=int, default=3, help="rounds over 1..N processes (default 3)")
    p.add_argument("--warmup", type=float, default=3, help="seconds of warm-up per point (default 3)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    p.add_argument(
        "--kill-seconds", type=float, default=30, help="length of the kill/restart run (default 30)"
    )
    p.add_argument(
        "--kill-concurrency", type=int, default=16, help="clients during kill/restart (default 16)"
    )
    p.add_argument(
        "--rate-limit", type=int, default=60, help="requests/minute of the limited tenant (default 60)"
    )
    p.add_argument(
        "--write-tenants", type=int, default=20, help="tenants the write run rotates over (default 20)"
    )
    p.add_argument("--tenants", type=int, default=100, help="tenants for the per-tenant cost (default 100)")
    p.add_argument("--no-inference", action="store_true", help="leave out section 6 (inference replicas)")
    inference = p.add_argument_group("section 6 (bench/inference_scale.py)")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import inference_scale

    inference_scale.add_arguments(inference, prefix="inference-")
    p.add_argument("--output", type=Path, default=RESULTS_DIR / "scale.json")
    args = p.parse_args(argv)
    if args.processes < 3:
        p.error("--processes must be >= 3 (the kill/restart run stops two of them)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("wrk", "haproxy"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            print(f"needs {tool}: apt-get install {tool}", file=sys.stderr)
            return 2
    from lumen.core.embedded import EmbeddedServices
    from lumen.core.settings import load_settings

    data_dir = Path(tempfile.mkdtemp(prefix="lumen-scale-"))
    work = data_dir / "bench"
    work.mkdir()
    platform_key = "lm_platform_scale_" + secrets.token_hex(16)
    settings = load_settings(
        {"LUMEN_DATA_DIR": str(data_dir), "LUMEN_LOG_LEVEL": "warning", "LUMEN_PLATFORM_KEY": platform_key}
    )
    services = EmbeddedServices(settings)
    resolved = services.start()
    assert resolved.database.url
    assert resolved.redis.url
    # What every replica shares in production: URLs and secrets, never a data dir of its own making.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMEN_")}
    env.update(
        {
            "LUMEN_DATA_DIR": str(data_dir),
            "LUMEN_DATABASE_URL": resolved.database.url,
            "LUMEN_REDIS_URL": resolved.redis.url,
            "LUMEN_PLATFORM_KEY": platform_key,
            "LUMEN_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
            "LUMEN_AUDIT_SIGNING_KEY": base64.b64encode(os.urandom(32)).decode(),
            "LUMEN_JOBS__EMBEDDED_WORKER": "false",
            "LUMEN_LOG_LEVEL": "warning",
            "LUMEN_LOG_FORMAT": "json",
        }
    )
    apis = [
        ApiProcess(f"api{i + 1}", free_port(), env, work / f"api{i + 1}.log") for i in range(args.processes)
    ]
    lb = LoadBalancer(free_port(), work)
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": psutil.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }
    try:
        for api in apis:
            api.start()
        for api in apis:
            api.wait_ready()
        base = f"http://{HOST}:{lb.port}"
        lb.start(apis)
        tenant = make_tenant(base, platform_key)
        print("1. throughput", flush=True)
        results["throughput"] = throughput(apis, lb, tenant, args, data_dir, work)
        owner_url = resolved.database.owner_url or resolved.database.url
        print("1b. write path", flush=True)
        results["write"] = write_path(apis, lb, args, data_dir, work, owner_url, platform_key)
        lb.start(apis)
        print("2. rate limit, 3. idempotency", flush=True)
        results["rate_limit"] = asyncio.run(
            rate_limit_across(base, platform_key, args.rate_limit, args.rate_limit * 3)
        )
        results["idempotency"] = asyncio.run(idempotency_across(base, platform_key, len(apis)))
        print("4. kill and restart", flush=True)
        results["kill_restart"] = asyncio.run(
            kill_and_restart(apis, lb, tenant, args.kill_seconds, args.kill_concurrency)
        )
        print("5. per-tenant cost", flush=True)
        results["per_tenant"] = per_tenant_cost(
            base, platform_key, owner_url, resolved.redis.url, args.tenants
        )
        print("6. inference replicas", flush=True)
        results["inference"] = inference_replicas(work, args)
    finally:
        lb.stop()
        for api in apis:
            api.stop()
        services.stop()
    text = report(results)
    print()
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(jsonable(results), indent=2, default=str) + "\n")
    args.output.with_suffix(".txt").write_text(text + "\n")
    shutil.rmtree(data_dir, ignore_errors=True)
    ok = (
        results["rate_limit"]["holds"]
        and results["kill_restart"]["holds"]
        and all(r["holds"] for r in results["idempotency"].values())
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
