"""Webhook delivery throughput and latency: deliveries per second, and p50/p99 time from the commit of the
change that caused an event to the first delivery attempt reaching a healthy receiver on loopback.

Everything is real: embedded PostgreSQL and Redis, a `lumen worker` process (arq + the outbox relay), a
threaded HTTP receiver on 127.0.0.1, and events emitted the way requests emit them (event, delivery and
outbox rows in one transaction, then a wake-up after commit). Events are committed in transactions of 10
from a few concurrent writers, as a busy API would.

    python bench/webhooks.py                  # 1,000 and 10,000 events
    python bench/webhooks.py --events 1000

Goal on this machine (issue 4): >= 300 deliveries/s and p99 <= 1 s. Prints a table, writes
bench/results/webhooks.json.
"""

from __future__ import annotations

import argparse
import asyncio
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import redis.asyncio as aioredis

from lumen.core.crypto import Sealer
from lumen.core.db.session import Database
from lumen.core.embedded import EmbeddedServices
from lumen.core.jobs.outbox import wake
from lumen.core.jobs.worker import instance_secret
from lumen.core.settings import Settings, load_settings
from lumen.core.tenancy.context import PLATFORM, Scope
from lumen.core.webhooks.models import WebhookEndpoint
from lumen.core.webhooks.service import emit, seal_secret
from lumen.core.webhooks.signing import new_secret
from lumen.tenants.service import TenantService

RESULTS = Path(__file__).parent / "results"


def receiver() -> tuple[str, dict[str, float], threading.Event]:
    arrivals: dict[str, float] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            event_id = json.loads(body)["id"]
            arrivals.setdefault(event_id, time.time())
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop = threading.Event()
    return f"http://127.0.0.1:{server.server_address[1]}/hook", arrivals, stop


async def run(settings: Settings, events: int, url: str, arrivals: dict[str, float]) -> dict[str, object]:
    db = Database(settings.database)
    assert settings.redis.url is not None
    redis = aioredis.Redis.from_url(settings.redis.url)
    sealer = Sealer(instance_secret(settings))
    async with db.transaction(PLATFORM) as session:
        tenant = await TenantService(session).create(slug="bench-" + uuid.uuid4().hex[:8], name="Bench")
    async with db.transaction(Scope.tenant(tenant.id)) as session:
        endpoint = WebhookEndpoint(
            id=uuid.uuid4(), tenant_id=tenant.id, url=url, event_types=[], description="", enabled=True
        )
        endpoint.secret_sealed = seal_secret(sealer, endpoint.id, new_secret())
        session.add(endpoint)
    committed: dict[str, float] = {}

    async def writer(count: int) -> None:
        for start in range(0, count, 10):
            async with db.transaction(Scope.tenant(tenant.id)) as session:
                batch = [
                    await emit(session, tenant.id, "webhook.test", {"n": start + i})
                    for i in range(min(10, count - start))
                ]
            now = time.time()
            for event in batch:
                committed[str(event.id)] = now
            await wake(redis)

    writers = 4
    started = time.time()
    await asyncio.gather(*(writer(events // writers) for _ in range(writers)))
    total = (events // writers) * writers
    deadline = time.time() + 600
    # Arrivals are recorded by the receiver's threads; polling is the simple, honest way to wait for them.
    while len([e for e in committed if e in arrivals]) < total and time.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    done = [e for e in committed if e in arrivals]
    finished = max(arrivals[e] for e in done)
    latencies = sorted(arrivals[e] - committed[e] for e in done)
    await redis.aclose()
    await db.dispose()
    return {
        "events": total,
        "delivered": len(done),
        "deliveries_per_s": round(len(done) / (finished - started), 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, nargs="*", default=[1000, 10000])
    parser.add_argument("--output", type=Path, default=RESULTS / "webhooks.json")
    args = parser.parse_args()
    data = tempfile.mkdtemp(prefix="lumen-bench-")
    env_base = {"LUMEN_DATA_DIR": data, "LUMEN_LOG_LEVEL": "warning", "LUMEN_WEBHOOKS_ALLOW_PRIVATE": "1"}
    services = EmbeddedServices(load_settings(env_base))
    settings = services.start()
    url, arrivals, _ = receiver()
    assert settings.database.url is not None
    assert settings.redis.url is not None
    env = {
        **os.environ,
        **env_base,
        "LUMEN_DATABASE_URL": settings.database.url,
        "LUMEN_REDIS_URL": settings.redis.url,
        "LUMEN_LOG_FORMAT": "json",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "lumen.core.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    rows = []
    try:
        time.sleep(3)  # the worker connects and subscribes
        for count in args.events:
            rows.append(asyncio.run(run(settings, count, url, arrivals)))
    finally:
        worker.terminate()
        worker.wait(30)
        services.stop()
        shutil.rmtree(data, ignore_errors=True)
    print("Webhook deliveries: lumen worker (1 process) -> receiver on loopback, embedded PostgreSQL + Redis")
    print(f"{'events':>7} {'delivered':>9} {'deliveries/s':>13} {'p50 ms':>8} {'p99 ms':>8}")
    for row in rows:
        print(
            f"{row['events']:>7} {row['delivered']:>9} {row['deliveries_per_s']:>13,.1f} "
            f"{row['p50_ms']:>8,.1f} {row['p99_ms']:>8,.1f}"
        )
    met = all(float(r["deliveries_per_s"]) >= 300 and float(r["p99_ms"]) <= 1000 for r in rows)  # type: ignore[arg-type]
    print(f"goal (>= 300 deliveries/s and p99 <= 1 s): {'met' if met else 'NOT MET'}")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"rows": rows, "goal_met": met}, indent=2))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
