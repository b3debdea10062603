"""The `patient_erased` hook: every plugin is told, inside the erasing request's transaction; a plugin that
fails makes the whole erasure fail, so nothing is left half-erased."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar

from lumen.core.app import create_app
from lumen.core.settings import Settings
from lumen.plugins.sdk import PatientErasedContext, PluginInfo, hookimpl
from tests.conftest import create_tenant


class ErasureProbe:
    def __init__(self) -> None:
        self.erased: list[tuple[uuid.UUID, uuid.UUID]] = []
        self.fail = False

    @hookimpl
    def lumen_plugin_info(self) -> PluginInfo:
        return PluginInfo(name="erasureprobe", version="1.0.0", description="Records patient erasures.")

    @hookimpl
    def patient_erased(self, context: PatientErasedContext) -> None:
        if self.fail:
            raise RuntimeError("cannot erase what this plugin keeps")
        self.erased.append((context.tenant_id, context.patient_id))


@pytest.fixture(scope="module")
async def probe_app(settings: Settings) -> AsyncIterator[tuple[Litestar, ErasureProbe]]:
    plugin = ErasureProbe()
    app = create_app(settings, plugins=[plugin])
    for hook in app.on_startup:
        await hook()
    try:
        yield app, plugin
    finally:
        for hook in app.on_shutdown:
            await hook()


@pytest.fixture(scope="module")
async def http(probe_app: tuple[Litestar, ErasureProbe]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=probe_app[0]), base_url="http://t"
    ) as client:
        yield client


async def test_every_plugin_is_told_of_the_erasure(
    http: httpx.AsyncClient, probe_app: tuple[Litestar, ErasureProbe]
) -> None:
    tenant = await create_tenant(http)
    pid = (await http.post("/v1/patients", json={"sex": "male"}, headers=tenant.headers)).json()["id"]
    assert (await http.delete(f"/v1/patients/{pid}", headers=tenant.headers)).status_code == 204
    assert (tenant.id, uuid.UUID(pid)) in probe_app[1].erased


async def test_a_failing_plugin_keeps_the_profile(
    http: httpx.AsyncClient, probe_app: tuple[Litestar, ErasureProbe]
) -> None:
    tenant = await create_tenant(http)
    pid = (await http.post("/v1/patients", json={"sex": "male"}, headers=tenant.headers)).json()["id"]
    probe_app[1].fail = True
    try:
        r = await http.delete(f"/v1/patients/{pid}", headers=tenant.headers)
        assert r.status_code == 500
    finally:
        probe_app[1].fail = False
    assert (await http.get(f"/v1/patients/{pid}", headers=tenant.headers)).status_code == 200
