"""Found by the client's tests: chat without any inference server is a 503 problem, streamed or not."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import TenantHandle, assert_problem


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize("idempotent", [False, True])
async def test_chat_without_a_pool_is_503(
    client: httpx.AsyncClient, tenant_a: TenantHandle, stream: bool, idempotent: bool
) -> None:
    headers = {**tenant_a.headers, **({"idempotency-key": f"chat-{stream}"} if idempotent else {})}
    r = await client.post(
        "/v1/chat/completions",
        json={"model": "lumen-base", "messages": [{"role": "user", "content": "Hello"}], "stream": stream},
        headers=headers,
    )
    assert_problem(r, 503, "service-unavailable")
    assert int(r.headers["retry-after"]) > 0
