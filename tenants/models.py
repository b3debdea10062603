"""Tenant and API key tables."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Enum, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from lumen.core.db.base import TenantModel, TimestampedModel

__all__ = ["ApiKey", "Branding", "KeyMode", "Tenant", "TenantStatus"]


class TenantStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class KeyMode(enum.StrEnum):
    LIVE = "live"
    TEST = "test"


class Tenant(TimestampedModel):
    """A customer organisation. Its own row is visible to its keys and to the platform operator."""

    __tablename__ = "tenants"

    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[TenantStatus] = mapped_column(
        Enum(TenantStatus, name="tenant_status", values_callable=lambda e: [m.value for m in e]),
        default=TenantStatus.ACTIVE,
    )
    # A name from lumen.core.limits.plans.PLANS; changed with PUT /v1/tenants/{id}/limits.
    plan: Mapped[str] = mapped_column(String(32), default="standard", server_default="standard")


class ApiKey(TenantModel):
    """An API key. Only its SHA-256 is stored; `prefix` is the non-secret, indexed part used to find it."""

    __tablename__ = "api_keys"
    __table_args__ = (
        Index("uq_api_keys_prefix", "prefix", unique=True),
        CheckConstraint("octet_length(secret_hash) = 32", name="secret_hash_is_sha256"),
    )

    name: Mapped[str] = mapped_column(String(200))
    mode: Mapped[KeyMode] = mapped_column(
        Enum(KeyMode, name="key_mode", values_callable=lambda e: [m.value for m in e])
    )
    prefix: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(64)))
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    # Rotation: the key this one replaced, which stays valid until its (shortened) expiry.
    rotated_from_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), default=None
    )
    # Who made it: another key of the tenant, or None for the platform operator.
    created_by_key_id: Mapped[uuid.UUID | None] = mapped_column(default=None)


class Branding(TenantModel):
    """How the tenant's patient app looks and what it offers (one row per tenant; PUT /v1/branding).

    Every value here ends up in a public HTML page: the schema validates it (hex colours, https/data-URI
    logos, no control characters) and the page escapes it; neither wall relies on the other."""

    __tablename__ = "tenant_branding"
    __table_args__ = (Index("uq_tenant_branding_tenant_id", "tenant_id", unique=True),)

    name: Mapped[str] = mapped_column(String(80))
    primary_color: Mapped[str] = mapped_column(String(7))
    accent_color: Mapped[str] = mapped_column(String(7))
    # An https URL, or a data: URI of a PNG/JPEG/WebP image (size-limited by the schema).
    logo: Mapped[str | None] = mapped_column(Text, default=None)
    support_text: Mapped[str | None] = mapped_column(String(300), default=None)
    emergency_text: Mapped[str | None] = mapped_column(String(300), default=None)
    disclaimer: Mapped[str | None] = mapped_column(String(1000), default=None)
    locale: Mapped[str] = mapped_column(String(16))
    features: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
