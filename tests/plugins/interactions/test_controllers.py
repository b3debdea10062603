"""The interaction checker over HTTP (plugins/interactions/controllers.py), in the real app on the embedded
PostgreSQL and Redis: checks inside the safety envelope, drug search and monographs, the tenant's own rules
(applied to that tenant only), scopes, and hostile input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from litestar import Litestar

from lumen.core.tenancy.data_cache import TenantDataCache
from lumen.plugins.interactions.service import checker
from lumen.plugins.sdk import BASE_DISCLAIMER
from tests.conftest import TenantHandle, assert_problem, bearer

CHECK = "/v1/interactions/check"
RULES = "/v1/interactions/rules"
VERSION = checker().version

RULE = {
    "a": ["drug:amlodipine"],
    "b": ["drug:metformin"],
    "severity": "major",
    "mechanism": "Local formulary policy: review before co-prescribing.",
    "clinical_effect": "None known; a formulary restriction.",
    "management": "Ask the formulary pharmacist.",
    "evidence": "guideline",
    "reference": "Formulary policy 7.2",
}


async def _check(
    client: httpx.AsyncClient, tenant: TenantHandle, meds: list[str], **extra: Any
) -> dict[str, Any]:
    r = await client.post(CHECK, json={"medications": meds, **extra}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _key(client: httpx.AsyncClient, owner: TenantHandle, *scopes: str) -> dict[str, str]:
    r = await client.post("/v1/keys", json={"name": "app", "scopes": [*scopes]}, headers=owner.headers)
    assert r.status_code == 201, r.text
    return bearer(r.json()["key"])


# --- check ------------------------------------------------------------------------------------------------


async def test_check_reports_a_contraindicated_pair(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    body = await _check(client, tenant_a, ["Zocor", "Biaxin"])
    top = body["interactions"][0]
    assert top["severity"] == "contraindicated"
    assert set(top["drugs"]) == {"simvastatin", "clarithromycin"}
    assert set(top["inputs"]) == {"Zocor", "Biaxin"}
    for field in (
        "mechanism",
        "clinical_effect",
        "management",
        "evidence",
        "references",
        "reviewed",
        "rule_id",
    ):
        assert top[field]
    assert [r["id"] for r in body["recognized"]] == ["simvastatin", "clarithromycin"]


async def test_check_carries_the_safety_envelope(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = await _check(client, tenant_a, ["warfarin", "ibuprofen"])
    assert body["disclaimer"].startswith(BASE_DISCLAIMER)
    assert body["knowledge_version"] == VERSION
    assert body["abstained"] is False
    assert body["confidence"] == 1.0
    cited = {c["source_id"] for c in body["citations"]}
    assert {r for i in body["interactions"] for r in i["references"]} <= cited
    assert all(c["url"].startswith("https://") for c in body["citations"])


async def test_check_reports_unknown_drugs(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = await _check(client, tenant_a, ["warfarin", "xyzzyplex", "ibuprofin"])
    assert {u["input"] for u in body["unrecognized"]} == {"xyzzyplex"}
    assert [r["id"] for r in body["recognized"]] == ["warfarin", "ibuprofen"]


async def test_nothing_recognised_abstains(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = await _check(client, tenant_a, ["xyzzyplex"])
    assert body["abstained"] is True
    assert body["interactions"] == []


async def test_check_uses_patient_context(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    patient = {
        "age": 10,
        "pregnant": False,
        "egfr": 20,
        "conditions": ["asthma"],
        "allergies": ["penicillin"],
    }
    body = await _check(client, tenant_a, ["aspirin", "metformin", "amoxicillin"], patient=patient)
    kinds = {(w["kind"], w["drug_ids"][0]) for w in body["warnings"]}
    assert {
        ("age", "aspirin"),
        ("renal", "metformin"),
        ("allergy", "amoxicillin"),
        ("condition", "aspirin"),
    } <= kinds


async def test_tenant_settings_apply(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.put(
        "/v1/plugins/interactions",
        json={"settings": {"minimum_severity": "major", "include_food": False, "disclaimer": "Ask Dr Who."}},
        headers=tenant_a.headers,
    )
    assert r.status_code == 200, r.text
    body = await _check(client, tenant_a, ["lisinopril", "spironolactone", "phenelzine"])
    assert all(i["severity"] in ("major", "contraindicated") for i in body["interactions"])
    assert not [w for w in body["warnings"] if w["kind"] == "food"]
    assert body["disclaimer"].endswith("Ask Dr Who.")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"medications": []}, "medications"),
        ({"medications": ["aspirin"] * 51}, "medications"),
        ({"medications": ["a" * 201]}, "medications"),
        ({"medications": ["aspirin"], "extra": 1}, "extra"),
        ({"medications": "aspirin"}, "medications"),
        ({"medications": ["aspirin"], "patient": {"age": -1}}, "age"),
        ({"medications": ["aspirin"], "patient": {"egfr": "low"}}, "egfr"),
        ({"medications": ["aspirin"], "patient": {"conditions": ["x"] * 51}}, "conditions"),
        ({"medications": ["aspirin"], "patient": {"ssn": "123"}}, "ssn"),
    ],
)
async def test_bad_input_is_a_4xx_naming_the_field(
    client: httpx.AsyncClient, tenant_a: TenantHandle, body: dict[str, Any], field: str
) -> None:
    r = await client.post(CHECK, json=body, headers=tenant_a.headers)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in r.text


async def test_hostile_names_are_echoed_as_unrecognised(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    hostile = [
        "'; DROP TABLE interaction_rules; --",
        "<img src=x onerror=alert(1)>",
        "アスピリン",
        "\u0000\u202e",
    ]
    body = await _check(client, tenant_a, [*hostile, "aspirin"])
    assert [u["input"] for u in body["unrecognized"]] == hostile
    assert (await client.get(RULES, headers=tenant_a.headers)).status_code == 200


async def test_a_malformed_body_is_a_400(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.post(
        CHECK, content=b"{not json", headers={**tenant_a.headers, "content-type": "application/json"}
    )
    assert_problem(r, 400)


async def test_check_needs_a_key(client: httpx.AsyncClient) -> None:
    assert_problem(await client.post(CHECK, json={"medications": ["aspirin"]}), 401)


async def test_a_key_without_the_scope_is_refused(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    headers = await _key(client, tenant_a, "keys:read")
    assert_problem(await client.post(CHECK, json={"medications": ["aspirin"]}, headers=headers), 403)


async def test_a_check_scope_key_can_check_and_search(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    headers = await _key(client, tenant_a, "interactions:check")
    assert (await client.post(CHECK, json={"medications": ["aspirin"]}, headers=headers)).status_code == 200
    assert (await client.get("/v1/drugs", params={"q": "asp"}, headers=headers)).status_code == 200
    assert_problem(await client.post(RULES, json=RULE, headers=headers), 403)


async def test_a_disabled_plugin_answers_404(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.put("/v1/plugins/interactions", json={"enabled": False}, headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    assert_problem(await client.post(CHECK, json={"medications": ["aspirin"]}, headers=tenant_a.headers), 404)


async def test_second_tenant_checks_independently(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    a = await _check(client, tenant_a, ["simvastatin", "clarithromycin"])
    b = await _check(client, tenant_b, ["simvastatin", "clarithromycin"])
    assert a["interactions"] == b["interactions"]


# --- drugs ------------------------------------------------------------------------------------------------


async def test_search_autocompletes_names_and_brands(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.get("/v1/drugs", params={"q": "simva", "limit": 5}, headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert items[0]["id"] == "simvastatin"
    r = await client.get("/v1/drugs", params={"q": "Panadol"}, headers=tenant_a.headers)
    assert r.json()["items"][0]["id"] == "acetaminophen"
    assert r.json()["knowledge_version"] == VERSION


async def test_search_without_a_query_lists_a_to_z(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.get("/v1/drugs", params={"limit": 3}, headers=tenant_a.headers)
    names = [i["name"] for i in r.json()["items"]]
    assert names == sorted(names, key=str.casefold) and len(names) == 3


@pytest.mark.parametrize("q", ["'; select 1; --", "%", "💊", "zzzzzzzz"])
async def test_search_with_odd_text_is_an_empty_or_fuzzy_list(
    client: httpx.AsyncClient, tenant_a: TenantHandle, q: str
) -> None:
    r = await client.get("/v1/drugs", params={"q": q}, headers=tenant_a.headers)
    assert r.status_code == 200, r.text


async def test_search_rejects_an_oversized_query(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    assert_problem(await client.get("/v1/drugs", params={"q": "a" * 101}, headers=tenant_a.headers), 400)


async def test_monograph(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.get("/v1/drugs/warfarin", headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["id"] == "warfarin"
    assert "Coumadin" in body["brands"]
    assert body["atc"] == ["B01AA03"]
    assert body["rxcui"] == "11289"
    assert "cyp2c9:sens" in body["properties"]
    assert body["pregnancy"].startswith("contraindicated")
    assert body["citations"] and body["knowledge_version"] == VERSION
    assert body["disclaimer"].startswith(BASE_DISCLAIMER)


async def test_monograph_by_brand_or_uk_name(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.get("/v1/drugs/paracetamol", headers=tenant_a.headers)
    assert r.json()["id"] == "acetaminophen"


async def test_unknown_monograph_is_a_404(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    assert_problem(await client.get("/v1/drugs/xyzzyplex", headers=tenant_a.headers), 404, "not-found")


async def test_second_tenant_reads_the_same_catalogue(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    a = await client.get("/v1/drugs/aspirin", headers=tenant_a.headers)
    b = await client.get("/v1/drugs/aspirin", headers=tenant_b.headers)
    assert a.json()["id"] == b.json()["id"] == "aspirin"


# --- the tenant's own rules -------------------------------------------------------------------------------


async def test_a_tenant_rule_applies_to_that_tenant_only(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    r = await client.post(RULES, json=RULE, headers=tenant_a.headers)
    assert r.status_code == 201, r.text
    rule_id = r.json()["id"]
    a = await _check(client, tenant_a, ["amlodipine", "metformin"])
    [found] = a["interactions"]
    assert (found["severity"], found["rule_id"], found["source"]) == ("major", rule_id, "tenant")
    b = await _check(client, tenant_b, ["amlodipine", "metformin"])
    assert b["interactions"] == []


async def test_rules_list_get_and_delete(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    rule_id = (await client.post(RULES, json=RULE, headers=tenant_a.headers)).json()["id"]
    listed = (await client.get(RULES, headers=tenant_a.headers)).json()["items"]
    assert [r["id"] for r in listed] == [rule_id]
    got = (await client.get(f"{RULES}/{rule_id}", headers=tenant_a.headers)).json()
    assert got["reference"] == RULE["reference"]
    assert (await client.delete(f"{RULES}/{rule_id}", headers=tenant_a.headers)).status_code == 204
    assert_problem(await client.get(f"{RULES}/{rule_id}", headers=tenant_a.headers), 404)
    assert (await _check(client, tenant_a, ["amlodipine", "metformin"]))["interactions"] == []


async def test_rules_are_cached_between_checks_and_a_change_applies_at_once(
    app: Litestar, client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    cache: TenantDataCache = app.state.tenant_data
    entry = (tenant_a.id, "interactions:rules")
    assert (await _check(client, tenant_a, ["amlodipine", "metformin"]))["interactions"] == []
    assert cache._cache[entry][1] == []  # the next check reads no rules from the database
    rule_id = (await client.post(RULES, json=RULE, headers=tenant_a.headers)).json()["id"]
    assert entry not in cache._cache
    [found] = (await _check(client, tenant_a, ["amlodipine", "metformin"]))["interactions"]
    assert found["rule_id"] == rule_id
    # Another tenant's cached rules were not touched, and still do not include the rule.
    assert (await _check(client, tenant_b, ["amlodipine", "metformin"]))["interactions"] == []
    # A refused change (over the body limits) leaves the cache as it was; a delete applies at once.
    r = await client.post(RULES, json={**RULE, "mechanism": "x" * 601}, headers=tenant_a.headers)
    assert r.status_code in (400, 422) and entry in cache._cache
    assert (await client.delete(f"{RULES}/{rule_id}", headers=tenant_a.headers)).status_code == 204
    assert (await _check(client, tenant_a, ["amlodipine", "metformin"]))["interactions"] == []


async def test_another_tenants_rule_is_a_404(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    rule_id = (await client.post(RULES, json=RULE, headers=tenant_a.headers)).json()["id"]
    assert_problem(await client.get(f"{RULES}/{rule_id}", headers=tenant_b.headers), 404)
    assert_problem(await client.delete(f"{RULES}/{rule_id}", headers=tenant_b.headers), 404)
    assert (await client.get(RULES, headers=tenant_b.headers)).json()["items"] == []
    assert (await client.get(f"{RULES}/{rule_id}", headers=tenant_a.headers)).status_code == 200


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"a": ["drug:not-a-drug"]}, "a[0]"),
        ({"b": ["class:nope"]}, "b[0]"),
        ({"b": ["made-up:token"]}, "b[0]"),
        ({"a": ["DROP TABLE"]}, "a"),
        ({"severity": "catastrophic"}, "severity"),
        ({"a": []}, "a"),
        ({"mechanism": "x" * 601}, "mechanism"),
        ({"unknown": 1}, "unknown"),
    ],
)
async def test_invalid_rules_are_refused_naming_the_field(
    client: httpx.AsyncClient, tenant_a: TenantHandle, change: dict[str, Any], field: str
) -> None:
    r = await client.post(RULES, json={**RULE, **change}, headers=tenant_a.headers)
    assert r.status_code in (400, 422), r.text
    assert field in r.json()["detail"]


async def test_a_class_rule_matches_every_member(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    rule = {**RULE, "a": ["class:statin"], "b": ["class:ppi"], "severity": "moderate"}
    assert (await client.post(RULES, json=rule, headers=tenant_a.headers)).status_code == 201
    body = await _check(client, tenant_a, ["rosuvastatin", "pantoprazole"])
    assert [i["source"] for i in body["interactions"]] == ["tenant"]


async def test_a_huge_body_is_refused(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = {"medications": ["aspirin"], "patient": {"conditions": ["x" * 200] * 50}, "pad": "y" * 20_000_000}
    r = await client.post(CHECK, json=body, headers=tenant_a.headers)
    assert r.status_code in (400, 413), r.text[:200]


async def test_fifty_long_names_are_all_answered(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    meds = [f"{'z' * 190}{i:03d}" for i in range(49)] + ["warfarin"]
    body = await _check(client, tenant_a, meds)
    assert len(body["unrecognized"]) == 49
    assert [r["id"] for r in body["recognized"]] == ["warfarin"]


@pytest.mark.parametrize("drug", ["%00", "..%2F..%2Fetc%2Fpasswd", "%F0%9F%92%8A", "a%20b"])
async def test_odd_monograph_paths_are_404s(
    client: httpx.AsyncClient, tenant_a: TenantHandle, drug: str
) -> None:
    r = await client.get(f"/v1/drugs/{drug}", headers=tenant_a.headers)
    assert r.status_code in (400, 404), r.text
