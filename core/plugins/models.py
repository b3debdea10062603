"""Per-tenant plugin enablement and settings."""

from __future__ import annotations

import uuid

from sqlalchemy import Index, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from lumen.core.db.base import TenantModel

__all__ = ["TenantPlugin"]


class TenantPlugin(TenantModel):
    """A tenant's choice for one plugin. No row: the plugin's default (built-ins on, partners off)."""

    __tablename__ = "tenant_plugins"
    __table_args__ = (Index("uq_tenant_plugins_tenant_id_plugin", "tenant_id", "plugin", unique=True),)

    plugin: Mapped[str] = mapped_column(String(64))
    enabled: Mapped[bool]
    settings: Mapped[dict[str, object]] = mapped_column(JSONB)
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped on every change
    updated_by_key_id: Mapped[uuid.UUID | None]
