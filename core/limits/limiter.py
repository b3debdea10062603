"""The rate limiter: per tenant and per key, requests and inference tokens, atomic in Redis.

Algorithm: GCRA (the generic cell rate algorithm, as in ATM networks and redis-cell), one Lua script per
decision. Why GCRA rather than a sliding-window counter:

- It is exact. A sliding-window counter estimates the previous window's share by interpolation, so "N per
  minute" is approximate near window edges; a fixed window lets 2N through across a boundary. GCRA admits
  exactly N in any burst from a full allowance and then exactly one more per N-th of the period.
- Its state is one timestamp per limit (the theoretical arrival time, TAT), not a counter per window or a
  log per request, and every decision is O(1).
- It answers the client's questions exactly: how many requests remain now, when the allowance is whole
  again, and how long to wait before the next request would pass (`Retry-After`).
- Costs are weights: a call that uses 700 tokens advances the TAT by 700 intervals, so the same code
  limits requests and tokens.

Everything runs inside one script, on Redis's clock (`TIME`), so any number of API processes on any hosts
decide consistently: there is no read-modify-write across the network and no dependence on local clocks.
The tenant's limit, the key's limit and the tenant's daily quota are checked together and charged only if
all pass (a refused request uses none of them, so a caller hammering past its limit does not push its own
recovery further away, and a key that is refused does not use up its tenant's allowance).

When a limit changes (an operator override), the state is rescaled: what was used carries over in units
at the new rate, so raising a limit helps at once and lowering one does not grant a fresh burst.

Day quotas (requests and tokens per UTC day) are counters in the tenant's usage hash for the day
(`lumen.core.limits.metering`); crossing a configured share of one is claimed with SET NX, so the
threshold listeners run once per tenant, day, quota and share, whichever process saw it first.

Headers, on every response to a limited request (2xx and 429 alike), follow the IETF httpapi draft
"RateLimit header fields for HTTP" (draft-ietf-httpapi-ratelimit-headers-10): structured fields that can
carry several policies at once, which these requests are subject to (tenant, key, daily quota):

    RateLimit-Policy: "tenant";q=1200;w=60, "key";q=600;w=60, "daily";q=500000;w=86400
    RateLimit: "tenant";r=1187;t=1, "key";r=593;t=1, "daily";r=499870;t=41231

`q` quota, `w` window (s), `r` remaining, `t` seconds until the quota is whole again. A 429 also carries
`Retry-After` (seconds). Redis down: see `lumen.core.limits.breaker` (fail open, never a 5xx).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import redis.asyncio as aioredis
import structlog
from redis.exceptions import RedisError, ResponseError

from lumen.core.http.errors import LumenProblem, UnprocessableEntity
from lumen.core.limits import keys
from lumen.core.limits.breaker import RedisBreaker
from lumen.core.limits.metering import (
    QUOTA_REQUESTS,
    QUOTA_TOKENS,
    UsageMeter,
    request_field,
    token_field,
)
from lumen.core.limits.service import TenantLimitsCache
from lumen.core.settings import LimitsSettings, Settings

__all__ = ["PolicyState", "RateLimited", "RateLimiter", "Verdict"]

log = structlog.get_logger()

MINUTE_US = 60_000_000
DAY_SECONDS = 86_400
_THRESHOLD_MARKER_TTL = 2 * DAY_SECONDS

# KEYS: 1 tenant GCRA state, 2 key GCRA state, 3 usage hash of the day, 4.. threshold markers.
# ARGV: 1 period (us), 2 tenant limit, 3 key limit (0: no per-key limit), 4 daily quota, 5 cost,
#       6 quota field, 7 metering field ("" for none), 8 us until the day ends, 9 usage TTL (s),
#       10 marker TTL (s), 11 enforce ("1", or "0" to charge regardless), 12.. threshold counts.
# Returns: {admitted, refused mask (1 tenant, 2 key, 4 day), wait us, tenant remaining, tenant reset us,
#           key remaining, key reset us, used today, crossed marker indexes...}
_ADMIT = """
local period = tonumber(ARGV[1])
local cost = tonumber(ARGV[5])
local enforce = ARGV[11] == '1'
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])

local function gcra(key, limit)
  local interval = period / limit
  local state = redis.call('HMGET', key, 't', 'i')
  local tat = tonumber(state[1])
  local was = tonumber(state[2])
  if tat == nil or tat < now then
    tat = now
  elseif was ~= nil and was ~= interval then
    -- the limit changed: what was used carries over, in units, at the new rate
    tat = now + (tat - now) / was * interval
  end
  local after = tat + cost * interval
  -- 1 us of slack: the stored TAT is rounded up to whole microseconds
  local ok = after - now <= period + 1
  local basis = tat
  if ok then basis = after end
  local remaining = math.floor((period - (basis - now)) / interval + 1e-6)
  if remaining < 0 then remaining = 0 end
  if remaining > limit then remaining = limit end
  local wait = 0
  if not ok then wait = after - period - now end
  return {ok = ok, wait = wait, remaining = remaining, reset = basis - now, after = after,
          interval = interval}
end

local function save(key, g)
  local tat = math.ceil(g.after)
  redis.call('HSET', key, 't', string.format('%d', tat), 'i', string.format('%.17g', g.interval))
  redis.call('PEXPIRE', key, math.ceil((tat - now) / 1000) + 1000)
end

local t = gcra(KEYS[1], tonumber(ARGV[2]))
local key_limit = tonumber(ARGV[3])
local k = nil
if key_limit > 0 then k = gcra(KEYS[2], key_limit) end
local used = tonumber(redis.call('HGET', KEYS[3], ARGV[6]) or '0')
local day_ok = used + cost <= tonumber(ARGV[4])

local refused = 0
local wait = 0
if not t.ok then refused = refused + 1; wait = math.max(wait, t.wait) end
if k ~= nil and not k.ok then refused = refused + 2; wait = math.max(wait, k.wait) end
if not day_ok then refused = refused + 4; wait = math.max(wait, tonumber(ARGV[8])) end

local k_remaining, k_reset = -1, 0
if k ~= nil then k_remaining = k.remaining; k_reset = k.reset end
local result = {0, refused, math.ceil(wait), t.remaining, math.ceil(t.reset), k_remaining,
                math.ceil(k_reset), used}
if enforce and refused > 0 then
  return result
end

save(KEYS[1], t)
if k ~= nil then save(KEYS[2], k) end
used = redis.call('HINCRBY', KEYS[3], ARGV[6], cost)
if ARGV[7] ~= '' then redis.call('HINCRBY', KEYS[3], ARGV[7], cost) end
redis.call('EXPIRE', KEYS[3], ARGV[9])
result[1] = 1
result[8] = used
for i = 4, #KEYS do
  if used >= tonumber(ARGV[8 + i]) and redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[10]) then
    table.insert(result, i - 4)
  end
end
return result
"""


@dataclass(frozen=True, slots=True)
class PolicyState:
    """One quota policy as the RateLimit fields describe it."""

    name: str  # "tenant", "key", "daily" (requests); "tokens", "key-tokens", "daily-tokens"
    quota: int
    window: int  # seconds
    remaining: int
    reset: int  # seconds until the quota is whole again


@dataclass(frozen=True, slots=True)
class Verdict:
    admitted: bool
    retry_after: int  # seconds; 0 when admitted
    policies: tuple[PolicyState, ...]
    # The UTC day whose usage hash the decision counted in (metering the answer uses the same one).
    day: date
    refused_by: tuple[str, ...] = ()
    detail: str = ""

    def headers(self) -> dict[str, str]:
        policy = ", ".join(f'"{p.name}";q={p.quota};w={p.window}' for p in self.policies)
        state = ", ".join(f'"{p.name}";r={p.remaining};t={p.reset}' for p in self.policies)
        found = {"RateLimit-Policy": policy, "RateLimit": state}
        if not self.admitted:
            found["Retry-After"] = str(self.retry_after)
        return found

    def problem(self) -> RateLimited:
        return RateLimited(self)


class RateLimited(LumenProblem):
    """429 `rate-limited`, with Retry-After and the RateLimit fields."""

    slug = "rate-limited"

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(
            verdict.detail,
            headers=verdict.headers(),
            extra={"retry_after": verdict.retry_after, "policies": list(verdict.refused_by)},
        )


def _seconds(us: float) -> int:
    return max(0, math.ceil(us / 1_000_000))


def _until_tomorrow(now: datetime) -> timedelta:
    tomorrow = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return tomorrow - now


_NAMES = {
    "req": ("tenant", "key", "daily", "requests"),
    "tok": ("tokens", "key-tokens", "daily-tokens", "tokens"),
}


class RateLimiter:
    def __init__(
        self,
        redis: aioredis.Redis,
        cache: TenantLimitsCache,
        meter: UsageMeter,
        settings: LimitsSettings,
        breaker: RedisBreaker,
    ) -> None:
        self.redis = redis
        self.cache = cache
        self.meter = meter
        self._settings = settings
        self._breaker = breaker
        self._admit = redis.register_script(_ADMIT)

    @classmethod
    def from_settings(cls, settings: Settings, cache: TenantLimitsCache) -> RateLimiter:
        """With a Redis client of its own: short timeouts (fail open fast), unlike job queues' long polls."""
        assert settings.redis.url is not None
        timeout = settings.limits.redis_timeout_seconds
        client = aioredis.Redis.from_url(
            settings.redis.url, socket_timeout=timeout, socket_connect_timeout=timeout
        )
        breaker = RedisBreaker(settings.limits.redis_retry_seconds)
        meter = UsageMeter(client, breaker, settings.limits)
        return cls(client, cache, meter, settings.limits, breaker)

    async def aclose(self) -> None:
        await self.redis.aclose()

    async def check_request(
        self, tenant_id: uuid.UUID, key_id: uuid.UUID | None, *, method: str = "", route: str = ""
    ) -> Verdict | None:
        """Admit (and count) one request, or refuse it; None when Redis could not be asked (fail open).

        With `method` and `route`, an admitted request is also metered, in the same round trip, as
        answered 2xx (what nearly every admitted request is); `UsageMeter.settle_request` moves it to its
        real status class when the answer is something else."""
        limits = (await self.cache.get(tenant_id)).limits
        return await self._decide(
            "req",
            tenant_id,
            key_id,
            cost=1,
            per_minute=limits.requests_per_minute,
            key_per_minute=limits.key_requests_per_minute,
            per_day=limits.requests_per_day,
            quota_field=QUOTA_REQUESTS,
            meter_field=request_field(method, route, 200) if route else "",
            enforce=True,
        )

    async def consume_tokens(
        self,
        tenant_id: uuid.UUID,
        key_id: uuid.UUID | None,
        tokens: int,
        *,
        model: str,
        adapter: str | None,
        direction: Literal["in", "out"] = "in",
        enforce: bool = True,
    ) -> None:
        """Charge `tokens` of inference to the tenant's (and key's) token budgets and meter them by model
        and adapter. Raises `RateLimited` (429, nothing charged) when the per-minute or per-day budget would
        be exceeded. `enforce=False` charges regardless: for output tokens already generated, whose cost
        lands on the next call instead. `key_id` None (work not done for a key): the tenant's budgets only."""
        if tokens < 0:
            raise ValueError("tokens must be >= 0")
        if tokens == 0:
            return
        limits = (await self.cache.get(tenant_id)).limits
        ceilings = [limits.tokens_per_minute, limits.tokens_per_day]
        if key_id is not None:
            ceilings.append(limits.key_tokens_per_minute)
        if enforce and tokens > min(ceilings):
            # No wait would ever let this through: say so, rather than a 429 that invites retries.
            raise UnprocessableEntity(
                f"This call needs {tokens} tokens, more than the tenant's budget allows at once "
                f"({min(ceilings)}); send a shorter prompt or ask for fewer tokens."
            )
        verdict = await self._decide(
            "tok",
            tenant_id,
            key_id,
            cost=tokens,
            per_minute=limits.tokens_per_minute,
            key_per_minute=limits.key_tokens_per_minute,
            per_day=limits.tokens_per_day,
            quota_field=QUOTA_TOKENS,
            meter_field=token_field(direction, model, adapter),
            enforce=enforce,
        )
        if verdict is not None and not verdict.admitted:
            raise verdict.problem()

    async def _decide(
        self,
        unit: Literal["req", "tok"],
        tenant_id: uuid.UUID,
        key_id: uuid.UUID | None,
        *,
        cost: int,
        per_minute: int,
        key_per_minute: int,
        per_day: int,
        quota_field: str,
        meter_field: str,
        enforce: bool,
    ) -> Verdict | None:
        if self._breaker.open:
            return None
        now = datetime.now(UTC)
        day = now.date()
        to_midnight = _until_tomorrow(now)
        shares = sorted(set(self._settings.thresholds))
        kind = _NAMES[unit][3]
        markers = [keys.threshold_marker(tenant_id, day, kind, s) for s in shares]
        counts = [max(1, math.ceil(s * per_day)) for s in shares]
        key_state = keys.key_rule(tenant_id, key_id, unit) if key_id else keys.tenant_rule(tenant_id, unit)
        try:
            raw: Sequence[Any] = await self._admit(
                keys=[
                    keys.tenant_rule(tenant_id, unit),
                    key_state,
                    keys.usage_hash(tenant_id, day),
                    *markers,
                ],
                args=[
                    MINUTE_US,
                    per_minute,
                    key_per_minute if key_id else 0,
                    per_day,
                    cost,
                    quota_field,
                    meter_field,
                    int(to_midnight.total_seconds() * 1_000_000),
                    self._settings.usage_retention_days * DAY_SECONDS,
                    _THRESHOLD_MARKER_TTL,
                    "1" if enforce else "0",
                    *counts,
                ],
            )
        except ResponseError as exc:  # a script error is a bug, not an outage: loud, but still fail open
            log.error("limits.script_failed", error=str(exc))
            return None
        except (RedisError, OSError, TimeoutError) as exc:
            self._breaker.failed("admit", exc)
            return None
        self._breaker.succeeded()
        admitted, refused, wait_us, t_rem, t_reset, k_rem, k_reset, used = (int(v) for v in raw[:8])
        names = _NAMES[unit]
        policies = [PolicyState(names[0], per_minute, 60, t_rem, _seconds(t_reset))]
        if key_id is not None and k_rem >= 0:
            policies.append(PolicyState(names[1], key_per_minute, 60, k_rem, _seconds(k_reset)))
        policies.append(
            PolicyState(
                names[2],
                per_day,
                DAY_SECONDS,
                max(0, per_day - used),
                _seconds(to_midnight.total_seconds() * 1e6),
            )
        )
        for share, marker in ((shares[int(i)], markers[int(i)]) for i in raw[8:]):
            await self.meter.threshold_reached(tenant_id, kind, share, marker)
        if admitted:
            return Verdict(admitted=True, retry_after=0, policies=tuple(policies), day=day)
        refused_by = tuple(n for bit, n in zip((1, 2, 4), names[:3], strict=True) if refused & bit)
        return Verdict(
            admitted=False,
            retry_after=max(1, _seconds(wait_us)),
            policies=tuple(policies),
            day=day,
            refused_by=refused_by,
            detail=_refusal(unit, refused_by, per_minute, key_per_minute, per_day, _seconds(wait_us)),
        )


def _refusal(
    unit: str, refused_by: tuple[str, ...], per_minute: int, key_per_minute: int, per_day: int, wait: int
) -> str:
    what = "requests" if unit == "req" else "tokens"
    reasons = []
    for name in refused_by:
        if name.startswith("daily"):
            reasons.append(
                f"the tenant's daily quota of {per_day} {what} is used up (it resets at 00:00 UTC)"
            )
        elif name.startswith("key"):
            reasons.append(f"this API key's limit of {key_per_minute} {what} per minute is reached")
        else:
            reasons.append(f"the tenant's limit of {per_minute} {what} per minute is reached")
    return f"Rate limit exceeded: {'; '.join(reasons)}. Retry in {max(1, wait)} s."
