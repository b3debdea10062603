"""Reads are not audited call by call; changing the plugin's enablement is, and so is a denial."""

from __future__ import annotations

from typing import Any

import httpx

from lumen.plugins.sdk.testing import LumenTenant, create_key, enable_plugin


async def audit(client: httpx.AsyncClient, tenant: LumenTenant, **filters: str) -> list[dict[str, Any]]:
    r = await client.get("/v1/audit", params=filters, headers=tenant.headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def test_conversions_are_reads_and_not_audited(
    lumen_client: httpx.AsyncClient, lumen_tenant: LumenTenant
) -> None:
    await enable_plugin(lumen_client, lumen_tenant, "units", {"decimals": 1})
    for path in ("/v1/units/analytes", "/v1/units/convert?analyte=glucose&value=90&from=mg/dL"):
        assert (await lumen_client.get(path, headers=lumen_tenant.headers)).status_code == 200
    assert await audit(lumen_client, lumen_tenant, action="units.convert") == []
    assert await audit(lumen_client, lumen_tenant, action="units.read") == []
    (configured,) = await audit(lumen_client, lumen_tenant, action="plugins.configure")
    assert configured["outcome"] == "success"
    assert configured["resource_type"] == "plugin"
    assert configured["changed_fields"] == ["enabled", "settings"]
    assert configured["policy_decision_id"]


async def test_a_denied_conversion_is_audited(
    lumen_client: httpx.AsyncClient, lumen_tenant: LumenTenant
) -> None:
    await enable_plugin(lumen_client, lumen_tenant, "units")
    other = await create_key(lumen_client, lumen_tenant, scopes=["keys:read"])
    r = await lumen_client.get("/v1/units/convert?analyte=glucose&value=90&from=mg/dL", headers=other.headers)
    assert r.status_code == 403
    (denied,) = await audit(lumen_client, lumen_tenant, action="units.convert")
    assert denied["outcome"] == "denied"
    assert denied["actor_key_id"] == str(other.key_id)
