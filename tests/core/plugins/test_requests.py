"""A plugin on the request path: per-tenant enablement, validated settings, the PluginContext a handler gets,
contained failures, lifecycle hooks and GET /v1/plugins.

The plugin (`probe`) is handed to a second app built with create_app(settings, plugins=[...]) on the session's
database and Redis. That app has its own engine and Redis client; its start-up hooks run here (so the
plugin's `startup` hook is called) and its shutdown hooks dispose only what it created.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Annotated, Any

import httpx
import msgspec
import pytest
from litestar import Controller, Litestar, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from lumen.core.app import create_app
from lumen.core.settings import Settings
from lumen.plugins.sdk import (
    ActionSpec,
    KnowledgeSource,
    NotFound,
    PluginContext,
    PluginInfo,
    PolicySource,
    StartupContext,
    TenantEventContext,
    TenantRepository,
    hookimpl,
)
from lumen.tenants.models import ApiKey
from tests.conftest import TenantHandle, assert_problem, bearer, create_tenant, platform_headers

Ctx = NamedDependency[PluginContext]


class ProbeSettings(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    greeting: Annotated[str, msgspec.Meta(max_length=20)] = "hello"
    max_items: Annotated[int, msgspec.Meta(ge=1, le=10)] = 3


class KeyRows(TenantRepository[ApiKey]):
    """A repository over a table every tenant has rows in, so scoping is visible."""

    model = ApiKey


class NoteIn(msgspec.Struct, forbid_unknown_fields=True):
    title: str


class ProbeController(Controller):
    path = "/v1/probe"

    @get("/settings", operation_id="probeSettings", opt={"action": "probe.read"})
    async def settings(self, ctx: Ctx) -> dict[str, Any]:
        return {"settings": msgspec.to_builtins(ctx.settings), "tenant_id": str(ctx.tenant_id)}

    @get("/obligations", operation_id="probeObligations", opt={"action": "probe.read"})
    async def obligations(self, ctx: Ctx) -> list[str]:
        return list(ctx.obligations)

    @get("/keys", operation_id="probeKeys", opt={"action": "probe.read"})
    async def keys(self, ctx: Ctx) -> list[str]:
        repo = ctx.repository(KeyRows)
        return sorted(str(row.id) for row in (await repo.session.scalars(repo.select())).all())

    @get("/keys/{key_id:uuid}", operation_id="probeKey", opt={"action": "probe.read"})
    async def key(self, ctx: Ctx, key_id: FromPath[uuid.UUID]) -> dict[str, str]:
        row = await ctx.repository(KeyRows).get(key_id)
        if row is None:
            raise NotFound("no such key")
        return {"id": str(row.id), "tenant_id": str(row.tenant_id)}

    @post("/notes", operation_id="probeWriteNote", opt={"action": "probe.write", "resource": "note"})
    async def write_note(self, ctx: Ctx, data: JSONBody[NoteIn]) -> dict[str, str]:
        ctx.audit(
            "probe.note_written",
            resource_type="note",
            resource_id="note-1",
            changed_fields=["title"],
            details={"length": len(data.title)},
        )
        return {"id": "note-1"}

    @get("/looked", operation_id="probeLookedAt", opt={"action": "probe.read"})
    async def looked(self, ctx: Ctx) -> dict[str, str]:
        ctx.audit("probe.looked_at", resource_type="note", resource_id="note-2")
        return {"ok": "yes"}

    @get("/boom", operation_id="probeBoom", opt={"action": "probe.read"})
    async def boom(self, ctx: Ctx) -> dict[str, str]:
        raise RuntimeError("the probe broke; this text must never reach the caller")

    @get("/closed", operation_id="probeClosed", opt={"action": "probe.read", "resource": "closed_thing"})
    async def closed(self, ctx: Ctx) -> dict[str, str]:
        return {"reached": "yes"}


PROBE_POLICY = """package lumen.ext.probe

import rego.v1

deny contains "the probe keeps closed things closed" if input.resource.type == "closed_thing"
"""

KNOWLEDGE = KnowledgeSource(
    name="probe-facts",
    version="2026.1",
    description="Facts the probe knows.",
    provenance="Written for these tests.",
    reviewed="2026-12-01",
    entries=2,
)


class ProbePlugin:
    """A partner-style plugin (off until a tenant turns it on) that remembers the lifecycle calls it gets."""

    __name__ = "probe_plugin"

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.fail_provisioning = False

    @hookimpl
    def lumen_plugin_info(self) -> PluginInfo:
        return PluginInfo(name="probe", version="1.2.3", description="Test probe.", default_enabled=False)

    @hookimpl
    def register_actions(self) -> Mapping[str, ActionSpec]:
        return {
            "probe.read": ActionSpec(scopes=("probe:read",), access="read"),
            "probe.write": ActionSpec(scopes=("probe:write",)),
        }

    @hookimpl
    def register_scopes(self) -> Mapping[str, str]:
        return {"probe:read": "Read probes.", "probe:write": "Write probes."}

    @hookimpl
    def register_routes(self) -> Sequence[Any]:
        return [ProbeController]

    @hookimpl
    def register_settings(self) -> type:
        return ProbeSettings

    @hookimpl
    def register_policies(self) -> Sequence[PolicySource]:
        return [PolicySource(name="probe.rego", source=PROBE_POLICY)]

    @hookimpl
    def register_knowledge(self) -> Sequence[KnowledgeSource]:
        return [KNOWLEDGE]

    @hookimpl
    def startup(self, context: StartupContext) -> None:
        self.calls.append(("startup", context))

    @hookimpl
    async def tenant_provisioned(self, context: TenantEventContext) -> None:
        self.calls.append(("tenant_provisioned", context.tenant_id))
        if self.fail_provisioning:
            raise RuntimeError("the probe could not set the tenant up")

    @hookimpl
    def tenant_deleted(self, context: TenantEventContext) -> None:
        self.calls.append(("tenant_deleted", context.tenant_id))


@pytest.fixture(scope="module")
async def probe_app(settings: Settings) -> AsyncIterator[tuple[Litestar, ProbePlugin]]:
    plugin = ProbePlugin()
    app = create_app(settings, plugins=[plugin])
    # The lifespan's hooks, called directly: `app.lifespan()` holds an anyio task group, which cannot be
    # entered in a fixture's set-up and left in its teardown (two different tasks).
    for hook in app.on_startup:  # starts the invalidation listener and calls every plugin's `startup`
        await hook()
    try:
        yield app, plugin
    finally:
        for hook in app.on_shutdown:  # disposes this app's own engine, Redis client and policy engine
            await hook()


@pytest.fixture(scope="module")
async def probe(probe_app: tuple[Litestar, ProbePlugin]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=probe_app[0]), base_url="http://lumen.test"
    ) as http:
        yield http


@pytest.fixture
def plugin(probe_app: tuple[Litestar, ProbePlugin]) -> ProbePlugin:
    return probe_app[1]


async def _enable(
    http: httpx.AsyncClient, tenant: TenantHandle, enabled: bool = True, **extra: Any
) -> httpx.Response:
    r = await http.put("/v1/plugins/probe", json={"enabled": enabled, **extra}, headers=tenant.headers)
    return r


@pytest.fixture
async def enabled_a(probe: httpx.AsyncClient) -> TenantHandle:
    tenant = await create_tenant(probe)
    assert (await _enable(probe, tenant)).status_code == 200
    return tenant


@pytest.fixture
async def enabled_b(probe: httpx.AsyncClient) -> TenantHandle:
    tenant = await create_tenant(probe)
    assert (await _enable(probe, tenant)).status_code == 200
    return tenant


async def _key(http: httpx.AsyncClient, owner: TenantHandle, *scopes: str) -> dict[str, str]:
    r = await http.post("/v1/keys", json={"name": "scoped", "scopes": [*scopes]}, headers=owner.headers)
    assert r.status_code == 201, r.text
    return bearer(r.json()["key"])


async def _events(http: httpx.AsyncClient, tenant: TenantHandle, request_id: str) -> list[dict[str, Any]]:
    r = await http.get("/v1/audit", params={"request_id": request_id}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


# --- enablement ---------------------------------------------------------------------------------------------


async def test_partner_plugin_is_off_by_default(probe: httpx.AsyncClient) -> None:
    tenant = await create_tenant(probe)
    assert_problem(await probe.get("/v1/probe/settings", headers=tenant.headers), 404, "not-found")


async def test_enabling_for_one_tenant_leaves_the_other_out(probe: httpx.AsyncClient) -> None:
    a, b = await create_tenant(probe), await create_tenant(probe)
    assert (await probe.get("/v1/probe/settings", headers=a.headers)).status_code == 404  # warms the cache
    r = await _enable(probe, a)
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is True
    assert (await probe.get("/v1/probe/settings", headers=a.headers)).status_code == 200
    assert_problem(await probe.get("/v1/probe/settings", headers=b.headers), 404)


async def test_disabling_again_hides_the_routes(probe: httpx.AsyncClient, enabled_a: TenantHandle) -> None:
    assert (await probe.get("/v1/probe/settings", headers=enabled_a.headers)).status_code == 200
    assert (await _enable(probe, enabled_a, enabled=False)).status_code == 200
    assert_problem(await probe.get("/v1/probe/settings", headers=enabled_a.headers), 404)


async def test_disabled_plugin_is_404_even_without_its_scope(probe: httpx.AsyncClient) -> None:
    """No existence oracle: a disabled plugin's route is a 404 whatever the key could do."""
    tenant = await create_tenant(probe)
    reader = await _key(probe, tenant, "keys:read")
    assert_problem(await probe.get("/v1/probe/settings", headers=reader), 404)


async def test_enabled_plugin_needs_its_scope(probe: httpx.AsyncClient, enabled_a: TenantHandle) -> None:
    body = assert_problem(
        await probe.get("/v1/probe/settings", headers=await _key(probe, enabled_a, "keys:read")),
        403,
        "forbidden",
    )
    assert body["required_scope"] == "probe:read"
    reader = await _key(probe, enabled_a, "probe:read")
    assert (await probe.get("/v1/probe/settings", headers=reader)).status_code == 200
    assert_problem(await probe.post("/v1/probe/notes", json={"title": "t"}, headers=reader), 403)


async def test_plugin_policy_module_can_deny(probe: httpx.AsyncClient, enabled_a: TenantHandle) -> None:
    body = assert_problem(await probe.get("/v1/probe/closed", headers=enabled_a.headers), 403)
    assert "the probe keeps closed things closed" in body["reasons"]


async def test_platform_key_on_a_plugin_route_needs_a_tenant_key(probe: httpx.AsyncClient) -> None:
    """The wrong kind of key gets its own problem type, not the 404 of a plugin disabled for a tenant."""
    r = await probe.get("/v1/probe/settings", headers=platform_headers())
    assert_problem(r, 403, "tenant-key-required")


async def test_enablement_is_only_for_tenant_keys(probe: httpx.AsyncClient) -> None:
    r = await probe.put("/v1/plugins/probe", json={"enabled": True}, headers=platform_headers())
    assert_problem(r, 403, "tenant-key-required")


async def test_unknown_plugin_is_404(probe: httpx.AsyncClient, enabled_a: TenantHandle) -> None:
    assert_problem(
        await probe.put("/v1/plugins/nosuch", json={"enabled": True}, headers=enabled_a.headers), 404
    )


# --- settings -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "field"),
    [
        pytest.param({"max_items": 0}, "max_items", id="below-minimum"),
        pytest.param({"max_items": "three"}, "max_items", id="wrong-type"),
        pytest.param({"greeting": "x" * 21}, "greeting", id="too-long"),
        pytest.param({"colour": "blue"}, "colour", id="unknown-field"),
    ],
)
async def test_settings_are_validated_naming_the_field(
    probe: httpx.AsyncClient, enabled_a: TenantHandle, given: dict[str, Any], field: str
) -> None:
    body = assert_problem(await _enable(probe, enabled_a, settings=given), 422)
    assert body["detail"].startswith("settings:"), body
    assert field in body["detail"], body


async def test_context_carries_the_tenants_settings(
    probe: httpx.AsyncClient, enabled_a: TenantHandle, enabled_b: TenantHandle
) -> None:
    r = await probe.get("/v1/probe/settings", headers=enabled_a.headers)
    assert r.json() == {"settings": {"greeting": "hello", "max_items": 3}, "tenant_id": str(enabled_a.id)}
    r = await _enable(probe, enabled_a, settings={"greeting": "hi", "max_items": 7})
    assert r.status_code == 200, r.text
    assert r.json()["settings"] == {"greeting": "hi", "max_items": 7}
    r = await probe.get("/v1/probe/settings", headers=enabled_a.headers)
    assert r.json()["settings"] == {"greeting": "hi", "max_items": 7}
    # Tenant B keeps the defaults.
    r = await probe.get("/v1/probe/settings", headers=enabled_b.headers)
    assert r.json() == {"settings": {"greeting": "hello", "max_items": 3}, "tenant_id": str(enabled_b.id)}


async def test_settings_survive_disable_and_enable(probe: httpx.AsyncClient, enabled_a: TenantHandle) -> None:
    assert (await _enable(probe, enabled_a, settings={"greeting": "kept"})).status_code == 200
    assert (await _enable(probe, enabled_a, enabled=False)).status_code == 200
    assert (await _enable(probe, enabled_a)).status_code == 200
    r = await probe.get("/v1/probe/settings", headers=enabled_a.headers)
    assert r.json()["settings"]["greeting"] == "kept"


async def test_context_carries_the_decisions_obligations(
    probe: httpx.AsyncClient, enabled_a: TenantHandle, enabled_b: TenantHandle
) -> None:
    r = await probe.put(
        "/v1/policy", json={"obligations": {"probe.read": ["watermark"]}}, headers=enabled_a.headers
    )
    assert r.status_code == 200, r.text
    assert "watermark" in (await probe.get("/v1/probe/obligations", headers=enabled_a.headers)).json()
    assert "watermark" not in (await probe.get("/v1/probe/obligations", headers=enabled_b.headers)).json()


# --- the context's repository and audit ---------------------------------------------------------------------


async def test_repository_is_tenant_scoped(
    probe: httpx.AsyncClient, enabled_a: TenantHandle, enabled_b: TenantHandle
) -> None:
    ids_a = (await probe.get("/v1/probe/keys", headers=enabled_a.headers)).json()
    ids_b = (await probe.get("/v1/probe/keys", headers=enabled_b.headers)).json()
    assert str(enabled_a.key_id) in ids_a
    assert str(enabled_b.key_id) in ids_b
    assert not set(ids_a) & set(ids_b)
    r = await probe.get(f"/v1/probe/keys/{enabled_b.key_id}", headers=enabled_a.headers)
    assert_problem(r, 404)
    r = await probe.get(f"/v1/probe/keys/{enabled_a.key_id}", headers=enabled_a.headers)
    assert r.json() == {"id": str(enabled_a.key_id), "tenant_id": str(enabled_a.id)}


async def test_context_audit_records_a_domain_event(
    probe: httpx.AsyncClient, enabled_a: TenantHandle
) -> None:
    r = await probe.post("/v1/probe/notes", json={"title": "private words"}, headers=enabled_a.headers)
    assert r.status_code == 201, r.text
    [event] = await _events(probe, enabled_a, r.headers["x-request-id"])
    assert event["action"] == "probe.note_written"  # instead of the automatic `probe.write` record
    assert event["outcome"] == "success"
    assert event["resource_type"] == "note"
    assert event["resource_id"] == "note-1"
    assert event["changed_fields"] == ["title"]
    assert event["details"] == {"length": 13}
    assert event["actor_key_id"] == str(enabled_a.key_id)
    assert event["policy_decision_id"]
    assert "private words" not in str(event)


async def test_context_audit_records_on_a_read(probe: httpx.AsyncClient, enabled_a: TenantHandle) -> None:
    r = await probe.get("/v1/probe/looked", headers=enabled_a.headers)
    assert r.status_code == 200, r.text
    [event] = await _events(probe, enabled_a, r.headers["x-request-id"])
    assert event["action"] == "probe.looked_at"


async def test_plugin_events_stay_in_their_tenants_trail(
    probe: httpx.AsyncClient, enabled_a: TenantHandle, enabled_b: TenantHandle
) -> None:
    r = await probe.post("/v1/probe/notes", json={"title": "t"}, headers=enabled_a.headers)
    assert await _events(probe, enabled_b, r.headers["x-request-id"]) == []


# --- failures are contained ---------------------------------------------------------------------------------


async def test_exception_in_a_plugin_is_a_contained_500(
    probe: httpx.AsyncClient, enabled_a: TenantHandle
) -> None:
    r = await probe.get("/v1/probe/boom", headers=enabled_a.headers)
    body = assert_problem(r, 500, "internal-error")
    incident = body["incident_id"]
    assert incident in body["detail"]
    assert "probe broke" not in r.text
    assert "Traceback" not in r.text
    [event] = await _events(probe, enabled_a, r.headers["x-request-id"])
    assert event["outcome"] == "error"
    assert event["action"] == "probe.read"
    assert event["details"]["incident_id"] == incident
    assert event["policy_decision_id"]
    # The app is none the worse for it.
    assert (await probe.get("/v1/probe/settings", headers=enabled_a.headers)).status_code == 200
    assert (await probe.get("/v1/probe/boom", headers=enabled_a.headers)).json()["incident_id"] != incident


# --- lifecycle hooks ----------------------------------------------------------------------------------------


async def test_startup_hook_ran_once_with_the_settings(plugin: ProbePlugin, settings: Settings) -> None:
    started = [context for name, context in plugin.calls if name == "startup"]
    assert started == [StartupContext(plugin="probe", settings=settings)]


async def test_tenant_provisioned_and_deleted_hooks(probe: httpx.AsyncClient, plugin: ProbePlugin) -> None:
    tenant = await create_tenant(probe)
    assert ("tenant_provisioned", tenant.id) in plugin.calls
    assert ("tenant_deleted", tenant.id) not in plugin.calls
    r = await probe.delete(f"/v1/tenants/{tenant.id}", headers=platform_headers())
    assert r.status_code == 204, r.text
    assert ("tenant_deleted", tenant.id) in plugin.calls


async def test_failing_tenant_hook_does_not_undo_the_tenant(
    probe: httpx.AsyncClient, plugin: ProbePlugin
) -> None:
    plugin.fail_provisioning = True
    try:
        tenant = await create_tenant(probe)  # asserts the 201s
    finally:
        plugin.fail_provisioning = False
    assert ("tenant_provisioned", tenant.id) in plugin.calls
    r = await probe.get(f"/v1/tenants/{tenant.id}", headers=platform_headers())
    assert r.status_code == 200


# --- GET /v1/plugins ----------------------------------------------------------------------------------------


async def _listed(http: httpx.AsyncClient, tenant: TenantHandle) -> dict[str, Any]:
    r = await http.get("/v1/plugins", headers=tenant.headers)
    assert r.status_code == 200, r.text
    [item] = [i for i in r.json()["items"] if i["name"] == "probe"]
    return dict(item)


async def test_plugin_list_shows_each_tenants_state(
    probe: httpx.AsyncClient, enabled_a: TenantHandle
) -> None:
    other = await create_tenant(probe)
    mine = await _listed(probe, enabled_a)
    assert mine["enabled"] is True
    assert mine["default_enabled"] is False
    assert mine["version"] == "1.2.3"
    assert mine["actions"] == ["probe.read", "probe.write"]
    assert mine["settings"] == {"greeting": "hello", "max_items": 3}
    assert mine["config_version"] == 1
    assert mine["knowledge"] == [msgspec.to_builtins(KNOWLEDGE)]
    theirs = await _listed(probe, other)
    assert theirs["enabled"] is False
    assert theirs["config_version"] == 0


async def test_one_plugin_is_readable_by_name(probe: httpx.AsyncClient, enabled_a: TenantHandle) -> None:
    r = await probe.get("/v1/plugins/probe", headers=enabled_a.headers)
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is True
    reader = await _key(probe, enabled_a, "plugins:read")
    assert (await probe.get("/v1/plugins/probe", headers=reader)).status_code == 200
    assert_problem(await probe.put("/v1/plugins/probe", json={"enabled": False}, headers=reader), 403)


async def test_settings_stored_by_an_older_version_are_a_clear_409(
    probe: httpx.AsyncClient, enabled_a: TenantHandle, owner_engine: AsyncEngine
) -> None:
    """A plugin upgrade that tightens its settings must not turn every request into a 500."""
    async with owner_engine.begin() as conn:
        await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(enabled_a.id)})
        await conn.execute(
            text("UPDATE tenant_plugins SET settings = '{\"max_items\": 99}' WHERE plugin = 'probe'")
        )
    await probe.put("/v1/policy", json={}, headers=enabled_a.headers)  # any tenant change refreshes the cache
    body = assert_problem(await probe.get("/v1/probe/settings", headers=enabled_a.headers), 409)
    assert "max_items" in body["detail"]
    listed = (await probe.get("/v1/plugins", headers=enabled_a.headers)).json()["items"]
    assert any(item["name"] == "probe" for item in listed)  # still listed, so it can be fixed
    assert (await _enable(probe, enabled_a, settings={"max_items": 5})).status_code == 200
    assert (await probe.get("/v1/probe/settings", headers=enabled_a.headers)).json()["settings"][
        "max_items"
    ] == 5
