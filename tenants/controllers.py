"""HTTP routes for tenants (platform operator) and API keys (operator for a tenant, or the tenant's admin)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.auth.principal import Principal
from lumen.core.auth.service import forget_keys_after_commit
from lumen.core.db.pagination import DEFAULT_LIMIT, MAX_LIMIT
from lumen.core.db.unit_of_work import unit_of_work
from lumen.core.http.dependencies import Caller, DbSession
from lumen.core.http.errors import NotFound
from lumen.core.jobs.outbox import wake_after_commit
from lumen.core.plugins.host import PluginHost
from lumen.core.webhooks.service import emit
from lumen.tenants.models import ApiKey, Branding, Tenant
from lumen.tenants.schemas import (
    BrandingIn,
    BrandingOut,
    KeyCreate,
    KeyCreated,
    KeyOut,
    KeyPage,
    KeyRotate,
    TenantCreate,
    TenantOut,
    TenantPage,
    TenantUpdate,
)
from lumen.tenants.service import ApiKeyService, BrandingService, IssuedKey, TenantService, key_status

__all__ = ["BrandingController", "KeyController", "TenantController"]

Limit = Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT, description="Page size.")]
Cursor = Annotated[
    str | None, QueryParameter(max_length=200, description="`next_cursor` of the previous page.")
]


def _after_commit(request: Request[Any, Any, Any], hook: str, tenant_id: uuid.UUID) -> None:
    """Tell the plugins (tenant_provisioned / tenant_deleted) once the change is durable."""
    host: PluginHost = request.app.state.plugins

    async def notify() -> None:
        await getattr(host, hook)(tenant_id)

    unit_of_work(request.scope).after_commit(notify)


async def _emit_key_event(
    request: Request[Any, Any, Any], session: AsyncSession, event_type: str, key: ApiKey
) -> None:
    """Webhook events for key changes, in the same transaction (never the secret)."""
    data = {
        "id": str(key.id),
        "name": key.name,
        "prefix": key.prefix,
        "mode": key.mode.value,
        "scopes": list(key.scopes),
    }
    await emit(session, key.tenant_id, event_type, data)
    wake_after_commit(request.scope)


def tenant_out(t: Tenant) -> TenantOut:
    return TenantOut(
        id=t.id,
        slug=t.slug,
        name=t.name,
        status=t.status.value,
        created_at=t.created_at,
        updated_at=t.updated_at,
    )


def key_out(k: ApiKey) -> KeyOut:
    return KeyOut(
        id=k.id,
        tenant_id=k.tenant_id,
        name=k.name,
        prefix=k.prefix,
        mode=k.mode.value,
        scopes=list(k.scopes),
        status=key_status(k),  # type: ignore[arg-type]
        created_at=k.created_at,
        expires_at=k.expires_at,
        last_used_at=k.last_used_at,
        revoked_at=k.revoked_at,
        rotated_from_id=k.rotated_from_id,
    )


def key_created(issued: IssuedKey) -> KeyCreated:
    return KeyCreated(**msgspec.structs.asdict(key_out(issued.record)), key=issued.secret)


class TenantController(Controller):
    path = "/v1/tenants"
    tags = ["tenants"]

    @post(
        "/",
        operation_id="createTenant",
        opt={"action": "tenants.create", "resource": "tenant"},
        summary="Create a tenant",
        status_code=HTTP_201_CREATED,
    )
    async def create(
        self, request: Request[Any, Any, Any], data: JSONBody[TenantCreate], session: DbSession
    ) -> TenantOut:
        tenant = await TenantService(session).create(slug=data.slug, name=data.name)
        _after_commit(request, "tenant_provisioned", tenant.id)
        return tenant_out(tenant)

    @get(
        "/",
        operation_id="listTenants",
        opt={"action": "tenants.list", "resource": "tenant"},
        summary="List tenants",
    )
    async def list_tenants(
        self, session: DbSession, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None
    ) -> TenantPage:
        rows, next_cursor = await TenantService(session).list(cursor=cursor, limit=limit)
        return TenantPage(items=[tenant_out(t) for t in rows], next_cursor=next_cursor)

    @get(
        "/{tenant_id:uuid}",
        operation_id="getTenant",
        opt={"action": "tenants.read", "resource": "tenant"},
        summary="Get a tenant",
    )
    async def get_tenant(self, tenant_id: FromPath[uuid.UUID], session: DbSession) -> TenantOut:
        return tenant_out(await TenantService(session).get(tenant_id))

    @patch(
        "/{tenant_id:uuid}",
        operation_id="updateTenant",
        opt={"action": "tenants.update", "resource": "tenant"},
        summary="Rename, suspend or reactivate a tenant",
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        tenant_id: FromPath[uuid.UUID],
        data: JSONBody[TenantUpdate],
        session: DbSession,
    ) -> TenantOut:
        tenant = await TenantService(session).update(
            tenant_id,
            name=None if data.name is msgspec.UNSET else data.name,
            status=None if data.status is msgspec.UNSET else data.status,
        )
        if data.status is not msgspec.UNSET:
            forget_keys_after_commit(request.scope, tenant_id=tenant_id)
        return tenant_out(tenant)

    @delete(
        "/{tenant_id:uuid}",
        operation_id="deleteTenant",
        opt={"action": "tenants.delete", "resource": "tenant"},
        summary="Delete a tenant and all its data",
        status_code=HTTP_204_NO_CONTENT,
    )
    async def delete_tenant(
        self, request: Request[Any, Any, Any], tenant_id: FromPath[uuid.UUID], session: DbSession
    ) -> None:
        await TenantService(session).delete(tenant_id)
        forget_keys_after_commit(request.scope, tenant_id=tenant_id)
        _after_commit(request, "tenant_deleted", tenant_id)

    @post(
        "/{tenant_id:uuid}/keys",
        operation_id="createTenantKey",
        opt={"action": "tenants.keys.create", "resource": "api_key"},
        summary="Issue an API key for a tenant",
        status_code=HTTP_201_CREATED,
    )
    async def create_key(
        self,
        request: Request[Any, Any, Any],
        tenant_id: FromPath[uuid.UUID],
        data: JSONBody[KeyCreate],
        session: DbSession,
    ) -> KeyCreated:
        await TenantService(session).get(tenant_id)  # 404 before anything else
        service = ApiKeyService(session, tenant_id, request.app.state.scopes)
        issued = await service.issue(
            name=data.name, scopes=data.scopes, mode=data.mode, expires_at=data.expires_at
        )
        return key_created(issued)


class KeyController(Controller):
    path = "/v1/keys"
    tags = ["keys"]

    @staticmethod
    def _service(
        request: Request[Any, Any, Any], session: AsyncSession, principal: Principal
    ) -> ApiKeyService:
        assert principal.tenant_id is not None  # the policy allows keys.* to tenant keys only
        return ApiKeyService(session, principal.tenant_id, request.app.state.scopes)

    @post(
        "/",
        operation_id="createKey",
        opt={"action": "keys.create", "resource": "api_key"},
        summary="Issue an API key",
        status_code=HTTP_201_CREATED,
    )
    async def create(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[KeyCreate],
        session: DbSession,
        principal: Caller,
    ) -> KeyCreated:
        issued = await self._service(request, session, principal).issue(
            name=data.name,
            scopes=data.scopes,
            mode=data.mode,
            expires_at=data.expires_at,
            created_by=principal.key_id,
            creator_scopes=principal.scopes,
        )
        await _emit_key_event(request, session, "api_key.created", issued.record)
        return key_created(issued)

    @get(
        "/",
        operation_id="listKeys",
        opt={"action": "keys.list", "resource": "api_key"},
        summary="List API keys (never their secrets)",
    )
    async def list_keys(
        self,
        request: Request[Any, Any, Any],
        session: DbSession,
        principal: Caller,
        limit: Limit = DEFAULT_LIMIT,
        cursor: Cursor = None,
    ) -> KeyPage:
        rows, next_cursor = await self._service(request, session, principal).list(cursor=cursor, limit=limit)
        return KeyPage(items=[key_out(k) for k in rows], next_cursor=next_cursor)

    @get(
        "/{key_id:uuid}",
        operation_id="getKey",
        opt={"action": "keys.read", "resource": "api_key"},
        summary="Get an API key",
    )
    async def get_key(
        self,
        request: Request[Any, Any, Any],
        key_id: FromPath[uuid.UUID],
        session: DbSession,
        principal: Caller,
    ) -> KeyOut:
        return key_out(await self._service(request, session, principal).get(key_id))

    @delete(
        "/{key_id:uuid}",
        operation_id="revokeKey",
        opt={"action": "keys.revoke", "resource": "api_key"},
        summary="Revoke an API key",
        status_code=HTTP_204_NO_CONTENT,
    )
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        key_id: FromPath[uuid.UUID],
        session: DbSession,
        principal: Caller,
    ) -> None:
        revoked = await self._service(request, session, principal).revoke(key_id)
        forget_keys_after_commit(request.scope, key_id=key_id)
        await _emit_key_event(request, session, "api_key.revoked", revoked)

    @post(
        "/{key_id:uuid}/rotate",
        operation_id="rotateKey",
        opt={"action": "keys.rotate", "resource": "api_key"},
        status_code=HTTP_201_CREATED,
        summary="Replace an API key; the old one keeps working for the overlap window",
    )
    async def rotate(
        self,
        request: Request[Any, Any, Any],
        key_id: FromPath[uuid.UUID],
        session: DbSession,
        principal: Caller,
        data: JSONBody[KeyRotate | None] = None,
    ) -> KeyCreated:
        overlap = (data or KeyRotate()).overlap_seconds
        issued = await self._service(request, session, principal).rotate(
            key_id, overlap_seconds=overlap, created_by=principal.key_id, creator_scopes=principal.scopes
        )
        forget_keys_after_commit(request.scope, key_id=key_id)  # its expiry changed
        return key_created(issued)


async def _branding_out(session: AsyncSession, tenant_id: uuid.UUID, b: Branding | None) -> BrandingOut:
    tenant = await session.get(Tenant, tenant_id)
    if b is None:
        defaults = BrandingIn(name=tenant.name if tenant is not None else "Health app")
        return BrandingOut(
            name=defaults.name,
            primary_color=defaults.primary_color,
            accent_color=defaults.primary_color,
            logo=None,
            support_text=None,
            emergency_text=None,
            disclaimer=None,
            locale=defaults.locale,
            features=list(defaults.features),
            app_path=f"/t/{tenant.slug}/" if tenant is not None else "",
            app_enabled=False,
            updated_at=None,
        )
    return BrandingOut(
        name=b.name,
        primary_color=b.primary_color,
        accent_color=b.accent_color,
        logo=b.logo,
        support_text=b.support_text,
        emergency_text=b.emergency_text,
        disclaimer=b.disclaimer,
        locale=b.locale,
        features=list(b.features),
        app_path=f"/t/{tenant.slug}/" if tenant is not None else "",
        app_enabled=True,
        updated_at=b.updated_at,
    )


class BrandingController(Controller):
    """The tenant's patient-app branding. Changes show on the next page load (nothing is cached)."""

    path = "/v1/branding"
    tags = ["branding"]

    @put(
        "/",
        operation_id="putBranding",
        opt={"action": "branding.update", "resource": "branding"},
        summary="Set the branding of the tenant's patient app (turns the app on)",
        description="201 the first time (the app is created and turned on), 200 when it replaces it.",
        responses={
            HTTP_201_CREATED: ResponseSpec(
                data_container=BrandingOut, description="The first branding: the patient app is now on."
            )
        },
    )
    async def put_branding(
        self, principal: Caller, data: JSONBody[BrandingIn], session: DbSession
    ) -> Response[BrandingOut]:
        tenant_id = _own_tenant(principal)
        row, created = await BrandingService(session, tenant_id).put(data)
        out = await _branding_out(session, tenant_id, row)
        return Response(out, status_code=HTTP_201_CREATED if created else 200)

    @get(
        "/",
        operation_id="getBranding",
        opt={"action": "branding.read", "resource": "branding"},
        summary="The branding of the tenant's patient app (defaults and app_enabled false before a PUT)",
    )
    async def get_branding(self, principal: Caller, session: DbSession) -> BrandingOut:
        tenant_id = _own_tenant(principal)
        row = await BrandingService(session, tenant_id).find()
        return await _branding_out(session, tenant_id, row)


def _own_tenant(principal: Principal) -> uuid.UUID:
    if principal.tenant_id is None:  # the policy already refuses the operator; this keeps mypy honest
        raise NotFound("Branding belongs to a tenant: use one of its API keys.")
    return principal.tenant_id
