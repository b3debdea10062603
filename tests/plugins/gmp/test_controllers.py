"""The routes at the edge: hostile input is a 4xx naming the field, scopes and enablement hold, the plugin's
Rego unit tests pass against the whole policy."""

from __future__ import annotations

import httpx
import pytest
from litestar import Litestar

from lumen.plugins.sdk.testing import rego_test_results
from tests.conftest import TenantHandle, assert_problem, bearer
from tests.plugins.gmp.conftest import SOP_FIELDS, make_document, make_signer


def test_the_plugins_rego_tests_pass(app: Litestar) -> None:
    results = rego_test_results(app, "gmp")
    assert len(results) >= 4
    assert all(r.passed for r in results), [r for r in results if not r.passed]


async def _doc_body(client: httpx.AsyncClient, tenant: TenantHandle, **fields: object) -> dict[str, object]:
    author = await make_signer(client, tenant, ["author"])
    return {"template": "sop", "author_signer_id": author.id, "fields": {**SOP_FIELDS, **fields}}


async def test_an_oversized_title_names_the_field(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = await _doc_body(client, tenant_a, title="T" * 201)
    problem = assert_problem(await client.post("/v1/gmp/documents", json=body, headers=tenant_a.headers), 422)
    assert problem["errors"][0]["key"] == "fields.title"


async def test_a_nul_byte_in_a_section_is_refused(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = await _doc_body(client, tenant_a)
    body["sections"] = {"purpose": "bad\x00text"}
    problem = assert_problem(await client.post("/v1/gmp/documents", json=body, headers=tenant_a.headers), 400)
    assert "sections" in problem["detail"]


async def test_an_object_as_a_field_value_is_refused(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    body = await _doc_body(client, tenant_a, scope={"$gt": ""})
    problem = assert_problem(await client.post("/v1/gmp/documents", json=body, headers=tenant_a.headers), 422)
    assert problem["errors"][0]["key"] == "fields.scope"


async def test_unknown_fields_and_sections_are_refused(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    body = await _doc_body(client, tenant_a, injected="x")
    problem = assert_problem(await client.post("/v1/gmp/documents", json=body, headers=tenant_a.headers), 422)
    assert problem["errors"][0]["key"] == "fields.injected"
    body = await _doc_body(client, tenant_a)
    body["sections"] = {"appendix_z": "x"}
    problem = assert_problem(await client.post("/v1/gmp/documents", json=body, headers=tenant_a.headers), 422)
    assert problem["errors"][0]["key"] == "sections.appendix_z"


async def test_an_unknown_body_property_is_refused(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = await _doc_body(client, tenant_a)
    body["status"] = "effective"
    problem = assert_problem(await client.post("/v1/gmp/documents", json=body, headers=tenant_a.headers), 400)
    assert "status" in problem["detail"]


async def test_too_many_fields_are_refused(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = await _doc_body(client, tenant_a)
    body["fields"] = {f"f{i}": "x" for i in range(61)}
    assert_problem(await client.post("/v1/gmp/documents", json=body, headers=tenant_a.headers), 400)


async def test_injection_text_is_stored_verbatim(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    title = "'; DROP TABLE gmp_documents; -- {{7*7}} <b>x</b>"
    author = await make_signer(client, tenant_a, ["author"])
    doc = await make_document(client, tenant_a, author, fields={**SOP_FIELDS, "title": title})
    fetched = (await client.get(f"/v1/gmp/documents/{doc['id']}", headers=tenant_a.headers)).json()
    assert fetched["title"] == title


@pytest.mark.parametrize("template_id", ["..%2F..%2Fetc", "SOP", "a" * 65, "sop;drop"])
async def test_a_malformed_template_id_is_refused(
    client: httpx.AsyncClient, tenant_a: TenantHandle, template_id: str
) -> None:
    r = await client.get(f"/v1/gmp/templates/{template_id}", headers=tenant_a.headers)
    assert r.status_code in (400, 404), r.text
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_an_oversized_password_is_refused(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = {"user_id": "big-pw", "full_name": "Big", "roles": ["qa"], "password": "p" * 257}
    problem = assert_problem(await client.post("/v1/gmp/signers", json=body, headers=tenant_a.headers), 400)
    assert "password" in problem["detail"]


async def test_an_unknown_role_is_refused(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = {
        "user_id": "rooty",
        "full_name": "Root",
        "roles": ["superuser"],
        "password": "a long enough password",
    }
    problem = assert_problem(await client.post("/v1/gmp/signers", json=body, headers=tenant_a.headers), 400)
    assert "roles" in problem["detail"]


async def test_a_disabled_plugin_answers_404(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.put("/v1/plugins/gmp", json={"enabled": False}, headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    assert_problem(await client.get("/v1/gmp/templates", headers=tenant_a.headers), 404)


async def test_a_read_key_cannot_write_or_manage_signers(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.post(
        "/v1/keys", json={"name": "viewer", "scopes": ["gmp:read"]}, headers=tenant_a.headers
    )
    viewer = bearer(r.json()["key"])
    assert (await client.get("/v1/gmp/templates", headers=viewer)).status_code == 200
    body = {"user_id": "sneaky", "full_name": "S", "roles": ["qa"], "password": "a long enough password"}
    assert_problem(await client.post("/v1/gmp/signers", json=body, headers=viewer), 403, "forbidden")
    body2 = await _doc_body(client, tenant_a)
    assert_problem(await client.post("/v1/gmp/documents", json=body2, headers=viewer), 403, "forbidden")
