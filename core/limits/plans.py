"""Plans: what a tenant may use, by name, with per-tenant overrides on top.

The plan table lives in code (a new plan is a deploy, reviewed like any other change); the tenant's plan name
is a column of `tenants` and its overrides a row of `tenant_limits`, both set by the platform operator through
`PUT /v1/tenants/{tenant_id}/limits`. Minute limits are enforced by the GCRA in `lumen.core.limits.limiter`
(a burst of up to the whole minute's allowance, refilled smoothly); day quotas are per UTC calendar day, the
same days usage is metered in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import msgspec
import structlog

__all__ = ["DEFAULT_PLAN", "PLANS", "LimitOverrides", "Limits", "effective_limits"]

log = structlog.get_logger()


class Limits(msgspec.Struct, frozen=True, kw_only=True):
    """A tenant's effective limits. Every field is a positive integer."""

    # Requests, all the tenant's keys together, and any one key (the stricter of the two applies).
    requests_per_minute: int
    key_requests_per_minute: int
    # The tenant's daily request quota (UTC day); `usage.threshold_reached` is measured against it.
    requests_per_day: int
    # Inference tokens (prompt and completion), all keys together and any one key.
    tokens_per_minute: int
    key_tokens_per_minute: int
    tokens_per_day: int


DEFAULT_PLAN = "standard"

PLANS: dict[str, Limits] = {
    "free": Limits(
        requests_per_minute=60,
        key_requests_per_minute=60,
        requests_per_day=5_000,
        tokens_per_minute=10_000,
        key_tokens_per_minute=10_000,
        tokens_per_day=100_000,
    ),
    "standard": Limits(
        requests_per_minute=1_200,
        key_requests_per_minute=600,
        requests_per_day=500_000,
        tokens_per_minute=100_000,
        key_tokens_per_minute=50_000,
        tokens_per_day=5_000_000,
    ),
    "enterprise": Limits(
        requests_per_minute=12_000,
        key_requests_per_minute=3_000,
        requests_per_day=10_000_000,
        tokens_per_minute=1_000_000,
        key_tokens_per_minute=250_000,
        tokens_per_day=100_000_000,
    ),
}

# Bounds keep every value far inside what the limiter's arithmetic (microseconds in Lua doubles) handles.
PerMinute = Annotated[int, msgspec.Meta(ge=1, le=10_000_000)]
PerDay = Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000_000)]


class LimitOverrides(
    msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True
):
    """Per-tenant replacements for the plan's values; an absent (or null) field follows the plan."""

    requests_per_minute: PerMinute | None = None
    key_requests_per_minute: PerMinute | None = None
    requests_per_day: PerDay | None = None
    tokens_per_minute: PerMinute | None = None
    key_tokens_per_minute: PerMinute | None = None
    tokens_per_day: PerDay | None = None

    @classmethod
    def from_stored(cls, stored: Mapping[str, Any] | None) -> LimitOverrides:
        """What `tenant_limits.overrides` holds; a field a newer version no longer knows is ignored."""
        known = {k: v for k, v in (stored or {}).items() if k in cls.__struct_fields__}
        try:
            return msgspec.convert(known, cls)
        except msgspec.ValidationError as exc:  # only the validated API writes them; say so if not
            log.warning("limits.stored_overrides_invalid", error=str(exc))
            return cls()


def effective_limits(plan: str, overrides: LimitOverrides) -> Limits:
    base = PLANS.get(plan)
    if base is None:  # a plan since removed from the table: the default, rather than no limits at all
        log.warning("limits.unknown_plan", plan=plan)
        base = PLANS[DEFAULT_PLAN]
    changes = {k: v for k, v in msgspec.structs.asdict(overrides).items() if v is not None}
    return msgspec.structs.replace(base, **changes) if changes else base
