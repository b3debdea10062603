"""Public routes of the patient app: the branded page, its theme, its static assets, and app sessions.

None of these take an API key. The page is resolved by slug in the platform scope (the `tenants` row only),
then the branding is read in that tenant's own scope: the public path reads nothing else of any tenant.
An unknown slug, a suspended tenant and a tenant without branding all answer the same 404.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from typing import Any

import jinja2
import structlog
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath

from lumen.core.auth.app_tokens import AppTokenSigner
from lumen.core.auth.scopes import ScopeRegistry
from lumen.core.db.session import Database
from lumen.core.http.errors import LumenProblem, NotFound
from lumen.core.limits.keys import tenant_prefix
from lumen.core.tenancy.context import PLATFORM, Scope
from lumen.tenants.models import Branding, TenantStatus
from lumen.tenants.repository import BrandingRepository, TenantRepository
from lumen.tenants.schemas import AppSession

__all__ = ["APP_FEATURE_SCOPES", "SECURITY_HEADERS", "PatientAppController", "app_asset"]

log = structlog.get_logger()

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

# What an anonymous app session may do, per enabled feature. Nothing here reads or writes a patient record
# or any tenant configuration beyond the public drug list; scopes a Lumen lacks (a plugin not installed) are
# dropped when the session is minted. `admin` and every *:manage scope are out of reach by construction.
APP_FEATURE_SCOPES: dict[str, tuple[str, ...]] = {
    "interactions": ("interactions:check", "interactions:read"),
    "triage": ("triage:assess",),
    "otc": ("otc:recommend",),
    "glossary": ("glossary:read",),
    "qa": ("qa:ask",),
    "profile": (),  # a patient's own record needs a patient sign-in, which anonymous sessions are not
}
SESSIONS_PER_MINUTE = 30  # per client address and tenant
SESSION_SECONDS = 900

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: https:",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "cross-origin-opener-policy": "same-origin",
}

FEATURE_LABELS = {
    "interactions": "Check my medicines",
    "triage": "Symptom check",
    "otc": "Self-care medicines",
    "glossary": "Medical words",
    "qa": "Ask a question",
    "profile": "My profile",
}

_ASSETS = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}


@cache
def _templates() -> jinja2.Environment:
    # autoescape on for everything: every tenant-supplied value is escaped wherever it lands.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("lumen.tenants.app", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


@cache
def app_asset(name: str) -> bytes:
    return resources.files("lumen.tenants.app").joinpath("static", name).read_bytes()


async def _resolve(db: Database, slug: str) -> tuple[uuid.UUID, Branding]:
    if not _SLUG.match(slug):
        raise NotFound("No patient app at this address.")
    async with db.transaction(PLATFORM) as session:
        tenant = await TenantRepository(session).get_by_slug(slug)
        tenant_id, status = (tenant.id, tenant.status) if tenant is not None else (None, None)
    if tenant_id is None or status != TenantStatus.ACTIVE:
        raise NotFound("No patient app at this address.")
    async with db.transaction(Scope.tenant(tenant_id)) as session:
        branding = await BrandingRepository(session, tenant_id).get()
    if branding is None:  # the app is off until the tenant brands it
        raise NotFound("No patient app at this address.")
    return tenant_id, branding


def _page(body: str | bytes, media_type: str, *, cache_control: str = "no-cache") -> Response[Any]:
    return Response(
        body,
        media_type=media_type,
        headers={**SECURITY_HEADERS, "cache-control": cache_control},
    )


class PatientAppController(Controller):
    path = "/t"
    tags = ["patient app"]

    @get(
        "/{slug:str}",
        operation_id="patientApp",
        summary="The tenant's branded patient app (HTML)",
        exclude_from_auth=True,
        media_type="text/html",
    )
    async def page(self, request: Request[Any, Any, Any], slug: FromPath[str]) -> Response[Any]:
        _, branding = await _resolve(request.app.state.db, slug)
        html = (
            _templates()
            .get_template("index.html")
            .render(
                slug=slug,
                b=branding,
                features=[f for f in FEATURE_LABELS if f in branding.features],
                labels=FEATURE_LABELS,
            )
        )
        return _page(html, "text/html; charset=utf-8")

    @get(
        "/{slug:str}/theme.css",
        operation_id="patientAppTheme",
        summary="The tenant's colours as CSS custom properties",
        exclude_from_auth=True,
        media_type="text/css",
    )
    async def theme(self, request: Request[Any, Any, Any], slug: FromPath[str]) -> Response[Any]:
        _, branding = await _resolve(request.app.state.db, slug)
        # Both values matched ^#[0-9a-f]{6}$ on the way in; the pattern is checked again on the way out.
        colours = [
            c if re.fullmatch(r"#[0-9a-f]{6}", c) else "#0a5c8a"
            for c in (branding.primary_color, branding.accent_color)
        ]
        css = f":root {{ --primary: {colours[0]}; --accent: {colours[1]}; }}\n"
        return _page(css, "text/css; charset=utf-8")

    @post(
        "/{slug:str}/session",
        operation_id="startPatientAppSession",
        summary="A short-lived, scope-limited token for the app's calls to the patient-facing API",
        exclude_from_auth=True,
        status_code=201,
    )
    async def session(self, request: Request[Any, Any, Any], slug: FromPath[str]) -> Response[AppSession]:
        state = request.app.state
        tenant_id, branding = await _resolve(state.db, slug)
        client = request.client.host if request.client else "unknown"
        minute = int(datetime.now(UTC).timestamp() // 60)
        counter = f"{tenant_prefix(tenant_id)}app-session:{client}:{minute}"
        count = await state.redis.incr(counter)
        if count == 1:
            await state.redis.expire(counter, 120)
        if count > SESSIONS_PER_MINUTE:
            raise LumenProblem(
                "Too many app sessions from this address; try again in a minute.",
                slug="rate-limited",
                headers={"retry-after": "60"},
            )
        registry: ScopeRegistry = state.scopes
        scopes = sorted(
            {s for f in branding.features for s in APP_FEATURE_SCOPES.get(f, ()) if s in registry}
        )
        signer: AppTokenSigner = state.app_tokens
        token, expires = signer.issue(tenant_id, scopes)
        log.info("app.session_started", tenant_id=str(tenant_id), scopes=len(scopes))
        out = AppSession(
            token=token,
            expires_at=datetime.fromtimestamp(expires, UTC),
            expires_in=signer.ttl_seconds,
            scopes=scopes,
        )
        return Response(out, status_code=201, headers={"cache-control": "no-store"})


@get(
    "/app-assets/{name:str}",
    operation_id="patientAppAsset",
    summary="The patient app's script and stylesheet (the same for every tenant)",
    tags=["patient app"],
    exclude_from_auth=True,
    include_in_schema=False,
)
async def patient_app_asset(name: FromPath[str]) -> Response[Any]:
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise NotFound("No such asset.")
    return _page(app_asset(name), media_type)
