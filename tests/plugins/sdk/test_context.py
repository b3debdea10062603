"""PluginContext's policy, tenant, audit-trail and document helpers: ctx.authorize (a second decision with
domain facts the plugin's Rego reads), ctx.tenant_info, ctx.audit_records and ctx.document (a tenant's
uploaded document with its text)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from litestar import Controller, Litestar, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from lumen.core.app import create_app
from lumen.core.settings import Settings
from lumen.plugins.sdk import ActionSpec, PluginContext, PluginInfo, PolicySource, hookimpl
from tests.conftest import assert_problem, create_tenant

Ctx = NamedDependency[PluginContext]

POLICY = """
package lumen.ext.ctxprobe

import rego.v1

deny contains "only the owner may close a ticket" if {
	input.action == "ctxprobe.write"
	input.resource.operation == "close"
	input.resource.actor != input.resource.owner
}
"""


class Routes(Controller):
    path = "/v1/ctxprobe"

    @post("/close/{actor:str}", operation_id="ctxprobeClose", opt={"action": "ctxprobe.write"})
    async def close(self, ctx: Ctx, actor: FromPath[str]) -> dict[str, str]:
        decision = await ctx.authorize({"operation": "close", "actor": actor, "owner": "alice"})
        ctx.audit("ctxprobe.closed", resource_type="ticket", resource_id="t1", details={"actor": actor})
        return {"decision_id": decision.id}

    @post("/foreign", operation_id="ctxprobeForeign", opt={"action": "ctxprobe.write"})
    async def foreign(self, ctx: Ctx) -> None:
        await ctx.authorize({}, action="keys.create")

    @get("/me", operation_id="ctxprobeMe", opt={"action": "ctxprobe.read"})
    async def me(self, ctx: Ctx) -> dict[str, str]:
        info = await ctx.tenant_info()
        return {"id": str(info.id), "slug": info.slug, "name": info.name}

    @get("/documents/{ident:str}", operation_id="ctxprobeDocument", opt={"action": "ctxprobe.read"})
    async def document(self, ctx: Ctx, ident: FromPath[str], version: int | None = None) -> dict[str, Any]:
        found = await ctx.document(ident, version=version)
        return {"id": str(found.id), "title": found.title, "version": found.version, "text": found.text}

    @get("/history", operation_id="ctxprobeHistory", opt={"action": "ctxprobe.read"})
    async def history(self, ctx: Ctx) -> list[dict[str, Any]]:
        records = await ctx.audit_records(resource_type="ticket", resource_id="t1")
        return [{"action": r.action, "details": r.details, "seq": r.seq} for r in records]


class CtxProbe:
    @hookimpl
    def lumen_plugin_info(self) -> PluginInfo:
        return PluginInfo(name="ctxprobe", version="1.0.0", default_enabled=True)

    @hookimpl
    def register_actions(self) -> dict[str, ActionSpec]:
        return {
            "ctxprobe.write": ActionSpec(description="Close tickets.", access="write"),
            "ctxprobe.read": ActionSpec(description="Read.", access="read"),
        }

    @hookimpl
    def register_routes(self) -> Sequence[Any]:
        return [Routes]

    @hookimpl
    def register_policies(self) -> list[PolicySource]:
        return [PolicySource(name="ctxprobe.rego", source=POLICY)]


@pytest.fixture(scope="module")
async def probe(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app: Litestar = create_app(settings, plugins=[CtxProbe()])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://lumen.test"
    ) as http:
        yield http


async def test_authorize_allows_what_the_plugins_policy_allows(probe: httpx.AsyncClient) -> None:
    tenant = await create_tenant(probe)
    r = await probe.post("/v1/ctxprobe/close/alice", headers=tenant.headers)
    assert r.status_code == 201, r.text
    assert r.json()["decision_id"]


async def test_authorize_denies_with_the_policys_reason(probe: httpx.AsyncClient) -> None:
    tenant = await create_tenant(probe)
    problem = assert_problem(await probe.post("/v1/ctxprobe/close/mallory", headers=tenant.headers), 403)
    assert problem["detail"] == "only the owner may close a ticket"
    assert problem["decision_id"]


async def test_authorize_refuses_another_components_action(probe: httpx.AsyncClient) -> None:
    tenant = await create_tenant(probe)
    assert (await probe.post("/v1/ctxprobe/foreign", headers=tenant.headers)).status_code == 500


async def test_tenant_info_names_the_callers_tenant(probe: httpx.AsyncClient) -> None:
    tenant = await create_tenant(probe)
    body = (await probe.get("/v1/ctxprobe/me", headers=tenant.headers)).json()
    assert body == {"id": str(tenant.id), "slug": tenant.slug, "name": tenant.slug.upper()}


async def test_audit_records_return_this_tenants_history_of_a_resource(probe: httpx.AsyncClient) -> None:
    tenant = await create_tenant(probe)
    other = await create_tenant(probe)
    await probe.post("/v1/ctxprobe/close/alice", headers=tenant.headers)
    await probe.post("/v1/ctxprobe/close/alice", headers=other.headers)
    history = (await probe.get("/v1/ctxprobe/history", headers=tenant.headers)).json()
    assert [h["action"] for h in history] == ["ctxprobe.closed"]
    assert history[0]["details"] == {"actor": "alice"}


async def _upload(probe: httpx.AsyncClient, tenant: Any, title: str, text: str) -> str:
    body = {"title": title, "text": text, "content_type": "text/plain"}
    r = await probe.post("/v1/documents", json=body, headers=tenant.headers)
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


async def test_document_reads_the_tenants_uploaded_text_newest_or_pinned(probe: httpx.AsyncClient) -> None:
    tenant = await create_tenant(probe)
    ident = await _upload(probe, tenant, "SOP-1", "First wording of the procedure.")
    await _upload(probe, tenant, "SOP-1", "Second wording of the procedure.")
    newest = (await probe.get(f"/v1/ctxprobe/documents/{ident}", headers=tenant.headers)).json()
    assert newest == {"id": ident, "title": "SOP-1", "version": 2, "text": "Second wording of the procedure."}
    r = await probe.get(f"/v1/ctxprobe/documents/{ident}", params={"version": 1}, headers=tenant.headers)
    assert r.json()["text"] == "First wording of the procedure."


async def test_document_of_another_tenant_is_a_404(probe: httpx.AsyncClient) -> None:
    owner, intruder = await create_tenant(probe), await create_tenant(probe)
    ident = await _upload(probe, owner, "Secret SOP", "Owner's confidential text.")
    problem = assert_problem(
        await probe.get(f"/v1/ctxprobe/documents/{ident}", headers=intruder.headers), 404
    )
    assert "document_id" in problem["detail"] and "confidential" not in problem["detail"]


async def test_document_bad_ids_and_versions_name_the_field(probe: httpx.AsyncClient) -> None:
    tenant = await create_tenant(probe)
    ident = await _upload(probe, tenant, "SOP-2", "Some text.")
    bad = assert_problem(await probe.get("/v1/ctxprobe/documents/not-a-uuid", headers=tenant.headers), 422)
    assert "document_id" in bad["detail"]
    r = await probe.get(f"/v1/ctxprobe/documents/{ident}", params={"version": 9}, headers=tenant.headers)
    assert "version" in assert_problem(r, 404)["detail"]
