"""The interactions, triage and OTC endpoints take `patient_id` in place of inline patient context: the
profile is read (audited), another tenant's id is a 404."""

from __future__ import annotations

import httpx

from tests.conftest import TenantHandle, assert_problem


async def _patient(client: httpx.AsyncClient, tenant: TenantHandle) -> str:
    body = {"birth_date": "1950-05-05", "sex": "female", "medications": ["warfarin"], "egfr": 40}
    r = await client.post("/v1/patients", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_interactions_check_uses_the_patients_medications(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    pid = await _patient(client, tenant_a)
    r = await client.post(
        "/v1/interactions/check",
        json={"medications": ["ibuprofen"], "patient_id": pid},
        headers=tenant_a.headers,
    )
    assert r.status_code == 200, r.text
    pairs = [sorted(d.lower() for d in i["drugs"]) for i in r.json()["interactions"]]
    assert any("warfarin" in " ".join(p) for p in pairs), pairs


async def test_interactions_check_with_another_tenants_patient_is_404(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    pid = await _patient(client, tenant_a)
    r = await client.post(
        "/v1/interactions/check",
        json={"medications": ["ibuprofen"], "patient_id": pid},
        headers=tenant_b.headers,
    )
    assert_problem(r, 404)


async def test_triage_reads_age_and_sex_from_the_profile(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    pid = await _patient(client, tenant_a)
    r = await client.post(
        "/v1/triage/assess", json={"text": "I have a headache", "patient_id": pid}, headers=tenant_a.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["patient"]["sex"] == "female" and r.json()["patient"]["age"] >= 70


async def test_triage_with_another_tenants_patient_is_404(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    pid = await _patient(client, tenant_a)
    r = await client.post(
        "/v1/triage/assess", json={"text": "headache", "patient_id": pid}, headers=tenant_b.headers
    )
    assert_problem(r, 404)


async def test_otc_uses_the_profile(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    pid = await _patient(client, tenant_a)
    r = await client.post(
        "/v1/otc/recommend",
        json={"symptoms": "mild headache since this morning", "patient_id": pid},
        headers=tenant_a.headers,
    )
    assert r.status_code == 200, r.text
    assert "ibuprofen" not in [o["id"] for o in r.json()["options"]]  # warfarin + low eGFR exclude NSAIDs
    r = await client.post(
        "/v1/otc/recommend", json={"symptoms": "headache", "patient_id": pid}, headers=tenant_b.headers
    )
    assert_problem(r, 404)
