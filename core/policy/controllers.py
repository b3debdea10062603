"""A tenant's own policy data, versioned: GET/PUT /v1/policy and GET /v1/policy/versions; and the OPA bundle
of the installed policies for the platform's OPA servers: GET /v1/platform/policy/bundle."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, put
from litestar.params import JSONBody
from sqlalchemy import select

from lumen.core.auth.scopes import ScopeRegistry
from lumen.core.http.dependencies import Caller, DbSession
from lumen.core.http.errors import UnprocessableEntity
from lumen.core.policy.actions import ActionSpec
from lumen.core.policy.bundle import build_bundle
from lumen.core.policy.models import TenantPolicyVersion
from lumen.core.policy.policy_set import PolicySet
from lumen.core.tenancy.invalidation import forget_tenant_after_commit

__all__ = ["PolicyBundleController", "TenantPolicyController", "TenantPolicyData"]

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[a-z][a-z0-9_.:-]*$")]


class TenantPolicyData(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What a tenant may decide for itself. It can take access away and attach obligations; it can extend a
    tenant action to more of its own scopes; it can never reach platform actions or other tenants."""

    deny_actions: Annotated[list[Name], msgspec.Meta(max_length=500)] = msgspec.field(default_factory=list)
    scope_grants: dict[Name, Annotated[list[Name], msgspec.Meta(max_length=50)]] = msgspec.field(
        default_factory=dict
    )
    obligations: dict[Name, Annotated[list[Name], msgspec.Meta(max_length=20)]] = msgspec.field(
        default_factory=dict
    )
    # PHI is redacted from webhooks unless the tenant opts in (ARCHITECTURE §6.4).
    include_phi_in_webhooks: bool = False
    data_residency: Literal["any", "eu", "uk", "us"] = "any"


class PolicyDataOut(msgspec.Struct):
    version: int
    data: TenantPolicyData
    created_at: datetime | None = None


class PolicyDataPage(msgspec.Struct):
    items: list[PolicyDataOut]


def _check_names(request: Request[Any, Any, Any], data: TenantPolicyData) -> None:
    actions: Mapping[str, ActionSpec] = request.app.state.actions
    scopes: ScopeRegistry = request.app.state.scopes
    named = {("deny_actions", a) for a in data.deny_actions}
    named |= {("scope_grants", a) for a in data.scope_grants} | {("obligations", a) for a in data.obligations}
    if "policy.update" in data.deny_actions:
        raise UnprocessableEntity(
            "deny_actions: denying policy.update would lock the tenant out of its own policy",
            slug="validation-error",
        )
    for field, action in sorted(named):
        if action not in actions:
            raise UnprocessableEntity(f"{field}: unknown action {action!r}", slug="validation-error")
        if actions[action].platform:
            raise UnprocessableEntity(f"{field}: {action!r} is a platform action", slug="validation-error")
    for action, granted in data.scope_grants.items():
        unknown = sorted(s for s in granted if s not in scopes)
        if unknown:
            raise UnprocessableEntity(
                f"scope_grants.{action}: unknown scope(s) {', '.join(unknown)}", slug="validation-error"
            )


class TenantPolicyController(Controller):
    path = "/v1/policy"
    tags = ["policy"]

    @get(
        "/",
        operation_id="getTenantPolicy",
        summary="The tenant's current policy data",
        opt={"action": "policy.read"},
    )
    async def current(self, session: DbSession, principal: Caller) -> PolicyDataOut:
        row = (
            await session.scalars(
                select(TenantPolicyVersion)
                .where(TenantPolicyVersion.tenant_id == principal.tenant_id)
                .order_by(TenantPolicyVersion.version.desc())
                .limit(1)
            )
        ).one_or_none()
        if row is None:
            return PolicyDataOut(version=0, data=TenantPolicyData())
        return PolicyDataOut(
            version=row.version, data=msgspec.convert(row.data, TenantPolicyData), created_at=row.created_at
        )

    @get(
        "/versions",
        operation_id="listTenantPolicyVersions",
        summary="Every version, newest first",
        opt={"action": "policy.read"},
    )
    async def versions(self, session: DbSession, principal: Caller) -> PolicyDataPage:
        rows = (
            await session.scalars(
                select(TenantPolicyVersion)
                .where(TenantPolicyVersion.tenant_id == principal.tenant_id)
                .order_by(TenantPolicyVersion.version.desc())
                .limit(200)
            )
        ).all()
        return PolicyDataPage(
            items=[
                PolicyDataOut(
                    version=r.version, data=msgspec.convert(r.data, TenantPolicyData), created_at=r.created_at
                )
                for r in rows
            ]
        )

    @put(
        "/",
        operation_id="updateTenantPolicy",
        summary="Replace the tenant's policy data (a new version)",
        opt={"action": "policy.update", "resource": "tenant_policy"},
    )
    async def update(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[TenantPolicyData],
        session: DbSession,
        principal: Caller,
    ) -> PolicyDataOut:
        _check_names(request, data)
        assert principal.tenant_id is not None
        latest = (
            await session.scalars(
                select(TenantPolicyVersion.version)
                .where(TenantPolicyVersion.tenant_id == principal.tenant_id)
                .order_by(TenantPolicyVersion.version.desc())
                .limit(1)
                .with_for_update()
            )
        ).one_or_none() or 0
        row = TenantPolicyVersion(
            tenant_id=principal.tenant_id,
            version=latest + 1,
            data=msgspec.to_builtins(data),
            created_by_key_id=principal.key_id,
        )
        session.add(row)
        await session.flush()
        forget_tenant_after_commit(request.scope, principal.tenant_id)
        return PolicyDataOut(version=row.version, data=data, created_at=row.created_at)


class PolicyBundleController(Controller):
    """What OPA's bundle plugin polls (deploy/opa/config.yaml, deploy/k8s/base/opa-config.yaml).

    The bundle is built once per process from the same PolicySet the in-process engine uses, and is
    byte-for-byte reproducible, so every replica serves the same bytes under the same ETag (the policy set's
    version): OPA sends If-None-Match and gets 304 until a release changes the policies.
    """

    path = "/v1/platform/policy"
    tags = ["policy"]

    @get(
        "/bundle",
        operation_id="getPolicyBundle",
        summary="The OPA bundle (tar.gz) of the installed policies",
        opt={"action": "policy.bundle.read"},
        media_type="application/gzip",
    )
    async def bundle(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        policy_set: PolicySet = request.app.state.policy_set
        etag = f'"{policy_set.version}"'
        if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
            return Response(b"", status_code=304, headers={"ETag": etag})
        content = request.app.state.get("policy_bundle")
        if content is None:
            content = request.app.state.policy_bundle = build_bundle(policy_set)
        return Response(
            content,
            media_type="application/gzip",
            headers={"ETag": etag, "Cache-Control": "no-cache"},
        )
