"""TenantContext: the scope a database transaction runs in.

A transaction runs either for one tenant (row-level security shows it that tenant's rows only) or, for the
platform operator's own routes and for API-key lookup before the tenant is known, in platform scope. The
scope is applied per transaction with ``set_config(..., is_local => true)`` (see ``lumen.core.db.session``),
never per connection, so a pooled connection cannot carry one tenant's scope into another's request.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass

__all__ = ["PLATFORM", "Scope", "TenantContext", "current_tenant"]


@dataclass(frozen=True, slots=True)
class Scope:
    tenant_id: uuid.UUID | None
    platform: bool = False

    def __post_init__(self) -> None:
        if self.platform == (self.tenant_id is not None):
            raise ValueError("a scope is either one tenant or the platform, never both or neither")

    @classmethod
    def tenant(cls, tenant_id: uuid.UUID) -> Scope:
        return cls(tenant_id=tenant_id)


PLATFORM = Scope(tenant_id=None, platform=True)

# Set by the authentication middleware for the life of a request (and by jobs for theirs).
current_tenant: ContextVar[uuid.UUID | None] = ContextVar("lumen_tenant_id", default=None)


class TenantContext:
    """Read the tenant the current request or job acts for."""

    @staticmethod
    def get() -> uuid.UUID | None:
        return current_tenant.get()

    @staticmethod
    def require() -> uuid.UUID:
        tenant_id = current_tenant.get()
        if tenant_id is None:
            raise LookupError("no tenant in context")
        return tenant_id
