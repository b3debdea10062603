"""The SDK's background-work surface against the real worker: ctx.enqueue and ctx.emit from a request,
JobContext in a job (tenant scope, repositories, events), and scheduled jobs fanned out per enabled tenant."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from litestar import Controller, Litestar, post
from litestar.di import NamedDependency
from sqlalchemy import func, select

from lumen.core.app import create_app
from lumen.core.jobs.models import Job
from lumen.core.jobs.worker import build_worker
from lumen.core.settings import Settings
from lumen.plugins.sdk import (
    ActionSpec,
    JobContext,
    JobSpec,
    PluginContext,
    PluginInfo,
    TenantRepository,
    WebhookEventType,
    hookimpl,
)
from lumen.plugins.sdk.jobs import parse_cron
from tests.conftest import TenantHandle, create_tenant

Ctx = NamedDependency[PluginContext]


class JobRows(TenantRepository[Job]):
    model = Job

    async def count(self) -> int:
        query = select(func.count()).select_from(Job).where(Job.tenant_id == self.tenant_id)
        return int((await self.session.execute(query)).scalar_one())


async def work(ctx: JobContext, n: int) -> dict[str, Any]:
    """Counts the tenant's job rows through a repository (RLS scope) and announces itself."""
    async with ctx.transaction() as tx:
        rows = await tx.repository(JobRows).count()
        await tx.emit("sdkjobs.work.done", {"n": n, "tenant": str(ctx.tenant_id)})
    await ctx.report_progress(0.5, "half")
    return {"tenant": str(ctx.tenant_id), "job_id": ctx.job_id, "rows": rows, "n": n}


async def tick(ctx: JobContext) -> None:
    async with ctx.transaction() as tx:
        await tx.emit("sdkjobs.tick.done", {"tenant": str(ctx.tenant_id)})


class Routes(Controller):
    path = "/v1/sdkjobs"

    @post("/work", operation_id="sdkjobsWork", opt={"action": "sdkjobs.write"})
    async def start(self, ctx: Ctx) -> dict[str, str]:
        return {"job_id": await ctx.enqueue("sdkjobs.work", {"n": 2}, track=True)}

    @post("/emit", operation_id="sdkjobsEmit", opt={"action": "sdkjobs.write"})
    async def emit(self, ctx: Ctx) -> dict[str, str]:
        return {"event_id": await ctx.emit("sdkjobs.work.done", {"n": 0, "tenant": str(ctx.tenant_id)})}

    @post("/emit-then-fail", operation_id="sdkjobsEmitFail", opt={"action": "sdkjobs.write"})
    async def emit_then_fail(self, ctx: Ctx) -> None:
        await ctx.emit("sdkjobs.work.done", {"n": -1, "tenant": str(ctx.tenant_id)})
        raise ValueError("the change fails after the event was written")

    @post("/foreign", operation_id="sdkjobsForeign", opt={"action": "sdkjobs.write"})
    async def foreign(self, ctx: Ctx) -> dict[str, str]:
        return {"job_id": await ctx.enqueue("webhooks.deliver", {})}

    @post("/failed-attempt", operation_id="sdkjobsFailedAttempt", opt={"action": "sdkjobs.write"})
    async def failed_attempt(self, ctx: Ctx) -> None:
        async with ctx.separate_transaction() as tx:
            await tx.emit("sdkjobs.work.done", {"n": 99, "tenant": str(ctx.tenant_id)})
        from lumen.plugins.sdk import Forbidden

        raise Forbidden("rejected, but the attempt stands")


class SdkJobsPlugin:
    @hookimpl
    def lumen_plugin_info(self) -> PluginInfo:
        return PluginInfo(name="sdkjobs", version="1.0.0", default_enabled=False)

    @hookimpl
    def register_actions(self) -> dict[str, ActionSpec]:
        return {"sdkjobs.write": ActionSpec(description="Start work.", access="write")}

    @hookimpl
    def register_routes(self) -> Sequence[Any]:
        return [Routes]

    @hookimpl
    def register_jobs(self) -> list[JobSpec]:
        return [
            JobSpec(name="sdkjobs.work", function=work),
            JobSpec(name="sdkjobs.tick", function=tick, cron="*/30 * * * *"),
        ]

    @hookimpl
    def register_webhook_events(self) -> list[WebhookEventType]:
        return [
            WebhookEventType(name="sdkjobs.work.done", description="Work finished."),
            WebhookEventType(name="sdkjobs.tick.done", description="A scheduled tick ran."),
        ]


@pytest.fixture(scope="module")
async def sdk_app(settings: Settings) -> AsyncIterator[Litestar]:
    app = create_app(settings, plugins=[SdkJobsPlugin()])
    for hook in app.on_startup:
        await hook()  # type: ignore[call-arg]
    yield app
    for hook in app.on_shutdown:
        await hook()  # type: ignore[call-arg]


@pytest.fixture(scope="module")
async def api(sdk_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sdk_app), base_url="http://lumen.test"
    ) as http:
        yield http


@pytest.fixture(scope="module")
async def worker(settings: Settings) -> AsyncIterator[None]:
    running = build_worker(settings, plugins=[SdkJobsPlugin()])
    task = asyncio.create_task(running.async_run())
    yield
    await running.close()
    task.cancel()


async def _enabled_tenant(api: httpx.AsyncClient) -> TenantHandle:
    tenant = await create_tenant(api)
    r = await api.put("/v1/plugins/sdkjobs", json={"enabled": True}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    return tenant


async def _events(api: httpx.AsyncClient, tenant: TenantHandle, kind: str) -> list[dict[str, Any]]:
    r = await api.get("/v1/webhooks/events", params={"type": kind, "limit": 100}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def _until_events(
    api: httpx.AsyncClient, tenant: TenantHandle, kind: str, count: int
) -> list[dict[str, Any]]:
    for _ in range(300):
        found = await _events(api, tenant, kind)
        if len(found) >= count:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{kind}: {len(found)} of {count} events")


async def test_enqueue_tracked_job_runs_in_the_tenants_scope(api: httpx.AsyncClient, worker: None) -> None:
    tenant = await _enabled_tenant(api)
    r = await api.post("/v1/sdkjobs/work", headers=tenant.headers)
    assert r.status_code == 201, r.text
    job_id = r.json()["job_id"]
    for _ in range(300):
        body = (await api.get(f"/v1/jobs/{job_id}", headers=tenant.headers)).json()
        if body["state"] == "succeeded":
            break
        await asyncio.sleep(0.05)
    assert body["state"] == "succeeded", body
    # The repository saw exactly this tenant's one job row: the transaction ran under its scope.
    assert body["result"] == {"tenant": str(tenant.id), "job_id": job_id, "rows": 1, "n": 2}
    events = await _until_events(api, tenant, "sdkjobs.work.done", 1)
    assert events[0]["data"] == {"n": 2, "tenant": str(tenant.id)}


async def test_emit_from_a_request_records_the_event(api: httpx.AsyncClient) -> None:
    tenant = await _enabled_tenant(api)
    r = await api.post("/v1/sdkjobs/emit", headers=tenant.headers)
    assert r.status_code == 201, r.text
    events = await _events(api, tenant, "sdkjobs.work.done")
    assert [e["id"] for e in events] == [r.json()["event_id"]]


async def test_an_event_rolls_back_with_its_failed_request(api: httpx.AsyncClient) -> None:
    tenant = await _enabled_tenant(api)
    r = await api.post("/v1/sdkjobs/emit-then-fail", headers=tenant.headers)
    assert r.status_code == 500
    assert await _events(api, tenant, "sdkjobs.work.done") == []


async def test_a_separate_transaction_stands_when_the_request_is_refused(api: httpx.AsyncClient) -> None:
    tenant = await _enabled_tenant(api)
    r = await api.post("/v1/sdkjobs/failed-attempt", headers=tenant.headers)
    assert r.status_code == 403
    assert [e["data"]["n"] for e in await _events(api, tenant, "sdkjobs.work.done")] == [99]


async def test_a_plugin_cannot_enqueue_another_components_job(api: httpx.AsyncClient) -> None:
    tenant = await _enabled_tenant(api)
    r = await api.post("/v1/sdkjobs/foreign", headers=tenant.headers)
    assert r.status_code == 500  # a plugin bug, refused before anything is written


async def test_a_scheduled_job_runs_once_per_enabled_tenant(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    enabled = await _enabled_tenant(api)
    disabled = await create_tenant(api)  # partner plugin: off until the tenant turns it on
    running = build_worker(settings, plugins=[SdkJobsPlugin()], run_schedules_at_startup=True)
    task = asyncio.create_task(running.async_run())
    try:
        events = await _until_events(api, enabled, "sdkjobs.tick.done", 1)
        assert events[0]["data"] == {"tenant": str(enabled.id)}
        await asyncio.sleep(0.5)
        assert len(await _events(api, enabled, "sdkjobs.tick.done")) == 1
        assert await _events(api, disabled, "sdkjobs.tick.done") == []
    finally:
        await running.close()
        task.cancel()


def test_cron_expressions_become_arq_schedules() -> None:
    assert parse_cron("*/15 * * * *") == {
        "minute": {0, 15, 30, 45},
        "hour": None,
        "day": None,
        "month": None,
        "weekday": None,
    }
    assert parse_cron("0 6 1 1-3 0")["weekday"] == {6}  # cron's Sunday is Python's 6
    assert parse_cron("5 8,20 * * 1-5")["hour"] == {8, 20}


@pytest.mark.parametrize("bad", ["* * * *", "61 * * * *", "x * * * *", "*/0 * * * *", "5-1 * * * *"])
def test_bad_cron_expressions_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="cron"):
        parse_cron(bad)


def test_a_bad_schedule_fails_start_up_naming_the_plugin() -> None:
    from lumen.core.plugins.host import PluginError, PluginHost

    class BadSchedule:
        @hookimpl
        def lumen_plugin_info(self) -> PluginInfo:
            return PluginInfo(name="badcron", version="1")

        @hookimpl
        def register_jobs(self) -> list[JobSpec]:
            return [JobSpec(name="badcron.x", function=tick, cron="every day")]

    with pytest.raises(PluginError, match="badcron"):
        PluginHost(allow=["none"], extra=[BadSchedule()])
