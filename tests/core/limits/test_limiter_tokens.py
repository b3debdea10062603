"""Token budgets for inference: `RateLimiter.consume_tokens`, called directly as the inference pool will,
against the real Redis: per-minute and per-day budgets, per key, metering by model and adapter, and the
token quota's threshold listener."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from litestar import Litestar

from lumen.core.http.errors import UnprocessableEntity
from lumen.core.limits import RateLimited, RateLimiter
from tests.conftest import TenantHandle, create_tenant, platform_headers
from tests.core.limits.conftest import parse_fields, set_limits

MODEL = "smollm2-135m-instruct"


def _limiter(app: Litestar) -> RateLimiter:
    limiter: RateLimiter = app.state.rate_limiter
    return limiter


async def _tokens(client: httpx.AsyncClient, tenant: TenantHandle) -> list[dict[str, Any]]:
    r = await client.get("/v1/usage", headers=tenant.headers)
    assert r.status_code == 200, r.text
    day: dict[str, Any] = r.json()["days"][-1]
    return list(day["models"])


async def test_per_minute_token_budget(
    app: Litestar, client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    await set_limits(client, tenant_a.id, tokens_per_minute=100, key_tokens_per_minute=1000)
    limiter = _limiter(app)
    await limiter.consume_tokens(tenant_a.id, tenant_a.key_id, 60, model=MODEL, adapter=None)
    await limiter.consume_tokens(tenant_a.id, tenant_a.key_id, 40, model=MODEL, adapter=None)
    with pytest.raises(RateLimited) as refused:
        await limiter.consume_tokens(tenant_a.id, tenant_a.key_id, 5, model=MODEL, adapter=None)
    problem = refused.value
    assert problem.status_code == 429 and problem.type_ == "/problems/rate-limited"
    assert problem.headers is not None
    # 5 tokens of a 100-per-minute budget: 3 s to wait.
    assert 2 <= int(problem.headers["Retry-After"]) <= 3
    assert parse_fields(problem.headers["RateLimit"])["tokens"]["r"] == 0
    assert parse_fields(problem.headers["RateLimit-Policy"])["tokens"] == {"q": 100, "w": 60}
    assert problem.extra == {"retry_after": int(problem.headers["Retry-After"]), "policies": ["tokens"]}
    # Nothing was charged for the refused call.
    assert await _tokens(client, tenant_a) == [
        {"model": MODEL, "adapter": None, "tokens_in": 100, "tokens_out": 0}
    ]


async def test_per_key_token_budget(app: Litestar, client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    await set_limits(client, tenant_a.id, tokens_per_minute=1000, key_tokens_per_minute=50)
    limiter = _limiter(app)
    other_key = uuid.uuid4()
    await limiter.consume_tokens(tenant_a.id, tenant_a.key_id, 50, model=MODEL, adapter=None)
    with pytest.raises(RateLimited) as refused:
        await limiter.consume_tokens(tenant_a.id, tenant_a.key_id, 1, model=MODEL, adapter=None)
    # One token of a 50-per-minute budget: 1.2 s, rounded up.
    assert refused.value.extra == {"retry_after": 2, "policies": ["key-tokens"]}
    await limiter.consume_tokens(tenant_a.id, other_key, 50, model=MODEL, adapter=None)
    # Work done for the tenant but no key (a job): the tenant's budgets only.
    await limiter.consume_tokens(tenant_a.id, None, 500, model=MODEL, adapter=None)


async def test_per_day_token_budget_and_output_tokens(
    app: Litestar, client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    await set_limits(
        client, tenant_a.id, tokens_per_minute=1000, key_tokens_per_minute=1000, tokens_per_day=150
    )
    limiter = _limiter(app)
    adapter = f"{tenant_a.id}/qa-v1"
    await limiter.consume_tokens(tenant_a.id, tenant_a.key_id, 80, model=MODEL, adapter=adapter)
    # Output tokens already generated are charged even past the budget; the next call pays for it.
    await limiter.consume_tokens(
        tenant_a.id, tenant_a.key_id, 90, model=MODEL, adapter=adapter, direction="out", enforce=False
    )
    with pytest.raises(RateLimited) as refused:
        await limiter.consume_tokens(tenant_a.id, tenant_a.key_id, 1, model=MODEL, adapter=adapter)
    assert refused.value.extra is not None and refused.value.extra["policies"] == ["daily-tokens"]
    assert "daily quota of 150 tokens" in str(refused.value.detail)
    assert refused.value.headers is not None
    assert int(refused.value.headers["Retry-After"]) <= 86_400
    assert await _tokens(client, tenant_a) == [
        {"model": MODEL, "adapter": adapter, "tokens_in": 80, "tokens_out": 90}
    ]


async def test_tokens_are_metered_by_model_and_adapter(
    app: Litestar, client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    limiter = _limiter(app)
    await limiter.consume_tokens(tenant_a.id, tenant_a.key_id, 10, model="m1", adapter=None)
    await limiter.consume_tokens(tenant_a.id, tenant_a.key_id, 7, model="m1", adapter="a|b")
    await limiter.consume_tokens(tenant_a.id, tenant_a.key_id, 3, model="m1", adapter=None, direction="out")
    await limiter.consume_tokens(tenant_a.id, tenant_a.key_id, 5, model="m2", adapter=None)
    await limiter.consume_tokens(tenant_a.id, tenant_a.key_id, 0, model="m3", adapter=None)  # nothing
    assert await _tokens(client, tenant_a) == [
        {"model": "m1", "adapter": None, "tokens_in": 10, "tokens_out": 3},
        {"model": "m1", "adapter": "a/b", "tokens_in": 7, "tokens_out": 0},
        {"model": "m2", "adapter": None, "tokens_in": 5, "tokens_out": 0},
    ]
    r = await client.get("/v1/usage", headers=tenant_a.headers)
    day = r.json()["days"][-1]
    assert (day["tokens_in"], day["tokens_out"]) == (22, 3)


async def test_a_call_larger_than_any_budget_is_422_not_429(
    app: Litestar, client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    await set_limits(client, tenant_a.id, tokens_per_minute=100)
    with pytest.raises(UnprocessableEntity, match="needs 101 tokens"):
        await _limiter(app).consume_tokens(tenant_a.id, tenant_a.key_id, 101, model=MODEL, adapter=None)
    with pytest.raises(ValueError, match=">= 0"):
        await _limiter(app).consume_tokens(tenant_a.id, tenant_a.key_id, -1, model=MODEL, adapter=None)


async def test_token_quota_threshold_fires_once(app: Litestar, client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await set_limits(client, tenant.id, tokens_per_day=1000)
    calls: list[tuple[uuid.UUID, str, float]] = []

    async def listener(tenant_id: uuid.UUID, kind: str, share: float) -> None:
        calls.append((tenant_id, kind, share))

    app.state.usage_threshold_listeners.append(listener)
    try:
        limiter = _limiter(app)
        await limiter.consume_tokens(tenant.id, tenant.key_id, 799, model=MODEL, adapter=None)
        assert calls == []
        await limiter.consume_tokens(tenant.id, tenant.key_id, 1, model=MODEL, adapter=None)
        assert calls == [(tenant.id, "tokens", 0.8)]
        await limiter.consume_tokens(
            tenant.id, tenant.key_id, 100, model=MODEL, adapter=None, direction="out"
        )
        assert calls == [(tenant.id, "tokens", 0.8)]
    finally:
        app.state.usage_threshold_listeners.remove(listener)
    # Token use does not count against the request quota, and the operator sees the effective budgets.
    r = await client.get(f"/v1/tenants/{tenant.id}/limits", headers=platform_headers())
    assert r.json()["effective"]["tokens_per_day"] == 1000
