"""FHIR R4 in and out: coded entries kept, names otherwise, a round trip, and invalid resources named."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import TenantHandle, assert_problem

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


PATIENT = {
    "resourceType": "Patient",
    "identifier": [{"system": "urn:example:mrn", "value": "MRN-77"}],
    "birthDate": "1975-02-03",
    "gender": "male",
}
CONDITION_SNOMED = {
    "resourceType": "Condition",
    "subject": {"reference": "Patient/x"},
    "code": {"coding": [{"system": SNOMED, "code": "44054006", "display": "Type 2 diabetes mellitus"}]},
}
CONDITION_ICD = {
    "resourceType": "Condition",
    "subject": {"reference": "Patient/x"},
    "code": {"coding": [{"system": ICD10, "code": "I10", "display": "Essential hypertension"}]},
}
CONDITION_TEXT = {
    "resourceType": "Condition",
    "subject": {"reference": "Patient/x"},
    "code": {"text": "Bad knees"},
}
MED_STATEMENT = {
    "resourceType": "MedicationStatement",
    "status": "active",
    "subject": {"reference": "Patient/x"},
    "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "11289", "display": "warfarin"}]},
}
MED_REQUEST = {
    "resourceType": "MedicationRequest",
    "status": "active",
    "intent": "order",
    "subject": {"reference": "Patient/x"},
    "medicationCodeableConcept": {"text": "Metformin 500 mg tablets"},
}
ALLERGY = {
    "resourceType": "AllergyIntolerance",
    "patient": {"reference": "Patient/x"},
    "code": {"coding": [{"system": SNOMED, "code": "91936005", "display": "Allergy to penicillin"}]},
}


async def _import(client: httpx.AsyncClient, tenant: TenantHandle, body: Any) -> httpx.Response:
    return await client.post("/v1/patients/import/fhir", json=body, headers=tenant.headers)


async def test_import_keeps_codes_and_names(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await _import(
        client,
        tenant_a,
        bundle(PATIENT, CONDITION_SNOMED, CONDITION_ICD, CONDITION_TEXT, MED_STATEMENT, MED_REQUEST, ALLERGY),
    )
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["external_ref"] == "MRN-77" and p["birth_date"] == "1975-02-03" and p["sex"] == "male"
    assert {"system": SNOMED, "code": "44054006", "display": "Type 2 diabetes mellitus"} in p["conditions"]
    assert {"system": ICD10, "code": "I10", "display": "Essential hypertension"} in p["conditions"]
    assert "Bad knees" in p["conditions"]
    assert {"system": RXNORM, "code": "11289", "display": "warfarin"} in p["medications"]
    assert "Metformin 500 mg tablets" in p["medications"]
    assert p["allergies"] == [{"system": SNOMED, "code": "91936005", "display": "Allergy to penicillin"}]


async def test_export_round_trips(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    body = {
        "external_ref": "rt-1",
        "birth_date": "1990-10-10",
        "sex": "female",
        "pregnancy_status": "pregnant",
        "conditions": ["asthma", {"system": SNOMED, "code": "195967001", "display": "Asthma"}],
        "medications": [{"system": RXNORM, "code": "5640", "display": "ibuprofen"}, "salbutamol inhaler"],
        "allergies": ["latex"],
        "egfr": 55.0,
        "locale": "en-GB",
    }
    created = (await client.post("/v1/patients", json=body, headers=tenant_a.headers)).json()
    fhir = await client.get(f"/v1/patients/{created['id']}/fhir", headers=tenant_a.headers)
    assert fhir.status_code == 200
    exported = fhir.json()
    assert exported["resourceType"] == "Bundle"
    kinds = sorted(e["resource"]["resourceType"] for e in exported["entry"])
    assert (
        kinds.count("Condition") == 2
        and kinds.count("MedicationStatement") == 2
        and "AllergyIntolerance" in kinds
    )
    # Imported again (into another tenant), the profile is the same.
    again = await _import(client, tenant_b, exported)
    assert again.status_code == 201, again.text
    twin = again.json()
    for field in body:
        assert twin[field] == created[field], field


async def test_invalid_resource_names_resource_and_field(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    bad = dict(PATIENT, birthDate="not a date")
    r = await _import(client, tenant_a, bundle(bad))
    problem = assert_problem(r, 422)
    assert "Patient" in problem["detail"] and "birthDate" in problem["detail"]
    assert "entry[0]" in problem["detail"]


async def test_invalid_field_type_in_a_later_entry(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    bad = dict(MED_STATEMENT, status=42, medicationCodeableConcept={"coding": "nope"})
    r = await _import(client, tenant_a, bundle(PATIENT, bad))
    problem = assert_problem(r, 422)
    assert "entry[1]" in problem["detail"] and "MedicationStatement" in problem["detail"]


async def test_unsupported_resource_type_is_refused(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await _import(client, tenant_a, bundle(PATIENT, {"resourceType": "Encounter", "status": "finished"}))
    problem = assert_problem(r, 422)
    assert "Encounter" in problem["detail"]


async def test_not_a_bundle_is_refused(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    assert_problem(await _import(client, tenant_a, PATIENT), 422)
    assert_problem(await _import(client, tenant_a, ["x"]), 422)
    r = await client.post(
        "/v1/patients/import/fhir",
        content=b"{not json",
        headers={**tenant_a.headers, "content-type": "application/json"},
    )
    assert 400 <= r.status_code < 500


async def test_two_patients_in_one_bundle_are_refused(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    assert_problem(await _import(client, tenant_a, bundle(PATIENT, PATIENT)), 422)


async def test_medication_reference_without_concept_is_named(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    med = {
        "resourceType": "MedicationStatement",
        "status": "active",
        "subject": {"reference": "Patient/x"},
        "medicationReference": {"reference": "Medication/1"},
    }
    problem = assert_problem(await _import(client, tenant_a, bundle(med)), 422)
    assert "medicationCodeableConcept" in problem["detail"]


async def test_too_many_entries_are_refused(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await _import(client, tenant_a, bundle(*([CONDITION_TEXT] * 501)))
    assert_problem(r, 422)


async def test_fhir_of_another_tenant_is_404(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    created = (await _import(client, tenant_a, bundle(PATIENT))).json()
    assert_problem(await client.get(f"/v1/patients/{created['id']}/fhir", headers=tenant_b.headers), 404)
