"""A real HTTP receiver on loopback, an app whose webhooks may target it, and a real arq worker."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import msgspec
import pytest
from litestar import Litestar

from lumen.core.app import create_app
from lumen.core.jobs.worker import build_worker
from lumen.core.settings import Settings, WebhookSettings


class _Server(http.server.ThreadingHTTPServer):
    # A listen backlog like a real server's (http.server's default is 5): a burst of deliveries opens many
    # connections at once.
    request_queue_size = 128


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers with the next status in `script` (then 200); records what it got."""

    url: str = ""
    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    up: bool = True
    hang_first: float = 0.0  # seconds the first request is held before answering (a slow receiver)

    async def wait_for(self, count: int, within: float = 15.0) -> list[Received]:
        for _ in range(int(within / 0.05)):
            if len(self.received) >= count:
                return self.received
            await asyncio.sleep(0.05)
        raise AssertionError(f"{len(self.received)} of {count} deliveries arrived within {within} s")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            if not state.up:
                self.connection.close()  # as if nobody listened
                return
            state.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
            if state.hang_first and len(state.received) == 1:
                time.sleep(state.hang_first)
            status = state.script.pop(0) if state.script else 200
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"no")

        def log_message(self, *args: object) -> None:
            return

    server = _Server(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def hook_settings(settings: Settings) -> Settings:
    """Loopback allowed (tests only) and a retry schedule in fractions of a second."""
    return msgspec.structs.replace(
        settings,
        webhooks=WebhookSettings(
            allow_private=True, retry_schedule_seconds=[0, 0.2, 0.2, 0.2, 0.2, 0.2], timeout_seconds=2
        ),
    )


@pytest.fixture(scope="module")
async def hook_app(hook_settings: Settings) -> AsyncIterator[Litestar]:
    app = create_app(hook_settings)
    for hook in app.on_startup:
        await hook()  # type: ignore[call-arg]
    yield app
    for hook in app.on_shutdown:
        await hook()  # type: ignore[call-arg]


@pytest.fixture(scope="module")
async def hooks(hook_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=hook_app), base_url="http://lumen.test"
    ) as http:
        yield http


@pytest.fixture(scope="module")
async def worker(hook_settings: Settings) -> AsyncIterator[None]:
    """The real arq worker (with the outbox relay), in this event loop."""
    running = build_worker(hook_settings)
    task = asyncio.create_task(running.async_run())
    yield
    await running.close()
    task.cancel()
