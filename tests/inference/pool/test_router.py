"""The pool's router (inference/pool/router.py) against two real engine processes: health, least
outstanding requests, adapter affinity with LRU eviction and pinning, backpressure, and failover when a
replica dies before or after its first token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from lumen.core.settings import InferenceSettings
from lumen.inference.pool.router import AdapterHandle, InferencePool, PoolError
from tests.inference.conftest import Adapters, EngineProcess

pytestmark = pytest.mark.slow

ASK = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 3, "temperature": 0}


def handles(adapters: Adapters, *, pinned: str = "") -> tuple[AdapterHandle, AdapterHandle]:
    return (
        AdapterHandle(served_name="t-alpha", path=str(adapters.alpha), pinned=pinned == "alpha"),
        AdapterHandle(served_name="t-beta", path=str(adapters.beta), pinned=pinned == "beta"),
    )


async def make_pool(urls: list[str], **overrides: object) -> AsyncIterator[InferencePool]:
    pool = InferencePool(urls, InferenceSettings(**overrides))  # type: ignore[arg-type]
    await pool.start()
    try:
        yield pool
    finally:
        for replica in pool.replicas:  # leave the shared replicas as we found them
            for name in list(replica.adapters):
                await replica.client.post("/v1/unload_lora_adapter", json={"lora_name": name})
        await pool.close()


async def test_both_replicas_are_found_healthy(replicas: list[EngineProcess]) -> None:
    async for pool in make_pool([r.url for r in replicas]):
        assert [r.healthy for r in pool.replicas] == [True, True]


async def test_concurrent_requests_spread_over_the_replicas(replicas: list[EngineProcess]) -> None:
    async for pool in make_pool([r.url for r in replicas]):
        before = [await _served(r.url) for r in replicas]
        await asyncio.gather(*(pool.complete("/v1/chat/completions", ASK, None) for _ in range(4)))
        after = [await _served(r.url) for r in replicas]
        assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)


async def test_an_adapter_is_loaded_once_and_requests_follow_it(
    replicas: list[EngineProcess], lora_adapters: Adapters
) -> None:
    alpha, beta = handles(lora_adapters)
    async for pool in make_pool([r.url for r in replicas], max_adapters_per_replica=1):
        for _ in range(3):
            await pool.complete("/v1/chat/completions", ASK, alpha)
        holders = [r for r in pool.replicas if "t-alpha" in r.adapters]
        assert len(holders) == 1 and sum(r.loads for r in pool.replicas) == 1
        await pool.complete("/v1/chat/completions", ASK, beta)
        # The replica with room took beta: nobody's adapter was unloaded to make space.
        assert sum(r.evictions for r in pool.replicas) == 0
        assert {n for r in pool.replicas for n in r.adapters} == {"t-alpha", "t-beta"}


async def test_concurrent_requests_for_a_new_adapter_load_it_once(
    replicas: list[EngineProcess], lora_adapters: Adapters
) -> None:
    alpha, _ = handles(lora_adapters)
    async for pool in make_pool([r.url for r in replicas]):
        await asyncio.gather(*(pool.complete("/v1/chat/completions", ASK, alpha) for _ in range(4)))
        # The first request sent alpha to a replica; the other three followed it there, not to the idle one.
        assert sum(r.loads for r in pool.replicas) == 1
        assert [n for r in pool.replicas for n in r.adapters] == ["t-alpha"]


async def test_a_new_adapter_waits_for_a_busy_one_to_finish_rather_than_failing(
    replicas: list[EngineProcess], lora_adapters: Adapters
) -> None:
    alpha, beta = handles(lora_adapters)
    slow = {**ASK, "max_tokens": 24}
    async for pool in make_pool([replicas[0].url], max_adapters_per_replica=1):
        first = asyncio.create_task(pool.complete("/v1/chat/completions", slow, alpha))
        for _ in range(1200):  # until alpha is loaded and serving
            if "t-alpha" in pool.replicas[0].adapters:
                break
            await asyncio.sleep(0.05)
        second = await pool.complete("/v1/chat/completions", ASK, beta)
        assert (await first)["choices"][0]["finish_reason"] == "length"
        assert second["choices"][0]["finish_reason"] in ("length", "stop")
        assert list(pool.replicas[0].adapters) == ["t-beta"] and pool.replicas[0].evictions == 1


async def test_requests_alternating_between_more_adapters_than_slots_are_all_served(
    replicas: list[EngineProcess], lora_adapters: Adapters
) -> None:
    alpha, beta = handles(lora_adapters)
    async for pool in make_pool([replicas[0].url], max_adapters_per_replica=1):
        # Each adapter is evicted while requests for it keep arriving: none may be sent to the replica for an
        # adapter that is being unloaded there.
        asks = [pool.complete("/v1/chat/completions", ASK, (alpha, beta)[i % 2]) for i in range(8)]
        results = await asyncio.gather(*asks, return_exceptions=True)
        assert [r for r in results if isinstance(r, BaseException)] == []
        assert pool.replicas[0].evictions >= 1


async def test_the_least_recently_used_adapter_is_unloaded_for_a_new_one(
    replicas: list[EngineProcess], lora_adapters: Adapters
) -> None:
    alpha, beta = handles(lora_adapters)
    async for pool in make_pool([replicas[0].url], max_adapters_per_replica=1):
        await pool.complete("/v1/chat/completions", ASK, alpha)
        await pool.complete("/v1/chat/completions", ASK, beta)
        replica = pool.replicas[0]
        assert list(replica.adapters) == ["t-beta"] and replica.evictions == 1
        models = (await replica.client.get("/v1/models")).json()["data"]
        assert [m["id"] for m in models if m.get("parent")] == ["t-beta"]


async def test_a_pinned_adapter_is_never_evicted(
    replicas: list[EngineProcess], lora_adapters: Adapters
) -> None:
    alpha, beta = handles(lora_adapters, pinned="alpha")
    async for pool in make_pool([replicas[0].url], max_adapters_per_replica=1, queue_timeout_seconds=2):
        await pool.complete("/v1/chat/completions", ASK, alpha)
        with pytest.raises(PoolError) as refused:
            await pool.complete("/v1/chat/completions", ASK, beta)
        assert refused.value.status == 503 and refused.value.retry_after
        assert list(pool.replicas[0].adapters) == ["t-alpha"]


async def test_a_full_queue_answers_429_with_retry_after(replicas: list[EngineProcess]) -> None:
    slow = {**ASK, "max_tokens": 24}
    async for pool in make_pool([replicas[0].url], replica_concurrency=1, max_queue=0):
        first = asyncio.create_task(pool.complete("/v1/chat/completions", slow, None))
        await asyncio.sleep(0.2)
        with pytest.raises(PoolError) as refused:
            await pool.complete("/v1/chat/completions", ASK, None)
        assert refused.value.status == 429 and refused.value.retry_after == 1
        assert (await first)["choices"]


async def test_a_request_waits_in_the_queue_for_a_free_slot(replicas: list[EngineProcess]) -> None:
    async for pool in make_pool([replicas[0].url], replica_concurrency=1, max_queue=4):
        results = await asyncio.gather(*(pool.complete("/v1/chat/completions", ASK, None) for _ in range(3)))
        assert all(r["choices"][0]["message"]["content"] for r in results)


async def test_a_dead_replica_is_skipped_and_the_request_served_elsewhere(
    replicas: list[EngineProcess],
) -> None:
    victim, survivor = replicas[1], replicas[0]
    async for pool in make_pool([victim.url, survivor.url], health_interval_seconds=60):
        victim.kill()
        try:
            result = await pool.complete("/v1/chat/completions", ASK, None)
            assert result["choices"][0]["message"]["content"]
            assert pool.stats["failovers"] >= 1
            assert not pool.replicas[0].healthy
        finally:
            victim.start()


async def test_an_adapter_load_on_a_dead_replica_fails_over_to_another(
    replicas: list[EngineProcess], lora_adapters: Adapters
) -> None:
    alpha, _ = handles(lora_adapters)
    victim, survivor = replicas[1], replicas[0]
    async for pool in make_pool([victim.url, survivor.url], health_interval_seconds=60):
        victim.kill()  # the pool still thinks it healthy and empty: the first choice for a new adapter
        try:
            events = [e async for e in pool.stream("/v1/chat/completions", ASK, alpha)]
            assert events and not any("error" in e for e in events)
            assert not pool.replicas[0].healthy and "t-alpha" in pool.replicas[1].adapters
            assert pool.stats["failovers"] == 1
        finally:
            victim.start()


async def test_a_replica_dying_mid_stream_ends_it_with_an_error_event(replicas: list[EngineProcess]) -> None:
    victim = replicas[1]
    long = {**ASK, "max_tokens": 400, "messages": [{"role": "user", "content": "Write a long story."}]}
    async for pool in make_pool([victim.url], health_interval_seconds=60):
        events = []
        try:
            async with asyncio.timeout(120):
                async for event in pool.stream("/v1/chat/completions", long, None):
                    events.append(event)
                    if len(events) == 2:
                        victim.kill()
        finally:
            victim.start()
        assert len(events) >= 3
        assert "error" in events[-1] and "choices" not in events[-1]


async def _served(url: str) -> float:
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{url}/metrics")).text
    return sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("lumen_engine_requests_total")
    )
