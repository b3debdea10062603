"""HTTP routes: the operator's `GET/PUT /v1/tenants/{tenant_id}/limits` and a tenant's `GET /v1/usage`."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get, put
from litestar.params import FromPath, JSONBody, QueryParameter

from lumen.core.http.dependencies import Caller, DbSession
from lumen.core.http.errors import UnprocessableEntity
from lumen.core.limits import keys
from lumen.core.limits.metering import UsageMeter
from lumen.core.limits.plans import PLANS
from lumen.core.limits.schemas import LimitsOut, LimitsUpdate, LimitValues, UsageReport
from lumen.core.limits.service import TenantLimitSettings, TenantLimitsService, check_overrides
from lumen.core.tenancy.invalidation import forget_tenant_after_commit

__all__ = ["MAX_USAGE_DAYS", "TenantLimitsController", "UsageController"]

MAX_USAGE_DAYS = 366
DEFAULT_USAGE_DAYS = 30
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

# Plain strings, checked in the handler, so that a bad date is a 422 naming `from` or `to`.
FromDay = Annotated[
    str | None, QueryParameter(name="from", description="First UTC day, YYYY-MM-DD (inclusive).")
]
ToDay = Annotated[str | None, QueryParameter(description="Last UTC day, YYYY-MM-DD (inclusive).")]


def limits_out(tenant_id: uuid.UUID, found: TenantLimitSettings) -> LimitsOut:
    overrides = {k: v for k, v in msgspec.structs.asdict(found.overrides).items() if v is not None}
    return LimitsOut(
        tenant_id=tenant_id,
        plan=found.plan,
        overrides=overrides,
        effective=LimitValues(**msgspec.structs.asdict(found.limits)),
        plans=sorted(PLANS),
    )


class TenantLimitsController(Controller):
    path = "/v1/tenants/{tenant_id:uuid}/limits"
    tags = ["tenants"]

    @get(
        "/",
        operation_id="getTenantLimits",
        opt={"action": "tenants.limits.read", "resource": "tenant_limits"},
        summary="A tenant's plan, overrides and effective rate limits and quotas",
    )
    async def get_limits(self, tenant_id: FromPath[uuid.UUID], session: DbSession) -> LimitsOut:
        return limits_out(tenant_id, await TenantLimitsService(session).get(tenant_id))

    @put(
        "/",
        operation_id="updateTenantLimits",
        opt={"action": "tenants.limits.update", "resource": "tenant_limits"},
        summary="Set a tenant's plan and replace its overrides; takes effect at once in every worker",
    )
    async def update_limits(
        self,
        request: Request[Any, Any, Any],
        tenant_id: FromPath[uuid.UUID],
        data: JSONBody[LimitsUpdate],
        session: DbSession,
    ) -> LimitsOut:
        overrides = check_overrides(data.overrides)
        plan = None if data.plan is msgspec.UNSET else data.plan
        found = await TenantLimitsService(session).replace(tenant_id, plan=plan, overrides=overrides)
        forget_tenant_after_commit(request.scope, tenant_id)
        return limits_out(tenant_id, found)


def _day(name: str, value: str | None, default: date) -> date:
    if value is None:
        return default
    try:
        if not _DATE.match(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise UnprocessableEntity(
            f"{name}: expected a date as YYYY-MM-DD, got {value[:10]!r}", slug="validation-error"
        ) from None


class UsageController(Controller):
    path = "/v1/usage"
    tags = ["usage"]

    @get(
        "/",
        operation_id="getUsage",
        opt={"action": "usage.read", "resource": "usage"},
        summary="The tenant's usage per UTC day: requests by route and status class, tokens by model",
        description=f"`from` and `to` are inclusive UTC days, at most {MAX_USAGE_DAYS} days apart; `to` "
        f"defaults to today and `from` to {DEFAULT_USAGE_DAYS - 1} days before `to`.",
    )
    async def usage(
        self,
        request: Request[Any, Any, Any],
        principal: Caller,
        from_: FromDay = None,
        to: ToDay = None,
    ) -> UsageReport:
        assert principal.tenant_id is not None  # usage.read is a tenant action
        last = _day("to", to, keys.today())
        first = _day("from", from_, last - timedelta(days=DEFAULT_USAGE_DAYS - 1))
        if first > last:
            raise UnprocessableEntity("from: must not be after `to`", slug="validation-error")
        if (last - first).days + 1 > MAX_USAGE_DAYS:
            raise UnprocessableEntity(
                f"to: at most {MAX_USAGE_DAYS} days from `from` (inclusive)", slug="validation-error"
            )
        meter: UsageMeter = request.app.state.usage_meter
        days = await meter.read(principal.tenant_id, first, last)
        return UsageReport(tenant_id=principal.tenant_id, from_=first, to=last, days=days)
