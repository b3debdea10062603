"""The limiter on the request path and on its own: exact counts, Retry-After, recovery, per key and per
tenant, the RateLimit fields, several API processes, operator overrides, the platform key, Redis down."""

from __future__ import annotations

import asyncio
import secrets
import tempfile
import time
import uuid
from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest
from litestar import Litestar
from structlog.testing import capture_logs

from lumen.core.app import create_app
from lumen.core.limits import RateLimiter
from lumen.core.settings import RedisSettings, Settings
from tests.conftest import TenantHandle, assert_problem, bearer, create_tenant, platform_headers
from tests.core.limits.conftest import rate_policies, rate_state, set_limits, started, stopped


async def _key(
    client: httpx.AsyncClient, tenant: TenantHandle, name: str = "worker"
) -> tuple[str, uuid.UUID]:
    """Issued by the operator (exempt), so that making it uses none of the tenant's allowance."""
    r = await client.post(
        f"/v1/tenants/{tenant.id}/keys",
        json={"name": name, "scopes": ["keys:read"]},
        headers=platform_headers(),
    )
    assert r.status_code == 201, r.text
    return r.json()["key"], uuid.UUID(r.json()["id"])


async def test_exactly_n_requests_pass_then_429_with_retry_after(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    await set_limits(client, tenant_a.id, requests_per_minute=3)
    for n in range(3):
        r = await client.get("/v1/keys", headers=tenant_a.headers)
        assert r.status_code == 200, (n, r.text)
    refused = await client.get("/v1/keys", headers=tenant_a.headers)
    body = assert_problem(refused, 429, "rate-limited")
    # One request's share of the minute: 60 / 3 = 20 s (less the few milliseconds the test took).
    assert 19 <= int(refused.headers["retry-after"]) <= 20
    assert body["retry_after"] == int(refused.headers["retry-after"])
    assert body["policies"] == ["tenant"]
    assert "3 requests per minute" in body["detail"]


async def test_recovers_one_request_per_interval(
    app: Litestar, client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    """Directly against the limiter (no HTTP in between, so the burst takes milliseconds, not seconds)."""
    await set_limits(client, tenant_a.id, requests_per_minute=60)
    limiter: RateLimiter = app.state.rate_limiter
    verdicts = [await limiter.check_request(tenant_a.id, tenant_a.key_id) for _ in range(61)]
    assert [v is not None and v.admitted for v in verdicts] == [True] * 60 + [False]
    refused = verdicts[-1]
    assert refused is not None and refused.retry_after == 1 and refused.refused_by == ("tenant",)
    assert refused.headers()["Retry-After"] == "1"

    await asyncio.sleep(1.05)  # one interval (60 s / 60): exactly one more
    again = [await limiter.check_request(tenant_a.id, tenant_a.key_id) for _ in range(2)]
    assert [v is not None and v.admitted for v in again] == [True, False]

    await asyncio.sleep(2.05)  # two intervals: exactly two more
    later = [await limiter.check_request(tenant_a.id, tenant_a.key_id) for _ in range(3)]
    assert [v is not None and v.admitted for v in later] == [True, True, False]


async def test_each_key_has_its_own_limit_within_the_tenants(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    first, _ = await _key(client, tenant_a, "first")
    second, _ = await _key(client, tenant_a, "second")
    await set_limits(client, tenant_a.id, requests_per_minute=5, key_requests_per_minute=3)
    statuses = [(await client.get("/v1/keys", headers=bearer(first))).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = await client.get("/v1/keys", headers=bearer(first))
    assert assert_problem(refused, 429, "rate-limited")["policies"] == ["key"]
    # The first key's refusals used none of the tenant's allowance: 5 - 3 = 2 remain for the second key.
    statuses = [(await client.get("/v1/keys", headers=bearer(second))).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = await client.get("/v1/keys", headers=bearer(second))
    assert assert_problem(refused, 429, "rate-limited")["policies"] == ["tenant"]


async def test_ratelimit_fields_on_success_and_on_429(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    await set_limits(
        client, tenant_a.id, requests_per_minute=4, key_requests_per_minute=10, requests_per_day=100
    )
    ok = await client.get("/v1/keys", headers=tenant_a.headers)
    assert ok.status_code == 200
    assert rate_policies(ok) == {
        "tenant": {"q": 4, "w": 60},
        "key": {"q": 10, "w": 60},
        "daily": {"q": 100, "w": 86_400},
    }
    state = rate_state(ok)
    assert state["tenant"]["r"] == 3 and 1 <= state["tenant"]["t"] <= 15
    assert state["key"]["r"] == 9
    assert state["daily"]["r"] == 99 and 0 <= state["daily"]["t"] <= 86_400
    assert "retry-after" not in ok.headers
    for _ in range(3):
        assert (await client.get("/v1/keys", headers=tenant_a.headers)).status_code == 200
    refused = await client.get("/v1/keys", headers=tenant_a.headers)
    assert_problem(refused, 429, "rate-limited")
    assert rate_state(refused)["tenant"]["r"] == 0
    assert 55 <= rate_state(refused)["tenant"]["t"] <= 60
    assert rate_policies(refused)["tenant"] == {"q": 4, "w": 60}
    assert refused.headers["x-request-id"]
    # Answers that are not 2xx carry them too (here a 404 from the handler).
    await set_limits(client, tenant_a.id, requests_per_minute=100)
    missing = await client.get(f"/v1/keys/{uuid.uuid4()}", headers=tenant_a.headers)
    assert missing.status_code == 404 and "ratelimit" in missing.headers


async def test_two_api_instances_share_one_limit(
    client: httpx.AsyncClient, other: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    await set_limits(client, tenant_a.id, requests_per_minute=6)
    both = [client, other] * 6
    statuses = [(await http.get("/v1/keys", headers=tenant_a.headers)).status_code for http in both]
    assert statuses.count(200) == 6 and statuses[:6] == [200] * 6, statuses
    assert statuses[6:] == [429] * 6  # refused by both instances alike
    # ...and concurrently, a burst split across the two instances still admits exactly the limit.
    fresh = await create_tenant(client)
    await set_limits(client, fresh.id, requests_per_minute=10)
    responses = await asyncio.gather(
        *(h.get("/v1/keys", headers=fresh.headers) for h in [client, other] * 12)
    )
    assert sorted(r.status_code for r in responses) == [200] * 10 + [429] * 14


async def test_operator_override_takes_effect_at_once_in_every_instance(
    client: httpx.AsyncClient, other: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    await set_limits(client, tenant_a.id, requests_per_minute=2)
    assert [(await other.get("/v1/keys", headers=tenant_a.headers)).status_code for _ in range(3)] == [
        200,
        200,
        429,
    ]
    # Raised through the operator API on one instance: the other sees it at once (Redis invalidation) and
    # what was used carries over at the new rate, so no wait is needed.
    await set_limits(client, tenant_a.id, requests_per_minute=50)
    deadline = time.monotonic() + 3
    while (r := await other.get("/v1/keys", headers=tenant_a.headers)).status_code == 429:
        assert time.monotonic() < deadline, "the other instance never saw the new limit"
        await asyncio.sleep(0.02)
    assert r.status_code == 200
    assert rate_policies(r)["tenant"]["q"] == 50
    # Lowered again: refused at once, with a wait that reflects what was already used.
    await set_limits(client, tenant_a.id, requests_per_minute=1)
    r = await client.get("/v1/keys", headers=tenant_a.headers)
    assert_problem(r, 429, "rate-limited")
    assert int(r.headers["retry-after"]) > 60


async def test_platform_key_is_exempt(client: httpx.AsyncClient) -> None:
    for _ in range(30):
        r = await client.get("/v1/tenants", headers=platform_headers())
        assert r.status_code == 200
        assert "ratelimit" not in r.headers and "ratelimit-policy" not in r.headers


async def test_public_routes_are_not_limited(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200 and "ratelimit" not in r.headers


@pytest.fixture
async def no_redis_app(settings: Settings) -> AsyncIterator[Litestar]:
    """An app whose Redis is a unix socket nobody listens on (nothing shared is stopped)."""
    dead = f"unix://{tempfile.gettempdir()}/lumen-dead-{secrets.token_hex(4)}.sock"
    app = create_app(msgspec.structs.replace(settings, redis=RedisSettings(url=dead)))
    await started(app)
    yield app
    await stopped(app)


async def test_redis_down_fails_open(
    client: httpx.AsyncClient, no_redis_app: Litestar, tenant_a: TenantHandle
) -> None:
    await set_limits(client, tenant_a.id, requests_per_minute=1)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=no_redis_app), base_url="http://lumen.test"
    ) as dead:
        with capture_logs() as logs:
            statuses = [(await dead.get("/v1/keys", headers=tenant_a.headers)) for _ in range(5)]
            created = await dead.post(
                "/v1/keys", json={"name": "x", "scopes": ["keys:read"]}, headers=tenant_a.headers
            )
            usage = await dead.get("/v1/usage", headers=tenant_a.headers)
    assert [r.status_code for r in statuses] == [200] * 5  # over the limit of 1, but Redis cannot say so
    assert all("ratelimit" not in r.headers for r in statuses)
    assert created.status_code == 201, created.text
    # Reading usage cannot fail open (there is nothing to show): an honest 503, as problem+json.
    assert_problem(usage, 503, "service-unavailable")
    warnings = [e for e in logs if e["event"] == "limits.redis_unavailable"]
    assert len(warnings) == 1 and warnings[0]["log_level"] == "warning"  # once per outage, not per request
