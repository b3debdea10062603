"""The documents and search API end to end: upload, the ingestion job, search with exact citations."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import TenantHandle, assert_problem, bearer, create_tenant
from tests.contract.schema import conforms, live_document
from tests.inference.retrieval.conftest import new_title, search, until_ready, upload_text

pytestmark = pytest.mark.usefixtures("ingest_worker")

SOP = (
    "# Zorblax cleaning procedure\n\n## 4.2 Rinse\nThe zorblax vessel is rinsed three times with purified "
    "water at 65 degrees before the quarvine swab test.\n\n## 4.3 Drying\nThe vessel is dried with filtered "
    "compressed air and inspected visually.\n"
)


async def test_an_uploaded_document_is_found_with_an_exact_citation(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    created = await upload_text(client, tenant_a, "zorblax SOP", SOP)
    assert created["state"] == "queued" and created["latest_version"] == 1
    await until_ready(client, tenant_a, created["id"])
    passages = await search(client, tenant_a, "how is the zorblax vessel rinsed", k=3)
    top = passages[0]
    assert top["document_id"] == created["id"] and top["version"] == 1 and top["corpus"] == "tenant"
    assert top["section_id"] == "4.2" and top["heading"] == "4.2 Rinse"
    assert "quarvine" in top["text"]
    assert SOP[top["start"] : top["end"]] == top["text"]


async def test_ingestion_job_reports_progress_and_result(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    created = await upload_text(client, tenant_a, new_title(), SOP)
    await until_ready(client, tenant_a, created["id"])
    job = (await client.get(f"/v1/jobs/{created['job_id']}", headers=tenant_a.headers)).json()
    assert job["name"] == "retrieval.ingest" and job["state"] == "succeeded"
    assert job["progress"] == 1.0 and job["result"]["chunks"] == 2


async def test_nothing_is_searchable_before_the_version_is_ready(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    """The upload's own transaction writes chunks inactive: a search right after it finds none of them."""
    tenant = await create_tenant(client)
    created = await upload_text(
        client, tenant, new_title(), "Frobnication of the quixotic plinth.", "text/plain"
    )
    early = await search(client, tenant, "frobnication plinth", corpora=["tenant"])
    doc = (await client.get(f"/v1/documents/{created['id']}", headers=tenant.headers)).json()
    if doc["state"] != "ready":  # the worker may, rarely, already be done
        assert early == []
    await until_ready(client, tenant, created["id"])
    assert await search(client, tenant, "frobnication plinth", corpora=["tenant"])


async def test_same_bytes_again_are_deduplicated(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    title = new_title()
    first = await upload_text(client, tenant_a, title, SOP + "\nUnique line 1.\n")
    r = await client.post(
        "/v1/documents",
        json={"title": title, "text": SOP + "\nUnique line 1.\n", "content_type": "text/markdown"},
        headers=tenant_a.headers,
    )
    assert r.status_code == 200
    assert (
        r.json()["deduplicated"] is True and r.json()["id"] == first["id"] and r.json()["latest_version"] == 1
    )


async def test_reupload_under_the_same_title_makes_a_new_version_and_old_citations_still_resolve(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    title = new_title()
    v1 = await upload_text(
        client, tenant, title, "The glimmerstone kiln is fired at 800 degrees.", "text/plain"
    )
    await until_ready(client, tenant, v1["id"])
    old = (await search(client, tenant, "glimmerstone kiln temperature"))[0]
    assert old["version"] == 1 and "800" in old["text"]
    v2 = await upload_text(
        client, tenant, title, "The glimmerstone kiln is fired at 950 degrees.", "text/plain"
    )
    assert v2["id"] == v1["id"] and v2["latest_version"] == 2
    await until_ready(client, tenant, v1["id"], version=2)
    now = await search(client, tenant, "glimmerstone kiln temperature")
    assert [p["version"] for p in now] == [2] and "950" in now[0]["text"]
    detail = (await client.get(f"/v1/documents/{v1['id']}", headers=tenant.headers)).json()
    assert [v["version"] for v in detail["versions"]] == [1, 2]
    assert detail["versions"][0]["state"] == "ready" and detail["current_version"] == 2


async def test_list_is_paginated_and_shows_only_the_tenants_documents(client: httpx.AsyncClient) -> None:
    tenant, other = await create_tenant(client), await create_tenant(client)
    for i in range(3):
        await upload_text(client, tenant, f"listed-{i}", f"Listed document number {i}.", "text/plain")
    await upload_text(client, other, "not-mine", "Another tenant's text.", "text/plain")
    page = (await client.get("/v1/documents", params={"limit": 2}, headers=tenant.headers)).json()
    assert [d["title"] for d in page["items"]] == ["listed-0", "listed-1"] and page["next_cursor"]
    rest = (
        await client.get("/v1/documents", params={"cursor": page["next_cursor"]}, headers=tenant.headers)
    ).json()
    assert [d["title"] for d in rest["items"]] == ["listed-2"] and rest["next_cursor"] is None


async def test_deleting_a_document_removes_it_from_search(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    created = await upload_text(
        client, tenant, new_title(), "The wobbleflange gasket is torqued to 12 Nm.", "text/plain"
    )
    await until_ready(client, tenant, created["id"])
    assert await search(client, tenant, "wobbleflange gasket torque")
    r = await client.delete(f"/v1/documents/{created['id']}", headers=tenant.headers)
    assert r.status_code == 204
    assert await search(client, tenant, "wobbleflange gasket torque") == []
    assert (await client.get(f"/v1/documents/{created['id']}", headers=tenant.headers)).status_code == 404


async def test_another_tenants_search_never_returns_the_passage(client: httpx.AsyncClient) -> None:
    owner, intruder = await create_tenant(client), await create_tenant(client)
    created = await upload_text(
        client, owner, new_title(), "The snorkelwhip valve leaks at 3 bar.", "text/plain"
    )
    await until_ready(client, owner, created["id"])
    assert await search(client, owner, "snorkelwhip valve")
    for body in ({}, {"corpora": ["tenant"]}, {"k": 50}):
        assert await search(client, intruder, "snorkelwhip valve", **body) == []
    r = await client.get(f"/v1/documents/{created['id']}", headers=intruder.headers)
    assert_problem(r, 404)
    r = await client.delete(f"/v1/documents/{created['id']}", headers=intruder.headers)
    assert_problem(r, 404)
    assert await search(client, owner, "snorkelwhip valve")


async def test_search_input_is_validated_naming_the_field(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    cases = [
        ({"query": ""}, "query"),
        ({"query": "x", "k": 0}, "k"),
        ({"query": "x", "k": 51}, "k"),
        ({"query": "x", "surprise": 1}, "surprise"),
        ({"query": "x", "filters": {"effective_date": "yesterday"}}, "effective_date"),
        ({"query": "x" * 2001}, "query"),
    ]
    for body, field in cases:
        r = await client.post("/v1/search", json=body, headers=tenant_a.headers)
        assert r.status_code in (400, 422), (body, r.text)
        assert field in r.json()["detail"], (body, r.json())
    r = await client.post(
        "/v1/search", json={"query": "x", "corpora": ["secret-corpus"]}, headers=tenant_a.headers
    )
    assert_problem(r, 422)
    assert "secret-corpus" in r.json()["detail"]


async def test_scopes_guard_documents_and_search(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    async def key(scopes: list[str]) -> dict[str, str]:
        r = await client.post("/v1/keys", json={"name": "k", "scopes": scopes}, headers=tenant_a.headers)
        assert r.status_code == 201, r.text
        return bearer(r.json()["key"])

    reader, searcher = await key(["documents:read"]), await key(["search"])
    body = {"title": new_title(), "text": "Scoped text.", "content_type": "text/plain"}
    assert (await client.post("/v1/documents", json=body, headers=reader)).status_code == 403
    assert (await client.get("/v1/documents", headers=reader)).status_code == 200
    assert (await client.post("/v1/search", json={"query": "scoped"}, headers=reader)).status_code == 403
    assert (await client.post("/v1/search", json={"query": "scoped"}, headers=searcher)).status_code == 200
    assert (await client.get("/v1/documents", headers=searcher)).status_code == 403


async def test_the_upload_documents_the_body_it_reads_and_both_answers(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    # schemathesis found no request body documented: an empty POST was "schema-valid" and got 415.
    doc = await live_document(client)
    operation = doc["paths"]["/v1/documents"]["post"]
    declared = operation["requestBody"]
    assert declared["required"] is True
    assert set(declared["content"]) == {"application/json", "multipart/form-data"}
    assert_problem(await client.post("/v1/documents", headers=tenant_a.headers), 415)
    body = {"title": new_title(), "text": SOP, "content_type": "text/markdown", "jurisdiction": None}
    assert conforms(doc, declared["content"]["application/json"]["schema"], body) == []
    for expected in (202, 200):  # accepted, then the same bytes again: deduplicated
        r = await client.post("/v1/documents", json=body, headers=tenant_a.headers)
        assert r.status_code == expected, r.text
        schema = operation["responses"][str(expected)]["content"]["application/json"]["schema"]
        assert conforms(doc, schema, r.json()) == []


async def test_a_binary_format_is_not_documented_as_json(client: httpx.AsyncClient) -> None:
    doc = await live_document(client)
    content = doc["paths"]["/v1/documents"]["post"]["requestBody"]["content"]
    as_json = content["application/json"]["schema"]["properties"]["content_type"]["enum"]
    assert "application/pdf" not in as_json and "text/markdown" in as_json
    assert "application/pdf" in content["multipart/form-data"]["schema"]["properties"]["content_type"]["enum"]
