"""The regulatory plugin's shapes: its knowledge files (validated strictly at start-up, so a broken entry
stops Lumen naming it), its per-tenant settings, the request bodies (bounded, unknown fields refused) and
what its routes answer, safety envelope included (ARCHITECTURE §6.2)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import msgspec

from lumen.plugins.sdk import SafetyEnvelope

__all__ = [
    "ELEMENT_ID_PATTERN",
    "REQUIREMENT_ID_PATTERN",
    "AskRequest",
    "AskResult",
    "DocumentType",
    "ElementKnowledge",
    "ElementResult",
    "Evidence",
    "GapAnalysisRequest",
    "GapAnalysisResult",
    "GapElement",
    "Jurisdiction",
    "JurisdictionComparison",
    "RegulatoryKnowledge",
    "RegulatorySettings",
    "Requirement",
    "RequirementOut",
    "RequirementPage",
    "SourceRef",
]

Jurisdiction = Literal["US", "EU", "UK", "ICH"]
JURISDICTIONS: tuple[Jurisdiction, ...] = ("US", "EU", "UK", "ICH")
DocumentType = Literal[
    "deviation",
    "capa",
    "change_control",
    "cleaning_validation",
    "data_integrity",
    "complaint_handling",
    "oos",
]
DOCUMENT_TYPES: tuple[str, ...] = (
    "deviation",
    "capa",
    "change_control",
    "cleaning_validation",
    "data_integrity",
    "complaint_handling",
    "oos",
)

REQUIREMENT_ID_PATTERN = r"^(us|eu|uk|ich)-[a-z0-9][a-z0-9.()-]*[a-z0-9]$"
ELEMENT_ID_PATTERN = r"^[a-z][a-z0-9-]*[a-z0-9]$"
RequirementId = Annotated[str, msgspec.Meta(min_length=4, max_length=80, pattern=REQUIREMENT_ID_PATTERN)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=r"\S")]
HttpsUrl = Annotated[str, msgspec.Meta(max_length=300, pattern=r"^https://[^\s/]+\.[a-z]{2,}/\S*$")]
# A summary is several concrete sentences a QA person recognises, not a one-liner and not the legal text.
Summary = Annotated[str, msgspec.Meta(min_length=80, max_length=2000)]
Keyword = Annotated[str, msgspec.Meta(min_length=2, max_length=80)]


class RegulatorySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a tenant chooses (PUT /v1/plugins/regulatory {"settings": {...}})."""

    # Let the pool's model phrase answers from the cited passages; off: always the structured extract.
    model_phrasing: bool = True
    # How much of a question the best passage must cover before /ask answers (0-1); below it, abstain.
    min_coverage: Annotated[float, msgspec.Meta(ge=0.3, le=0.95)] = 0.4


# --- knowledge files ----------------------------------------------------------------------------------------


class SourceRef(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The public instrument an entry summarises (the summary is Lumen's own wording)."""

    publisher: Name
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    url: HttpsUrl


class Requirement(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: RequirementId
    jurisdiction: Jurisdiction
    instrument: Name
    document_type: Literal["regulation", "guidance", "guideline"]
    section_id: Name  # "21 CFR 211.100(a)", "EU GMP Annex 11 §4.8"
    title: Name
    summary: Summary
    keywords: Annotated[list[Keyword], msgspec.Meta(min_length=1, max_length=40)]
    effective_date: date
    source: SourceRef
    reviewed: date


class RegulatoryKnowledge(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    version: Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z.+-]+$")]
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    provenance: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    reviewed: date
    # Entries are converted one by one (service.py) so that an error names the entry, not an index.
    entries: list[dict[str, Any]]


class GapElement(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One element a procedure of some type must contain, the requirements that call for it, and the wording
    (regular expressions, case-insensitive) by which a procedure shows that it has it."""

    id: Annotated[str, msgspec.Meta(min_length=2, max_length=60, pattern=ELEMENT_ID_PATTERN)]
    name: Name
    description: Annotated[str, msgspec.Meta(min_length=20, max_length=600)]
    requirements: Annotated[list[RequirementId], msgspec.Meta(min_length=1, max_length=20)]
    patterns: Annotated[
        list[Annotated[str, msgspec.Meta(min_length=3, max_length=400)]], msgspec.Meta(min_length=1)
    ]


class ElementKnowledge(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    version: Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z.+-]+$")]
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    reviewed: date
    document_types: dict[str, list[GapElement]]


# --- requests -----------------------------------------------------------------------------------------------

Jurisdictions = Annotated[list[Jurisdiction], msgspec.Meta(max_length=4)]


class AskRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    question: Annotated[str, msgspec.Meta(min_length=3, max_length=2000, pattern=r"\S")]
    # Empty: all four. Several: the answer adds a side-by-side comparison.
    jurisdictions: Jurisdictions = msgspec.field(default_factory=list)


class GapAnalysisRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # The procedure's text (plain text or Markdown). Its size is checked in the controller (413 beyond
    # the limit) rather than here, so that an oversized SOP gets "too large", not "invalid".
    document: Annotated[str, msgspec.Meta(min_length=1)]
    document_type: DocumentType
    jurisdictions: Jurisdictions = msgspec.field(default_factory=list)


# --- responses ----------------------------------------------------------------------------------------------


class RequirementOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    jurisdiction: str
    instrument: str
    document_type: str
    section_id: str
    title: str
    summary: str
    keywords: list[str]
    effective_date: date
    source: SourceRef
    reviewed: date
    score: float | None = None  # relevance to `q` (search results only)


class RequirementPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[RequirementOut]
    total: int  # how many matched before `limit`
    knowledge_version: str


class JurisdictionComparison(msgspec.Struct, frozen=True, kw_only=True):
    jurisdiction: str
    covered: bool
    requirement_ids: list[str]
    sections: list[str]
    summary: str  # from the catalog's own text, never generated
    note: str | None = None


class AskResult(SafetyEnvelope, kw_only=True):
    answer: str
    # "model": the pool phrased it and every citation it made was checked; "extract": the cited passages.
    answer_source: Literal["model", "extract", "none"]
    retrieval: Literal["catalog", "catalog+retrieval"]
    jurisdictions: list[str]
    comparison: list[JurisdictionComparison]


class Evidence(msgspec.Struct, frozen=True, kw_only=True):
    start: int  # character offsets into the submitted document
    end: int
    text: str


class ElementResult(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    description: str
    status: Literal["found", "missing"]
    requirement_ids: list[str]
    evidence: Evidence | None = None


class GapAnalysisResult(SafetyEnvelope, kw_only=True):
    document_type: str
    jurisdictions: list[str]
    document_chars: int
    elements: list[ElementResult]
    found: int
    missing: int
    score: float  # found / required, 0-1
