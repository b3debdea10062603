"""Patient profiles over HTTP: CRUD, isolation, PHI never in clear text in the database, audited reads,
hostile input, erasure and export."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import TenantHandle, assert_problem, create_tenant


def _profile(**extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_ref": "mrn-" + secrets.token_hex(4),
        "birth_date": "1980-04-02",
        "sex": "female",
        "pregnancy_status": "not_pregnant",
        "conditions": [
            "asthma",
            {"system": "http://snomed.info/sct", "code": "38341003", "display": "Hypertension"},
        ],
        "medications": [
            "warfarin",
            {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "6809"},
        ],
        "allergies": ["penicillin"],
        "egfr": 72.5,
        "locale": "en-GB",
        "consents": [{"scope": "qa", "given_at": "2026-11-30T10:00:00Z", "text_version": "v3"}],
    }
    body.update(extra)
    return body


async def _create(client: httpx.AsyncClient, tenant: TenantHandle, **extra: Any) -> dict[str, Any]:
    r = await client.post("/v1/patients", json=_profile(**extra), headers=tenant.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_create_returns_the_profile(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    created = await _create(client, tenant_a)
    assert uuid.UUID(created["id"])
    assert created["sex"] == "female"
    assert created["medications"][0] == "warfarin"
    assert created["medications"][1]["code"] == "6809"
    assert created["consents"][0]["text_version"] == "v3"


async def test_get_reads_back_what_was_stored(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    created = await _create(client, tenant_a)
    r = await client.get(f"/v1/patients/{created['id']}", headers=tenant_a.headers)
    assert r.status_code == 200
    assert r.json() == created


async def test_another_tenant_gets_404_for_every_route(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    pid = (await _create(client, tenant_a))["id"]
    for method, path, body in [
        ("GET", f"/v1/patients/{pid}", None),
        ("GET", f"/v1/patients/{pid}/fhir", None),
        ("GET", f"/v1/patients/{pid}/export", None),
        ("PATCH", f"/v1/patients/{pid}", {"sex": "male"}),
        ("DELETE", f"/v1/patients/{pid}", None),
    ]:
        r = await client.request(method, path, json=body, headers=tenant_b.headers)
        assert_problem(r, 404)
    assert (await client.get(f"/v1/patients/{pid}", headers=tenant_a.headers)).json()["sex"] == "female"


async def test_list_shows_only_the_tenants_own_patients(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    mine = await _create(client, tenant_a)
    await _create(client, tenant_b)
    r = await client.get("/v1/patients", headers=tenant_a.headers)
    assert r.status_code == 200
    assert [p["id"] for p in r.json()["items"]] == [mine["id"]]


async def test_list_paginates(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    ids = [(await _create(client, tenant_a))["id"] for _ in range(3)]
    first = (await client.get("/v1/patients?limit=2", headers=tenant_a.headers)).json()
    second = (
        await client.get(f"/v1/patients?limit=2&cursor={first['next_cursor']}", headers=tenant_a.headers)
    ).json()
    assert [p["id"] for p in first["items"] + second["items"]] == ids
    assert second["next_cursor"] is None


async def test_external_ref_finds_the_patient(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    created = await _create(client, tenant_a)
    await _create(client, tenant_a)
    r = await client.get(
        "/v1/patients", params={"external_ref": created["external_ref"]}, headers=tenant_a.headers
    )
    assert [p["id"] for p in r.json()["items"]] == [created["id"]]


async def test_external_ref_of_another_tenant_finds_nothing(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    created = await _create(client, tenant_a)
    await _create(client, tenant_b)
    r = await client.get(
        "/v1/patients", params={"external_ref": created["external_ref"]}, headers=tenant_b.headers
    )
    assert r.json()["items"] == []


async def test_duplicate_external_ref_is_a_conflict(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    created = await _create(client, tenant_a)
    r = await client.post(
        "/v1/patients", json=_profile(external_ref=created["external_ref"]), headers=tenant_a.headers
    )
    assert_problem(r, 409)
    assert created["external_ref"] not in r.text  # the problem names the field, not the value


async def test_same_external_ref_in_two_tenants_is_allowed(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    created = await _create(client, tenant_a)
    await _create(client, tenant_b, external_ref=created["external_ref"])


async def test_patch_changes_only_the_given_fields(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    created = await _create(client, tenant_a)
    r = await client.patch(
        f"/v1/patients/{created['id']}",
        json={"egfr": 25, "medications": ["ibuprofen"]},
        headers=tenant_a.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["egfr"] == 25
    assert r.json()["medications"] == ["ibuprofen"]
    assert r.json()["allergies"] == ["penicillin"]


async def test_patch_null_clears_a_scalar(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    created = await _create(client, tenant_a)
    r = await client.patch(f"/v1/patients/{created['id']}", json={"egfr": None}, headers=tenant_a.headers)
    assert r.json()["egfr"] is None


async def test_unknown_field_is_refused_naming_it(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.post("/v1/patients", json=_profile(ssn="123-45-6789"), headers=tenant_a.headers)
    problem = assert_problem(r, 400)
    assert "ssn" in problem["detail"]
    assert "123-45-6789" not in r.text


async def test_oversized_lists_are_refused(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.post("/v1/patients", json=_profile(medications=["x"] * 101), headers=tenant_a.headers)
    problem = assert_problem(r, 400)
    assert "medications" in problem["detail"]


async def test_control_characters_and_bad_values_are_refused(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    for body in (
        _profile(external_ref="a\x00b"),
        _profile(sex="robot"),
        _profile(egfr=-1),
        _profile(birth_date="not-a-date"),
        _profile(locale="en_GB'; DROP TABLE patients;--"),
        _profile(conditions=[{"system": "x", "code": "1", "evil": True}]),
    ):
        r = await client.post("/v1/patients", json=body, headers=tenant_a.headers)
        assert r.status_code in (400, 422), r.text


async def test_malformed_id_is_a_client_error(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.get("/v1/patients/not-a-uuid", headers=tenant_a.headers)
    assert 400 <= r.status_code < 500


async def test_database_never_holds_phi_in_clear_text(
    client: httpx.AsyncClient, tenant_a: TenantHandle, owner_engine: AsyncEngine
) -> None:
    canary = "canary" + secrets.token_hex(6)
    created = await _create(
        client,
        tenant_a,
        external_ref=f"ref-{canary}",
        conditions=[f"cond-{canary}"],
        medications=[f"med-{canary}"],
        allergies=[f"allergy-{canary}"],
        birth_date="1951-07-19",
    )
    async with owner_engine.begin() as conn:
        await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(tenant_a.id)})
        rows = (
            await conn.execute(
                text("SELECT row_to_json(p)::text FROM patients p WHERE id = :id"), {"id": created["id"]}
            )
        ).all()
        keys = (
            await conn.execute(
                text("SELECT wrapped_key, kid FROM patient_data_keys WHERE tenant_id = :t"),
                {"t": str(tenant_a.id)},
            )
        ).all()
        raw = (
            await conn.execute(
                text("SELECT profile, external_ref_hash FROM patients WHERE id = :id"), {"id": created["id"]}
            )
        ).one()
    assert len(rows) == 1
    dumped = rows[0][0]
    for value in (canary, "1951-07-19", "1951", "female", "en-GB"):
        assert value not in dumped
    profile, ref_hash = bytes(raw[0]), bytes(raw[1])
    assert canary.encode() not in profile and b"female" not in profile
    assert len(ref_hash) == 32 and canary.encode() not in ref_hash
    assert len(keys) == 1 and len(bytes(keys[0][0])) == 12 + 32 + 16  # nonce + wrapped key + tag


async def test_phi_reads_are_audited_with_ids_only(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    canary = "canary" + secrets.token_hex(6)
    created = await _create(client, tenant_a, medications=[f"med-{canary}"])
    await client.get(f"/v1/patients/{created['id']}", headers=tenant_a.headers)
    await client.get(f"/v1/patients/{created['id']}/fhir", headers=tenant_a.headers)
    r = await client.get("/v1/audit?limit=200", headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    events = r.json()["items"]
    reads = [e for e in events if e["action"] == "patients.read" and e["resource_id"] == created["id"]]
    assert len(reads) == 2
    assert canary not in r.text


async def test_a_key_without_patient_scope_is_refused(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    created = await _create(client, tenant_a)
    r = await client.post(
        "/v1/keys", json={"name": "audit only", "scopes": ["audit:read"]}, headers=tenant_a.headers
    )
    key = r.json()["key"]
    r = await client.get(f"/v1/patients/{created['id']}", headers={"authorization": f"Bearer {key}"})
    assert_problem(r, 403)


async def test_read_scope_reads_but_cannot_write(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    created = await _create(client, tenant_a)
    r = await client.post(
        "/v1/keys", json={"name": "reader", "scopes": ["patients:read"]}, headers=tenant_a.headers
    )
    headers = {"authorization": f"Bearer {r.json()['key']}"}
    assert (await client.get(f"/v1/patients/{created['id']}", headers=headers)).status_code == 200
    assert_problem(await client.post("/v1/patients", json=_profile(), headers=headers), 403)


async def test_erasure_removes_the_profile_and_keeps_pseudonymous_audit(
    client: httpx.AsyncClient, tenant_a: TenantHandle, owner_engine: AsyncEngine
) -> None:
    created = await _create(client, tenant_a)
    r = await client.delete(f"/v1/patients/{created['id']}", headers=tenant_a.headers)
    assert r.status_code == 204, r.text
    assert_problem(await client.get(f"/v1/patients/{created['id']}", headers=tenant_a.headers), 404)
    async with owner_engine.begin() as conn:
        await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(tenant_a.id)})
        before = (await conn.execute(text("SELECT count(*) FROM patients"))).scalar()
        left = (
            await conn.execute(text("SELECT count(*) FROM patients WHERE id = :id"), {"id": created["id"]})
        ).scalar()
    assert left == 0 and before is not None
    events = (await client.get("/v1/audit?limit=200", headers=tenant_a.headers)).json()["items"]
    erased = [e for e in events if e["action"] == "patients.delete"]
    assert erased and erased[0]["resource_id"] == created["id"]
    assert created["external_ref"] not in str(events)


async def test_erasure_removes_the_patients_triage_interviews(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    created = await _create(client, tenant_a)
    r = await client.post(
        "/v1/triage/interviews",
        json={
            "text": "Headache since this morning.",
            "age": 40,
            "sex": "female",
            "patient_ref": created["id"],
        },
        headers=tenant_a.headers,
    )
    assert r.status_code == 201, r.text
    interview = r.json()["id"]
    other = await client.post(
        "/v1/triage/interviews",
        json={"text": "Sore throat.", "age": 30, "sex": "male"},
        headers=tenant_a.headers,
    )
    assert (await client.delete(f"/v1/patients/{created['id']}", headers=tenant_a.headers)).status_code == 204
    assert_problem(await client.get(f"/v1/triage/interviews/{interview}", headers=tenant_a.headers), 404)
    assert (
        await client.get(f"/v1/triage/interviews/{other.json()['id']}", headers=tenant_a.headers)
    ).status_code == 200


async def test_export_holds_the_profile_and_its_fhir(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    created = await _create(client, tenant_a)
    r = await client.get(f"/v1/patients/{created['id']}/export", headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["patient"] == created
    assert body["fhir"]["resourceType"] == "Bundle"
    assert body["audit_records"] >= 1  # at least its creation


async def test_create_for_a_fresh_tenant_makes_its_data_key(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    assert (await client.get("/v1/patients", headers=tenant.headers)).json()["items"] == []
    await _create(client, tenant)
    assert len((await client.get("/v1/patients", headers=tenant.headers)).json()["items"]) == 1
