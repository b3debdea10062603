"""JSON request bodies are read strictly app-wide (core/http/body.py): a JSON string is not a boolean, a
number or a nested field's boolean, on kernel and plugin routes alike, while path and query parameters and
multipart forms keep their string conversion."""

from __future__ import annotations

import httpx

from tests.conftest import TenantHandle, assert_problem


def _field_error(response: httpx.Response, key: str, expected: str) -> None:
    body = assert_problem(response, 400, "validation-error")
    assert body["errors"] == [{"key": key, "message": f"Expected `{expected}`, got `str`", "source": "body"}]
    assert key in body["detail"]


async def test_a_boolean_given_as_a_string_is_refused(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.put("/v1/plugins/glossary", json={"enabled": "FALSE"}, headers=tenant_a.headers)
    _field_error(r, "enabled", "bool")
    unchanged = await client.get("/v1/plugins/glossary", headers=tenant_a.headers)
    assert unchanged.json()["enabled"] is True


async def test_an_integer_given_as_a_string_is_refused(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    issued = await client.post(
        "/v1/keys", json={"name": "k", "scopes": ["keys:read"]}, headers=tenant_a.headers
    )
    assert issued.status_code == 201, issued.text
    r = await client.post(
        f"/v1/keys/{issued.json()['id']}/rotate", json={"overlap_seconds": "1"}, headers=tenant_a.headers
    )
    _field_error(r, "overlap_seconds", "int")


async def test_a_nested_field_given_as_a_string_is_refused_on_a_plugin_route(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.post(
        "/v1/interactions/check",
        json={"medications": ["warfarin"], "patient": {"pregnant": "true"}},
        headers=tenant_a.headers,
    )
    _field_error(r, "patient.pregnant", "bool | null")


async def test_a_number_inside_a_list_given_as_a_string_is_refused(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.post(
        "/v1/interactions/check",
        json={"medications": ["warfarin"], "patient": {"age": "40"}},
        headers=tenant_a.headers,
    )
    _field_error(r, "patient.age", "float | null")


async def test_valid_bodies_are_still_accepted(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.post(
        "/v1/interactions/check",
        json={"medications": ["warfarin", "aspirin"], "patient": {"pregnant": False, "age": 40}},
        headers=tenant_a.headers,
    )
    assert r.status_code == 200, r.text
    issued = await client.post(
        "/v1/keys", json={"name": "k", "scopes": ["keys:read"]}, headers=tenant_a.headers
    )
    rotated = await client.post(
        f"/v1/keys/{issued.json()['id']}/rotate", json={"overlap_seconds": 5}, headers=tenant_a.headers
    )
    assert rotated.status_code == 201, rotated.text


async def test_a_body_invalid_either_way_keeps_its_usual_message(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.post("/v1/keys", json={"scopes": ["keys:read"]}, headers=tenant_a.headers)
    body = assert_problem(r, 400, "validation-error")
    assert body["errors"][0]["key"] == "name"


async def test_query_parameters_keep_their_string_conversion(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.get("/v1/keys", params={"limit": "1"}, headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    assert len(r.json()["items"]) <= 1


async def test_multipart_form_fields_are_unaffected(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.post(
        "/v1/documents",
        files={"file": ("notes.md", b"# Strict bodies\n\nForm values are strings.", "text/markdown")},
        data={"title": "Strict bodies", "effective_date": "2026-01-02"},
        headers=tenant_a.headers,
    )
    assert r.status_code in (200, 202), r.text
    assert r.json()["title"] == "Strict bodies"


async def test_an_integral_number_is_an_integer(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    # JSON has numbers and JSON Schema's "integer" includes 5.0 (schemathesis sends such): only strings are
    # refused.
    issued = await client.post(
        "/v1/keys", json={"name": "k", "scopes": ["keys:read"]}, headers=tenant_a.headers
    )
    rotated = await client.post(
        f"/v1/keys/{issued.json()['id']}/rotate", json={"overlap_seconds": 5.0}, headers=tenant_a.headers
    )
    assert rotated.status_code == 201, rotated.text
    r = await client.post(
        f"/v1/keys/{rotated.json()['id']}/rotate", json={"overlap_seconds": 5.5}, headers=tenant_a.headers
    )
    assert_problem(r, 400, "validation-error")


async def test_a_body_nested_too_deeply_is_a_400(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    deep = b"[" * 3000 + b"]" * 3000
    r = await client.post(
        "/v1/keys", content=deep, headers={**tenant_a.headers, "content-type": "application/json"}
    )
    assert "nested too deeply" in assert_problem(r, 400)["detail"]
