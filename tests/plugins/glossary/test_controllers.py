"""The glossary over HTTP (plugins/glossary/controllers.py), in the real app with the plugin loaded through
Lumen's own entry point: lookups and searches inside the safety envelope, per-tenant enablement and
settings, and what a key of another kind gets."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from lumen.plugins.glossary.service import DISCLAIMER, load_glossary
from tests.conftest import TenantHandle, assert_problem, bearer, platform_headers

TERMS = "/v1/glossary/terms"
VERSION = load_glossary().version


async def _get(client: httpx.AsyncClient, tenant: TenantHandle, path: str, **params: Any) -> dict[str, Any]:
    r = await client.get(path, params=params, headers=tenant.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _configure(client: httpx.AsyncClient, tenant: TenantHandle, **body: Any) -> httpx.Response:
    return await client.put("/v1/plugins/glossary", json=body, headers=tenant.headers)


async def _key(client: httpx.AsyncClient, owner: TenantHandle, *scopes: str) -> dict[str, str]:
    r = await client.post("/v1/keys", json={"name": "app", "scopes": [*scopes]}, headers=owner.headers)
    assert r.status_code == 201, r.text
    return bearer(r.json()["key"])


def assert_envelope(body: dict[str, Any]) -> None:
    assert body["disclaimer"] == DISCLAIMER
    assert body["knowledge_version"] == VERSION
    assert isinstance(body["confidence"], float)
    assert isinstance(body["abstained"], bool)
    for citation in body["citations"]:
        assert set(citation) == {"source_id", "title", "url", "publisher"}
        assert citation["url"].startswith("https://")


# --- lookup -------------------------------------------------------------------------------------------------


async def test_lookup_by_slug(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = await _get(client, tenant_a, f"{TERMS}/anemia")
    entry = load_glossary().entries["anemia"]
    assert body["term"] == "Anemia"
    assert body["slug"] == "anemia"
    assert "Anaemia" in body["synonyms"]
    assert body["definition"] == entry.plain
    assert body["see_also"] == list(entry.see_also)
    assert body["source"] == {
        "title": entry.source.title,
        "url": entry.source.url,
        "publisher": entry.source.publisher,
    }
    assert body["reviewed"] == "2026-12-01"
    assert "you have" not in body["definition"].lower()


async def test_lookup_carries_the_safety_envelope(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = await _get(client, tenant_a, f"{TERMS}/statin")
    assert_envelope(body)
    assert body["confidence"] == 1.0
    assert body["abstained"] is False
    [citation] = body["citations"]
    assert citation["source_id"] == load_glossary().entries["statin"].source.id
    assert citation["url"] == body["source"]["url"]


@pytest.mark.parametrize("slug", ["no-such-term", "Anemia", "anemia%20", "x" * 100])
async def test_unknown_slug_is_a_404_problem(
    client: httpx.AsyncClient, tenant_a: TenantHandle, slug: str
) -> None:
    body = assert_problem(await client.get(f"{TERMS}/{slug}", headers=tenant_a.headers), 404, "not-found")
    assert slug not in body["detail"]  # what a patient looked up is not echoed back into messages


async def test_overlong_slug_is_refused(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    assert_problem(await client.get(f"{TERMS}/{'x' * 101}", headers=tenant_a.headers), 400)


# --- search -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "slug"),
    [
        ("anaemia", "anemia"),
        ("anemia", "anemia"),
        ("oedema", "edema"),
        ("edema", "edema"),
        ("Paracetamol", "acetaminophen"),
        ("piles", "hemorrhoids"),
        ("HIGH BLOOD PRESSURE", "hypertension"),
        ("Crohn\u2019s", "crohns-disease"),
        ("diarrhoea", "diarrhea"),
    ],
)
async def test_search_by_synonym_and_spelling(
    client: httpx.AsyncClient, tenant_a: TenantHandle, query: str, slug: str
) -> None:
    body = await _get(client, tenant_a, TERMS, q=query)
    assert body["items"][0]["slug"] == slug
    assert_envelope(body)
    assert body["confidence"] == 1.0
    assert body["abstained"] is False
    assert body["citations"][0]["source_id"] == body["items"][0]["citations"][0]["source_id"]


async def test_search_without_a_match_is_an_empty_list(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    body = await _get(client, tenant_a, TERMS, q="flibbertigibbet syndrome")
    assert body["items"] == []
    assert body["citations"] == []
    assert body["abstained"] is True
    assert body["confidence"] == 0.0
    assert_envelope(body)


async def test_blank_search_is_an_empty_list(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = await _get(client, tenant_a, TERMS, q="   ")
    assert body["items"] == []
    assert body["abstained"] is True


async def test_search_honours_the_limit(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    assert len((await _get(client, tenant_a, TERMS, q="blood", limit=2))["items"]) == 2


@pytest.mark.parametrize(
    "params", [{"limit": 0}, {"limit": 51}, {"limit": "many"}, {"q": "x" * 101}, {"cursor": "Not A Slug"}]
)
async def test_bad_query_parameters_are_400(
    client: httpx.AsyncClient, tenant_a: TenantHandle, params: dict[str, Any]
) -> None:
    body = assert_problem(await client.get(TERMS, params=params, headers=tenant_a.headers), 400)
    assert next(iter(params)) in body["detail"], body


async def test_without_a_query_the_glossary_pages_a_to_z(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    first = await _get(client, tenant_a, TERMS, limit=50)
    second = await _get(client, tenant_a, TERMS, limit=50, cursor=first["next_cursor"])
    slugs = [i["slug"] for i in first["items"] + second["items"]]
    assert slugs == sorted(load_glossary().entries)[:100]
    assert_envelope(first)


# --- per-tenant enablement and settings ---------------------------------------------------------------------


async def test_on_by_default_for_every_tenant(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    for tenant in (tenant_a, tenant_b):
        listed = (await _get(client, tenant, "/v1/plugins"))["items"]
        [glossary] = [p for p in listed if p["name"] == "glossary"]
        assert glossary["enabled"] is True
        assert glossary["default_enabled"] is True
        assert glossary["settings"] == {"reading_level": "plain", "locale": "en-US"}
        [knowledge] = glossary["knowledge"]
        assert knowledge["version"] == VERSION
        assert knowledge["entries"] == len(load_glossary().entries)
        assert knowledge["reviewed"] == "2026-12-01"


async def test_disabled_for_one_tenant_only(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    assert (await client.get(f"{TERMS}/anemia", headers=tenant_a.headers)).status_code == 200
    r = await _configure(client, tenant_a, enabled=False)
    assert r.status_code == 200, r.text
    assert_problem(await client.get(f"{TERMS}/anemia", headers=tenant_a.headers), 404)
    assert_problem(await client.get(TERMS, params={"q": "anemia"}, headers=tenant_a.headers), 404)
    assert (await client.get(f"{TERMS}/anemia", headers=tenant_b.headers)).status_code == 200
    assert (await _configure(client, tenant_a, enabled=True)).status_code == 200
    assert (await client.get(f"{TERMS}/anemia", headers=tenant_a.headers)).status_code == 200


async def test_reading_level_changes_the_definition(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    entry = load_glossary().entries["asthma"]
    assert (await _get(client, tenant_a, f"{TERMS}/asthma"))["definition"] == entry.plain
    r = await _configure(client, tenant_a, settings={"reading_level": "standard"})
    assert r.status_code == 200, r.text
    body = await _get(client, tenant_a, f"{TERMS}/asthma")
    assert body["definition"] == f"{entry.plain} {entry.detail}"
    search = await _get(client, tenant_a, TERMS, q="asthma")
    assert search["items"][0]["definition"] == body["definition"]


async def test_locale_changes_the_spelling(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    assert (await _get(client, tenant_a, f"{TERMS}/edema"))["term"] == "Edema"
    assert (await _configure(client, tenant_a, settings={"locale": "en-GB"})).status_code == 200
    body = await _get(client, tenant_a, f"{TERMS}/edema")
    assert body["term"] == "Oedema"
    assert body["synonyms"][0] == "Edema"
    assert (await _get(client, tenant_a, TERMS, q="edema"))["items"][0]["term"] == "Oedema"


async def test_settings_are_per_tenant(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    r = await _configure(client, tenant_a, settings={"locale": "en-GB", "reading_level": "standard"})
    assert r.status_code == 200, r.text
    mine = await _get(client, tenant_a, f"{TERMS}/anemia")
    theirs = await _get(client, tenant_b, f"{TERMS}/anemia")
    assert (mine["term"], theirs["term"]) == ("Anaemia", "Anemia")
    assert len(mine["definition"]) > len(theirs["definition"])


@pytest.mark.parametrize(
    ("given", "field"),
    [
        pytest.param({"reading_level": "expert"}, "reading_level", id="bad-level"),
        pytest.param({"locale": "fr-FR"}, "locale", id="bad-locale"),
        pytest.param({"font": "large"}, "font", id="unknown-field"),
    ],
)
async def test_bad_settings_name_the_field(
    client: httpx.AsyncClient, tenant_a: TenantHandle, given: dict[str, Any], field: str
) -> None:
    body = assert_problem(await _configure(client, tenant_a, settings=given), 422)
    assert field in body["detail"], body


# --- who may read it ----------------------------------------------------------------------------------------


async def test_a_patient_app_key_needs_only_its_scope(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    app_key = await _key(client, tenant_a, "glossary:read")
    assert (await client.get(f"{TERMS}/anemia", headers=app_key)).status_code == 200
    assert (await client.get(TERMS, params={"q": "flu"}, headers=app_key)).status_code == 200
    assert_problem(await client.get("/v1/keys", headers=app_key), 403)


async def test_a_key_without_the_scope_is_refused(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = assert_problem(
        await client.get(f"{TERMS}/anemia", headers=await _key(client, tenant_a, "keys:read")),
        403,
        "forbidden",
    )
    assert body["required_scope"] == "glossary:read"


async def test_the_platform_key_is_not_a_tenant(client: httpx.AsyncClient) -> None:
    assert_problem(
        await client.get(f"{TERMS}/anemia", headers=platform_headers()), 403, "tenant-key-required"
    )


async def test_no_key_is_401(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get(f"{TERMS}/anemia"), 401, "unauthenticated")


async def test_a_tenant_denying_the_action_turns_it_off(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    r = await client.put("/v1/policy", json={"deny_actions": ["glossary.read"]}, headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    assert_problem(await client.get(f"{TERMS}/anemia", headers=tenant_a.headers), 403)
    assert (await client.get(f"{TERMS}/anemia", headers=tenant_b.headers)).status_code == 200


async def test_reads_leave_no_audit_record(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    """Curated, non-personal text: reading it is not a state change or a patient-data read."""
    r = await client.get(TERMS, params={"q": "hiv"}, headers=tenant_a.headers)
    assert r.status_code == 200
    events = await _get(client, tenant_a, "/v1/audit", request_id=r.headers["x-request-id"])
    assert events["items"] == []
