"""Jobs a plugin registers run on the real worker, and their status is visible through GET /v1/jobs/{id}."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from litestar import Litestar

from lumen.core.app import create_app
from lumen.core.jobs.outbox import create_job, wake
from lumen.core.jobs.worker import build_worker
from lumen.core.settings import Settings
from lumen.core.tenancy.context import Scope
from lumen.plugins.sdk import JobSpec, PluginInfo, hookimpl
from tests.conftest import TenantHandle, bearer, create_tenant


async def count_to(
    n: int, report_progress: Callable[[float, str | None], Awaitable[None]], **_: Any
) -> dict[str, int]:
    for i in range(n):
        await report_progress((i + 1) / n, f"counted {i + 1}")
    return {"counted": n}


async def always_fails(**_: Any) -> None:
    raise RuntimeError("the source file is corrupt")


class JobsPlugin:
    @hookimpl
    def lumen_plugin_info(self) -> PluginInfo:
        return PluginInfo(name="jobprobe", version="1.0.0")

    @hookimpl
    def register_jobs(self) -> list[JobSpec]:
        return [
            JobSpec(name="jobprobe.count", function=count_to),
            JobSpec(name="jobprobe.fail", function=always_fails),
        ]


@pytest.fixture(scope="module")
async def jobs_app(settings: Settings) -> AsyncIterator[Litestar]:
    app = create_app(settings, plugins=[JobsPlugin()])
    worker = build_worker(settings, plugins=[JobsPlugin()])
    task = asyncio.create_task(worker.async_run())
    yield app
    await worker.close()
    task.cancel()
    for hook in app.on_shutdown:
        await hook()  # type: ignore[call-arg]


@pytest.fixture(scope="module")
async def api(jobs_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=jobs_app), base_url="http://lumen.test"
    ) as http:
        yield http


async def _start(app: Litestar, tenant: TenantHandle, name: str, payload: dict[str, Any]) -> str:
    async with app.state.db.transaction(Scope.tenant(tenant.id)) as session:
        job = await create_job(session, tenant.id, name, {"tenant_id": str(tenant.id), **payload})
    await wake(app.state.redis)
    return str(job.id)


async def _until(api: httpx.AsyncClient, tenant: TenantHandle, job_id: str, state: str) -> dict[str, Any]:
    for _ in range(200):
        body: dict[str, Any] = (await api.get(f"/v1/jobs/{job_id}", headers=tenant.headers)).json()
        if body["state"] == state:
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"job never reached {state}: {body}")


async def test_a_job_runs_and_reports_progress_and_result(api: httpx.AsyncClient, jobs_app: Litestar) -> None:
    tenant = await create_tenant(api)
    job_id = await _start(jobs_app, tenant, "jobprobe.count", {"n": 3})
    done = await _until(api, tenant, job_id, "succeeded")
    assert done["progress"] == 1.0
    assert done["result"] == {"counted": 3}
    assert done["message"] == "counted 3"
    assert done["attempts"] == 1


async def test_a_failing_job_ends_failed_with_its_error(api: httpx.AsyncClient, jobs_app: Litestar) -> None:
    tenant = await create_tenant(api)
    job_id = await _start(jobs_app, tenant, "jobprobe.fail", {})
    failed = await _until(api, tenant, job_id, "failed")
    assert "corrupt" in failed["error"]
    assert failed["attempts"] == 3  # arq's tries, each recorded


async def test_jobs_need_their_scope_and_stay_in_their_tenant(
    api: httpx.AsyncClient, jobs_app: Litestar
) -> None:
    tenant = await create_tenant(api)
    other = await create_tenant(api)
    job_id = await _start(jobs_app, tenant, "jobprobe.count", {"n": 1})
    assert (await api.get(f"/v1/jobs/{job_id}", headers=other.headers)).status_code == 404
    r = await api.post("/v1/keys", json={"name": "ops", "scopes": ["jobs:read"]}, headers=tenant.headers)
    assert (await api.get(f"/v1/jobs/{job_id}", headers=bearer(r.json()["key"]))).status_code == 200
