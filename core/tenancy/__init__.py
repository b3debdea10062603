"""Which tenant a unit of work acts for, and how that reaches PostgreSQL."""

from lumen.core.tenancy.context import PLATFORM, Scope, TenantContext

__all__ = ["PLATFORM", "Scope", "TenantContext"]
