"""The `ctx: PluginContext` dependency of plugin route handlers."""

from __future__ import annotations

from typing import Any

from litestar import Request

from lumen.core.audit.recorder import request_audit
from lumen.core.http.dependencies import Caller, DbSession
from lumen.core.plugins.controllers import plugin_settings
from lumen.core.plugins.host import PluginHost
from lumen.core.tenancy.config import TenantConfigCache
from lumen.plugins.sdk.context import PluginContext

__all__ = ["provide_plugin_context"]


async def provide_plugin_context(
    request: Request[Any, Any, Any], principal: Caller, session: DbSession
) -> PluginContext:
    name = request.route_handler.opt.get("plugin")
    host: PluginHost = request.app.state.plugins
    if not isinstance(name, str) or name not in host.plugins or principal.tenant_id is None:
        raise RuntimeError("PluginContext is only available to a plugin's own routes, for a tenant key")
    cache: TenantConfigCache = request.app.state.tenant_config
    config = await cache.get(principal.tenant_id)
    stored = config.plugin_settings.get(name)
    decision = request.scope.get("state", {}).get("policy_decision")
    return PluginContext(
        plugin=name,
        principal=principal,
        settings=plugin_settings(host.plugins[name], dict(stored) if stored is not None else None),
        session=session,
        audit=request_audit(request.scope),
        obligations=decision.obligations if decision is not None else (),
        services=host.services,
        models=getattr(request.app.state, "models", None),
        hooks=host.pm.hook,
    )
