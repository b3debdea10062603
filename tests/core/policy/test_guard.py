"""The policy decision on the request path (core/policy/guard.py), seen through HTTP: what a denied caller
is told, which problem type the wrong kind of key gets, and that every decision's id reaches the audit
record of the request it decided."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import TenantHandle, assert_problem, bearer, platform_headers


async def _events_of(
    client: httpx.AsyncClient, headers: dict[str, str], request_id: str
) -> list[dict[str, Any]]:
    r = await client.get("/v1/audit", params={"request_id": request_id}, headers=headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def _key(client: httpx.AsyncClient, owner: TenantHandle, *scopes: str) -> dict[str, str]:
    r = await client.post("/v1/keys", json={"name": "scoped", "scopes": [*scopes]}, headers=owner.headers)
    assert r.status_code == 201, r.text
    return bearer(r.json()["key"])


async def test_denied_request_names_its_decision_and_reasons(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    reader = await _key(client, tenant_a, "keys:read")
    r = await client.post("/v1/keys", json={"name": "x", "scopes": ["admin"]}, headers=reader)
    body = assert_problem(r, 403, "forbidden")
    assert isinstance(body["decision_id"], str) and body["decision_id"]
    assert body["reasons"], body
    assert any("keys.create" in reason for reason in body["reasons"]), body
    assert body["required_scope"] == "admin"


async def test_denied_request_is_audited_with_the_same_decision_id(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    reader = await _key(client, tenant_a, "keys:read")
    r = await client.post("/v1/keys", json={"name": "x", "scopes": ["admin"]}, headers=reader)
    body = assert_problem(r, 403)
    auditor = await _key(client, tenant_a, "audit:read")
    [event] = await _events_of(client, auditor, r.headers["x-request-id"])
    assert event["outcome"] == "denied"
    assert event["action"] == "keys.create"
    assert event["policy_decision_id"] == body["decision_id"]


async def test_allowed_state_change_is_audited_with_its_decision_id(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    first = await client.post(
        "/v1/keys", json={"name": "a", "scopes": ["keys:read"]}, headers=tenant_a.headers
    )
    second = await client.post(
        "/v1/keys", json={"name": "b", "scopes": ["keys:read"]}, headers=tenant_a.headers
    )
    assert first.status_code == second.status_code == 201
    [one] = await _events_of(client, tenant_a.headers, first.headers["x-request-id"])
    [two] = await _events_of(client, tenant_a.headers, second.headers["x-request-id"])
    assert one["outcome"] == two["outcome"] == "success"
    assert one["policy_decision_id"] and two["policy_decision_id"]
    assert one["policy_decision_id"] != two["policy_decision_id"]  # one decision per request


async def test_tenant_key_on_platform_route_needs_the_platform_key(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    body = assert_problem(
        await client.get("/v1/tenants", headers=tenant_a.headers), 403, "platform-key-required"
    )
    assert body["decision_id"]
    assert_problem(
        await client.post("/v1/tenants", json={"slug": "nope-x", "name": "N"}, headers=tenant_a.headers),
        403,
        "platform-key-required",
    )


async def test_platform_key_on_tenant_route_needs_a_tenant_key(client: httpx.AsyncClient) -> None:
    body = assert_problem(
        await client.get("/v1/keys", headers=platform_headers()), 403, "tenant-key-required"
    )
    assert body["decision_id"]
    assert body["reasons"]
    assert_problem(await client.get("/v1/policy", headers=platform_headers()), 403, "tenant-key-required")
    assert_problem(await client.get("/v1/plugins", headers=platform_headers()), 403, "tenant-key-required")


async def test_platform_key_reads_its_own_audit_chain(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/audit", headers=platform_headers())
    assert r.status_code == 200, r.text
    assert all(item["tenant_id"] is None for item in r.json()["items"])
    assert (await client.get("/v1/audit/verify", headers=platform_headers())).status_code == 200


async def test_platform_keys_denial_lands_in_its_own_chain(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/keys", headers=platform_headers())
    body = assert_problem(r, 403, "tenant-key-required")
    [event] = await _events_of(client, platform_headers(), r.headers["x-request-id"])
    assert event["tenant_id"] is None
    assert event["actor_kind"] == "platform"
    assert event["outcome"] == "denied"
    assert event["policy_decision_id"] == body["decision_id"]


async def test_denial_in_one_tenant_is_not_in_anothers_trail(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    reader = await _key(client, tenant_a, "keys:read")
    r = await client.post("/v1/keys", json={"name": "x", "scopes": ["admin"]}, headers=reader)
    assert_problem(r, 403)
    assert await _events_of(client, tenant_b.headers, r.headers["x-request-id"]) == []
    assert len(await _events_of(client, tenant_a.headers, r.headers["x-request-id"])) == 1
