"""OWASP API Security Top 10 (2023), one test per risk as it applies to Lumen. Each names the risk; the
detailed suites live beside the code (tests/core/test_isolation.py, tests/core/http/test_hostile_input.py,
tests/core/webhooks/test_ssrf.py); these are the cross-cutting checks a reviewer reads first."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from litestar import Litestar

from lumen.core.http.openapi import openapi_document
from tests.conftest import TenantHandle, assert_problem, bearer, platform_headers
from tests.inference.pool.archives import adapter_files, tar_gz


async def _key(client: httpx.AsyncClient, tenant: TenantHandle, **fields: object) -> dict[str, object]:
    r = await client.post(
        "/v1/keys", json={"name": "owasp", "scopes": ["admin"], **fields}, headers=tenant.headers
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def _endpoint(client: httpx.AsyncClient, tenant: TenantHandle) -> dict[str, object]:
    r = await client.post(
        "/v1/webhooks/endpoints", json={"url": "https://example.com/hook"}, headers=tenant.headers
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


# API1:2023 Broken Object Level Authorization ----------------------------------------------------------


async def test_api1_bola_another_tenants_objects_are_404_on_every_verb(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    key = await _key(client, tenant_a)
    endpoint = await _endpoint(client, tenant_a)
    rule = await client.post(
        "/v1/interactions/rules",
        json={
            "a": ["drug:amlodipine"],
            "b": ["drug:metformin"],
            "severity": "major",
            "mechanism": "Local formulary policy, owned by tenant A.",
            "clinical_effect": "None known; a formulary restriction.",
            "management": "Ask the formulary pharmacist.",
            "reference": "Formulary policy 7.2",
        },
        headers=tenant_a.headers,
    )
    attempts = [
        ("GET", f"/v1/keys/{key['id']}", None),
        ("DELETE", f"/v1/keys/{key['id']}", None),
        ("POST", f"/v1/keys/{key['id']}/rotate", None),
        ("GET", f"/v1/webhooks/endpoints/{endpoint['id']}", None),
        ("PATCH", f"/v1/webhooks/endpoints/{endpoint['id']}", {"enabled": False}),
        ("DELETE", f"/v1/webhooks/endpoints/{endpoint['id']}", None),
        ("POST", f"/v1/webhooks/endpoints/{endpoint['id']}/test", None),
    ]
    assert rule.status_code == 201, rule.text
    attempts += [
        ("GET", f"/v1/interactions/rules/{rule.json()['id']}", None),
        ("DELETE", f"/v1/interactions/rules/{rule.json()['id']}", None),
    ]
    for method, path, body in attempts:
        r = await client.request(method, path, json=body, headers=tenant_b.headers)
        assert_problem(r, 404, "not-found")
    # Untouched for its owner.
    assert (await client.get(f"/v1/keys/{key['id']}", headers=tenant_a.headers)).json()["status"] == "active"
    got = await client.get(f"/v1/webhooks/endpoints/{endpoint['id']}", headers=tenant_a.headers)
    assert got.json()["enabled"] is True


async def test_api1_bola_lists_never_show_another_tenants_objects(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    endpoint = await _endpoint(client, tenant_a)
    listed = (await client.get("/v1/webhooks/endpoints", headers=tenant_b.headers)).json()["items"]
    assert endpoint["id"] not in {e["id"] for e in listed}
    keys = (await client.get("/v1/keys", headers=tenant_b.headers)).json()["items"]
    assert str(tenant_a.key_id) not in {k["id"] for k in keys}


# API2:2023 Broken Authentication ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer lm_live_" + "0" * 40, "Bearer ' OR 1=1 --"],
    ids=["none", "empty", "no-token", "blank-token", "basic", "unknown-key", "injection"],
)
async def test_api2_missing_or_bad_credentials_are_401(
    client: httpx.AsyncClient, authorization: str | None
) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    r = await client.get("/v1/keys", headers=headers)
    assert_problem(r, 401, "unauthenticated")
    assert r.headers["www-authenticate"].startswith("Bearer")


async def test_api2_revoked_and_expired_keys_are_401(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    revoked = await _key(client, tenant_a)
    assert (await client.delete(f"/v1/keys/{revoked['id']}", headers=tenant_a.headers)).status_code == 204
    assert (
        "revoked"
        in assert_problem(await client.get("/v1/keys", headers=bearer(str(revoked["key"]))), 401)["detail"]
    )
    expiring = await _key(client, tenant_a, expires_at=(datetime.now(UTC) + timedelta(seconds=1)).isoformat())
    await asyncio.sleep(1.2)
    body = assert_problem(await client.get("/v1/keys", headers=bearer(str(expiring["key"]))), 401)
    assert "expired" in body["detail"]


async def test_api2_a_key_is_shown_once_and_never_listed(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    created = await _key(client, tenant_a)
    secret = str(created["key"])
    listed = await client.get("/v1/keys", headers=tenant_a.headers)
    got = await client.get(f"/v1/keys/{created['id']}", headers=tenant_a.headers)
    assert secret not in listed.text
    assert secret not in got.text


# API3:2023 Broken Object Property Level Authorization (mass assignment, excessive exposure) -------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/keys", {"name": "k", "scopes": ["keys:read"], "tenant_id": str(uuid.uuid4())}),
        ("POST", "/v1/keys", {"name": "k", "scopes": ["keys:read"], "status": "active", "prefix": "x"}),
        ("POST", "/v1/webhooks/endpoints", {"url": "https://example.com/h", "tenant_id": str(uuid.uuid4())}),
        ("POST", "/v1/webhooks/endpoints", {"url": "https://example.com/h", "secret": "whsec_mine"}),
    ],
    ids=["key-tenant", "key-status", "endpoint-tenant", "endpoint-secret"],
)
async def test_api3_unknown_or_server_owned_fields_are_rejected(
    client: httpx.AsyncClient, tenant_a: TenantHandle, method: str, path: str, body: dict[str, object]
) -> None:
    r = await client.request(method, path, json=body, headers=tenant_a.headers)
    problem = assert_problem(r, 400)
    assert any(extra in problem["detail"] for extra in set(body) - {"name", "scopes", "url"}), problem


async def test_api3_a_tenant_cannot_raise_its_own_limits_or_plan(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.put(
        f"/v1/tenants/{tenant_a.id}/limits",
        json={"overrides": {"requests_per_minute": 1_000_000}},
        headers=tenant_a.headers,
    )
    assert r.status_code in (403, 404), r.text
    assert r.headers["content-type"].startswith("application/problem+json")


# API4:2023 Unrestricted Resource Consumption ----------------------------------------------------------


async def test_api4_oversized_bodies_are_413(
    client: httpx.AsyncClient, tenant_a: TenantHandle, app: Litestar
) -> None:
    size = app.state.settings.server.max_body_bytes + 1
    body = b'{"name": "' + b"x" * size + b'", "scopes": ["admin"]}'
    r = await client.post(
        "/v1/keys", content=body, headers={**tenant_a.headers, "content-type": "application/json"}
    )
    assert_problem(r, 413, "payload-too-large")


async def test_api4_page_sizes_are_bounded(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.get("/v1/keys", params={"limit": 1_000_000}, headers=tenant_a.headers)
    assert_problem(r, 400)


async def test_api4_rate_limit_is_429_with_retry_after(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.put(
        f"/v1/tenants/{tenant_a.id}/limits",
        json={"overrides": {"requests_per_minute": 2}},
        headers=platform_headers(),
    )
    assert r.status_code == 200, r.text
    statuses = [(await client.get("/v1/keys", headers=tenant_a.headers)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = await client.get("/v1/keys", headers=tenant_a.headers)
    assert_problem(refused, 429, "rate-limited")
    assert int(refused.headers["retry-after"]) > 0


# API5:2023 Broken Function Level Authorization --------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/tenants", None),
        ("POST", "/v1/tenants", {"slug": "evil-co", "name": "Evil"}),
        ("PATCH", "/v1/tenants/{tenant}", {"name": "Renamed"}),
        ("DELETE", "/v1/tenants/{tenant}", None),
        ("POST", "/v1/tenants/{tenant}/keys", {"name": "x", "scopes": ["admin"]}),
        ("PUT", "/v1/tenants/{tenant}/limits", {"plan": "enterprise"}),
    ],
    ids=["list-tenants", "create-tenant", "rename-tenant", "delete-tenant", "issue-key", "set-limits"],
)
async def test_api5_a_tenant_key_cannot_call_platform_operations(
    client: httpx.AsyncClient, tenant_a: TenantHandle, method: str, path: str, body: dict[str, object] | None
) -> None:
    r = await client.request(method, path.format(tenant=tenant_a.id), json=body, headers=tenant_a.headers)
    assert r.status_code in (403, 404), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    still = await client.get(f"/v1/tenants/{tenant_a.id}", headers=platform_headers())
    assert still.json()["name"] == tenant_a.slug.upper()


async def test_api5_a_narrow_scope_cannot_administer(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    reader = await _key(client, tenant_a, scopes=["keys:read"])
    r = await client.post(
        "/v1/keys", json={"name": "escalate", "scopes": ["admin"]}, headers=bearer(str(reader["key"]))
    )
    assert_problem(r, 403, "forbidden")


# API6:2023 Unrestricted Access to Sensitive Business Flows ---------------------------------------------


async def test_api6_creating_calls_are_idempotent_so_retries_cannot_duplicate(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    headers = {**tenant_a.headers, "idempotency-key": "owasp-" + uuid.uuid4().hex}
    body = {"url": "https://example.com/once"}
    first = await client.post("/v1/webhooks/endpoints", json=body, headers=headers)
    second = await client.post("/v1/webhooks/endpoints", json=body, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    other = await client.post(
        "/v1/webhooks/endpoints", json={"url": "https://example.com/x"}, headers=headers
    )
    assert_problem(other, 422, "idempotency-key-reused")


# API7:2023 Server Side Request Forgery ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/hook",
        "https://127.0.0.1/hook",
        "https://localhost/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.5/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://user:pass@example.com/hook",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_FLUSHALL",
    ],
)
async def test_api7_ssrf_webhook_urls_to_internal_targets_are_refused(
    client: httpx.AsyncClient, tenant_a: TenantHandle, url: str
) -> None:
    r = await client.post("/v1/webhooks/endpoints", json={"url": url}, headers=tenant_a.headers)
    body = assert_problem(r, 422)
    assert "url" in body["detail"]


async def test_api7_ssrf_cannot_be_reached_by_updating_an_endpoint(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    endpoint = await _endpoint(client, tenant_a)
    r = await client.patch(
        f"/v1/webhooks/endpoints/{endpoint['id']}",
        json={"url": "https://169.254.169.254/latest/meta-data/"},
        headers=tenant_a.headers,
    )
    assert r.status_code in (400, 422), r.text


# API8:2023 Security Misconfiguration ------------------------------------------------------------------


async def test_api8_no_wildcard_cors(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    origin = {"origin": "https://evil.example"}
    r = await client.get("/v1/keys", headers={**tenant_a.headers, **origin})
    assert r.headers.get("access-control-allow-origin") not in ("*", "https://evil.example")
    assert r.headers.get("access-control-allow-credentials") != "true"
    pre = await client.options("/v1/keys", headers={**origin, "access-control-request-method": "DELETE"})
    assert pre.headers.get("access-control-allow-origin") not in ("*", "https://evil.example")


async def test_api8_security_headers_on_every_response(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    for r in (
        await client.get("/v1/keys", headers=tenant_a.headers),
        await client.get("/v1/keys"),
        await client.get("/healthz"),
    ):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
        assert "x-request-id" in r.headers
        assert "server" not in r.headers or "litestar" not in r.headers["server"].lower()


async def test_api8_errors_carry_no_stack_trace_or_debug_page(
    client: httpx.AsyncClient, tenant_a: TenantHandle, app: Litestar
) -> None:
    assert app.debug is False
    for r in (
        await client.post(
            "/v1/keys", content=b"{not json", headers={**tenant_a.headers, "content-type": "application/json"}
        ),
        await client.get("/v1/keys/not-a-uuid", headers=tenant_a.headers),
        await client.get("/nope/../../etc/passwd", headers=tenant_a.headers),
        await client.request("TRACE", "/v1/keys", headers=tenant_a.headers),
    ):
        assert 400 <= r.status_code < 500, r.text
        assert r.headers["content-type"].startswith("application/problem+json"), r.headers
        for leak in ("Traceback", 'File "', "litestar/", "site-packages", "sqlalchemy", "asyncpg"):
            assert leak not in r.text


# API9:2023 Improper Inventory Management --------------------------------------------------------------


async def test_api9_the_served_contract_is_versioned_and_lists_every_route(
    client: httpx.AsyncClient, app: Litestar
) -> None:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["info"]["version"] == openapi_document(app)["info"]["version"]
    routed = {
        route.path_format
        for route in app.routes
        if not route.path.startswith("/schema")
        and any(getattr(h, "include_in_schema", True) for h in getattr(route, "route_handlers", []))
    }
    assert routed <= set(doc["paths"]), routed - set(doc["paths"])
    # Only versioned API paths, the documented public probes and the tenants' patient-app pages (/t/{slug}/).
    assert all(
        p.startswith(("/v1/", "/healthz", "/readyz", "/problems/", "/.well-known/", "/t/"))
        for p in doc["paths"]
    )


# API10:2023 Unsafe Consumption of APIs ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("archive", "reason"),
    [
        (tar_gz(adapter_files(), folder="../../etc"), "path"),
        (tar_gz({**adapter_files(), "run.sh": b"rm -rf /"}), "Unexpected file"),
        (b"\x1f\x8b" + b"\x00" * 64, ""),
    ],
    ids=["path-traversal", "stray-executable", "corrupt-gzip"],
)
async def test_api10_uploaded_adapter_archives_are_validated_before_use(
    client: httpx.AsyncClient, tenant_a: TenantHandle, archive: bytes, reason: str
) -> None:
    r = await client.post(
        "/v1/adapters",
        data={"name": "hostile"},
        files={"file": ("adapter.tar.gz", archive, "application/gzip")},
        headers=tenant_a.headers,
    )
    body = assert_problem(r, 422)
    assert reason in body["detail"]
    assert (await client.get("/v1/adapters", headers=tenant_a.headers)).json()["items"] == []
