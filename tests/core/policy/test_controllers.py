"""A tenant's own policy data (core/policy/controllers.py): GET/PUT /v1/policy, GET /v1/policy/versions.

A change takes effect on the next request (the tenant's cached configuration is dropped after commit), binds
only that tenant, and names the offending field when it refers to something that does not exist.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import TenantHandle, assert_problem, bearer

POLICY = "/v1/policy"


async def _put(client: httpx.AsyncClient, tenant: TenantHandle, data: dict[str, Any]) -> httpx.Response:
    return await client.put(POLICY, json=data, headers=tenant.headers)


async def _key(client: httpx.AsyncClient, owner: TenantHandle, *scopes: str) -> dict[str, str]:
    r = await client.post("/v1/keys", json={"name": "scoped", "scopes": [*scopes]}, headers=owner.headers)
    assert r.status_code == 201, r.text
    return bearer(r.json()["key"])


async def _create_key(client: httpx.AsyncClient, headers: dict[str, str]) -> httpx.Response:
    return await client.post("/v1/keys", json={"name": "k", "scopes": ["keys:read"]}, headers=headers)


async def test_new_tenant_has_empty_policy_data(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.get(POLICY, headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 0
    assert r.json()["data"]["deny_actions"] == []


async def test_deny_action_takes_effect_at_once(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    assert (await _create_key(client, tenant_a.headers)).status_code == 201  # warms the config cache
    r = await _put(client, tenant_a, {"deny_actions": ["keys.create"]})
    assert r.status_code == 200, r.text
    body = assert_problem(await _create_key(client, tenant_a.headers), 403, "forbidden")
    assert any("denied by the tenant's policy" in reason for reason in body["reasons"]), body
    # Other actions are untouched.
    assert (await client.get("/v1/keys", headers=tenant_a.headers)).status_code == 200


async def test_deny_action_binds_only_its_tenant(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    assert (await _put(client, tenant_a, {"deny_actions": ["keys.create"]})).status_code == 200
    assert_problem(await _create_key(client, tenant_a.headers), 403)
    assert (await _create_key(client, tenant_b.headers)).status_code == 201


async def test_lifting_a_deny_restores_access(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    assert (await _put(client, tenant_a, {"deny_actions": ["keys.create"]})).status_code == 200
    assert_problem(await _create_key(client, tenant_a.headers), 403)
    assert (await _put(client, tenant_a, {"deny_actions": []})).status_code == 200
    assert (await _create_key(client, tenant_a.headers)).status_code == 201


async def test_versions_increase_and_are_listed_newest_first(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    for expected, residency in ((1, "eu"), (2, "uk"), (3, "us")):
        r = await _put(client, tenant_a, {"data_residency": residency})
        assert r.status_code == 200, r.text
        assert r.json()["version"] == expected
    current = (await client.get(POLICY, headers=tenant_a.headers)).json()
    assert current["version"] == 3
    assert current["data"]["data_residency"] == "us"
    r = await client.get(f"{POLICY}/versions", headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["version"] for i in items] == [3, 2, 1]
    assert [i["data"]["data_residency"] for i in items] == ["us", "uk", "eu"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param({"deny_actions": ["keys.frobnicate"]}, "deny_actions", id="unknown-deny-action"),
        pytest.param({"deny_actions": ["tenants.create"]}, "deny_actions", id="platform-deny-action"),
        pytest.param(
            {"scope_grants": {"keys.nope": ["keys:read"]}}, "scope_grants", id="unknown-grant-action"
        ),
        pytest.param({"scope_grants": {"tenants.delete": ["admin"]}}, "scope_grants", id="platform-grant"),
        pytest.param(
            {"scope_grants": {"keys.create": ["keys:everything"]}},
            "scope_grants.keys.create",
            id="unknown-scope",
        ),
        pytest.param({"obligations": {"no.such": ["x"]}}, "obligations", id="unknown-obligation-action"),
    ],
)
async def test_names_that_do_not_exist_are_422_naming_the_field(
    client: httpx.AsyncClient, tenant_a: TenantHandle, data: dict[str, Any], field: str
) -> None:
    body = assert_problem(await _put(client, tenant_a, data), 422, "validation-error")
    assert body["detail"].startswith(f"{field}:"), body
    assert (await client.get(POLICY, headers=tenant_a.headers)).json()["version"] == 0  # nothing stored


async def test_unknown_fields_are_400(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = assert_problem(await _put(client, tenant_a, {"deny_action": ["keys.create"]}), 400)
    assert "deny_action" in body["detail"], body


async def test_badly_typed_value_names_the_field(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = assert_problem(await _put(client, tenant_a, {"data_residency": "mars"}), 400)
    assert "data_residency" in body["detail"], body


async def test_scope_grant_extends_an_action_to_another_scope(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    reader = await _key(client, tenant_a, "keys:read")
    assert_problem(await _create_key(client, reader), 403)
    r = await _put(client, tenant_a, {"scope_grants": {"keys.create": ["keys:read"]}})
    assert r.status_code == 200, r.text
    assert (await _create_key(client, reader)).status_code == 201


async def test_scope_grant_binds_only_its_tenant(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    assert (await _put(client, tenant_a, {"scope_grants": {"keys.create": ["keys:read"]}})).status_code == 200
    reader_b = await _key(client, tenant_b, "keys:read")
    assert_problem(await _create_key(client, reader_b), 403)


async def test_another_tenants_policy_data_is_invisible(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    assert (await _put(client, tenant_a, {"deny_actions": ["keys.rotate"]})).status_code == 200
    mine = (await client.get(POLICY, headers=tenant_b.headers)).json()
    assert mine["version"] == 0
    assert mine["data"]["deny_actions"] == []
    versions = (await client.get(f"{POLICY}/versions", headers=tenant_b.headers)).json()
    assert versions["items"] == []


async def test_reader_cannot_change_policy(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    reader = await _key(client, tenant_a, "keys:read", "policy:read")
    assert (await client.get(POLICY, headers=reader)).status_code == 200
    keys_reader = await _key(client, tenant_a, "keys:read")
    assert_problem(await client.put(POLICY, json={"deny_actions": []}, headers=keys_reader), 403, "forbidden")
    assert_problem(await client.put(POLICY, json={"deny_actions": []}, headers=reader), 403, "forbidden")
    assert (await client.get(POLICY, headers=tenant_a.headers)).json()["version"] == 0


async def test_policy_read_needs_its_scope(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    keys_reader = await _key(client, tenant_a, "keys:read")
    assert_problem(await client.get(POLICY, headers=keys_reader), 403, "forbidden")


async def test_policy_change_is_audited(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await _put(client, tenant_a, {"deny_actions": ["keys.rotate"]})
    assert r.status_code == 200
    events = (
        await client.get(
            "/v1/audit", params={"request_id": r.headers["x-request-id"]}, headers=tenant_a.headers
        )
    ).json()["items"]
    [event] = events
    assert event["action"] == "policy.update"
    assert event["changed_fields"] == ["deny_actions"]
    assert event["policy_decision_id"]


async def test_a_tenant_cannot_lock_itself_out_of_its_policy(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.put("/v1/policy", json={"deny_actions": ["policy.update"]}, headers=tenant_a.headers)
    body = assert_problem(r, 422)
    assert "deny_actions" in body["detail"]
