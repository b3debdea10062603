"""The `ctx: PluginContext` dependency of plugin route handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.audit.recorder import request_audit
from lumen.core.db.session import Database
from lumen.core.db.unit_of_work import unit_of_work
from lumen.core.http.dependencies import Caller
from lumen.core.jobs.outbox import wake, wake_after_commit
from lumen.core.plugins.controllers import plugin_settings
from lumen.core.plugins.host import PluginHost
from lumen.core.policy.decision import Decision, PolicyInput, PrincipalInput, TenantInput
from lumen.core.policy.engine import PolicyEngine
from lumen.core.tenancy.config import TenantConfigCache
from lumen.core.tenancy.data_cache import TenantDataCache, forget_after_commit
from lumen.plugins.sdk.context import PluginContext
from lumen.plugins.sdk.jobs import TenantTransaction

__all__ = ["provide_plugin_context"]


async def provide_plugin_context(request: Request[Any, Any, Any], principal: Caller) -> PluginContext:
    name = request.route_handler.opt.get("plugin")
    host: PluginHost = request.app.state.plugins
    if not isinstance(name, str) or name not in host.plugins or principal.tenant_id is None:
        raise RuntimeError("PluginContext is only available to a plugin's own routes, for a tenant key")
    cache: TenantConfigCache = request.app.state.tenant_config
    config = await cache.get(principal.tenant_id)
    stored = config.plugin_settings.get(name)
    decision = request.scope.get("state", {}).get("policy_decision")
    plugin = host.plugins[name]
    tenant_id = principal.tenant_id
    woken = False
    data_cache: TenantDataCache = request.app.state.tenant_data

    def on_outbox_write() -> None:
        nonlocal woken
        if not woken:  # one wake-up after the commit, however many rows the request wrote
            woken = True
            wake_after_commit(request.scope)

    @asynccontextmanager
    async def separate_transaction() -> AsyncIterator[TenantTransaction]:
        db: Database = request.app.state.db
        async with db.transaction(principal.scope) as own:
            tx = TenantTransaction(
                own, tenant_id, plugin=name, jobs=plugin.jobs.keys(), events=plugin.events.keys()
            )
            yield tx
        if tx.wrote_outbox:
            await wake(request.app.state.redis)

    async def decide(action: str, resource: dict[str, Any]) -> Decision:
        config_now = await cache.get(tenant_id)
        engine: PolicyEngine = request.app.state.policy_engine
        return await engine.decide(
            PolicyInput(
                principal=PrincipalInput.from_principal(principal),
                action=action,
                resource=resource,
                tenant=TenantInput(
                    id=str(tenant_id),
                    enabled_plugins=sorted(config_now.enabled_plugins),
                    policy_data=dict(config_now.policy_data),
                ),
            )
        )

    def session() -> AsyncSession:
        """The request's session (the unit of work commits it), opened when the plugin first uses it."""
        return unit_of_work(request.scope).session(principal.scope)

    async def read_patient(patient_id: Any) -> dict[str, Any]:
        from lumen.tenants.patients.service import PatientService, profile_context

        service = PatientService(session(), tenant_id, request.app.state.patient_keyring)
        return profile_context(await service.profile(patient_id))

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
        jobs=plugin.jobs.keys(),
        events=plugin.events.keys(),
        on_outbox_write=on_outbox_write,
        separate_transaction=separate_transaction,
        decide=decide,
        action=request.route_handler.opt.get("action"),
        patients=read_patient,
        data_cache=data_cache,
        forget_after_commit=lambda name: forget_after_commit(request.scope, data_cache, tenant_id, name),
    )
