"""POST /v1/otc/recommend over HTTP in the real app: emergencies are deferred to triage advice, the
interactions check is required (503 without its plugin), tenant scoping, audit, and hostile input."""

from __future__ import annotations

import importlib.util
from typing import Any

import httpx
import pytest

from tests.conftest import TenantHandle, assert_problem, bearer

URL = "/v1/otc/recommend"
CHEST = (
    "58-year-old man with crushing central chest pain spreading to his left arm, sweating and nauseous "
    "for the last 40 minutes."
)
HEADACHE = "Mild headache after a long day at the screen."
HAS_INTERACTIONS = importlib.util.find_spec("lumen.plugins.interactions") is not None


async def test_emergent_symptoms_get_emergency_advice(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.post(URL, json={"symptoms": CHEST}, headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "refer"
    assert body["options"] == []
    assert "emergency" in body["advice"].lower() and "911" in body["advice"]
    assert body["triage"]["level3"] == "emergent"
    assert body["disclaimer"].startswith("Lumen gives general medical information")


async def test_emergency_advice_uses_the_tenants_number(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.put(
        "/v1/plugins/otc", json={"settings": {"emergency_number": "112"}}, headers=tenant_a.headers
    )
    assert r.status_code == 200, r.text
    r = await client.post(URL, json={"symptoms": CHEST}, headers=tenant_a.headers)
    assert "call 112" in r.json()["advice"]


async def test_consultation_symptoms_are_referred(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.post(
        URL, json={"symptoms": "Burning when I pee for 3 days, 34 year old man."}, headers=tenant_a.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "refer"
    assert r.json()["triage"]["level3"] == "non_emergent"


@pytest.mark.skipif(HAS_INTERACTIONS, reason="the interactions plugin is installed")
async def test_self_care_without_the_interactions_plugin_fails_closed(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.post(URL, json={"symptoms": HEADACHE}, headers=tenant_a.headers)
    body = assert_problem(r, 503, "service-unavailable")
    assert "interactions.check" in body["detail"]
    assert "paracetamol" not in r.text


async def test_second_tenant_is_independent(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    r = await client.put("/v1/plugins/otc", json={"enabled": False}, headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    assert_problem(await client.post(URL, json={"symptoms": CHEST}, headers=tenant_a.headers), 404)
    r = await client.post(URL, json={"symptoms": CHEST}, headers=tenant_b.headers)
    assert r.status_code == 200, r.text


async def test_recommendation_is_audited_without_symptoms(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    await client.post(URL, json={"symptoms": CHEST}, headers=tenant_a.headers)
    r = await client.get("/v1/audit", headers=tenant_a.headers)
    records = [rec for rec in r.json()["items"] if rec["action"] == "otc.recommended"]
    assert records and records[-1]["details"]["status"] == "refer"
    assert "crushing" not in r.text


async def test_a_key_without_the_scope_is_refused(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.post(
        "/v1/keys", json={"name": "t", "scopes": ["triage:assess"]}, headers=tenant_a.headers
    )
    r = await client.post(URL, json={"symptoms": CHEST}, headers=bearer(r.json()["key"]))
    assert_problem(r, 403)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "symptoms"),
        ({"symptoms": "cold", "triage": {"level": "self_care"}}, "symptoms"),
        ({"symptoms": ""}, "symptoms"),
        ({"symptoms": "x" * 4001}, "symptoms"),
        ({"symptoms": "cold", "patient": {"age": -3}}, "age"),
        ({"symptoms": "cold", "patient": {"medications": ["x"] * 41}}, "medications"),
        ({"symptoms": "cold", "patient": {"allergies": [""]}}, "allergies"),
        ({"symptoms": "cold", "patient": {"ssn": "123"}}, "ssn"),
        ({"triage": {"level": "fine"}}, "level"),
        ({"symptoms": "cold", "unknown": True}, "unknown"),
    ],
)
async def test_bad_input_is_a_4xx_naming_the_field(
    client: httpx.AsyncClient, tenant_a: TenantHandle, body: dict[str, Any], field: str
) -> None:
    r = await client.post(URL, json=body, headers=tenant_a.headers)
    assert 400 <= r.status_code < 500, r.text
    assert field in r.text


async def test_a_triage_result_above_self_care_is_referred(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.post("/v1/triage/assess", json={"text": CHEST}, headers=tenant_a.headers)
    r = await client.post(URL, json={"triage": r.json()}, headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "refer"
    assert "emergency" in r.json()["advice"].lower()
