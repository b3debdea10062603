"""A real worker beside the test app: it ingests uploaded documents (retrieval's job) and runs the
background gap analyses (the plugin's job), both through the real outbox and Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from lumen.core.jobs.worker import build_worker
from lumen.core.settings import Settings
from tests.conftest import TenantHandle


@pytest.fixture(scope="module")
async def worker(settings: Settings) -> AsyncIterator[None]:
    running = build_worker(settings)
    task = asyncio.create_task(running.async_run())
    yield
    await running.close()
    task.cancel()


async def until_job_done(client: httpx.AsyncClient, tenant: TenantHandle, job_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for _ in range(900):
        r = await client.get(f"/v1/jobs/{job_id}", headers=tenant.headers)
        assert r.status_code == 200, r.text
        body = r.json()
        if body["state"] in ("succeeded", "failed"):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"job never finished: {body}")
