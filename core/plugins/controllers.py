"""Per-tenant plugin enablement and settings: GET /v1/plugins, GET/PUT /v1/plugins/{name}."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, put
from litestar.params import FromPath, JSONBody, PathParameter
from sqlalchemy import select

from lumen.core.http.dependencies import Caller, DbSession
from lumen.core.http.errors import Conflict, NotFound, UnprocessableEntity, field_message
from lumen.core.plugins.host import LoadedPlugin, PluginHost
from lumen.core.plugins.models import TenantPlugin
from lumen.core.tenancy.invalidation import forget_tenant_after_commit
from lumen.plugins.sdk.types import KnowledgeSource

__all__ = ["PluginController", "plugin_settings"]

PluginName = Annotated[str, PathParameter(pattern=r"^[a-z][a-z0-9_]{1,39}$")]


class PluginOut(msgspec.Struct):
    name: str
    version: str
    description: str
    enabled: bool
    default_enabled: bool
    settings: dict[str, Any]
    actions: list[str]
    knowledge: list[KnowledgeSource]
    config_version: int


class PluginPage(msgspec.Struct):
    items: list[PluginOut]


class PluginUpdate(msgspec.Struct, forbid_unknown_fields=True):
    enabled: bool | msgspec.UnsetType = msgspec.UNSET
    settings: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


def plugin_settings(plugin: LoadedPlugin, stored: dict[str, Any] | None) -> Any:
    """The plugin's settings Struct for a tenant (its defaults when the tenant has set nothing)."""
    if plugin.settings_type is None:
        return None
    try:
        return msgspec.convert(stored or {}, plugin.settings_type)
    except msgspec.ValidationError as exc:
        # Stored under an older version of the plugin whose settings have since changed: never guess.
        raise Conflict(
            f"This tenant's settings for plugin {plugin.name!r} no longer fit its current version "
            f"({field_message(exc)}); send valid settings with PUT /v1/plugins/{plugin.name}."
        ) from None


def _out(plugin: LoadedPlugin, row: TenantPlugin | None) -> PluginOut:
    try:
        settings = plugin_settings(plugin, dict(row.settings) if row else None)
    except Conflict:
        settings = None  # listed without settings, so the tenant can see the plugin and fix them
    return PluginOut(
        name=plugin.name,
        version=plugin.info.version,
        description=plugin.info.description,
        enabled=row.enabled if row else plugin.info.default_enabled,
        default_enabled=plugin.info.default_enabled,
        settings=msgspec.to_builtins(settings) if settings is not None else {},
        actions=sorted(plugin.actions),
        knowledge=plugin.knowledge,
        config_version=row.version if row else 0,
    )


class PluginController(Controller):
    path = "/v1/plugins"
    tags = ["plugins"]

    @staticmethod
    def _plugin(request: Request[Any, Any, Any], name: str) -> LoadedPlugin:
        host: PluginHost = request.app.state.plugins
        plugin = host.plugins.get(name)
        if plugin is None:
            raise NotFound(f"no plugin {name!r} is installed")
        return plugin

    @get(
        "/",
        operation_id="listPlugins",
        summary="Installed plugins and this tenant's choices",
        opt={"action": "plugins.read"},
    )
    async def list_plugins(
        self, request: Request[Any, Any, Any], session: DbSession, principal: Caller
    ) -> PluginPage:
        host: PluginHost = request.app.state.plugins
        rows = {
            r.plugin: r
            for r in (
                await session.scalars(
                    select(TenantPlugin).where(TenantPlugin.tenant_id == principal.tenant_id)
                )
            ).all()
        }
        return PluginPage(items=[_out(p, rows.get(name)) for name, p in sorted(host.plugins.items())])

    @get(
        "/{name:str}",
        operation_id="getPlugin",
        summary="One plugin and this tenant's choices",
        opt={"action": "plugins.read"},
    )
    async def get_plugin(
        self,
        request: Request[Any, Any, Any],
        name: FromPath[PluginName],
        session: DbSession,
        principal: Caller,
    ) -> PluginOut:
        plugin = self._plugin(request, name)
        row = (
            await session.scalars(
                select(TenantPlugin).where(
                    TenantPlugin.tenant_id == principal.tenant_id, TenantPlugin.plugin == name
                )
            )
        ).one_or_none()
        return _out(plugin, row)

    @put(
        "/{name:str}",
        operation_id="configurePlugin",
        summary="Enable, disable or configure a plugin",
        opt={"action": "plugins.configure", "resource": "plugin"},
    )
    async def configure(
        self,
        request: Request[Any, Any, Any],
        name: FromPath[PluginName],
        data: JSONBody[PluginUpdate],
        session: DbSession,
        principal: Caller,
    ) -> PluginOut:
        plugin = self._plugin(request, name)
        row = (
            await session.scalars(
                select(TenantPlugin)
                .where(TenantPlugin.tenant_id == principal.tenant_id, TenantPlugin.plugin == name)
                .with_for_update()
            )
        ).one_or_none()
        settings: dict[str, Any] = dict(row.settings) if row else {}
        if data.settings is not msgspec.UNSET:
            if plugin.settings_type is None:
                raise UnprocessableEntity(
                    f"settings: plugin {name!r} has no settings", slug="validation-error"
                )
            try:
                checked = msgspec.convert(data.settings, plugin.settings_type)
            except msgspec.ValidationError as exc:
                raise UnprocessableEntity(
                    f"settings: {field_message(exc)}", slug="validation-error"
                ) from None
            settings = msgspec.to_builtins(checked)
        enabled = (
            data.enabled
            if data.enabled is not msgspec.UNSET
            else (row.enabled if row else plugin.info.default_enabled)
        )
        if row is None:
            assert principal.tenant_id is not None
            row = TenantPlugin(
                tenant_id=principal.tenant_id,
                plugin=name,
                enabled=enabled,
                settings=settings,
                version=1,
                updated_by_key_id=principal.key_id,
            )
            session.add(row)
        else:
            row.enabled, row.settings, row.version = enabled, settings, row.version + 1
            row.updated_by_key_id = principal.key_id
        await session.flush()
        assert principal.tenant_id is not None
        forget_tenant_after_commit(request.scope, principal.tenant_id)
        return _out(plugin, row)
