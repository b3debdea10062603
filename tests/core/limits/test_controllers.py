"""The operator's GET/PUT /v1/tenants/{tenant_id}/limits: plans, overrides, validation, who may call."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from lumen.core.limits import PLANS
from tests.conftest import TenantHandle, assert_problem, platform_headers


def _url(tenant_id: uuid.UUID) -> str:
    return f"/v1/tenants/{tenant_id}/limits"


async def test_a_new_tenant_is_on_the_standard_plan(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.get(_url(tenant_a.id), headers=platform_headers())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["tenant_id"] == str(tenant_a.id)
    assert body["plan"] == "standard" and body["overrides"] == {}
    assert body["effective"]["requests_per_minute"] == PLANS["standard"].requests_per_minute
    assert body["plans"] == ["enterprise", "free", "standard"]


async def test_plan_and_overrides_are_set_and_replaced(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.put(
        _url(tenant_a.id),
        json={"plan": "free", "overrides": {"requests_per_minute": 7, "tokens_per_day": None}},
        headers=platform_headers(),
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["plan"] == "free" and body["overrides"] == {"requests_per_minute": 7}
    assert body["effective"]["requests_per_minute"] == 7
    assert body["effective"]["tokens_per_day"] == PLANS["free"].tokens_per_day
    # The plan stays when omitted; the overrides are replaced as a whole.
    r = await client.put(
        _url(tenant_a.id), json={"overrides": {"requests_per_day": 99}}, headers=platform_headers()
    )
    assert r.json()["plan"] == "free" and r.json()["overrides"] == {"requests_per_day": 99}
    assert r.json()["effective"]["requests_per_minute"] == PLANS["free"].requests_per_minute
    assert (await client.get(_url(tenant_a.id), headers=platform_headers())).json() == r.json()
    # The change is in the operator's audit trail.
    audit = await client.get(
        "/v1/audit", params={"action": "tenants.limits.update"}, headers=platform_headers()
    )
    assert audit.status_code == 200, audit.text
    assert any(e["resource_id"] == str(tenant_a.id) for e in audit.json()["items"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"plan": "platinum"}, "plan"),
        ({"overrides": {"requests_per_minute": 0}}, "overrides.requests_per_minute"),
        ({"overrides": {"key_requests_per_minute": -5}}, "overrides.key_requests_per_minute"),
        ({"overrides": {"tokens_per_day": "many"}}, "overrides.tokens_per_day"),
        ({"overrides": {"tokens_per_minute": 10**12}}, "overrides.tokens_per_minute"),
        ({"overrides": {"requests_per_hour": 5}}, "overrides.requests_per_hour"),
    ],
)
async def test_bad_limits_are_422_naming_the_field(
    client: httpx.AsyncClient, tenant_a: TenantHandle, body: dict[str, Any], field: str
) -> None:
    r = await client.put(_url(tenant_a.id), json=body, headers=platform_headers())
    problem = assert_problem(r, 422, "validation-error")
    assert problem["detail"].startswith(f"{field}:"), problem
    # Nothing changed.
    assert (await client.get(_url(tenant_a.id), headers=platform_headers())).json()["plan"] == "standard"


async def test_unknown_tenant_is_404(client: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()
    assert_problem(await client.get(_url(missing), headers=platform_headers()), 404, "not-found")
    r = await client.put(_url(missing), json={"overrides": {}}, headers=platform_headers())
    assert_problem(r, 404, "not-found")


async def test_a_tenant_key_cannot_read_or_change_limits(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    assert_problem(
        await client.get(_url(tenant_a.id), headers=tenant_a.headers), 403, "platform-key-required"
    )
    r = await client.put(
        _url(tenant_a.id), json={"overrides": {"requests_per_minute": 10**6}}, headers=tenant_a.headers
    )
    assert_problem(r, 403, "platform-key-required")
    body = (await client.get(_url(tenant_a.id), headers=platform_headers())).json()
    assert body["overrides"] == {}


async def test_deleting_a_tenant_deletes_its_overrides(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.put(
        _url(tenant_a.id), json={"overrides": {"requests_per_minute": 3}}, headers=platform_headers()
    )
    assert r.status_code == 200
    assert (await client.delete(f"/v1/tenants/{tenant_a.id}", headers=platform_headers())).status_code == 204
    assert_problem(await client.get(_url(tenant_a.id), headers=platform_headers()), 404, "not-found")
