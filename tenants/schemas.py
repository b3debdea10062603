"""Request and response shapes for tenants and API keys (msgspec; unknown input fields are refused)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from lumen.core.http.types import NOT_BLANK_TEXT

__all__ = [
    "KeyCreate",
    "KeyCreated",
    "KeyOut",
    "KeyPage",
    "KeyRotate",
    "TenantCreate",
    "TenantOut",
    "TenantPage",
    "TenantUpdate",
]

Slug = Annotated[
    str,
    Meta(
        min_length=2,
        max_length=63,
        pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$",
        description="Lower-case letters, digits and inner hyphens; used in URLs of the tenant's app.",
        examples=["acme-pharma"],
    ),
]
Name = Annotated[
    str, Meta(min_length=1, max_length=200, pattern=NOT_BLANK_TEXT, examples=["Acme Pharma Ltd"])
]
ScopeName = Annotated[str, Meta(min_length=1, max_length=64, pattern=NOT_BLANK_TEXT, examples=["admin"])]
# Seven days at most, as Stripe allows when rolling a key.
Overlap = Annotated[int, Meta(ge=0, le=7 * 86_400, description="Seconds the old key keeps working.")]


class TenantCreate(msgspec.Struct, forbid_unknown_fields=True):
    slug: Slug
    name: Name


class TenantUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    status: Literal["active", "suspended"] | msgspec.UnsetType = msgspec.UNSET


class TenantOut(msgspec.Struct):
    id: uuid.UUID
    slug: str
    name: str
    status: str
    created_at: datetime
    updated_at: datetime


class TenantPage(msgspec.Struct):
    items: list[TenantOut]
    next_cursor: str | None = None


class KeyCreate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    scopes: Annotated[list[ScopeName], Meta(min_length=1, max_length=32)]
    mode: Literal["live", "test"] = "live"
    expires_at: datetime | None = None


class KeyRotate(msgspec.Struct, forbid_unknown_fields=True):
    overlap_seconds: Overlap = 86_400


class KeyOut(msgspec.Struct):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    prefix: str
    mode: str
    scopes: list[str]
    status: Literal["active", "expired", "revoked"]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    rotated_from_id: uuid.UUID | None


class KeyCreated(KeyOut):
    # The secret, shown exactly once: Lumen keeps only its SHA-256.
    key: str = ""


class KeyPage(msgspec.Struct):
    items: list[KeyOut]
    next_cursor: str | None = None
