"""Edge types for patient profiles. Every PHI field lives in `PatientProfile`, the struct that is encrypted
as one blob; the response adds the row's id and times."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from lumen.core.http.types import NOT_BLANK_TEXT, TEXT

__all__ = [
    "CodedEntry",
    "Consent",
    "PatientAppLinkOut",
    "PatientCreate",
    "PatientExport",
    "PatientOut",
    "PatientPage",
    "PatientProfile",
    "PatientUpdate",
]

Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=NOT_BLANK_TEXT)]
Ref = Annotated[str, Meta(min_length=1, max_length=200, pattern=NOT_BLANK_TEXT)]
CodeText = Annotated[str, Meta(min_length=1, max_length=64, pattern=NOT_BLANK_TEXT)]
Display = Annotated[str, Meta(max_length=200, pattern=TEXT)]
Locale = Annotated[str, Meta(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35, examples=["en-GB"])]
Egfr = Annotated[float, Meta(ge=0, le=250, description="eGFR in mL/min/1.73 m2")]
Sex = Literal["female", "male", "other", "unknown"]
Pregnancy = Literal["pregnant", "not_pregnant", "breastfeeding", "unknown"]

# Coding systems kept as given (their canonical FHIR URIs); anything else is kept as a plain name.
SYSTEMS = {
    "rxnorm": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "snomed": "http://snomed.info/sct",
    "icd10": "http://hl7.org/fhir/sid/icd-10",
    "icd10cm": "http://hl7.org/fhir/sid/icd-10-cm",
}
System = Annotated[
    str, Meta(min_length=1, max_length=200, pattern=NOT_BLANK_TEXT, examples=[SYSTEMS["snomed"]])
]


class CodedEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """A coded condition, medication or allergy (RxNorm, SNOMED CT, ICD-10...)."""

    system: System
    code: CodeText
    display: Display | None = None


Entry = Name | CodedEntry
Entries = Annotated[list[Entry], Meta(max_length=100)]


class Consent(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """What the patient agreed to, when, and which version of the text they saw."""

    scope: Annotated[str, Meta(min_length=1, max_length=100, pattern=NOT_BLANK_TEXT, examples=["qa"])]
    given_at: datetime
    text_version: Annotated[str, Meta(min_length=1, max_length=50, pattern=NOT_BLANK_TEXT)]
    withdrawn_at: datetime | None = None


Consents = Annotated[list[Consent], Meta(max_length=50)]


class PatientProfile(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Every PHI field of a patient: the plaintext of the encrypted `profile` column."""

    external_ref: Ref | None = None
    birth_date: date | None = None
    sex: Sex | None = None
    pregnancy_status: Pregnancy | None = None
    conditions: Entries = msgspec.field(default_factory=list)
    medications: Entries = msgspec.field(default_factory=list)
    allergies: Entries = msgspec.field(default_factory=list)
    egfr: Egfr | None = None
    locale: Locale | None = None
    consents: Consents = msgspec.field(default_factory=list)


class PatientCreate(PatientProfile, kw_only=True, forbid_unknown_fields=True):
    """POST /v1/patients."""


class PatientUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """PATCH /v1/patients/{id}: the fields given replace the stored ones (null clears a scalar)."""

    external_ref: Ref | msgspec.UnsetType | None = msgspec.UNSET
    birth_date: date | msgspec.UnsetType | None = msgspec.UNSET
    sex: Sex | msgspec.UnsetType | None = msgspec.UNSET
    pregnancy_status: Pregnancy | msgspec.UnsetType | None = msgspec.UNSET
    conditions: Entries | msgspec.UnsetType = msgspec.UNSET
    medications: Entries | msgspec.UnsetType = msgspec.UNSET
    allergies: Entries | msgspec.UnsetType = msgspec.UNSET
    egfr: Egfr | msgspec.UnsetType | None = msgspec.UNSET
    locale: Locale | msgspec.UnsetType | None = msgspec.UNSET
    consents: Consents | msgspec.UnsetType = msgspec.UNSET


class PatientOut(PatientProfile, kw_only=True):
    id: uuid.UUID
    created_at: datetime
    updated_at: datetime


class PatientPage(msgspec.Struct, kw_only=True):
    items: list[PatientOut]
    next_cursor: str | None


class PatientExport(msgspec.Struct, kw_only=True):
    """GET /v1/patients/{id}/export: everything Lumen holds on the patient."""

    patient: PatientOut
    fhir: dict[str, Any]
    audit_records: int  # records about this patient in the audit trail (ids only, no PHI)
    exported_at: datetime
    note: str


class PatientAppLinkOut(msgspec.Struct, kw_only=True):
    """POST /v1/patients/{id}/app-links: a one-time sign-in link for the patient's app. The code is shown
    once; Lumen keeps only its hash."""

    url: Annotated[
        str, Meta(description="Give this to the patient: the app's sign-in page, the code in its fragment.")
    ]
    code: Annotated[str, Meta(description="The same code, for a tenant app that posts it itself.")]
    expires_at: datetime
    expires_in: int
    single_use: bool = True
