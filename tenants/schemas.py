"""Request and response shapes for tenants and API keys (msgspec; unknown input fields are refused)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from lumen.core.http.types import NOT_BLANK_TEXT

__all__ = [
    "ALL_FEATURES",
    "AppSession",
    "BrandingIn",
    "BrandingOut",
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


# --- branding of the tenant's patient app ------------------------------------------------------------------

# Everything below ends up in a public page. Colours are exactly `#rrggbb` (so a value can never close a CSS
# declaration); texts refuse control characters and are HTML-escaped when rendered.
HexColor = Annotated[str, Meta(pattern=r"^#[0-9a-fA-F]{6}$", examples=["#0a7d5a"])]
BrandName = Annotated[
    str, Meta(min_length=1, max_length=80, pattern=NOT_BLANK_TEXT, examples=["Acme Care Companion"])
]
ShortText = Annotated[str, Meta(max_length=300, pattern=NOT_BLANK_TEXT)]
LongText = Annotated[str, Meta(max_length=1000, pattern=NOT_BLANK_TEXT)]
# A BCP 47 tag of the common shapes: "en", "en-GB", "pt-BR", "zh-Hant-TW".
Locale = Annotated[
    str, Meta(max_length=16, pattern=r"^[a-z]{2,3}(?:-[A-Z][a-z]{3})?(?:-(?:[A-Z]{2}|[0-9]{3}))?$")
]
# An https URL (no spaces, quotes or angle brackets), or a data: URI checked further by the service.
LogoRef = Annotated[str, Meta(min_length=9, max_length=200_000)]
Feature = Literal["interactions", "triage", "otc", "glossary", "qa", "profile"]
ALL_FEATURES: tuple[Feature, ...] = ("interactions", "triage", "otc", "glossary", "qa", "profile")


class BrandingIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """PUT /v1/branding: the whole branding (fields left out take their defaults)."""

    name: BrandName
    primary_color: HexColor = "#0a5c8a"
    accent_color: HexColor | None = None
    logo: LogoRef | None = None
    support_text: ShortText | None = None
    emergency_text: ShortText | None = None
    disclaimer: LongText | None = None
    locale: Locale = "en"
    features: Annotated[list[Feature], Meta(max_length=len(ALL_FEATURES))] = msgspec.field(
        default_factory=lambda: list(ALL_FEATURES)
    )


class BrandingOut(msgspec.Struct, kw_only=True):
    name: str
    primary_color: str
    accent_color: str
    logo: str | None
    support_text: str | None
    emergency_text: str | None
    disclaimer: str | None
    locale: str
    features: list[str]
    app_path: str  # where the app is served: /t/{slug}/
    # False until the first PUT: the app is then a 404 and these are the defaults a PUT would start from.
    app_enabled: bool
    updated_at: datetime | None


class AppSession(msgspec.Struct, kw_only=True):
    """POST /t/{slug}/session: a short-lived bearer token for the app's calls to the patient-facing API."""

    token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - the scheme name
    expires_at: datetime
    expires_in: int
    scopes: list[str]
    # When a patient has signed in to the app: their record's id, which the app sends as `patient_id` so
    # the checks use their profile. The token accepts no other patient's id.
    patient_id: uuid.UUID | None = None
