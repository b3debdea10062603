"""Per-tenant limit overrides (the plan itself is `tenants.plan`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Index
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from lumen.core.db.base import TenantModel

__all__ = ["TenantLimits"]


class TenantLimits(TenantModel):
    """One row per tenant that has overrides; set by the platform operator only. Row-level security lets
    the tenant's own scope read it (the request path loads it per tenant) and the platform scope write it."""

    __tablename__ = "tenant_limits"
    __table_args__ = (Index("uq_tenant_limits_tenant_id", "tenant_id", unique=True),)

    # LimitOverrides as stored: {"requests_per_minute": 10, ...}; absent fields follow the plan.
    overrides: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
