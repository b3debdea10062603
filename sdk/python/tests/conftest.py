"""The client against a live embedded Lumen: a real `lumen serve` (tests/live_server.py in the Lumen
repository, so run these from its root: `python -m pytest sdk/python/tests`), one per session."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # the Lumen repository root

from tests.live_server import Server

PLATFORM_KEY = "lm_platform_sdk_" + secrets.token_hex(16)


@dataclass
class Live:
    server: Server
    base_url: str
    tenant_id: str
    key: str


@pytest.fixture(scope="session")
def live() -> Iterator[Live]:
    data_dir = tempfile.mkdtemp(prefix="lumen-sdk-")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LUMEN_")},
        "LUMEN_PLATFORM_KEY": PLATFORM_KEY,
        "LUMEN_WEBHOOKS_ALLOW_PRIVATE": "1",  # the test receiver listens on loopback
        "LUMEN_WEBHOOKS__RETRY_SCHEDULE_SECONDS": "0,0.5,0.5",
        "LUMEN_LOG_LEVEL": "warning",
    }
    server = Server(data_dir, env, ready_timeout=300)  # slow to start on a shared, busy machine
    try:
        slug = "sdk-" + secrets.token_hex(4)
        status, tenant = server.request("POST", "/v1/tenants", {"slug": slug, "name": "SDK"}, PLATFORM_KEY)
        assert status == 201, tenant
        tenant_id = tenant["id"]  # type: ignore[index]
        status, key = server.request(
            "POST", f"/v1/tenants/{tenant_id}/keys", {"name": "sdk", "scopes": ["admin"]}, PLATFORM_KEY
        )
        assert status == 201, key
        yield Live(server, f"http://127.0.0.1:{server.port}", tenant_id, key["key"])  # type: ignore[index]
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    url: str
    got: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP endpoint on loopback that records what Lumen POSTs to it."""
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            holder[0].got.append(Received(body, {k.lower(): v for k, v in self.headers.items()}))
            holder[0].arrived.set()
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(Receiver(f"http://127.0.0.1:{httpd.server_address[1]}/hooks"))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield holder[0]
    httpd.shutdown()
