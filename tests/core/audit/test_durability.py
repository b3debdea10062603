"""Durable before success: kill -9 the API under concurrent writes, restart, and find an audit record for
every request that was answered 2xx (and the chain still verifies)."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live_server import Server

pytestmark = pytest.mark.e2e


@pytest.fixture
def data_dir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="lumen-crash-")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_every_2xx_survives_a_kill_9(data_dir: str) -> None:
    platform_key = "lm_platform_" + secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMEN_")}
    env.update(LUMEN_PLATFORM_KEY=platform_key, LUMEN_LOG_LEVEL="warning", LUMEN_SERVER__WORKERS="2")
    server = Server(data_dir, env)
    status, tenant = server.request(
        "POST", "/v1/tenants", {"slug": "crash", "name": "Crash"}, key=platform_key
    )
    assert status == 201
    assert isinstance(tenant, dict)
    status, issued = server.request(
        "POST", f"/v1/tenants/{tenant['id']}/keys", {"name": "writer", "scopes": ["admin"]}, key=platform_key
    )
    assert status == 201
    assert isinstance(issued, dict)
    key = issued["key"]

    answered: list[tuple[str, str]] = []  # (request id, created key id) of every 2xx
    stop = threading.Event()
    lock = threading.Lock()

    def writer(n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                code, headers, body = server.call(
                    "POST", "/v1/keys", {"name": f"w{n}-{i}", "scopes": ["keys:read"]}, key=key, timeout=5
                )
            except OSError:
                continue  # the server died mid-request: no answer, no promise
            if code == 201 and isinstance(body, dict):
                with lock:
                    answered.append((headers["x-request-id"], body["id"]))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while len(answered) < 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    server.kill()  # mid-flight: requests are being processed right now
    stop.set()
    for thread in threads:
        thread.join(10)
    assert len(answered) >= 40, "too few writes before the crash to mean anything"

    restarted = Server(data_dir, env)
    try:
        audit_key_status, audit_key = restarted.request(
            "POST", "/v1/keys", {"name": "auditor", "scopes": ["audit:read"]}, key=key
        )
        assert audit_key_status == 201
        assert isinstance(audit_key, dict)
        missing = []
        for request_id, created in answered:
            code, page = restarted.request("GET", f"/v1/audit?request_id={request_id}", key=audit_key["key"])
            assert code == 200
            assert isinstance(page, dict)
            events = page["items"]
            if len(events) != 1 or events[0]["resource_id"] != created or events[0]["outcome"] != "success":
                missing.append(request_id)
        assert missing == [], f"{len(missing)} of {len(answered)} acknowledged writes have no audit record"
        code, report = restarted.request("GET", "/v1/audit/verify", key=audit_key["key"])
        assert code == 200
        assert isinstance(report, dict)
        assert report["ok"] is True, report
        assert report["checked"] >= len(answered)
    finally:
        assert restarted.stop() == 0
    # The restarted server adopted the embedded servers the killed one left behind, and stopped them.
    assert not (Path(data_dir) / "postgres" / "postmaster.pid").exists()
    assert not (Path(data_dir) / "redis" / "redis.sock").exists()
