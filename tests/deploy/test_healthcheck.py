"""deploy/docker/healthcheck.py, the image's HEALTHCHECK: run as the container runs it, as a process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from lumen.core.jobs.worker import build_worker, health_key
from lumen.core.settings import Settings

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "docker" / "healthcheck.py"


def _check(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LUMEN_", "HEALTHCHECK_"))}
    return subprocess.run(
        [sys.executable, str(SCRIPT)],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def server() -> Iterator[tuple[str, dict[str, int]]]:
    answer = {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(answer["status"])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/readyz", answer
    httpd.shutdown()


def test_a_ready_api_is_healthy(server: tuple[str, dict[str, int]]) -> None:
    url, _ = server
    assert _check(HEALTHCHECK_URL=url).returncode == 0


def test_an_api_that_is_not_ready_is_unhealthy(server: tuple[str, dict[str, int]]) -> None:
    url, answer = server
    answer["status"] = 503
    done = _check(HEALTHCHECK_URL=url)
    assert done.returncode == 1
    assert "unhealthy" in done.stderr


def test_nothing_listening_is_unhealthy() -> None:
    assert _check(HEALTHCHECK_URL="http://127.0.0.1:9/readyz").returncode == 1


async def test_a_polling_worker_is_healthy_and_a_stopped_one_is_not(settings: Settings) -> None:
    assert settings.redis.url is not None
    worker = build_worker(settings)
    task = asyncio.create_task(worker.async_run())
    client = aioredis.Redis.from_url(settings.redis.url)
    try:
        for _ in range(200):
            if await client.exists(health_key()):
                break
            await asyncio.sleep(0.05)
        env = {"HEALTHCHECK_MODE": "worker", "LUMEN_REDIS_URL": settings.redis.url}
        healthy = await asyncio.to_thread(_check, **env)
        assert healthy.returncode == 0, healthy.stderr
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        await worker.close()  # arq deletes its health key on close
    stopped = await asyncio.to_thread(_check, **env)
    await client.aclose()
    assert stopped.returncode == 1
