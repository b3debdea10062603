"""FHIR R4 in and out of a patient profile, validated with `fhir.resources` (its R4B models, which read
and write R4 for these resources).

In: a Bundle of Patient, Condition, MedicationStatement / MedicationRequest, AllergyIntolerance and the
Observations this module writes (eGFR, pregnancy status). Codes from RxNorm, SNOMED CT and ICD-10 are kept
as coded entries; anything else keeps its name. A resource that does not validate is a 422 naming the entry,
the resource type and the field.

Out: a `collection` Bundle of the same resources, which this module reads back unchanged (round trip).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import ValidationError

from lumen.core.http.errors import UnprocessableEntity
from lumen.tenants.patients.schemas import SYSTEMS, CodedEntry, PatientOut, PatientProfile

__all__ = ["MAX_ENTRIES", "from_bundle", "to_bundle"]

MAX_ENTRIES = 500
KEPT_SYSTEMS = set(SYSTEMS.values()) | {"http://www.nlm.nih.gov/research/umls/rxnorm"}
LOINC = "http://loinc.org"
EGFR_LOINC = "62238-1"  # GFR/1.73 sq M predicted, creatinine-based (CKD-EPI)
PREGNANCY_LOINC = "82810-3"  # Pregnancy status
PREGNANCY_SNOMED = {
    "77386006": "pregnant",
    "60001007": "not_pregnant",
    "169750002": "breastfeeding",
    "261665006": "unknown",
}
PREGNANCY_DISPLAY = {
    "pregnant": ("77386006", "Pregnant"),
    "not_pregnant": ("60001007", "Not pregnant"),
    "breastfeeding": ("169750002", "Mother currently breast-feeding"),
    "unknown": ("261665006", "Unknown"),
}


def _models() -> dict[str, Any]:
    from fhir.resources.R4B.allergyintolerance import AllergyIntolerance
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.condition import Condition
    from fhir.resources.R4B.medicationrequest import MedicationRequest
    from fhir.resources.R4B.medicationstatement import MedicationStatement
    from fhir.resources.R4B.observation import Observation
    from fhir.resources.R4B.patient import Patient

    return {
        "Bundle": Bundle,
        "Patient": Patient,
        "Condition": Condition,
        "MedicationStatement": MedicationStatement,
        "MedicationRequest": MedicationRequest,
        "AllergyIntolerance": AllergyIntolerance,
        "Observation": Observation,
    }


def _invalid(where: str, resource_type: str, exc: ValidationError) -> UnprocessableEntity:
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid"}
    field = ".".join(str(p) for p in first.get("loc", ()) if p != "__root__") or "(resource)"
    msg = str(first.get("msg", "invalid"))[:200]
    return UnprocessableEntity(
        f"{where}: {resource_type}.{field}: {msg}",
        slug="validation-error",
        extra={"resource": resource_type, "field": field, "entry": where},
    )


def _validate(model: Any, data: dict[str, Any], where: str, resource_type: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(where, resource_type, exc) from None
    except (ValueError, TypeError) as exc:  # fhir.resources raises these for some malformed values
        raise UnprocessableEntity(
            f"{where}: {resource_type}: {str(exc)[:200]}",
            slug="validation-error",
            extra={"resource": resource_type, "entry": where},
        ) from None


def _entry_from_concept(concept: Any) -> str | CodedEntry | None:
    """A coded entry when the concept carries a code from a kept system, else its name."""
    if concept is None:
        return None
    codings = list(concept.coding or [])
    for coding in codings:
        if coding.system in KEPT_SYSTEMS and coding.code:
            display = coding.display or concept.text
            return CodedEntry(system=str(coding.system), code=str(coding.code), display=display)
    if concept.text:
        return str(concept.text)
    for coding in codings:
        if coding.display:
            return str(coding.display)
    return None


def _concept(entry: str | CodedEntry) -> dict[str, Any]:
    if isinstance(entry, str):
        return {"text": entry}
    coding: dict[str, Any] = {"system": entry.system, "code": entry.code}
    if entry.display:
        coding["display"] = entry.display
    concept: dict[str, Any] = {"coding": [coding]}
    if entry.display:
        concept["text"] = entry.display
    return concept


def from_bundle(data: Any) -> PatientProfile:
    """The profile a FHIR R4 Bundle describes (one Patient at most)."""
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise UnprocessableEntity(
            "resourceType: expected a FHIR Bundle", slug="validation-error", extra={"resource": "Bundle"}
        )
    entries = data.get("entry") or []
    if not isinstance(entries, list):
        raise UnprocessableEntity("Bundle.entry: expected a list", slug="validation-error")
    if len(entries) > MAX_ENTRIES:
        raise UnprocessableEntity(f"Bundle.entry: at most {MAX_ENTRIES} entries", slug="validation-error")
    models = _models()
    shell = {k: v for k, v in data.items() if k != "entry"}
    _validate(models["Bundle"], shell, "Bundle", "Bundle")
    profile = PatientProfile()
    patients = 0
    for index, entry in enumerate(entries):
        where = f"entry[{index}]"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            raise UnprocessableEntity(
                f"{where}.resource: expected a resource object", slug="validation-error"
            )
        kind = resource.get("resourceType")
        model = models.get(kind) if isinstance(kind, str) and kind != "Bundle" else None
        if model is None:
            raise UnprocessableEntity(
                f"{where}.resource.resourceType: {str(kind)[:60]!r} is not one of Patient, Condition, "
                "MedicationStatement, MedicationRequest, AllergyIntolerance, Observation",
                slug="validation-error",
                extra={"resource": str(kind)[:60], "field": "resourceType", "entry": where},
            )
        item = _validate(model, resource, where, str(kind))
        if kind == "Patient":
            patients += 1
            if patients > 1:
                raise UnprocessableEntity(
                    f"{where}: Patient: a bundle describes one patient", slug="validation-error"
                )
            _read_patient(item, profile, where)
        elif kind == "Condition":
            _append(profile.conditions, _entry_from_concept(item.code), where, kind, "code")
        elif kind in ("MedicationStatement", "MedicationRequest"):
            concept = getattr(item, "medicationCodeableConcept", None)
            if concept is None:
                raise UnprocessableEntity(
                    f"{where}: {kind}.medicationCodeableConcept: required (references to Medication "
                    "resources are not supported)",
                    slug="validation-error",
                    extra={"resource": kind, "field": "medicationCodeableConcept", "entry": where},
                )
            _append(
                profile.medications, _entry_from_concept(concept), where, kind, "medicationCodeableConcept"
            )
        elif kind == "AllergyIntolerance":
            _append(profile.allergies, _entry_from_concept(item.code), where, kind, "code")
        else:
            _read_observation(item, profile)
    return _checked(profile)


def _append(target: list[Any], value: Any, where: str, kind: str, field: str) -> None:
    if value is None:
        raise UnprocessableEntity(
            f"{where}: {kind}.{field}: needs a coding or a text",
            slug="validation-error",
            extra={"resource": kind, "field": field, "entry": where},
        )
    target.append(value)


def _read_patient(item: Any, profile: PatientProfile, where: str) -> None:
    if item.identifier:
        value = item.identifier[0].value
        profile.external_ref = str(value) if value else None
    if item.birthDate is not None:
        profile.birth_date = (
            item.birthDate if isinstance(item.birthDate, date) else date.fromisoformat(str(item.birthDate))
        )
    if item.gender:
        profile.sex = str(item.gender)  # type: ignore[assignment]
    for comm in item.communication or []:
        for coding in comm.language.coding or []:
            if coding.code:
                profile.locale = str(coding.code)
                return


def _read_observation(item: Any, profile: PatientProfile) -> None:
    codes = {c.code for c in (item.code.coding or []) if c.system == LOINC}
    if EGFR_LOINC in codes and item.valueQuantity is not None and item.valueQuantity.value is not None:
        profile.egfr = float(item.valueQuantity.value)
    elif PREGNANCY_LOINC in codes and item.valueCodeableConcept is not None:
        for coding in item.valueCodeableConcept.coding or []:
            if coding.code in PREGNANCY_SNOMED:
                profile.pregnancy_status = PREGNANCY_SNOMED[coding.code]  # type: ignore[assignment]


def _checked(profile: PatientProfile) -> PatientProfile:
    """Apply the profile's own limits (lengths, counts, locale pattern) to what the bundle carried."""
    import msgspec

    try:
        return msgspec.convert(msgspec.to_builtins(profile), PatientProfile)
    except msgspec.ValidationError as exc:
        raise UnprocessableEntity(f"profile: {exc}", slug="validation-error") from None


def to_bundle(patient: PatientOut) -> dict[str, Any]:
    """A FHIR R4 `collection` Bundle of everything in the profile, validated before it leaves."""
    pid = str(patient.id)
    subject = {"reference": f"Patient/{pid}"}
    resource: dict[str, Any] = {"resourceType": "Patient", "id": pid}
    if patient.external_ref:
        resource["identifier"] = [{"system": "urn:lumen:external-ref", "value": patient.external_ref}]
    if patient.birth_date:
        resource["birthDate"] = patient.birth_date.isoformat()
    if patient.sex:
        resource["gender"] = patient.sex
    if patient.locale:
        resource["communication"] = [
            {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": patient.locale}]}}
        ]
    resources: list[dict[str, Any]] = [resource]
    for n, entry in enumerate(patient.conditions):
        resources.append(
            {"resourceType": "Condition", "id": f"{pid}-c{n}", "subject": subject, "code": _concept(entry)}
        )
    for n, entry in enumerate(patient.medications):
        resources.append(
            {
                "resourceType": "MedicationStatement",
                "id": f"{pid}-m{n}",
                "status": "active",
                "subject": subject,
                "medicationCodeableConcept": _concept(entry),
            }
        )
    for n, entry in enumerate(patient.allergies):
        resources.append(
            {
                "resourceType": "AllergyIntolerance",
                "id": f"{pid}-a{n}",
                "patient": subject,
                "code": _concept(entry),
            }
        )
    if patient.egfr is not None:
        resources.append(
            {
                "resourceType": "Observation",
                "id": f"{pid}-egfr",
                "status": "final",
                "subject": subject,
                "code": {"coding": [{"system": LOINC, "code": EGFR_LOINC, "display": "eGFR (CKD-EPI)"}]},
                "valueQuantity": {
                    "value": patient.egfr,
                    "unit": "mL/min/{1.73_m2}",
                    "system": "http://unitsofmeasure.org",
                    "code": "mL/min/{1.73_m2}",
                },
            }
        )
    if patient.pregnancy_status is not None:
        code, display = PREGNANCY_DISPLAY[patient.pregnancy_status]
        resources.append(
            {
                "resourceType": "Observation",
                "id": f"{pid}-pregnancy",
                "status": "final",
                "subject": subject,
                "code": {
                    "coding": [{"system": LOINC, "code": PREGNANCY_LOINC, "display": "Pregnancy status"}]
                },
                "valueCodeableConcept": {
                    "coding": [{"system": SYSTEMS["snomed"], "code": code, "display": display}]
                },
            }
        )
    entries: list[dict[str, Any]] = []
    for r in resources:
        item: dict[str, Any] = {"resource": r}
        if r["resourceType"] == "Patient":
            item["fullUrl"] = f"urn:uuid:{r['id']}"
        entries.append(item)
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    model = _models()["Bundle"].model_validate(bundle)
    out: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    return out
