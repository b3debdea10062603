"""Per-tenant settings are validated against the plugin's Struct (naming the field) and used by the
handler."""

from __future__ import annotations

import httpx
import pytest

from lumen.plugins.sdk.testing import LumenTenant, assert_problem, enable_plugin


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"decimals": 9}, "decimals"),
        ({"decimals": -1}, "decimals"),
        ({"decimals": "two"}, "decimals"),
        ({"default_system": "imperial"}, "default_system"),
    ],
)
async def test_invalid_settings_name_the_field(
    lumen_client: httpx.AsyncClient, lumen_tenant: LumenTenant, settings: dict[str, object], field: str
) -> None:
    r = await lumen_client.put(
        "/v1/plugins/units", json={"enabled": True, "settings": settings}, headers=lumen_tenant.headers
    )
    body = assert_problem(r, 422)
    assert body["detail"].startswith(f"settings: {field}"), body


async def test_an_unknown_setting_is_refused(
    lumen_client: httpx.AsyncClient, lumen_tenant: LumenTenant
) -> None:
    r = await lumen_client.put(
        "/v1/plugins/units", json={"settings": {"precision": 3}}, headers=lumen_tenant.headers
    )
    body = assert_problem(r, 422)
    assert "precision" in body["detail"]


async def test_settings_default_and_apply(lumen_client: httpx.AsyncClient, lumen_tenant: LumenTenant) -> None:
    shown = await enable_plugin(lumen_client, lumen_tenant, "units")
    assert shown["settings"] == {"decimals": 2, "default_system": "SI"}
    shown = await enable_plugin(lumen_client, lumen_tenant, "units", {"decimals": 0})
    assert shown["settings"]["decimals"] == 0
    r = await lumen_client.get(
        "/v1/units/convert",
        params={"analyte": "glucose", "value": 100, "from": "mg/dL", "to": "mmol/L"},
        headers=lumen_tenant.headers,
    )
    assert r.json()["result"] == 6.0
