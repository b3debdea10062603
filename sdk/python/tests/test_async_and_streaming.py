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


def test_qa_stream_events_carry_their_type(live: Live) -> None:
    """The Q&A stream through the client's SSE reader: meta first, deltas, then done whose answer is the
    deltas joined (without a model the answer is extractive; the event shape is the same)."""
    lumen = Lumen(api_key=live.key, base_url=live.base_url, max_retries=0)
    events = list(lumen.qa.stream("What is gout?"))
    assert events[0]["type"] == "meta"
    assert events[0]["citations"]
    assert events[-1]["type"] == "done"
    deltas = [e["text"] for e in events if e["type"] == "delta"]
    assert deltas
    assert "".join(deltas) == events[-1]["answer"]


async def test_async_qa_stream_ends_with_the_envelope(live: Live) -> None:
    async with AsyncLumen(api_key=live.key, base_url=live.base_url, max_retries=0) as lumen:
        events = [e async for e in lumen.qa.stream("How do I stop smoking?")]
    assert events[-1]["type"] in ("done", "withdrawn")
    assert events[-1]["knowledge_version"]
    assert events[-1]["disclaimer"]
