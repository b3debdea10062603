"""Per-tenant rate limits, quotas and usage metering (Redis): plans and overrides, a GCRA limiter, token
budgets for inference, daily usage counters and quota threshold notifications."""

from lumen.core.limits.limiter import PolicyState, RateLimited, RateLimiter, Verdict
from lumen.core.limits.metering import ThresholdListener, UsageMeter
from lumen.core.limits.plans import DEFAULT_PLAN, PLANS, LimitOverrides, Limits

__all__ = [
    "DEFAULT_PLAN",
    "PLANS",
    "LimitOverrides",
    "Limits",
    "PolicyState",
    "RateLimited",
    "RateLimiter",
    "ThresholdListener",
    "UsageMeter",
    "Verdict",
]
