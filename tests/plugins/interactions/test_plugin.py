"""The interactions plugin as a plugin (plugins/interactions/__init__.py): its registrations, the services
other plugins call through their context, and the `interaction_rules` hook another plugin implements."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any

import pytest

from lumen.core.auth.principal import Principal
from lumen.core.db.session import Database
from lumen.core.http.errors import LumenProblem
from lumen.core.plugins.host import ENTRY_POINT_GROUP, PluginHost
from lumen.core.settings import Settings
from lumen.core.tenancy.context import Scope
from lumen.plugins.interactions.schemas import InteractionsSettings
from lumen.plugins.interactions.service import checker
from lumen.plugins.sdk import PluginContext, PluginInfo, hookimpl
from tests.conftest import TenantHandle


class Formulary:
    """A partner plugin adding a hospital's rule through the hook the interactions plugin declares."""

    seen: list[uuid.UUID] = []

    @hookimpl
    def lumen_plugin_info(self) -> PluginInfo:
        return PluginInfo(name="formulary", version="1.0.0")

    @hookimpl
    def interaction_rules(self, tenant_id: uuid.UUID) -> Sequence[Mapping[str, Any]]:
        self.seen.append(tenant_id)
        return [
            {
                "id": "formulary-ppi-statin",
                "a": ["class:ppi"],
                "b": ["class:statin"],
                "severity": "minor",
                "mechanism": "Formulary note.",
                "clinical_effect": "None expected.",
                "management": "Prefer the formulary PPI.",
                "reference": "Formulary 3.1",
            },
            {"id": "broken", "a": ["drug:nothing"], "b": ["class:ppi"]},  # invalid: skipped and logged
        ]


def test_installed_through_lumens_own_entry_point() -> None:
    [entry] = [e for e in entry_points(group=ENTRY_POINT_GROUP) if e.name == "interactions"]
    assert entry.value == "lumen.plugins.interactions"


def test_registrations() -> None:
    plugin = PluginHost(allow=["interactions"]).plugins["interactions"]
    assert plugin.info.default_enabled is True
    assert set(plugin.actions) == {"interactions.check", "interactions.read", "interactions.manage_rules"}
    assert plugin.actions["interactions.manage_rules"].access == "write"
    assert set(plugin.services) == {"interactions.check", "interactions.lookup"}
    assert plugin.settings_type is InteractionsSettings
    assert "/v1/interactions/check" in plugin.route_paths
    [knowledge] = plugin.knowledge
    assert knowledge.version == checker().version
    assert knowledge.entries >= 400


@pytest.fixture
async def host_and_db(settings: Settings) -> AsyncIterator[tuple[PluginHost, Database]]:
    db = Database(settings.database)
    try:
        yield PluginHost(allow=["interactions"], extra=[Formulary()]), db
    finally:
        await db.dispose()


def _context(host: PluginHost, tenant: TenantHandle, session: Any) -> PluginContext:
    principal = Principal(tenant_id=tenant.id, key_id=tenant.key_id, scopes=frozenset({"admin"}), mode="live")
    return PluginContext(
        plugin="otc",
        principal=principal,
        settings=None,
        session=session,
        audit=None,
        services=host.services,
        hooks=host.pm.hook,
    )


async def test_check_service_returns_the_api_shape(
    host_and_db: tuple[PluginHost, Database], tenant_a: TenantHandle
) -> None:
    host, db = host_and_db
    async with db.transaction(Scope.tenant(tenant_a.id)) as session:
        ctx = _context(host, tenant_a, session)
        result = await ctx.service("interactions.check")(ctx, ["sertraline", "Nardil"], {"age": 40})
    assert result["interactions"][0]["severity"] == "contraindicated"
    assert {"interactions", "warnings", "recognized", "unrecognized", "disclaimer", "citations"} <= set(
        result
    )
    assert result["knowledge_version"] == checker().version
    assert isinstance(result["interactions"][0]["reviewed"], str)  # plain JSON types


async def test_check_service_applies_hook_rules_for_the_tenant(
    host_and_db: tuple[PluginHost, Database], tenant_a: TenantHandle
) -> None:
    host, db = host_and_db
    async with db.transaction(Scope.tenant(tenant_a.id)) as session:
        ctx = _context(host, tenant_a, session)
        result = await ctx.service("interactions.check")(ctx, ["omeprazole", "atorvastatin"])
    assert [(i["rule_id"], i["source"]) for i in result["interactions"]] == [
        ("formulary-ppi-statin", "plugin")
    ]
    assert tenant_a.id in Formulary.seen


async def test_check_service_refuses_bad_patients(
    host_and_db: tuple[PluginHost, Database], tenant_a: TenantHandle
) -> None:
    host, db = host_and_db
    async with db.transaction(Scope.tenant(tenant_a.id)) as session:
        ctx = _context(host, tenant_a, session)
        with pytest.raises(LumenProblem) as raised:
            await ctx.service("interactions.check")(ctx, ["aspirin"], {"age": "old"})
        assert raised.value.status_code == 422
        with pytest.raises(LumenProblem):
            await ctx.service("interactions.check")(ctx, ["aspirin"] * 51)


async def test_lookup_service(host_and_db: tuple[PluginHost, Database], tenant_a: TenantHandle) -> None:
    host, db = host_and_db
    async with db.transaction(Scope.tenant(tenant_a.id)) as session:
        ctx = _context(host, tenant_a, session)
        lookup = ctx.service("interactions.lookup")
        found = await lookup(ctx, "Advil")
        assert found is not None and found["id"] == "ibuprofen" and "nsaid" in found["classes"]
        assert await lookup(ctx, "xyzzy") is None
        assert await lookup(ctx, "x" * 1000) is None
