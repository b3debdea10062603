"""PluginContext: everything a plugin's route handler gets from Lumen for one request.

A plugin never sees the app, a raw database session or another tenant's data. It gets the tenant and
caller, its own per-tenant settings, an audit recorder, repositories bound to the request's transaction
(scoped to the tenant, with row-level security underneath), and the policy decision's obligations.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, TypeVar

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.audit.recorder import RequestAudit
from lumen.core.audit.service import AuditEntry
from lumen.core.auth.principal import Principal
from lumen.plugins.sdk.repository import TenantRepository

__all__ = ["Context", "PluginContext"]

R = TypeVar("R", bound=TenantRepository[Any])


class PluginContext:
    def __init__(
        self,
        *,
        plugin: str,
        principal: Principal,
        settings: Any,
        session: AsyncSession,
        audit: RequestAudit | None,
        obligations: Sequence[str] = (),
    ) -> None:
        if principal.tenant_id is None:
            raise ValueError("a plugin context belongs to one tenant")
        self.plugin = plugin
        self.principal = principal
        self.tenant_id: uuid.UUID = principal.tenant_id
        self.settings = settings  # this plugin's per-tenant settings (its msgspec Struct)
        self.obligations = tuple(obligations)  # what the policy decision requires of this request
        self._session = session
        self._audit = audit

    def repository(self, repository_type: type[R]) -> R:
        """A repository bound to this request's transaction and tenant; the request boundary commits."""
        return repository_type(self._session, self.tenant_id)

    def audit(
        self,
        action: str,
        *,
        resource_type: str | None = None,
        resource_id: str | None = None,
        changed_fields: Sequence[str] = (),
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record a domain event in the request's audit trail (instead of the automatic one). Field names
        only, never values; no PHI in details."""
        if self._audit is None:
            raise RuntimeError("this route is not audited (it names no action)")
        self._audit.record(
            AuditEntry(
                action=action,
                resource_type=resource_type,
                resource_id=resource_id,
                changed_fields=list(changed_fields),
                details=dict(details or {}),
            )
        )


# What a plugin route declares: `ctx: Context` (Litestar 3 drops dependencies inferred by name alone).
Context = NamedDependency[PluginContext]
