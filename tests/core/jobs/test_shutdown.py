"""Graceful shutdown of the worker: SIGTERM lets the jobs in hand finish; the heartbeat shows it is alive."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from arq.worker import Worker
from litestar import Litestar

from lumen.core.app import create_app
from lumen.core.jobs.outbox import create_job, wake
from lumen.core.jobs.worker import build_worker, health_key
from lumen.core.settings import Settings
from lumen.core.tenancy.context import Scope
from lumen.plugins.sdk import JobSpec, PluginInfo, hookimpl
from tests.conftest import create_tenant

started = asyncio.Event()


async def slow_import(seconds: float, **_: Any) -> dict[str, str]:
    started.set()
    await asyncio.sleep(seconds)
    return {"imported": "all"}


class DrainPlugin:
    @hookimpl
    def lumen_plugin_info(self) -> PluginInfo:
        return PluginInfo(name="drainprobe", version="1.0.0")

    @hookimpl
    def register_jobs(self) -> list[JobSpec]:
        return [JobSpec(name="drainprobe.slow", function=slow_import)]


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Litestar]:
    app = create_app(settings, plugins=[DrainPlugin()])
    yield app
    for hook in app.on_shutdown:
        await hook()  # type: ignore[call-arg]


@pytest.fixture
async def worker(settings: Settings) -> AsyncIterator[tuple[Worker, asyncio.Task[Any]]]:
    worker = build_worker(settings, plugins=[DrainPlugin()])
    task = asyncio.create_task(worker.async_run())
    yield worker, task
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    await worker.close()


async def test_sigterm_lets_the_job_in_hand_finish(
    settings: Settings, app: Litestar, worker: tuple[Worker, asyncio.Task[Any]]
) -> None:
    arq_worker, task = worker
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://lumen.test") as api:
        tenant = await create_tenant(api)
        async with app.state.db.transaction(Scope.tenant(tenant.id)) as session:
            job = await create_job(
                session, tenant.id, "drainprobe.slow", {"tenant_id": str(tenant.id), "seconds": 1.5}
            )
        started.clear()
        await wake(app.state.redis)
        await asyncio.wait_for(started.wait(), 30)
        # What the SIGTERM handler arq installs calls (sending the signal would reach every worker of
        # this test process's loop).
        arq_worker.handle_sig_wait_for_completion(signal.SIGTERM)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 30)
        body = (await api.get(f"/v1/jobs/{job.id}", headers=tenant.headers)).json()
    assert body["state"] == "succeeded"
    assert body["result"] == {"imported": "all"}
    assert body["attempts"] == 1


async def test_a_polling_worker_keeps_its_heartbeat_in_redis(
    settings: Settings, worker: tuple[Worker, asyncio.Task[Any]]
) -> None:
    assert settings.redis.url is not None
    client = aioredis.Redis.from_url(settings.redis.url)
    try:
        for _ in range(100):
            if await client.exists(health_key()):
                break
            await asyncio.sleep(0.05)
        ttl = await client.pttl(health_key())
    finally:
        await client.aclose()
    assert 0 < ttl <= (settings.jobs.health_check_seconds + 1) * 1000
