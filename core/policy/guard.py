"""The policy decision on the request path: one app-level guard for every authenticated route.

Each route names its action (`opt={"action": "keys.create"}`); a route that requires a key but names no
action is refused, so nothing is reachable by omission. The decision's id goes into the audit record of
the request (allowed or denied) and onto `request.state` with its obligations.

A denied request is answered by what the caller may learn: another tenant's or a disabled plugin's route
is a 404 (no existence oracle); the wrong kind of key is 403 with its own problem type; a missing scope is
403 `forbidden` with the policy's reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from lumen.core.audit.recorder import request_audit
from lumen.core.auth.principal import Principal
from lumen.core.http.errors import Forbidden, LumenProblem, NotFound
from lumen.core.policy.actions import ActionSpec
from lumen.core.policy.decision import PolicyInput, PrincipalInput, TenantInput
from lumen.core.policy.engine import PolicyEngine
from lumen.core.tenancy.config import TenantConfigCache

__all__ = ["authorize"]


async def authorize(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal):
        return  # a public route: authentication was not required, so neither is a decision
    action = handler.opt.get("action")
    if not isinstance(action, str):
        raise Forbidden("This route declares no action, so no policy can allow it.")
    state = connection.app.state
    actions: Mapping[str, ActionSpec] = state.actions
    spec = actions.get(action)
    tenant = TenantInput()
    enabled: frozenset[str] = frozenset()
    if principal.tenant_id is not None:
        cache: TenantConfigCache = state.tenant_config
        config = await cache.get(principal.tenant_id)
        enabled = config.enabled_plugins
        tenant = TenantInput(
            id=str(principal.tenant_id), enabled_plugins=sorted(enabled), policy_data=dict(config.policy_data)
        )
    params = connection.scope.get("path_params", {})
    resource_id = next((str(v) for k, v in params.items() if k.endswith("_id")), None)
    engine: PolicyEngine = state.policy_engine
    decision = await engine.decide(
        PolicyInput(
            principal=PrincipalInput.from_principal(principal),
            action=action,
            resource={"type": handler.opt.get("resource"), "id": resource_id},
            tenant=tenant,
        )
    )
    connection.scope["state"]["policy_decision"] = decision
    audit = request_audit(connection.scope)
    if audit is not None:
        audit.policy_decision_id = decision.id
    if decision.allow:
        return
    extra = {"decision_id": decision.id, "reasons": list(decision.reasons)}
    plugin = spec.plugin if spec is not None else None
    if plugin is not None and not principal.is_platform and plugin not in enabled:
        raise NotFound("Not found.")  # a disabled plugin's routes do not exist for this tenant
    if spec is not None and spec.platform and not principal.is_platform:
        raise LumenProblem(
            "This route needs the platform operator's key.", slug="platform-key-required", extra=extra
        )
    if principal.is_platform:
        raise LumenProblem(
            "This route acts within a tenant: use one of its API keys.",
            slug="tenant-key-required",
            extra=extra,
        )
    required = spec.scopes[0] if spec is not None and spec.scopes else "admin"
    raise Forbidden(
        "; ".join(decision.reasons) or "Denied by policy.", extra={**extra, "required_scope": required}
    )
