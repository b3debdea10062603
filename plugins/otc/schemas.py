"""The OTC plugin's shapes: its knowledge file (validated at start-up), settings, request and response."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

import msgspec

from lumen.plugins.sdk import SafetyEnvelope

__all__ = [
    "ChildDose",
    "Contraindication",
    "Excluded",
    "OTCKnowledge",
    "OTCSettings",
    "Option",
    "PatientIn",
    "Product",
    "RecommendRequest",
    "Recommendation",
    "Source",
    "TriageIn",
    "TriageSummary",
]

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=60, pattern=r"^[a-z0-9_]+$")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=400)]
SourceId = Annotated[str, msgspec.Meta(min_length=3, max_length=80, pattern=r"^[a-z0-9-]+:[a-z0-9:._/-]+$")]
Level = Literal["emergency_ambulance", "emergency", "consultation_24", "consultation", "self_care"]


class OTCSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """PUT /v1/plugins/otc {"settings": {...}}."""

    # Named in the triage advice OTC returns for urgent problems (set it to the same as triage's).
    emergency_number: Annotated[str, msgspec.Meta(min_length=2, max_length=8, pattern=r"^[0-9]+$")] = "911"

    # The tenant's own sentence, appended to Lumen's disclaimer (never instead of it).
    disclaimer: Annotated[str, msgspec.Meta(max_length=500)] | None = None


# --- knowledge ----------------------------------------------------------------------------------------------


class Source(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: SourceId
    publisher: Text
    title: Text
    url: Annotated[str, msgspec.Meta(max_length=300, pattern=r"^https://[^\s/]+\.[a-z]{2,}/\S*$")]


class ChildDose(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    age_min: float
    age_max: float  # exclusive
    dose: Text


class Contraindication(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    condition: Text
    terms: Annotated[
        list[Annotated[str, msgspec.Meta(min_length=2, max_length=40)]], msgspec.Meta(min_length=1)
    ]
    reason: Text


class Product(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One OTC option. `indications` are triage complaint ids; `findings_any` narrows it to some findings of
    those complaints, `findings_none` rules it out when a finding is present (e.g. loperamide with blood in
    the stool)."""

    id: Id
    name: Text
    ingredient: Text  # the name sent to the interactions check
    form: Text
    indications: Annotated[list[Id], msgspec.Meta(min_length=1)]
    findings_any: list[Id] = msgspec.field(default_factory=list)
    findings_none: list[Id] = msgspec.field(default_factory=list)
    adult_dose: Text
    max_daily: Text
    min_age: float
    max_age: float | None = None
    max_days: int | None = None
    pregnancy: Literal["usable", "ask", "avoid"]
    child_doses: list[ChildDose] = msgspec.field(default_factory=list)
    contraindications: list[Contraindication] = msgspec.field(default_factory=list)
    allergy_groups: list[Annotated[str, msgspec.Meta(min_length=2, max_length=40)]] = msgspec.field(
        default_factory=list
    )
    cautions: list[Text] = msgspec.field(default_factory=list)
    source: SourceId
    reviewed: date


class OTCKnowledge(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Text
    version: Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z.+-]+$")]
    description: Annotated[str, msgspec.Meta(max_length=1000)]
    provenance: Annotated[str, msgspec.Meta(max_length=2000)]
    reviewed: date
    sources: list[Source]
    products: list[Product]
    when_to_see: dict[str, Text]


# --- requests -----------------------------------------------------------------------------------------------

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"\S")]


class PatientIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    age: Annotated[float, msgspec.Meta(ge=0, le=125)] | None = None
    sex: Literal["female", "male"] | None = None
    pregnant: bool | None = None
    breastfeeding: bool | None = None
    conditions: Annotated[list[Name], msgspec.Meta(max_length=30)] = msgspec.field(default_factory=list)
    allergies: Annotated[list[Name], msgspec.Meta(max_length=30)] = msgspec.field(default_factory=list)
    medications: Annotated[list[Name], msgspec.Meta(max_length=40)] = msgspec.field(default_factory=list)


class TriageIn(msgspec.Struct, frozen=True, kw_only=True):
    """A result of POST /v1/triage/assess, passed back as it came (its other fields are ignored, so unknown
    fields are allowed here on purpose). Only a self-care level leads to OTC options."""

    level: Level
    complaints: Annotated[list[Id], msgspec.Meta(max_length=50)] = msgspec.field(default_factory=list)
    findings: Annotated[list[dict[str, Any]], msgspec.Meta(max_length=300)] = msgspec.field(
        default_factory=list
    )
    advice: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    red_flags: Annotated[list[dict[str, Any]], msgspec.Meta(max_length=200)] = msgspec.field(
        default_factory=list
    )


class RecommendRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """POST /v1/otc/recommend: `symptoms` (text, triaged here) or `triage` (a triage result), not both."""

    symptoms: Annotated[str, msgspec.Meta(min_length=1, max_length=4000, pattern=r"\S")] | None = None
    triage: TriageIn | None = None
    patient: PatientIn | None = None
    # One of the tenant's patient profiles instead of `patient` (age, sex, pregnancy, breastfeeding,
    # conditions, allergies, current medications).
    patient_id: uuid.UUID | None = None


# --- response -----------------------------------------------------------------------------------------------


class Option(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    ingredient: str
    form: str
    for_complaints: list[str]
    dose: str
    dose_for: Literal["adult", "child", "adult (age not given)"]
    max_daily: str
    max_days: int | None
    cautions: list[str]
    interaction_notes: list[str]  # moderate or minor interactions the patient should know about
    source_id: str


class Excluded(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    kind: Literal["age", "pregnancy", "condition", "allergy", "interaction", "symptom", "unchecked"]
    reason: str


class TriageSummary(msgspec.Struct, frozen=True, kw_only=True):
    level: Level
    level3: Literal["emergent", "non_emergent", "self_care"]
    complaints: list[str]
    red_flags: list[str]


class Recommendation(SafetyEnvelope, kw_only=True):
    status: Literal["options", "refer", "no_options"]
    triage: TriageSummary
    advice: str
    options: list[Option]
    excluded: list[Excluded]
    see_pharmacist_or_doctor: list[str]
    interactions_checked: bool
    unrecognized_medications: list[str]
