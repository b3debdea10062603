"""Public routes of the patient app: the branded page, its theme, its static assets, app sessions, and the
patient's sign-in and own profile (sign-in, profile view and edit, export, delete, sign-out).

None of these take an API key. The patient pages are authenticated by the patient session cookie that a
tenant-issued one-time link opens (tenants/app/accounts.py); every form post is checked for a same-origin
request and carries the session's CSRF token; every read of the profile is written to the tenant's audit
trail in the transaction that reads it.

The page is resolved by slug in the platform scope (the `tenants` row only), then the branding is read in
that tenant's own scope: the public path reads nothing else of any tenant. An unknown slug, a suspended
tenant and a tenant without branding all answer the same 404.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl

import jinja2
import msgspec
import structlog
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.audit.service import AuditEntry, AuditTrail
from lumen.core.auth.app_tokens import AppTokenSigner
from lumen.core.auth.scopes import ScopeRegistry
from lumen.core.db.session import Database
from lumen.core.http.errors import LumenProblem, NotFound
from lumen.core.limits.keys import tenant_prefix
from lumen.core.tenancy.context import PLATFORM, Scope
from lumen.tenants.app.accounts import (
    COOKIE,
    PatientSession,
    PatientSessions,
    redeem_link_code,
)
from lumen.tenants.app.profile_form import (
    LISTS,
    PREGNANCIES,
    SEXES,
    FormError,
    form_values,
    parse_profile_form,
    profile_view,
)
from lumen.tenants.models import Branding, TenantStatus
from lumen.tenants.patients.fhir import to_bundle
from lumen.tenants.patients.keyring import MasterKeyring
from lumen.tenants.patients.service import PatientService
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
SESSION_SECONDS = 900
MAX_FORM_BYTES = 65_536

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


def _render(name: str, **context: Any) -> str:
    return _templates().get_template(name).render(**context)


def _html(html: str, *, status_code: int = 200, cookies: list[Cookie] | None = None) -> Response[Any]:
    # Pages that may show the patient's profile: never stored by the browser or any cache on the way.
    return Response(
        html,
        status_code=status_code,
        media_type="text/html; charset=utf-8",
        headers={**SECURITY_HEADERS, "cache-control": "no-store"},
        cookies=cookies or [],
    )


def _redirect(location: str, *, cookies: list[Cookie] | None = None) -> Response[Any]:
    return Response(
        b"",
        status_code=303,
        headers={**SECURITY_HEADERS, "location": location, "cache-control": "no-store"},
        cookies=cookies or [],
    )


def _session_cookie(slug: str, sid: str | None) -> Cookie:
    """The patient session cookie: only the tenant's own app path, never script-readable, never sent over
    plain HTTP or with a request another site starts, and gone when the browser closes (Redis holds the
    session's idle and absolute limits). `None` clears it."""
    return Cookie(
        key=COOKIE,
        value=sid or "",
        path=f"/t/{slug}",
        max_age=None if sid else 0,
        secure=True,
        httponly=True,
        samesite="strict",
    )


def _client(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


async def _over_limit(request: Request[Any, Any, Any], tenant_id: uuid.UUID, what: str, limit: int) -> bool:
    """Count one more `what` from this client address for this tenant this minute; True past `limit`."""
    redis = request.app.state.redis
    minute = int(datetime.now(UTC).timestamp() // 60)
    counter = f"{tenant_prefix(tenant_id)}{what}:{_client(request)}:{minute}"
    count = await redis.incr(counter)
    if count == 1:
        await redis.expire(counter, 120)
    return int(count) > limit


def _same_origin(request: Request[Any, Any, Any]) -> bool:
    """A form post from this app's own pages. Browsers mark every request with `Sec-Fetch-Site`; one that
    does not falls back to `Origin` (which our no-referrer policy makes "null" on a form post, refused:
    it cannot be told apart from another site's). A client that sends neither is no browser another
    site can drive, and the session's CSRF token still applies to it."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    base = request.base_url
    return origin == f"{base.scheme}://{base.netloc}"


async def _form(request: Request[Any, Any, Any]) -> dict[str, str] | None:
    """The urlencoded form body (last value wins), or None for anything else: another media type, an
    oversized body, bytes that are not UTF-8, or too many fields."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        return None
    raw = await request.body()
    if len(raw) > MAX_FORM_BYTES:
        return None
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"), keep_blank_values=True, max_num_fields=20, strict_parsing=False
        )
    except (UnicodeDecodeError, ValueError):
        return None
    if any("\x00" in k or "\x00" in v for k, v in pairs):
        return None
    return dict(pairs)


async def _patient_session(
    request: Request[Any, Any, Any], tenant_id: uuid.UUID, *, touch: bool = True
) -> PatientSession | None:
    return await PatientSessions(request.app.state.redis).get(
        tenant_id, request.cookies.get(COOKIE), touch=touch
    )


async def _audit(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    tenant_id: uuid.UUID,
    action: str,
    patient_id: uuid.UUID,
    changed_fields: list[str] | None = None,
) -> None:
    """The patient's own read or change, in the trail of their tenant: ids and field names, never values."""
    entry = AuditEntry(
        action=action,
        resource_type="patient",
        resource_id=str(patient_id),
        changed_fields=sorted(changed_fields or []),
        details={"via": "patient-app"},
        actor_kind="patient",
        request_id=request.scope.get("state", {}).get("request_id"),
    )
    await AuditTrail(session, tenant_id).append([entry])


def _patients(request: Request[Any, Any, Any], session: AsyncSession, tenant_id: uuid.UUID) -> PatientService:
    keyring: MasterKeyring = request.app.state.patient_keyring
    return PatientService(session, tenant_id, keyring)


class _Denied(Exception):
    """A patient page asked for without a live session, or a form post that fails the CSRF checks."""

    def __init__(self, response: Response[Any]) -> None:
        self.response = response


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
        tenant_id, branding = await _resolve(request.app.state.db, slug)
        signed_in = await _patient_session(request, tenant_id) if "profile" in branding.features else None
        html = _render(
            "index.html",
            slug=slug,
            b=branding,
            features=[f for f in FEATURE_LABELS if f in branding.features],
            labels=FEATURE_LABELS,
            csrf=signed_in.csrf if signed_in else None,
        )
        if signed_in is not None:  # it names no PHI, but it is this patient's page: not for any cache
            return _html(html)
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
        if await _over_limit(
            request, tenant_id, "app-session", state.settings.patients.app_sessions_per_minute
        ):
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
        # A signed-in patient's page gets a token bound to that patient: the checks may then read this one
        # profile as context (and no other), and the token never outlives the patient's session.
        patient = await _patient_session(request, tenant_id) if "profile" in branding.features else None
        now = int(datetime.now(UTC).timestamp())
        token, expires = signer.issue(
            tenant_id,
            scopes,
            now=now,
            patient_id=patient.patient_id if patient else None,
            expires_at=patient.ends_at if patient else None,
        )
        log.info(
            "app.session_started", tenant_id=str(tenant_id), scopes=len(scopes), patient=patient is not None
        )
        out = AppSession(
            token=token,
            expires_at=datetime.fromtimestamp(expires, UTC),
            expires_in=max(0, expires - now),
            scopes=scopes,
            patient_id=patient.patient_id if patient else None,
        )
        return Response(out, status_code=201, headers={"cache-control": "no-store"})

    # --- the patient's sign-in and own profile ------------------------------------------------------------

    @staticmethod
    async def _profile_app(request: Request[Any, Any, Any], slug: str) -> tuple[uuid.UUID, Branding]:
        """The tenant's app, with its profile feature on (else the same 404 as an unknown app)."""
        tenant_id, branding = await _resolve(request.app.state.db, slug)
        if "profile" not in branding.features:
            raise NotFound("No patient app at this address.")
        return tenant_id, branding

    @staticmethod
    async def _signed_in(
        request: Request[Any, Any, Any], slug: str, tenant_id: uuid.UUID, form: dict[str, str] | None = None
    ) -> PatientSession:
        """The live patient session of this tenant's app; for a form post, also a same-origin request
        carrying the session's CSRF token. Otherwise a response that sends the visitor to sign in."""
        found = await _patient_session(request, tenant_id)
        if found is None:
            raise _Denied(_redirect(f"/t/{slug}/signin", cookies=[_session_cookie(slug, None)]))
        if form is not None and not (_same_origin(request) and found.csrf_ok(form.get("csrf"))):
            log.warning("app.patient_form_refused", tenant_id=str(tenant_id))
            raise _Denied(_refused(slug))
        return found

    @get(
        "/{slug:str}/signin",
        operation_id="patientAppSignInPage",
        summary="The patient sign-in page (HTML): a one-time code from the tenant's sign-in link",
        exclude_from_auth=True,
        media_type="text/html",
    )
    async def signin_page(self, request: Request[Any, Any, Any], slug: FromPath[str]) -> Response[Any]:
        _, branding = await self._profile_app(request, slug)
        notices = {
            "signed_out": "You are signed out.",
            "erased": "Your profile has been deleted and you are signed out.",
        }
        notice = next((text for flag, text in notices.items() if flag in request.query_params), None)
        return _html(_render("signin.html", slug=slug, b=branding, csrf=None, notice=notice, error=None))

    @post(
        "/{slug:str}/signin",
        operation_id="patientAppSignIn",
        summary="Redeem a one-time sign-in code for a patient session (form post; sets the session cookie)",
        exclude_from_auth=True,
        media_type="text/html",
        status_code=200,
        description="A browser form post: on success a 303 to the next page; otherwise the page again (200, "
        "or 401/403/422/429 with the reason shown).",
    )
    async def signin(self, request: Request[Any, Any, Any], slug: FromPath[str]) -> Response[Any]:
        tenant_id, branding = await self._profile_app(request, slug)

        def again(error: str, status_code: int) -> Response[Any]:
            html = _render("signin.html", slug=slug, b=branding, csrf=None, notice=None, error=error)
            response = _html(html, status_code=status_code)
            if status_code == 429:
                response.headers["retry-after"] = "60"
            return response

        if not _same_origin(request):
            return _refused(slug)
        limit = request.app.state.settings.patients.app_signins_per_minute
        if await _over_limit(request, tenant_id, "app-signin", limit):
            return again("Too many sign-in attempts from this device. Wait a minute, then try again.", 429)
        form = await _form(request)
        code = (form or {}).get("code", "").strip()
        if not code:
            return again("Sign-in code: enter the code from your sign-in link.", 422)
        async with request.app.state.db.transaction(Scope.tenant(tenant_id)) as session:
            patient_id = await redeem_link_code(session, tenant_id, code)
            if patient_id is not None:
                await _audit(request, session, tenant_id, "patients.app_signin", patient_id)
        if patient_id is None:
            # One answer for malformed, unknown, used, expired and other tenants' codes alike.
            log.info("app.patient_signin_failed", tenant_id=str(tenant_id))
            return again(
                f"This sign-in code does not work: it may have been used already or be more than 10 minutes "
                f"old. Ask {branding.name} for a new sign-in link.",
                401,
            )
        sid = await PatientSessions(request.app.state.redis).start(tenant_id, patient_id)
        log.info("app.patient_signed_in", tenant_id=str(tenant_id), patient_id=str(patient_id))
        return _redirect(f"/t/{slug}/profile", cookies=[_session_cookie(slug, sid)])

    @post(
        "/{slug:str}/signout",
        operation_id="patientAppSignOut",
        summary="End the patient session (form post)",
        exclude_from_auth=True,
        media_type="text/html",
        status_code=200,
        description="A browser form post: on success a 303 to the next page; otherwise the page again (200, "
        "or 401/403/422/429 with the reason shown).",
    )
    async def signout(self, request: Request[Any, Any, Any], slug: FromPath[str]) -> Response[Any]:
        tenant_id, _ = await self._profile_app(request, slug)
        try:
            found = await self._signed_in(request, slug, tenant_id, await _form(request) or {})
        except _Denied as denied:
            return denied.response
        await PatientSessions(request.app.state.redis).end(found)
        log.info("app.patient_signed_out", tenant_id=str(tenant_id))
        return _redirect(f"/t/{slug}/signin?signed_out", cookies=[_session_cookie(slug, None)])

    async def _show_profile(
        self,
        request: Request[Any, Any, Any],
        slug: str,
        branding: Branding,
        found: PatientSession,
        *,
        notice: str | None = None,
        error: str | None = None,
        submitted: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> Response[Any]:
        tenant_id = found.tenant_id
        async with request.app.state.db.transaction(Scope.tenant(tenant_id)) as session:
            try:
                profile = await _patients(request, session, tenant_id).profile(found.patient_id)
            except NotFound:
                profile = None
            else:
                await _audit(request, session, tenant_id, "patients.read", found.patient_id)
        if profile is None:  # erased by the tenant since the patient signed in
            await PatientSessions(request.app.state.redis).end_all(tenant_id, found.patient_id)
            return _redirect(f"/t/{slug}/signin?signed_out", cookies=[_session_cookie(slug, None)])
        html = _render(
            "profile.html",
            slug=slug,
            b=branding,
            csrf=found.csrf,
            view=profile_view(profile),
            form={**form_values(profile), **(submitted or {})},
            lists=LISTS,
            sexes=SEXES,
            pregnancies=PREGNANCIES,
            today=date.today().isoformat(),
            notice=notice,
            error=error,
        )
        return _html(html, status_code=status_code)

    @get(
        "/{slug:str}/profile",
        operation_id="patientAppProfile",
        summary="The signed-in patient's own profile, to see and change (HTML)",
        exclude_from_auth=True,
        media_type="text/html",
    )
    async def profile_page(self, request: Request[Any, Any, Any], slug: FromPath[str]) -> Response[Any]:
        tenant_id, branding = await self._profile_app(request, slug)
        try:
            found = await self._signed_in(request, slug, tenant_id)
        except _Denied as denied:
            return denied.response
        notice = "Your profile is saved." if "saved" in request.query_params else None
        return await self._show_profile(request, slug, branding, found, notice=notice)

    @post(
        "/{slug:str}/profile",
        operation_id="patientAppUpdateProfile",
        summary="Change the signed-in patient's own profile (form post)",
        exclude_from_auth=True,
        media_type="text/html",
        status_code=200,
        description="A browser form post: on success a 303 to the next page; otherwise the page again (200, "
        "or 401/403/422/429 with the reason shown).",
    )
    async def profile_update(self, request: Request[Any, Any, Any], slug: FromPath[str]) -> Response[Any]:
        tenant_id, branding = await self._profile_app(request, slug)
        form = await _form(request)
        try:
            found = await self._signed_in(request, slug, tenant_id, form or {})
        except _Denied as denied:
            return denied.response
        if form is None:
            return await self._show_profile(
                request,
                slug,
                branding,
                found,
                error="The form could not be read; try again.",
                status_code=422,
            )
        async with request.app.state.db.transaction(Scope.tenant(tenant_id)) as session:
            service = _patients(request, session, tenant_id)
            try:
                current = await service.profile(found.patient_id)
            except NotFound:
                current = None
            if current is not None:
                try:
                    change, changed = parse_profile_form(form, current)
                except FormError as exc:
                    error: str | None = str(exc)
                else:
                    error = None
                    if changed:
                        await service.update(found.patient_id, change)
                    # The form showed the profile to change it: a read, and a change when anything changed.
                    await _audit(request, session, tenant_id, "patients.update", found.patient_id, changed)
        if current is None:
            await PatientSessions(request.app.state.redis).end_all(tenant_id, found.patient_id)
            return _redirect(f"/t/{slug}/signin?signed_out", cookies=[_session_cookie(slug, None)])
        if error is not None:
            kept = {k: v for k, v in form.items() if k != "csrf"}
            return await self._show_profile(
                request, slug, branding, found, error=error, submitted=kept, status_code=422
            )
        log.info("app.patient_profile_changed", tenant_id=str(tenant_id), fields=len(changed))
        return _redirect(f"/t/{slug}/profile?saved")

    @get(
        "/{slug:str}/profile/export",
        operation_id="patientAppExportProfile",
        summary="Everything held on the signed-in patient, as a JSON download with a FHIR copy",
        exclude_from_auth=True,
        media_type="application/json",
    )
    async def profile_export(self, request: Request[Any, Any, Any], slug: FromPath[str]) -> Response[Any]:
        tenant_id, _ = await self._profile_app(request, slug)
        try:
            found = await self._signed_in(request, slug, tenant_id)
        except _Denied as denied:
            return denied.response
        async with request.app.state.db.transaction(Scope.tenant(tenant_id)) as session:
            patient = await _patients(request, session, tenant_id).get(found.patient_id)
            await _audit(request, session, tenant_id, "patients.export", found.patient_id)
        body = msgspec.json.encode(
            {
                "patient": patient,
                "fhir": to_bundle(patient),
                "exported_at": datetime.now(UTC),
                "note": "Your profile as the app holds it (encrypted at rest), and the same as a FHIR R4 "
                "Bundle that other health apps can read.",
            }
        )
        return Response(
            body,
            media_type="application/json",
            headers={
                **SECURITY_HEADERS,
                "cache-control": "no-store",
                "content-disposition": 'attachment; filename="my-health-profile.json"',
            },
        )

    @get(
        "/{slug:str}/profile/delete",
        operation_id="patientAppDeleteProfilePage",
        summary="Confirm deleting the signed-in patient's data (HTML)",
        exclude_from_auth=True,
        media_type="text/html",
    )
    async def delete_page(self, request: Request[Any, Any, Any], slug: FromPath[str]) -> Response[Any]:
        tenant_id, branding = await self._profile_app(request, slug)
        try:
            found = await self._signed_in(request, slug, tenant_id)
        except _Denied as denied:
            return denied.response
        return _html(_render("delete.html", slug=slug, b=branding, csrf=found.csrf, error=None))

    @post(
        "/{slug:str}/profile/delete",
        operation_id="patientAppDeleteProfile",
        summary="Delete the signed-in patient's data for good and sign them out (form post, confirmed)",
        exclude_from_auth=True,
        media_type="text/html",
        status_code=200,
        description="A browser form post: on success a 303 to the next page; otherwise the page again (200, "
        "or 401/403/422/429 with the reason shown).",
    )
    async def delete_profile(self, request: Request[Any, Any, Any], slug: FromPath[str]) -> Response[Any]:
        tenant_id, branding = await self._profile_app(request, slug)
        form = await _form(request) or {}
        try:
            found = await self._signed_in(request, slug, tenant_id, form)
        except _Denied as denied:
            return denied.response
        if form.get("confirm") != "yes":
            html = _render(
                "delete.html",
                slug=slug,
                b=branding,
                csrf=found.csrf,
                error="Tick the box to confirm that your profile should be deleted for good.",
            )
            return _html(html, status_code=422)
        async with request.app.state.db.transaction(Scope.tenant(tenant_id)) as session:
            try:
                await _patients(request, session, tenant_id).erase(found.patient_id)
            except NotFound:
                pass  # already erased: the outcome the patient asked for
            else:
                await request.app.state.plugins.patient_erased(session, tenant_id, found.patient_id)
                await _audit(request, session, tenant_id, "patients.delete", found.patient_id)
        await PatientSessions(request.app.state.redis).end_all(tenant_id, found.patient_id)
        return _redirect(f"/t/{slug}/signin?erased", cookies=[_session_cookie(slug, None)])


def _refused(slug: str) -> Response[Any]:
    """A form post that is not from this app's own page, or whose page has expired (CSRF checks)."""
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Form refused</title>'
        '<link rel="stylesheet" href="/app-assets/app.css"></head><body><main id="main">'
        "<h1>This form could not be accepted</h1><p>It did not come from this app's own page, or the page "
        f'is too old. <a href="/t/{slug}/">Go back to the app</a> and try again.</p></main></body></html>'
    )
    return _html(html, status_code=403)


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
