"""`lumen serve` with no inference servers configured starts Lumen's own engine beside the API, and a tenant's
OpenAI-compatible chat completion is answered by it over the same protocol as vLLM in production."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator

import pytest

from tests.inference.conftest import MODEL_DIR
from tests.live_server import Server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture
def server(stored_model: object) -> Iterator[tuple[Server, str]]:
    fresh = tempfile.mkdtemp(prefix="lumen-e2e-")
    platform_key = "lm_platform_" + secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMEN_")}
    env.update(
        {
            "LUMEN_LOG_FORMAT": "json",
            "LUMEN_PLATFORM_KEY": platform_key,
            "LUMEN_INFERENCE__LOCAL_ENGINE": "true",
            "LUMEN_INFERENCE__MODEL_DIR": str(MODEL_DIR),  # converted once per machine, checked every start
        }
    )
    running = Server(fresh, env, ready_timeout=300)
    try:
        yield running, platform_key
    finally:
        running.stop()
        shutil.rmtree(fresh, ignore_errors=True)


def test_a_tenant_chats_with_the_local_engine_started_by_serve(server: tuple[Server, str]) -> None:
    live, platform_key = server
    status, tenant = live.request("POST", "/v1/tenants", {"slug": "chat", "name": "Chat"}, key=platform_key)
    assert status == 201 and isinstance(tenant, dict)
    status, issued = live.request(
        "POST",
        f"/v1/tenants/{tenant['id']}/keys",
        {"name": "app", "scopes": ["inference:generate"]},
        key=platform_key,
    )
    assert status == 201 and isinstance(issued, dict)
    status, _, models = live.call("GET", "/v1/models", key=issued["key"])
    assert status == 200 and isinstance(models, dict)
    assert [m["id"] for m in models["data"]] == ["lumen-base"]
    body = {"model": "lumen-base", "messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 6}
    status, _, answer = live.call("POST", "/v1/chat/completions", body, key=issued["key"], timeout=180)
    assert status == 200, answer
    assert isinstance(answer, dict) and answer["choices"][0]["message"]["content"].strip()
    # The engine is a separate process on loopback, not a library call inside the API.
    log = live.log.read_text()
    assert "inference.engine_ready" in log
