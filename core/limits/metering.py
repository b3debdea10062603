"""Usage metering: per tenant per UTC day, requests by route and status class, tokens in/out by model and
adapter, counted in Redis and never in the database (no write per request).

One hash per tenant and day, `lumen:t:{<tenant>}:usage:<YYYY-MM-DD>`, kept `usage_retention_days` (400 by
default; the embedded Redis runs with append-only persistence, so counts survive a restart). Fields:

    req|<METHOD> <route template>|<status class>   requests answered, e.g. `req|GET /v1/keys/{key_id}|2xx`
    tok|<in|out>|<model>|<adapter>                 tokens, adapter empty for the base model
    q|requests, q|tokens                           what counts against the daily quotas (admitted only)

Route templates, never raw paths, so the number of fields is bounded by the app's routes.

Quota thresholds: when a tenant first crosses a configured share of a daily quota, the limiter claims a
marker key with SET NX (atomically, in its script) and calls every listener in
`state.usage_threshold_listeners` with (tenant_id, quota kind "requests" | "tokens", share): once per tenant,
day, kind and share across all processes. If a listener raises, the claim is shortened to a minute so that
a later request retries (listeners should therefore tolerate being called again after they failed).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import cast

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError

from lumen.core.http.errors import LumenProblem
from lumen.core.limits import keys
from lumen.core.limits.breaker import RedisBreaker
from lumen.core.limits.schemas import ModelUsage, RouteUsage, UsageDay
from lumen.core.settings import LimitsSettings

__all__ = [
    "QUOTA_REQUESTS",
    "QUOTA_TOKENS",
    "ThresholdListener",
    "UsageMeter",
    "request_field",
    "token_field",
]

log = structlog.get_logger()

QUOTA_REQUESTS = "q|requests"
QUOTA_TOKENS = "q|tokens"
_RETRY_CLAIM_SECONDS = 60

# (tenant_id, quota kind: "requests" | "tokens", share of the daily quota, e.g. 0.8)
ThresholdListener = Callable[[uuid.UUID, str, float], Awaitable[None]]


def _clean(name: str) -> str:
    return name.replace("|", "/")


def token_field(direction: str, model: str, adapter: str | None) -> str:
    return f"tok|{direction}|{_clean(model)}|{_clean(adapter or '')}"


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status <= 599 else "5xx"


def request_field(method: str, route: str, status: int) -> str:
    return f"req|{method} {route}|{status_class(status)}"


class UsageMeter:
    def __init__(self, redis: aioredis.Redis, breaker: RedisBreaker, settings: LimitsSettings) -> None:
        self.redis = redis
        self._breaker = breaker
        self._ttl = settings.usage_retention_days * 86_400
        # Registered by whoever wants to know (the webhooks module emits `usage.threshold_reached`).
        self.listeners: list[ThresholdListener] = []

    async def record_request(
        self, tenant_id: uuid.UUID, method: str, route: str, status: int, *, admitted_on: date | None = None
    ) -> None:
        """Count one answered request. Never raises: metering must not fail a request.

        `admitted_on`: the day the limiter admitted it on. Its script has just given that day's hash its
        TTL, so a single HINCRBY will do (the request path's cheapest case); otherwise the TTL is set too."""
        if self._breaker.open:
            return
        name = keys.usage_hash(tenant_id, admitted_on or keys.today())
        field = request_field(method, route, status)
        try:
            if admitted_on is not None:
                await cast("Awaitable[int]", self.redis.hincrby(name, field, 1))
            else:
                async with self.redis.pipeline(transaction=False) as pipe:
                    pipe.hincrby(name, field, 1)
                    pipe.expire(name, self._ttl)
                    await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            self._breaker.failed("meter", exc)
            return
        self._breaker.succeeded()

    async def settle_request(
        self, tenant_id: uuid.UUID, method: str, route: str, status: int, *, admitted_on: date
    ) -> None:
        """A request the limiter admitted and metered as 2xx (`RateLimiter.check_request` with its route)
        was answered `status`: nothing to do for a 2xx, otherwise move its count to the real status class
        (one round trip, atomic). Never raises."""
        if status_class(status) == "2xx" or self._breaker.open:
            return
        name = keys.usage_hash(tenant_id, admitted_on)
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.hincrby(name, request_field(method, route, 200), -1)
                pipe.hincrby(name, request_field(method, route, status), 1)
                await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            self._breaker.failed("meter", exc)
            return
        self._breaker.succeeded()

    async def threshold_reached(self, tenant_id: uuid.UUID, kind: str, share: float, marker: str) -> None:
        """Tell every listener; the marker was just claimed, so this runs once per tenant/day/kind/share."""
        log.info("limits.usage_threshold_reached", tenant_id=str(tenant_id), quota=kind, share=share)
        failed = False
        for listener in list(self.listeners):
            try:
                await listener(tenant_id, kind, share)
            except Exception as exc:  # a listener's failure must not fail the request that crossed
                failed = True
                log.error(
                    "limits.threshold_listener_failed",
                    tenant_id=str(tenant_id),
                    quota=kind,
                    share=share,
                    error_type=type(exc).__name__,
                )
        if failed:
            try:
                await self.redis.expire(marker, _RETRY_CLAIM_SECONDS)
            except (RedisError, OSError, TimeoutError) as exc:
                self._breaker.failed("threshold_retry", exc)

    async def read(self, tenant_id: uuid.UUID, first: date, last: date) -> list[UsageDay]:
        """Every day from `first` to `last` inclusive (days without usage are zeros)."""
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for day in days:
                    pipe.hgetall(keys.usage_hash(tenant_id, day))
                hashes = await pipe.execute()
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("limits.usage_unreadable", error_type=type(exc).__name__)
            raise LumenProblem(
                "Usage cannot be read right now; retry shortly.", slug="service-unavailable"
            ) from None
        return [_day(day, raw) for day, raw in zip(days, hashes, strict=True)]


def _day(day: date, raw: dict[bytes, bytes]) -> UsageDay:
    routes: list[RouteUsage] = []
    models: dict[tuple[str, str], dict[str, int]] = {}
    for name, value in raw.items():
        parts = name.decode().split("|")
        count = int(value)
        if parts[0] == "req" and len(parts) == 3:
            method, _, route = parts[1].partition(" ")
            routes.append(RouteUsage(method=method, route=route, status_class=parts[2], requests=count))
        elif parts[0] == "tok" and len(parts) == 4:
            entry = models.setdefault((parts[2], parts[3]), {"in": 0, "out": 0})
            entry[parts[1]] = entry.get(parts[1], 0) + count
    routes.sort(key=lambda r: (r.route, r.method, r.status_class))
    tokens = [
        ModelUsage(model=model, adapter=adapter or None, tokens_in=c.get("in", 0), tokens_out=c.get("out", 0))
        for (model, adapter), c in sorted(models.items())
    ]
    return UsageDay(
        date=day,
        requests=sum(r.requests for r in routes),
        tokens_in=sum(t.tokens_in for t in tokens),
        tokens_out=sum(t.tokens_out for t in tokens),
        routes=routes,
        models=tokens,
    )
