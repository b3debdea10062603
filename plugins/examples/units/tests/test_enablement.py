"""A partner plugin is off until a tenant turns it on, and only for that tenant."""

from __future__ import annotations

import httpx
from litestar import Litestar

from lumen.plugins.sdk.testing import LumenTenant, TenantFactory, assert_problem, create_key, enable_plugin

CONVERT = "/v1/units/convert?analyte=glucose&value=100&from=mg/dL&to=mmol/L"


async def test_installed_but_off_by_default(
    lumen_app: Litestar, lumen_client: httpx.AsyncClient, lumen_tenant: LumenTenant
) -> None:
    assert "units" in lumen_app.state.plugins.plugins
    r = await lumen_client.get("/v1/plugins/units", headers=lumen_tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["enabled"] is False
    assert r.json()["default_enabled"] is False
    assert_problem(await lumen_client.get(CONVERT, headers=lumen_tenant.headers), 404, "not-found")
    assert_problem(await lumen_client.get("/v1/units/analytes", headers=lumen_tenant.headers), 404)


async def test_enabled_for_one_tenant_only(
    lumen_client: httpx.AsyncClient, lumen_tenant: LumenTenant, lumen_tenant_factory: TenantFactory
) -> None:
    other = await lumen_tenant_factory()
    await enable_plugin(lumen_client, lumen_tenant, "units")
    assert (await lumen_client.get(CONVERT, headers=lumen_tenant.headers)).status_code == 200
    assert (await lumen_client.get("/v1/units/analytes", headers=lumen_tenant.headers)).status_code == 200
    # The same answer as for a route that does not exist: no oracle of what another tenant enabled.
    assert_problem(await lumen_client.get(CONVERT, headers=other.headers), 404, "not-found")
    assert_problem(await lumen_client.get("/v1/units/analytes", headers=other.headers), 404, "not-found")


async def test_disabling_hides_the_routes_again(
    lumen_client: httpx.AsyncClient, lumen_tenant: LumenTenant
) -> None:
    await enable_plugin(lumen_client, lumen_tenant, "units")
    r = await lumen_client.put("/v1/plugins/units", json={"enabled": False}, headers=lumen_tenant.headers)
    assert r.status_code == 200, r.text
    assert_problem(await lumen_client.get(CONVERT, headers=lumen_tenant.headers), 404)


async def test_the_units_scope_is_enough(lumen_client: httpx.AsyncClient, lumen_tenant: LumenTenant) -> None:
    await enable_plugin(lumen_client, lumen_tenant, "units")
    reader = await create_key(lumen_client, lumen_tenant, scopes=["units:read"])
    assert (await lumen_client.get(CONVERT, headers=reader.headers)).status_code == 200
    assert (await lumen_client.get("/v1/units/analytes", headers=reader.headers)).status_code == 200


async def test_a_key_without_the_scope_is_refused(
    lumen_client: httpx.AsyncClient, lumen_tenant: LumenTenant
) -> None:
    await enable_plugin(lumen_client, lumen_tenant, "units")
    other = await create_key(lumen_client, lumen_tenant, scopes=["keys:read"])
    body = assert_problem(await lumen_client.get(CONVERT, headers=other.headers), 403, "forbidden")
    assert body["required_scope"] == "units:read"
