"""Tenant and API key logic. Services never commit: the request (or CLI command) boundary does."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.auth.keys import generate_key
from lumen.core.auth.scopes import ADMIN, ScopeRegistry
from lumen.core.db.base import utcnow
from lumen.core.http.errors import Conflict, Forbidden, NotFound, UnprocessableEntity
from lumen.tenants.models import ApiKey, Branding, KeyMode, Tenant, TenantStatus
from lumen.tenants.repository import ApiKeyRepository, BrandingRepository, TenantRepository
from lumen.tenants.schemas import BrandingIn

__all__ = [
    "ApiKeyService",
    "BrandingService",
    "IssuedKey",
    "TenantService",
    "check_branding",
    "contrast_with_white",
    "key_status",
]

log = structlog.get_logger()

MAX_KEY_LIFETIME = timedelta(days=3650)


class TenantService:
    def __init__(self, session: AsyncSession) -> None:
        self.tenants = TenantRepository(session)
        self.session = session

    async def create(self, *, slug: str, name: str) -> Tenant:
        if await self.tenants.get_by_slug(slug) is not None:
            raise Conflict(f"slug: a tenant with slug {slug!r} already exists")
        try:
            async with self.session.begin_nested():
                tenant = await self.tenants.add(Tenant(slug=slug, name=name, status=TenantStatus.ACTIVE))
        except IntegrityError:  # a concurrent create with the same slug won the race
            raise Conflict(f"slug: a tenant with slug {slug!r} already exists") from None
        log.info("tenants.tenant_created", tenant_id=str(tenant.id))
        return tenant

    async def get(self, tenant_id: uuid.UUID) -> Tenant:
        tenant = await self.tenants.get(tenant_id)
        if tenant is None:
            raise NotFound("tenant not found")
        return tenant

    async def list(self, *, cursor: str | None, limit: int) -> tuple[Sequence[Tenant], str | None]:
        return await self.tenants.list(cursor=cursor, limit=limit)

    async def update(self, tenant_id: uuid.UUID, *, name: str | None, status: str | None) -> Tenant:
        tenant = await self.get(tenant_id)
        if name is not None:
            tenant.name = name
        if status is not None and status != tenant.status:
            tenant.status = TenantStatus(status)
            log.info("tenants.tenant_status_changed", tenant_id=str(tenant.id), status=status)
        await self.session.flush()
        return tenant

    async def delete(self, tenant_id: uuid.UUID) -> None:
        tenant = await self.get(tenant_id)
        await self.tenants.delete(tenant)
        log.info("tenants.tenant_deleted", tenant_id=str(tenant_id))


class IssuedKey:
    """A stored key and its secret, which exists only in this object and the one response."""

    def __init__(self, record: ApiKey, secret: str) -> None:
        self.record = record
        self.secret = secret


def key_status(key: ApiKey, now: datetime | None = None) -> str:
    now = now or utcnow()
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


class ApiKeyService:
    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID, scopes: ScopeRegistry) -> None:
        self.keys = ApiKeyRepository(session, tenant_id)
        self.tenant_id = tenant_id
        self.scope_registry = scopes

    async def issue(
        self,
        *,
        name: str,
        scopes: Sequence[str],
        mode: str = "live",
        expires_at: datetime | None = None,
        created_by: uuid.UUID | None = None,
        rotated_from: uuid.UUID | None = None,
        creator_scopes: frozenset[str] | None = None,
    ) -> IssuedKey:
        """`creator_scopes`: the issuing key's scopes (None for the platform operator). A key that is not
        `admin` - say one a tenant's policy lets create keys - can never issue scopes it does not hold."""
        unknown = sorted(s for s in set(scopes) if s not in self.scope_registry)
        if unknown:
            raise UnprocessableEntity(
                f"scopes: unknown scope(s) {', '.join(unknown)}", slug="validation-error", status_code=422
            )
        if creator_scopes is not None and ADMIN not in creator_scopes:
            beyond = sorted(set(scopes) - creator_scopes)
            if beyond:
                raise Forbidden(
                    f"scopes: this API key cannot grant scopes it does not hold ({', '.join(beyond)})"
                )
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise UnprocessableEntity(
                    "expires_at: must include a timezone (e.g. 2027-01-01T00:00:00Z)",
                    slug="validation-error",
                    status_code=422,
                )
            if expires_at <= utcnow():
                raise UnprocessableEntity(
                    "expires_at: must be in the future", slug="validation-error", status_code=422
                )
            if expires_at > utcnow() + MAX_KEY_LIFETIME:
                raise UnprocessableEntity(
                    "expires_at: at most 10 years ahead", slug="validation-error", status_code=422
                )
        generated = generate_key(mode)
        while await self.keys.prefix_exists(generated.prefix):  # ~1 in 2e14; cheap to rule out
            generated = generate_key(mode)
        record = await self.keys.add(
            ApiKey(
                tenant_id=self.tenant_id,
                name=name,
                mode=KeyMode(mode),
                prefix=generated.prefix,
                secret_hash=generated.secret_hash,
                scopes=sorted(set(scopes)),
                expires_at=expires_at,
                created_by_key_id=created_by,
                rotated_from_id=rotated_from,
            )
        )
        log.info("keys.key_issued", key_id=str(record.id), mode=mode)
        return IssuedKey(record, generated.key)

    async def get(self, key_id: uuid.UUID) -> ApiKey:
        key = await self.keys.get(key_id)
        if key is None:
            raise NotFound("API key not found")
        return key

    async def list(self, *, cursor: str | None, limit: int) -> tuple[Sequence[ApiKey], str | None]:
        return await self.keys.list(cursor=cursor, limit=limit)

    async def revoke(self, key_id: uuid.UUID) -> ApiKey:
        key = await self.get(key_id)
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            log.info("keys.key_revoked", key_id=str(key.id))
        return key

    async def rotate(
        self,
        key_id: uuid.UUID,
        *,
        overlap_seconds: int,
        created_by: uuid.UUID | None,
        creator_scopes: frozenset[str] | None = None,
    ) -> IssuedKey:
        """A new key with the same name, mode and scopes; the old one keeps working for the overlap."""
        old = await self.get(key_id)
        if key_status(old) != "active":
            raise Conflict(f"API key is {key_status(old)} and cannot be rotated")
        new = await self.issue(
            name=old.name,
            scopes=old.scopes,
            mode=old.mode,
            expires_at=old.expires_at,
            created_by=created_by,
            rotated_from=old.id,
            creator_scopes=creator_scopes,
        )
        cutoff = utcnow() + timedelta(seconds=overlap_seconds)
        if overlap_seconds == 0:
            old.revoked_at = utcnow()
        elif old.expires_at is None or old.expires_at > cutoff:
            old.expires_at = cutoff
        log.info("keys.key_rotated", key_id=str(old.id), new_key_id=str(new.record.id))
        return new


# --- branding ----------------------------------------------------------------------------------------------

# White text sits on the primary colour (buttons, the header): WCAG 2.1 AA asks 4.5:1 for normal text.
MIN_CONTRAST = 4.5
MAX_LOGO_BYTES = 64 * 1024
_IMAGE_MAGIC = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/webp": (b"RIFF",),
}
# Characters that have no business in a URL we put into an attribute (they would need escaping anyway).
_URL_FORBIDDEN = re.compile(r"[\s\"'<>\\`\x00-\x1f\x7f]")
_DATA_URI = re.compile(r"^data:(image/(?:png|jpeg|webp));base64,([A-Za-z0-9+/]+={0,2})$")


def _invalid(detail: str) -> UnprocessableEntity:
    return UnprocessableEntity(detail, slug="validation-error", status_code=422)


def relative_luminance(color: str) -> float:
    """WCAG 2.1 relative luminance of `#rrggbb`."""

    def channel(hex2: str) -> float:
        c = int(hex2, 16) / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(color[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_with_white(color: str) -> float:
    return 1.05 / (relative_luminance(color) + 0.05)


def check_logo(logo: str) -> None:
    """An https URL, or a data: URI of a small PNG/JPEG/WebP whose bytes are what it says (no SVG: it can
    carry script, and the app never needs vector logos badly enough to take that risk)."""
    if logo.startswith("data:"):
        match = _DATA_URI.match(logo)
        if match is None:
            raise _invalid("logo: a data URI must be data:image/png|jpeg|webp;base64,<base64>")
        try:
            raw = base64.b64decode(match.group(2), validate=True)
        except binascii.Error:
            raise _invalid("logo: the data URI's base64 does not decode") from None
        if len(raw) > MAX_LOGO_BYTES:
            raise _invalid(f"logo: the image is {len(raw)} bytes; at most {MAX_LOGO_BYTES}")
        mime = match.group(1)
        if not raw.startswith(_IMAGE_MAGIC[mime]) or (mime == "image/webp" and raw[8:12] != b"WEBP"):
            raise _invalid(f"logo: the data is not a {mime} image")
        return
    if len(logo) > 2000:
        raise _invalid("logo: a URL may be at most 2000 characters")
    if _URL_FORBIDDEN.search(logo):
        raise _invalid("logo: the URL contains spaces, quotes, angle brackets or control characters")
    parts = urlsplit(logo)
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password:
        raise _invalid("logo: must be an https:// URL (without credentials) or a data:image URI")


_HEX = re.compile(r"#[0-9a-fA-F]{6}")
_LOCALE = re.compile(r"[a-z]{2,3}(?:-[A-Z][a-z]{3})?(?:-(?:[A-Z]{2}|[0-9]{3}))?")


def check_branding(data: BrandingIn) -> None:
    # The schema's patterns end in `$`, which also matches before a final newline: check the whole value.
    for field, value in (("primary_color", data.primary_color), ("accent_color", data.accent_color)):
        if value is not None and not _HEX.fullmatch(value):
            raise _invalid(f"{field}: must be a colour written #rrggbb")
    if not _LOCALE.fullmatch(data.locale):
        raise _invalid("locale: must be a language tag such as en, en-GB or pt-BR")
    ratio = contrast_with_white(data.primary_color)
    if ratio < MIN_CONTRAST:
        raise _invalid(
            f"primary_color: white text on {data.primary_color} has a contrast of {ratio:.2f}:1; "
            f"at least {MIN_CONTRAST}:1 is needed (WCAG AA), so choose a darker colour"
        )
    if data.accent_color is not None and contrast_with_white(data.accent_color) < MIN_CONTRAST:
        raise _invalid(
            f"accent_color: white text on {data.accent_color} has a contrast of "
            f"{contrast_with_white(data.accent_color):.2f}:1; at least {MIN_CONTRAST}:1 is needed"
        )
    if len(set(data.features)) != len(data.features):
        raise _invalid("features: each feature may be listed once")
    if data.logo is not None:
        check_logo(data.logo)


class BrandingService:
    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID) -> None:
        self.branding = BrandingRepository(session, tenant_id)
        self.session = session

    async def find(self) -> Branding | None:
        return await self.branding.get()

    async def put(self, data: BrandingIn) -> tuple[Branding, bool]:
        """Replace the branding (or create it); returns it and whether it was created."""
        check_branding(data)
        row = await self.branding.get()
        created = row is None
        if row is None:
            row = Branding()
        row.name = data.name.strip()
        row.primary_color = data.primary_color.lower()
        row.accent_color = (data.accent_color or data.primary_color).lower()
        row.logo = data.logo
        row.support_text = data.support_text
        row.emergency_text = data.emergency_text
        row.disclaimer = data.disclaimer
        row.locale = data.locale
        row.features = list(data.features)
        if created:
            await self.branding.add(row)
        else:
            await self.session.flush()
        log.info("branding.branding_updated", created=created)
        return row, created
