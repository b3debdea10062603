"""AsyncLumen against a live Lumen, and chat streaming (SSE) through the client."""

from __future__ import annotations

import uuid

import pytest
from conftest import Live
from lumen_client import AsyncLumen, Lumen, errors


async def test_async_calls_and_typed_errors(live: Live) -> None:
    async with AsyncLumen(api_key=live.key, base_url=live.base_url) as lumen:
        result = await lumen.interactions.check(["simvastatin", "clarithromycin"])
        assert result["interactions"]
        with pytest.raises(errors.NotFound):
            await lumen.webhooks.get_endpoint(str(uuid.uuid4()))


async def test_async_pagination(live: Live) -> None:
    async with AsyncLumen(api_key=live.key, base_url=live.base_url) as lumen:
        made = {(await lumen.keys.create(f"async-{n}", ["keys:read"]))["id"] for n in range(3)}
        seen = [k["id"] async for k in lumen.keys.list(limit=2)]
        assert made <= set(seen)


def test_chat_stream_without_an_inference_pool_is_a_typed_error(live: Live) -> None:
    """The test server runs without the local engine (tests/live_server.py), so the pool is unavailable:
    the stream call raises the problem type rather than yielding a broken stream."""
    lumen = Lumen(api_key=live.key, base_url=live.base_url, max_retries=0)
    with pytest.raises(errors.ProblemError) as caught:
        list(lumen.chat.stream([{"role": "user", "content": "Hello"}]))
    assert caught.value.status in (404, 503)


async def test_async_chat_stream_error_is_typed(live: Live) -> None:
    async with AsyncLumen(api_key=live.key, base_url=live.base_url, max_retries=0) as lumen:
        with pytest.raises(errors.ProblemError):
            async for _ in lumen.chat.stream([{"role": "user", "content": "Hello"}]):
                pass
