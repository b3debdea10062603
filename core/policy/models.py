"""Per-tenant policy data, versioned: every change is a new row, so a decision can be traced to the data
version it was made with."""

from __future__ import annotations

import uuid

from sqlalchemy import Index, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from lumen.core.db.base import TenantModel

__all__ = ["TenantPolicyVersion"]


class TenantPolicyVersion(TenantModel):
    __tablename__ = "tenant_policy_versions"
    __table_args__ = (
        Index("uq_tenant_policy_versions_tenant_id_version", "tenant_id", "version", unique=True),
    )

    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, object]] = mapped_column(JSONB)
    created_by_key_id: Mapped[uuid.UUID | None]
