"""A tenant's limits: read per worker through a short cache on the request path, changed by the operator.

The cache follows `lumen.core.tenancy.config`: entries live a few seconds, and a change publishes a "tenant"
invalidation after its commit so that every worker drops the tenant's entry at once (an override takes
effect on the next request, in every API process). If Redis cannot carry the note, the TTL bounds staleness.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.db.session import Database
from lumen.core.http.errors import NotFound, UnprocessableEntity, field_message
from lumen.core.limits.plans import DEFAULT_PLAN, PLANS, LimitOverrides, Limits, effective_limits
from lumen.core.limits.repository import TenantLimitsRepository
from lumen.core.tenancy.cache import TenantCache
from lumen.core.tenancy.context import Scope
from lumen.core.tenancy.invalidation import InvalidationBus

__all__ = ["TenantLimitSettings", "TenantLimitsCache", "TenantLimitsService", "check_overrides"]

log = structlog.get_logger()


@dataclass(frozen=True, slots=True)
class TenantLimitSettings:
    plan: str
    overrides: LimitOverrides
    limits: Limits  # the plan with the overrides applied


def _settings(plan: str, stored: Mapping[str, Any]) -> TenantLimitSettings:
    overrides = LimitOverrides.from_stored(stored)
    return TenantLimitSettings(plan=plan, overrides=overrides, limits=effective_limits(plan, overrides))


class TenantLimitsCache(TenantCache[TenantLimitSettings]):
    """Per worker: tenant id -> its limits, for `ttl_seconds` or until invalidated."""

    def __init__(self, db: Database, *, ttl_seconds: float = 5.0, bus: InvalidationBus | None = None) -> None:
        super().__init__(ttl_seconds=ttl_seconds, bus=bus)
        self._db = db

    async def load(self, tenant_id: uuid.UUID) -> TenantLimitSettings:
        async with self._db.transaction(Scope.tenant(tenant_id)) as session:
            row = await TenantLimitsRepository(session).read(tenant_id)
        plan, stored = row if row is not None else (DEFAULT_PLAN, {})
        return _settings(plan, stored)


def _field_message(exc: msgspec.ValidationError) -> str:
    """msgspec says `Expected ... - at `$.requests_per_minute``; name the field as the caller wrote it."""
    if "unknown field `" in str(exc):
        name = str(exc).split("unknown field `", 1)[1].split("`", 1)[0]
        return f"{name}: no such limit (known: {', '.join(LimitOverrides.__struct_fields__)})"
    return field_message(exc)


def check_overrides(raw: Mapping[str, Any]) -> LimitOverrides:
    """Validate overrides as sent; a bad one is a 422 naming `overrides.<field>`."""
    try:
        return msgspec.convert(dict(raw), LimitOverrides)
    except msgspec.ValidationError as exc:
        raise UnprocessableEntity(f"overrides.{_field_message(exc)}", slug="validation-error") from None


def check_plan(plan: str) -> str:
    if plan not in PLANS:
        raise UnprocessableEntity(
            f"plan: unknown plan {plan!r} (one of: {', '.join(sorted(PLANS))})", slug="validation-error"
        )
    return plan


class TenantLimitsService:
    """The operator's view and changes (platform scope). Never commits: the request boundary does."""

    def __init__(self, session: AsyncSession) -> None:
        self.repository = TenantLimitsRepository(session)

    async def get(self, tenant_id: uuid.UUID) -> TenantLimitSettings:
        row = await self.repository.read(tenant_id)
        if row is None:
            raise NotFound("tenant not found")
        return _settings(*row)

    async def replace(
        self, tenant_id: uuid.UUID, *, plan: str | None, overrides: LimitOverrides
    ) -> TenantLimitSettings:
        """Set the plan (unchanged when None) and replace the overrides entirely."""
        if not await self.repository.lock_tenant(tenant_id):
            raise NotFound("tenant not found")
        current = await self.repository.read(tenant_id)
        assert current is not None  # locked above
        chosen = check_plan(plan) if plan is not None else current[0]
        stored = msgspec.to_builtins(overrides)
        await self.repository.write(tenant_id, plan=chosen, overrides=stored)
        log.info(
            "limits.tenant_limits_changed", tenant_id=str(tenant_id), plan=chosen, overrides=sorted(stored)
        )
        return _settings(chosen, stored)
