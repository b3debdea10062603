"""Tenants over HTTP (platform operator only)."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import TenantHandle, assert_problem, bearer, create_tenant, platform_headers


async def test_create_get_list(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/tenants",
        json={"slug": "acme-pharma-" + uuid.uuid4().hex[:6], "name": "Acme"},
        headers=platform_headers(),
    )
    assert r.status_code == 201
    created = r.json()
    assert created["status"] == "active"
    got = (await client.get(f"/v1/tenants/{created['id']}", headers=platform_headers())).json()
    assert got == created
    ids: list[str] = []
    cursor = None
    while True:
        params = {"limit": 50, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/tenants", params=params, headers=platform_headers())).json()
        ids += [t["id"] for t in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert created["id"] in ids


async def test_duplicate_slug_is_409(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.post(
        "/v1/tenants", json={"slug": tenant_a.slug, "name": "again"}, headers=platform_headers()
    )
    body = assert_problem(r, 409, "conflict")
    assert "slug" in body["detail"]


async def test_invalid_slug_names_the_field(client: httpx.AsyncClient) -> None:
    for slug in ["Acme", "-acme", "a", "acme_pharma", "x" * 64, "acme pharma"]:
        r = await client.post("/v1/tenants", json={"slug": slug, "name": "n"}, headers=platform_headers())
        body = assert_problem(r, 400, "validation-error")
        assert "slug" in body["detail"], slug


async def test_rename(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.patch(f"/v1/tenants/{tenant_a.id}", json={"name": "Renamed"}, headers=platform_headers())
    assert r.status_code == 200
    assert r.json()["name"] == "Renamed" and r.json()["status"] == "active"


async def test_tenant_keys_cannot_manage_tenants(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    assert_problem(await client.get("/v1/tenants", headers=tenant_a.headers), 403, "platform-key-required")
    assert_problem(await client.get(f"/v1/tenants/{tenant_a.id}", headers=tenant_a.headers), 403)
    r = await client.post("/v1/tenants", json={"slug": "sneaky", "name": "x"}, headers=tenant_a.headers)
    assert_problem(r, 403)


async def test_delete_erases_the_tenants_rows(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    extra = await client.post("/v1/keys", json={"name": "x", "scopes": ["admin"]}, headers=tenant.headers)
    assert extra.status_code == 201
    r = await client.delete(f"/v1/tenants/{tenant.id}", headers=platform_headers())
    assert r.status_code == 204
    assert_problem(await client.get(f"/v1/tenants/{tenant.id}", headers=platform_headers()), 404)
    assert_problem(await client.get("/v1/keys", headers=tenant.headers), 401)
    assert_problem(await client.get("/v1/keys", headers=bearer(extra.json()["key"])), 401)
    assert_problem(await client.delete(f"/v1/tenants/{tenant.id}", headers=platform_headers()), 404)


async def test_operator_issues_key_for_missing_tenant_is_404(client: httpx.AsyncClient) -> None:
    r = await client.post(
        f"/v1/tenants/{uuid.uuid4()}/keys",
        json={"name": "x", "scopes": ["admin"]},
        headers=platform_headers(),
    )
    assert_problem(r, 404, "not-found")
