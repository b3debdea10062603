"""PUT/GET /v1/branding: validation, tenant isolation, and hostile values that must come out escaped."""

from __future__ import annotations

import base64

import httpx

from tests.conftest import TenantHandle, assert_problem, create_tenant, platform_headers
from tests.contract.schema import conforms, live_document

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


async def put(client: httpx.AsyncClient, t: TenantHandle, **body: object) -> httpx.Response:
    return await client.put("/v1/branding", json=body, headers=t.headers)


async def test_put_creates_then_replaces(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await put(client, tenant_a, name="Acme Care", primary_color="#0A7D5A")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["primary_color"] == "#0a7d5a" and body["accent_color"] == "#0a7d5a"
    assert body["app_path"] == f"/t/{tenant_a.slug}/" and body["app_enabled"] is True
    assert body["features"] == ["interactions", "triage", "otc", "glossary", "qa", "profile"]
    r = await put(client, tenant_a, name="Acme Care 2", primary_color="#123456", features=["triage"])
    assert r.status_code == 200, r.text
    got = (await client.get("/v1/branding", headers=tenant_a.headers)).json()
    assert got["name"] == "Acme Care 2" and got["features"] == ["triage"]


async def test_get_before_put_gives_defaults_and_app_off(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    body = (await client.get("/v1/branding", headers=tenant_a.headers)).json()
    assert body["app_enabled"] is False and body["updated_at"] is None
    assert body["name"] == tenant_a.slug.upper() and body["primary_color"] == "#0a5c8a"
    assert (await client.get(f"/t/{tenant_a.slug}/")).status_code == 404


async def test_second_tenant_sees_only_its_own(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    await put(client, tenant_a, name="Alpha Health", primary_color="#0a5c8a")
    b_view = (await client.get("/v1/branding", headers=tenant_b.headers)).json()
    assert b_view["app_enabled"] is False and b_view["name"] != "Alpha Health"
    await put(client, tenant_b, name="Beta Health", primary_color="#5c0a8a")
    assert (await client.get("/v1/branding", headers=tenant_a.headers)).json()["name"] == "Alpha Health"
    assert (await client.get("/v1/branding", headers=tenant_b.headers)).json()["name"] == "Beta Health"


async def test_colour_must_be_hex(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    for bad in ["red", "#fff", "#0a7d5a;} body{display:none", "#0a7d5g", "url(x)", "#0a7d5a\n"]:
        r = await put(client, tenant_a, name="X", primary_color=bad)
        assert r.status_code in (400, 422), (bad, r.text)
        assert "primary_color" in r.json()["detail"]


async def test_low_contrast_colour_is_refused(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = assert_problem(await put(client, tenant_a, name="X", primary_color="#ffff00"), 422)
    assert "primary_color" in body["detail"] and "contrast" in body["detail"]
    body = assert_problem(
        await put(client, tenant_a, name="X", primary_color="#0a5c8a", accent_color="#eeeeee"), 422
    )
    assert "accent_color" in body["detail"]


async def test_name_rules(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    for bad in ["", "   ", "x" * 81, "bad\x00name", "bell\x07"]:
        r = await put(client, tenant_a, name=bad, primary_color="#0a5c8a")
        assert r.status_code in (400, 422), (bad, r.text)
        assert "name" in r.json()["detail"]


async def test_unknown_field_and_feature_are_refused(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await put(client, tenant_a, name="X", primary_color="#0a5c8a", css="body{}")
    assert r.status_code in (400, 422) and "css" in r.json()["detail"]
    r = await put(client, tenant_a, name="X", primary_color="#0a5c8a", features=["admin"])
    assert r.status_code in (400, 422) and "features" in r.json()["detail"]
    r = await put(client, tenant_a, name="X", primary_color="#0a5c8a", features=["qa", "qa"])
    assert_problem(r, 422)


async def test_locale_is_a_language_tag(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    assert (await put(client, tenant_a, name="X", primary_color="#0a5c8a", locale="en-GB")).status_code == 201
    for bad in ['en" onload="x', "english", "EN", "en_GB", "en\n"]:
        r = await put(client, tenant_a, name="X", primary_color="#0a5c8a", locale=bad)
        assert r.status_code in (400, 422) and "locale" in r.json()["detail"], bad


async def test_logo_https_url_or_small_image(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    ok_url = await put(client, tenant_a, name="X", primary_color="#0a5c8a", logo="https://cdn.example/l.png")
    assert ok_url.status_code == 201, ok_url.text
    data_uri = "data:image/png;base64," + base64.b64encode(PNG_1PX).decode()
    assert (await put(client, tenant_a, name="X", primary_color="#0a5c8a", logo=data_uri)).status_code == 200
    bad = [
        "http://cdn.example/l.png",
        "javascript:alert(1)",
        'https://cdn.example/l.png" onerror="alert(1)',
        "https://user:pw@cdn.example/l.png",
        "data:image/svg+xml;base64," + base64.b64encode(b"<svg onload='x'/>").decode(),
        "data:image/png;base64," + base64.b64encode(b"GIF89a not a png").decode(),
        "data:image/png;base64," + base64.b64encode(PNG_1PX + b"\0" * 70_000).decode(),
    ]
    for logo in bad:
        r = await put(client, tenant_a, name="X", primary_color="#0a5c8a", logo=logo)
        assert r.status_code in (400, 422), (logo[:40], r.text)
        assert "logo" in r.json()["detail"]


async def test_needs_branding_scope(client: httpx.AsyncClient) -> None:
    reader = await create_tenant(client, scopes=["branding:read"])
    assert_problem(await put(client, reader, name="X", primary_color="#0a5c8a"), 403, "forbidden")
    manager = await create_tenant(client, scopes=["branding:manage"])
    assert (await put(client, manager, name="X", primary_color="#0a5c8a")).status_code == 201


async def test_platform_key_cannot_brand(client: httpx.AsyncClient) -> None:
    r = await client.put("/v1/branding", json={"name": "X"}, headers=platform_headers())
    assert_problem(r, 403, "tenant-key-required")


async def test_change_is_audited(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    await put(client, tenant_a, name="Audited", primary_color="#0a5c8a")
    r = await client.get("/v1/audit", params={"action": "branding.update"}, headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    assert [e["action"] for e in r.json()["items"]] == ["branding.update"]


async def test_both_answers_of_put_are_documented(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    # schemathesis found the first PUT's 201 undocumented (only 200 was).
    doc = await live_document(client)
    responses = doc["paths"]["/v1/branding"]["put"]["responses"]
    for expected in (201, 200):
        r = await put(client, tenant_a, name="Acme Care", primary_color="#0a7d5a")
        assert r.status_code == expected, r.text
        schema = responses[str(expected)]["content"]["application/json"]["schema"]
        assert conforms(doc, schema, r.json()) == []
