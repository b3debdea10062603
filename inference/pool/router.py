"""The inference pool: OpenAI-compatible replicas (vLLM in production, Lumen's local engine here) behind one
router that every plugin and the tenant-facing API share.

Routing, per request:
- only healthy replicas (a background check every few seconds; a refused connection marks one down at once);
- adapter affinity: a request for adapter X goes to the least busy replica that has X loaded; if none has it,
  to the least busy replica, which loads it first (`/v1/load_lora_adapter`), unloading its least recently
  used adapter when full (waiting, up to `queue_timeout_seconds`, for one to finish its requests when every
  loaded adapter is busy). A replica counts as having X from the moment a request for X is sent to it, so
  concurrent requests for a new adapter load it once. Adapters a tenant marks critical are pinned and never
  unloaded to make room;
- least outstanding requests among the candidates;
- backpressure: each replica takes `replica_concurrency` requests at once; the rest wait in a bounded line
  (`max_queue`), and a request beyond it gets a 429 with Retry-After, one that waited `queue_timeout_seconds`
  a 503 with Retry-After;
- failover: a replica that fails before the first token (loading the adapter included) is abandoned and the
  request goes to another; one
  that fails after tokens were streamed ends the stream with a clean error event, never a hang.

The router knows a tenant only as the owner of an adapter; it never sees a domain.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgspec
import structlog

from lumen.core.settings import InferenceSettings

__all__ = ["AdapterHandle", "InferencePool", "PoolError", "Replica"]

log = structlog.get_logger()

RETRYABLE_STATUS = {500, 502, 503, 504}


class PoolError(Exception):
    """A request the pool could not serve: `status` is what the API answers (400, 404, 429, 503...)."""

    def __init__(self, status: int, detail: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.retry_after = status, detail, retry_after


class _ReplicaFailed(Exception):
    """The replica broke (connection refused or dropped, 5xx) before producing anything: try another."""


@dataclass(frozen=True)
class AdapterHandle:
    """An adapter as the replicas know it: a unique served name, where its files are, and whether pinned."""

    served_name: str  # unique across tenants ("a-<uuid hex>"); tenants see their own name instead
    path: str
    pinned: bool = False


@dataclass
class Replica:
    url: str
    client: httpx.AsyncClient
    healthy: bool = False
    outstanding: int = 0
    adapters: OrderedDict[str, float] = field(default_factory=OrderedDict)  # name -> last used, LRU first
    in_use: dict[str, int] = field(default_factory=dict)
    pinned: set[str] = field(default_factory=set)
    # One adapter load (with the unloads that make room for it) at a time per replica: two loads never pick
    # the same victim or overfill the replica. The engine loads one at a time anyway.
    load_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    loads: int = 0
    evictions: int = 0
    failures: int = 0


class InferencePool:
    def __init__(self, urls: Sequence[str], settings: InferenceSettings) -> None:
        if not urls:
            raise ValueError("the inference pool needs at least one replica URL")
        self.settings = settings
        timeout = httpx.Timeout(settings.request_timeout_seconds, connect=5.0)
        limits = httpx.Limits(
            max_connections=settings.replica_concurrency * 2 + 8, max_keepalive_connections=32
        )
        self.replicas = [
            Replica(
                url=u.rstrip("/"),
                client=httpx.AsyncClient(base_url=u.rstrip("/"), timeout=timeout, limits=limits),
            )
            for u in urls
        ]
        self._slots = asyncio.Condition()
        self._waiting = 0
        self._started_at = time.monotonic()
        self._ever_healthy = False
        self._health_task: asyncio.Task[None] | None = None
        self.stats = {"requests": 0, "failovers": 0, "rejected_queue_full": 0, "timed_out_in_queue": 0}

    # --- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._health_task is not None:
            return
        self._health_task = asyncio.create_task(self._health_loop(), name="inference-pool-health")
        await asyncio.gather(*(self._check(r) for r in self.replicas))

    async def close(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        await asyncio.gather(*(r.client.aclose() for r in self.replicas))

    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.health_interval_seconds)
            await asyncio.gather(*(self._check(r) for r in self.replicas), return_exceptions=True)

    async def _check(self, replica: Replica) -> None:
        try:
            r = await replica.client.get("/health", timeout=2.0)
            up = r.status_code == 200
        except httpx.HTTPError:
            up = False
        if up and not replica.healthy:
            async with replica.load_lock:  # never interleaved with a load or an eviction
                await self._sync_adapters(replica)
            log.info("inference.replica_up", replica=replica.url)
        elif not up and replica.healthy:
            log.warning("inference.replica_down", replica=replica.url)
        if not up:
            replica.adapters.clear()  # a replica that comes back has restarted with none loaded
        replica.healthy = up
        self._ever_healthy = self._ever_healthy or up
        async with self._slots:
            self._slots.notify_all()

    async def _sync_adapters(self, replica: Replica) -> None:
        """Learn which adapters a (re)started replica has loaded from its model list (vLLM lists them too).
        The caller holds `replica.load_lock`, so that a list taken before an unload never overwrites it."""
        try:
            r = await replica.client.get("/v1/models", timeout=5.0)
            models = r.json().get("data", []) if r.status_code == 200 else []
        except (httpx.HTTPError, ValueError):
            return
        replica.adapters = OrderedDict((m["id"], time.monotonic()) for m in models if m.get("parent"))

    def _mark_down(self, replica: Replica) -> None:
        if replica.healthy:
            log.warning("inference.replica_down", replica=replica.url)
        replica.healthy = False
        replica.failures += 1
        replica.adapters.clear()

    @property
    def healthy(self) -> list[Replica]:
        return [r for r in self.replicas if r.healthy]

    # --- choosing a replica --------------------------------------------------------------------------------

    def _free(self, exclude: set[str]) -> list[Replica]:
        return [
            r
            for r in self.replicas
            if r.healthy and r.url not in exclude and r.outstanding < self.settings.replica_concurrency
        ]

    async def _acquire(self, adapter: AdapterHandle | None, exclude: set[str]) -> Replica:
        """A replica with a free slot (waiting in the bounded line if none). The caller loads the adapter
        (`_ensure_loaded`) inside its failover loop and releases the replica with `_release`."""
        if self._health_task is None:  # hosted without a lifespan (tests, embedding): start on first use
            await self.start()
        wait = self.settings.queue_timeout_seconds
        if not self._ever_healthy:  # just started: the replicas may still be loading their model
            wait = max(wait, self.settings.startup_wait_seconds - (time.monotonic() - self._started_at))
        deadline = time.monotonic() + wait
        async with self._slots:
            candidates = self._free(exclude)
            if not candidates:
                if self._waiting >= self.settings.max_queue:
                    self.stats["rejected_queue_full"] += 1
                    raise PoolError(429, "The inference pool is at capacity; retry shortly.", retry_after=1)
                self._waiting += 1
                try:
                    while not candidates:
                        remaining = deadline - time.monotonic()
                        if remaining <= 0:
                            self.stats["timed_out_in_queue"] += 1
                            if not any(r.healthy and r.url not in exclude for r in self.replicas):
                                raise PoolError(503, "No inference replica is available.", retry_after=5)
                            raise PoolError(503, "The inference pool is busy; retry shortly.", retry_after=2)
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self._slots.wait(), timeout=min(remaining, 1.0))
                        candidates = self._free(exclude)
                finally:
                    self._waiting -= 1
            replica = self._choose(candidates, adapter)
            replica.outstanding += 1
            if adapter is not None:
                replica.in_use[adapter.served_name] = replica.in_use.get(adapter.served_name, 0) + 1
        return replica

    def _choose(self, candidates: list[Replica], adapter: AdapterHandle | None) -> Replica:
        if adapter is not None:
            name = adapter.served_name
            # Loaded there, or being loaded for a request already sent there.
            warm = [r for r in candidates if name in r.adapters or r.in_use.get(name)]
            if warm:
                return min(warm, key=lambda r: r.outstanding)
            # Prefer a replica with room, so loading X does not unload someone else's adapter.
            slots = self.settings.max_adapters_per_replica
            roomy = [r for r in candidates if len(_held(r)) < slots]
            if roomy:
                return min(roomy, key=lambda r: (r.outstanding, len(_held(r))))
        return min(candidates, key=lambda r: r.outstanding)

    async def _release(self, replica: Replica, adapter: AdapterHandle | None) -> None:
        async with self._slots:
            replica.outstanding -= 1
            if adapter is not None:
                replica.in_use[adapter.served_name] -= 1
            self._slots.notify(1)

    async def _ensure_loaded(self, replica: Replica, adapter: AdapterHandle) -> None:
        name = adapter.served_name
        deadline = time.monotonic() + self.settings.queue_timeout_seconds
        while True:
            if name in replica.adapters:
                replica.adapters.move_to_end(name)
                replica.adapters[name] = time.monotonic()
                return
            async with replica.load_lock:
                if name in replica.adapters:  # loaded by another request while this one waited
                    continue
                if not replica.healthy:
                    raise _ReplicaFailed("the replica went down while the request waited for its adapter")
                while len(replica.adapters) >= self.settings.max_adapters_per_replica:
                    victim = next(
                        (
                            n
                            for n in replica.adapters
                            if n not in replica.pinned and not replica.in_use.get(n)
                        ),
                        None,
                    )
                    if victim is None:
                        break
                    await self._unload(replica, victim)
                    replica.evictions += 1
                if len(replica.adapters) < self.settings.max_adapters_per_replica:
                    await self._load(replica, adapter)
                    return
            # Every loaded adapter is pinned or serving: wait, without holding the replica's load lock (the
            # requests keeping them busy may need it to see their own adapter loaded), for one to finish.
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PoolError(
                    503, "Every adapter slot on the replica is pinned or busy; retry shortly.", retry_after=2
                )
            async with self._slots:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._slots.wait(), timeout=min(remaining, 0.25))

    async def _load(self, replica: Replica, adapter: AdapterHandle) -> None:
        name = adapter.served_name
        try:
            r = await replica.client.post(
                "/v1/load_lora_adapter", json={"lora_name": name, "lora_path": adapter.path}, timeout=120.0
            )
        except httpx.HTTPError as exc:
            self._mark_down(replica)
            raise _ReplicaFailed(str(exc)) from exc
        if r.status_code != 200 and "already" not in r.text:
            if r.status_code >= 500:
                raise _ReplicaFailed(r.text[:200])
            raise PoolError(422, f"The adapter could not be loaded: {_message(r)}")
        replica.adapters[name] = time.monotonic()
        replica.loads += 1
        if adapter.pinned:
            replica.pinned.add(name)
        log.info("inference.adapter_loaded", replica=replica.url, adapter=name)

    async def _unload(self, replica: Replica, name: str) -> None:
        # Forgotten before the replica is asked, so no request is sent there for an adapter on its way out.
        replica.adapters.pop(name, None)
        replica.pinned.discard(name)
        try:
            r = await replica.client.post("/v1/unload_lora_adapter", json={"lora_name": name}, timeout=30.0)
        except httpx.HTTPError:
            self._mark_down(replica)
            raise _ReplicaFailed("unload failed") from None
        if r.status_code not in (200, 404):  # refused (still in use there): learn what it really holds
            await self._sync_adapters(replica)
            raise _ReplicaFailed(f"unload refused: {_message(r)}")

    async def forget_adapter(self, served_name: str) -> None:
        """Unload a deleted adapter from every replica that has it."""
        for replica in self.replicas:
            if served_name in replica.adapters and replica.healthy:
                async with replica.load_lock:
                    with contextlib.suppress(_ReplicaFailed):
                        await self._unload(replica, served_name)

    # --- requests ------------------------------------------------------------------------------------------

    def _attempts(self) -> int:
        return max(1, len(self.replicas))

    async def complete(
        self, path: str, body: dict[str, Any], adapter: AdapterHandle | None
    ) -> dict[str, Any]:
        """A non-streaming request (`/v1/chat/completions`, `/v1/completions`), failing over before output."""
        self.stats["requests"] += 1
        body = {
            **body,
            "stream": False,
            "model": adapter.served_name if adapter else self.settings.base_model_name,
        }
        tried: set[str] = set()
        last_error = "no replica answered"
        for _ in range(self._attempts()):
            replica = await self._acquire(adapter, tried)
            try:
                if adapter is not None:
                    await self._ensure_loaded(replica, adapter)
                r = await replica.client.post(path, json=body)
                if r.status_code in RETRYABLE_STATUS:
                    raise _ReplicaFailed(f"{r.status_code} {r.text[:200]}")
                if r.status_code != 200:
                    raise PoolError(400 if r.status_code < 500 else 502, _message(r))
                result: dict[str, Any] = r.json()
                return result
            except (httpx.TransportError, _ReplicaFailed) as exc:
                if isinstance(exc, httpx.TransportError):
                    self._mark_down(replica)
                last_error = str(exc) or type(exc).__name__
                tried.add(replica.url)
                self.stats["failovers"] += 1
                log.warning("inference.failover", replica=replica.url, error_type=type(exc).__name__)
            finally:
                await self._release(replica, adapter)
        raise PoolError(503, f"Every inference replica failed ({last_error[:120]}).", retry_after=2)

    async def stream(
        self, path: str, body: dict[str, Any], adapter: AdapterHandle | None
    ) -> AsyncIterator[dict[str, Any]]:
        """A streaming request: yields each SSE event's JSON. Before the first event it fails over to another
        replica; after it, a failure ends the stream with an `{"error": ...}` event."""
        self.stats["requests"] += 1
        body = {
            **body,
            "stream": True,
            "stream_options": {"include_usage": True},
            "model": adapter.served_name if adapter else self.settings.base_model_name,
        }
        tried: set[str] = set()
        for _ in range(self._attempts()):
            replica = await self._acquire(adapter, tried)
            started = False
            try:
                if adapter is not None:
                    await self._ensure_loaded(replica, adapter)
                async with replica.client.stream("POST", path, json=body) as r:
                    if r.status_code in RETRYABLE_STATUS:
                        raise _ReplicaFailed(f"{r.status_code}")
                    if r.status_code != 200:
                        await r.aread()
                        raise PoolError(400, _message(r))
                    async for line in r.aiter_lines():
                        if not line.startswith("data: "):
                            continue
                        payload = line[6:]
                        if payload == "[DONE]":
                            return
                        event = msgspec.json.decode(payload)
                        if "error" in event and not started:
                            raise _ReplicaFailed(str(event["error"])[:200])
                        started = True
                        yield event
                    if started:  # the replica closed the stream without [DONE]: it died mid-answer
                        raise _ReplicaFailed("the stream ended early")
                    raise _ReplicaFailed("the replica closed the stream before answering")
            except (httpx.TransportError, _ReplicaFailed) as exc:
                if isinstance(exc, httpx.TransportError):
                    self._mark_down(replica)
                if started:
                    log.warning("inference.stream_broken", replica=replica.url, error_type=type(exc).__name__)
                    yield {
                        "error": {
                            "message": "The inference replica failed mid-answer; the answer is "
                            "incomplete. Retry the request.",
                            "type": "replica_failed",
                        }
                    }
                    return
                tried.add(replica.url)
                self.stats["failovers"] += 1
                log.warning("inference.failover", replica=replica.url, error_type=type(exc).__name__)
            finally:
                await self._release(replica, adapter)
        raise PoolError(503, "Every inference replica failed before answering.", retry_after=2)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        tried: set[str] = set()
        for _ in range(self._attempts()):
            replica = await self._acquire(None, tried)
            try:
                r = await replica.client.post("/v1/embeddings", json={"input": list(texts)})
                if r.status_code in RETRYABLE_STATUS:
                    raise _ReplicaFailed(str(r.status_code))
                if r.status_code != 200:
                    raise PoolError(502, f"The embedding server refused the request: {_message(r)}")
                data = sorted(r.json()["data"], key=lambda d: d["index"])
                return [d["embedding"] for d in data]
            except (httpx.TransportError, _ReplicaFailed) as exc:
                if isinstance(exc, httpx.TransportError):
                    self._mark_down(replica)
                tried.add(replica.url)
            finally:
                await self._release(replica, None)
        raise PoolError(503, "No embedding replica answered.", retry_after=2)

    def snapshot(self) -> list[dict[str, Any]]:
        """What each replica holds (for /readyz, benchmarks and tests)."""
        return [
            {
                "url": r.url,
                "healthy": r.healthy,
                "outstanding": r.outstanding,
                "adapters": list(r.adapters),
                "pinned": sorted(r.pinned),
                "loads": r.loads,
                "evictions": r.evictions,
            }
            for r in self.replicas
        ]


def _held(replica: Replica) -> set[str]:
    """Adapters a replica has loaded or is about to load for requests already sent to it."""
    return set(replica.adapters) | {n for n, count in replica.in_use.items() if count}


def _message(r: httpx.Response) -> str:
    try:
        body = r.json()
        message = body.get("error", {}).get("message") if isinstance(body, dict) else None
    except ValueError:
        message = None
    return str(message or r.text or r.status_code)[:300]
