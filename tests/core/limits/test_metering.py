"""Usage metering in Redis and GET /v1/usage: counts by route and status class, tenant isolation, input
checks, and the quota threshold listeners (once per tenant, day and share)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from litestar import Litestar

from lumen.core.limits import keys
from tests.conftest import TenantHandle, assert_problem, bearer, create_tenant, platform_headers
from tests.core.limits.conftest import set_limits


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


async def _usage(client: httpx.AsyncClient, tenant: TenantHandle, **params: str) -> dict[str, Any]:
    r = await client.get("/v1/usage", params=params, headers=tenant.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _routes(day: dict[str, Any]) -> dict[tuple[str, str, str], int]:
    return {(r["method"], r["route"], r["status_class"]): r["requests"] for r in day["routes"]}


async def test_requests_are_counted_by_route_template_and_status_class(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    for _ in range(3):
        assert (await client.get("/v1/keys", headers=tenant_a.headers)).status_code == 200
    for _ in range(2):  # two different ids, one route template
        assert (await client.get(f"/v1/keys/{uuid.uuid4()}", headers=tenant_a.headers)).status_code == 404
    assert (await client.get(f"/v1/keys/{tenant_a.key_id}", headers=tenant_a.headers)).status_code == 200
    body = await _usage(client, tenant_a, **{"from": _today(), "to": _today()})
    assert body["tenant_id"] == str(tenant_a.id) and body["from"] == body["to"] == _today()
    [day] = body["days"]
    routes = _routes(day)
    assert routes[("GET", "/v1/keys", "2xx")] == 3
    assert routes[("GET", "/v1/keys/{key_id}", "4xx")] == 2
    assert routes[("GET", "/v1/keys/{key_id}", "2xx")] == 1
    # A request is metered when it is admitted, as a 2xx (the usage read itself, in flight, is there);
    # the two 404s were moved to 4xx when they answered, so nothing is counted twice.
    assert routes[("GET", "/v1/usage", "2xx")] == 1
    assert day["requests"] == sum(routes.values()) == 7
    assert day["tokens_in"] == day["tokens_out"] == 0 and day["models"] == []
    again = await _usage(client, tenant_a)
    assert _routes(again["days"][-1])[("GET", "/v1/usage", "2xx")] == 2


async def test_refused_requests_are_metered_as_4xx(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    await set_limits(client, tenant_a.id, requests_per_minute=2)
    statuses = [(await client.get("/v1/keys", headers=tenant_a.headers)).status_code for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
    await set_limits(client, tenant_a.id)  # back to the plan, to read the usage
    routes = _routes((await _usage(client, tenant_a))["days"][-1])
    assert routes[("GET", "/v1/keys", "2xx")] == 2 and routes[("GET", "/v1/keys", "4xx")] == 2


async def test_usage_is_stored_under_the_tenants_prefix_with_a_ttl(
    app: Litestar, client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    assert (await client.get("/v1/keys", headers=tenant_a.headers)).status_code == 200
    redis = app.state.redis
    found = [k.decode() async for k in redis.scan_iter(match=f"lumen:t:*{tenant_a.id}*")]
    assert found and all(k.startswith(f"lumen:t:{{{tenant_a.id}}}:") for k in found)
    name = keys.usage_hash(tenant_a.id, datetime.now(UTC).date())
    assert 399 * 86_400 < await redis.ttl(name) <= 400 * 86_400


async def test_usage_shows_only_the_callers_tenant(client: httpx.AsyncClient) -> None:
    a = await create_tenant(client)
    b = await create_tenant(client)
    for _ in range(4):
        assert (await client.get("/v1/keys", headers=a.headers)).status_code == 200
    assert (await client.get("/v1/audit", headers=b.headers)).status_code == 200
    seen_by_b = await _usage(client, b)
    assert seen_by_b["tenant_id"] == str(b.id)
    assert str(a.id) not in str(seen_by_b)
    routes_b = _routes(seen_by_b["days"][-1])
    assert ("GET", "/v1/keys", "2xx") not in routes_b  # A's requests
    assert routes_b[("GET", "/v1/audit", "2xx")] == 1
    routes_a = _routes((await _usage(client, a))["days"][-1])
    assert routes_a[("GET", "/v1/keys", "2xx")] == 4 and ("GET", "/v1/audit", "2xx") not in routes_a


async def test_usage_needs_the_usage_read_scope(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.post(
        "/v1/keys", json={"name": "reader", "scopes": ["usage:read"]}, headers=tenant_a.headers
    )
    assert r.status_code == 201, r.text
    reader = bearer(r.json()["key"])
    assert (await client.get("/v1/usage", headers=reader)).status_code == 200
    r = await client.post(
        "/v1/keys", json={"name": "other", "scopes": ["keys:read"]}, headers=tenant_a.headers
    )
    body = assert_problem(await client.get("/v1/usage", headers=bearer(r.json()["key"])), 403, "forbidden")
    assert body["required_scope"] == "usage:read"
    assert_problem(await client.get("/v1/usage", headers=platform_headers()), 403, "tenant-key-required")


async def test_usage_range_defaults_and_limits(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    default = await _usage(client, tenant_a)
    assert len(default["days"]) == 30 and default["to"] == _today()
    assert [d["date"] for d in default["days"]] == sorted(d["date"] for d in default["days"])
    today = datetime.now(UTC).date()
    year = await _usage(client, tenant_a, **{"from": (today - timedelta(days=365)).isoformat()})
    assert len(year["days"]) == 366


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-13-01"}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"to": "2026-02-30"}, "to"),
        ({"to": "20261201"}, "to"),
        ({"from": "2026-12-02", "to": "2026-12-01"}, "from"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "to"),  # 367 days
    ],
)
async def test_bad_usage_ranges_are_422_naming_the_field(
    client: httpx.AsyncClient, tenant_a: TenantHandle, params: dict[str, str], field: str
) -> None:
    r = await client.get("/v1/usage", params=params, headers=tenant_a.headers)
    body = assert_problem(r, 422, "validation-error")
    assert body["detail"].startswith(f"{field}:"), body


async def test_threshold_listener_fires_once_per_tenant_day_and_share(
    app: Litestar, client: httpx.AsyncClient, other_app: Litestar, other: httpx.AsyncClient
) -> None:
    tenant = await create_tenant(client)
    bystander = await create_tenant(client)
    await set_limits(client, tenant.id, requests_per_day=10)
    await set_limits(client, bystander.id, requests_per_day=10)
    calls: list[tuple[uuid.UUID, str, float]] = []

    async def listener(tenant_id: uuid.UUID, kind: str, share: float) -> None:
        calls.append((tenant_id, kind, share))

    listeners = [app.state.usage_threshold_listeners, other_app.state.usage_threshold_listeners]
    for registered in listeners:
        registered.append(listener)
    try:
        # 80% of 10 is the 8th request: seven pass quietly...
        for _ in range(7):
            assert (await client.get("/v1/keys", headers=tenant.headers)).status_code == 200
        assert calls == []
        # ...then a concurrent burst through two API instances crosses it, and goes past the quota.
        burst = await asyncio.gather(
            *(h.get("/v1/keys", headers=tenant.headers) for h in [client, other] * 3)
        )
        assert sorted(r.status_code for r in burst) == [200] * 3 + [429] * 3
        refused = next(r for r in burst if r.status_code == 429)
        assert assert_problem(refused, 429, "rate-limited")["policies"] == ["daily"]
        assert calls == [(tenant.id, "requests", 0.8)]
        # More traffic the same day, through either instance, does not call again.
        for http in (client, other):
            assert (await http.get("/v1/keys", headers=tenant.headers)).status_code == 429
        assert calls == [(tenant.id, "requests", 0.8)]
        # Another tenant's crossing is its own.
        for _ in range(8):
            assert (await other.get("/v1/keys", headers=bystander.headers)).status_code == 200
        assert calls == [(tenant.id, "requests", 0.8), (bystander.id, "requests", 0.8)]
    finally:
        for registered in listeners:
            registered.remove(listener)


async def test_a_failing_listener_does_not_fail_the_request(app: Litestar, client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await set_limits(client, tenant.id, requests_per_day=2)

    async def broken(tenant_id: uuid.UUID, kind: str, share: float) -> None:
        raise RuntimeError("listener down")

    app.state.usage_threshold_listeners.append(broken)
    try:
        statuses = [(await client.get("/v1/keys", headers=tenant.headers)).status_code for _ in range(2)]
    finally:
        app.state.usage_threshold_listeners.remove(broken)
    assert statuses == [200, 200]
    # The claim is shortened so that a later request retries the listeners, rather than never.
    marker = keys.threshold_marker(tenant.id, datetime.now(UTC).date(), "requests", 0.8)
    assert 0 < await app.state.redis.ttl(marker) <= 60
