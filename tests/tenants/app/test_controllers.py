"""The patient app's public routes over HTTP: page per tenant, escaping, headers, sessions, their scopes."""

from __future__ import annotations

import uuid

import httpx

from tests.conftest import TenantHandle, assert_problem, bearer, platform_headers


async def brand(client: httpx.AsyncClient, t: TenantHandle, **extra: object) -> None:
    body = {"name": f"Brand {t.slug}", "primary_color": "#0a5c8a", **extra}
    r = await client.put("/v1/branding", json=body, headers=t.headers)
    assert r.status_code in (200, 201), r.text


async def test_page_shows_the_tenants_branding(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    await brand(client, tenant_a, locale="en-GB", support_text="Call us on 0800 123")
    r = await client.get(f"/t/{tenant_a.slug}/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert f"Brand {tenant_a.slug}" in r.text and "Call us on 0800 123" in r.text
    assert '<html lang="en-GB">' in r.text


async def test_without_trailing_slash_too(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    await brand(client, tenant_a)
    assert (await client.get(f"/t/{tenant_a.slug}")).status_code == 200


async def test_page_never_shows_another_tenants_branding(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    await brand(client, tenant_a)
    await brand(client, tenant_b, primary_color="#7a1f5c", support_text="Beta support line")
    a = (await client.get(f"/t/{tenant_a.slug}/")).text
    assert f"Brand {tenant_b.slug}" not in a and "Beta support line" not in a
    theme = (await client.get(f"/t/{tenant_a.slug}/theme.css")).text
    assert "#0a5c8a" in theme and "#7a1f5c" not in theme


async def test_unknown_unbranded_and_odd_slugs_are_404(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    for path in ["/t/no-such-tenant/", f"/t/{tenant_a.slug}/", "/t/UPPER/", "/t/a..b/", "/t/-x-/"]:
        r = await client.get(path)
        assert r.status_code == 404, path


async def test_suspended_tenant_app_is_404(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    await brand(client, tenant_a)
    r = await client.patch(
        f"/v1/tenants/{tenant_a.id}", json={"status": "suspended"}, headers=platform_headers()
    )
    assert r.status_code == 200, r.text
    assert (await client.get(f"/t/{tenant_a.slug}/")).status_code == 404
    assert (await client.post(f"/t/{tenant_a.slug}/session")).status_code == 404


async def test_hostile_name_and_texts_are_escaped(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    evil = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    await brand(client, tenant_a, name=evil[:80], support_text=evil, disclaimer="</p><style>*{}</style>")
    html = (await client.get(f"/t/{tenant_a.slug}/")).text
    assert "<script>alert" not in html and "<img src=x" not in html and "<style>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


async def test_security_headers(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    await brand(client, tenant_a)
    for path in [f"/t/{tenant_a.slug}/", f"/t/{tenant_a.slug}/theme.css", "/app-assets/app.js"]:
        r = await client.get(path)
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert r.headers["x-content-type-options"] == "nosniff"


async def test_page_has_no_inline_script_or_style(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    await brand(client, tenant_a)
    html = (await client.get(f"/t/{tenant_a.slug}/")).text
    assert "<script>" not in html and "<style" not in html and " style=" not in html
    assert '<script src="/app-assets/app.js" defer></script>' in html


async def test_only_known_assets(client: httpx.AsyncClient) -> None:
    assert (await client.get("/app-assets/app.css")).headers["content-type"].startswith("text/css")
    for name in ["../controllers.py", "index.html", "x.js"]:
        assert (await client.get(f"/app-assets/{name}")).status_code == 404


async def test_features_choose_the_sections(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    await brand(client, tenant_a, features=["triage"])
    html = (await client.get(f"/t/{tenant_a.slug}/")).text
    assert 'id="triage"' in html and 'id="interactions"' not in html


async def test_session_token_is_scope_limited(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    await brand(client, tenant_a, features=["interactions", "triage", "glossary"])
    r = await client.post(f"/t/{tenant_a.slug}/session")
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["token"].startswith("lm_app_") and body["expires_in"] == 900
    assert set(body["scopes"]) == {
        "interactions:check",
        "interactions:read",
        "triage:assess",
        "glossary:read",
    }
    token = bearer(body["token"])
    check = await client.post(
        "/v1/interactions/check", json={"medications": ["warfarin", "aspirin"]}, headers=token
    )
    assert check.status_code == 200, check.text
    # Not a feature of this app, and nothing an admin key could do.
    assert_problem(await client.post("/v1/otc/recommend", json={"symptoms": "headache"}, headers=token), 403)
    assert_problem(await client.get("/v1/keys", headers=token), 403)
    assert_problem(await client.get("/v1/branding", headers=token), 403)
    assert_problem(await client.get("/v1/audit", headers=token), 403)


async def test_session_acts_only_within_its_tenant(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    await brand(client, tenant_a)
    await brand(client, tenant_b)
    token = bearer((await client.post(f"/t/{tenant_a.slug}/session")).json()["token"])
    rule = await client.post(
        "/v1/interactions/rules",
        json={
            "a": ["drug:amlodipine"],
            "b": ["drug:metformin"],
            "severity": "major",
            "mechanism": "Local formulary policy.",
            "clinical_effect": "None known; a formulary restriction.",
            "management": "Ask the formulary pharmacist.",
            "reference": "Formulary policy 7.2",
        },
        headers=tenant_b.headers,
    )
    assert rule.status_code == 201, rule.text
    # B's rule does not exist for A's app session, by id or in the list.
    assert_problem(await client.get(f"/v1/interactions/rules/{rule.json()['id']}", headers=token), 404)
    listed = await client.get("/v1/interactions/rules", headers=token)
    assert listed.status_code == 200 and listed.json()["items"] == []
    r = await client.post("/v1/triage/assess", json={"text": "mild headache"}, headers=token)
    assert r.status_code == 200, r.text


async def test_tampered_tokens_are_refused(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    await brand(client, tenant_a)
    token = (await client.post(f"/t/{tenant_a.slug}/session")).json()["token"]
    body, _, sig = token.partition(".")
    forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + sig
    for bad in [forged, token + "x", "lm_app_", "lm_app_abc.def", token.replace("lm_app_", "lm_app_x")]:
        assert_problem(await client.get("/v1/drugs?q=war", headers=bearer(bad)), 401, "unauthenticated")


async def test_token_signed_by_another_instance_is_refused(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    from lumen.core.auth.app_tokens import AppTokenSigner

    token, _ = AppTokenSigner(b"k" * 32).issue(tenant_a.id, ["admin"])
    assert_problem(await client.get("/v1/keys", headers=bearer(token)), 401)


async def test_sessions_are_rate_limited(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    await brand(client, tenant_a)
    statuses = []
    for _ in range(61):  # 30 a minute: even across a minute boundary the 61st cannot pass
        statuses.append((await client.post(f"/t/{tenant_a.slug}/session")).status_code)
        if statuses[-1] == 429:
            break
    assert statuses[-1] == 429 and set(statuses[:-1]) == {201} and len(statuses) > 30


async def test_unknown_tenant_session_is_404(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post(f"/t/t-{uuid.uuid4().hex[:8]}/session"), 404)
