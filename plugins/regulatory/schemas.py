"""The regulatory plugin's shapes: its knowledge files (validated strictly at start-up, so a broken entry
stops Lumen naming it), its per-tenant settings, the request bodies (bounded, unknown fields refused) and
what its routes answer, safety envelope included (ARCHITECTURE §6.2)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec

from lumen.plugins.sdk import SafetyEnvelope

__all__ = [
    "ELEMENT_ID_PATTERN",
    "REQUIREMENT_ID_PATTERN",
    "AskRequest",
    "AskResult",
    "CitedPassage",
    "DocumentType",
    "ElementKnowledge",
    "ElementResult",
    "Evidence",
    "GapAnalysisAccepted",
    "GapAnalysisPage",
    "GapAnalysisRecord",
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
    """Exactly one of `document` (the procedure's text) and `document_id` (one of the tenant's uploaded
    documents, POST /v1/documents; `version` pins one, else the newest)."""

    # Plain text or Markdown. Its size is checked in the controller (413 beyond the limit) rather than here,
    # so that an oversized SOP gets "too large", not "invalid".
    document: Annotated[str, msgspec.Meta(min_length=1)] | None = None
    document_id: uuid.UUID | None = None
    version: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] | None = None
    document_type: DocumentType
    jurisdictions: Jurisdictions = msgspec.field(default_factory=list)
    # null (auto): a background job for a `document_id` or a text over the synchronous limit, else answered
    # at once. true: always a job (202). false: answered at once (413 over the synchronous limit).
    background: bool | None = None


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


class CitedPassage(msgspec.Struct, frozen=True, kw_only=True):
    """What one citation of an answer points at, and whose it is: a requirement of the platform's curated
    catalog (`platform_requirement`: its id and section) or a passage of one of the tenant's own uploaded
    documents (`tenant_document`: the document, version and the exact character span). `source_id` is the
    citation's; `label` is how the answer text refers to it ("[us-21cfr-211.180-a]", "[T1]")."""

    source_id: str
    kind: Literal["platform_requirement", "tenant_document"]
    label: str
    title: str
    text: str  # the exact passage
    requirement_id: str | None = None
    section_id: str | None = None
    jurisdiction: str | None = None
    document_id: uuid.UUID | None = None
    version: int | None = None
    heading: str | None = None
    start: int | None = None  # character offsets into that document version's text
    end: int | None = None


class AskResult(SafetyEnvelope, kw_only=True):
    answer: str
    # "model": the pool phrased it and every citation it made was checked; "extract": the cited passages.
    answer_source: Literal["model", "extract", "none"]
    retrieval: Literal["catalog", "catalog+retrieval"]
    jurisdictions: list[str]
    comparison: list[JurisdictionComparison]
    # One per citation, in the same order: platform requirement or tenant document, with the exact passage.
    passages: list[CitedPassage] = msgspec.field(default_factory=list)
    # Whether the tenant's own uploaded documents were searched (false when retrieval is unavailable).
    tenant_documents_searched: bool = False


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


class GapAnalysisAccepted(msgspec.Struct, frozen=True, kw_only=True):
    """202: the analysis runs as a job. Follow `job_id` at GET /v1/jobs/{id} (progress) and read the result at
    GET /v1/regulatory/gap-analyses/{id} (`links`)."""

    id: uuid.UUID
    state: str
    job_id: uuid.UUID
    document_type: str
    jurisdictions: list[str]
    source: Literal["document", "text"]
    document_id: uuid.UUID | None
    document_version: int | None
    document_chars: int
    links: dict[str, str]


class GapAnalysisRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A background gap analysis: its state and, once `succeeded`, the full result."""

    id: uuid.UUID
    state: Literal["queued", "running", "succeeded", "failed"]
    job_id: uuid.UUID | None
    document_type: str
    jurisdictions: list[str]
    source: Literal["document", "text"]
    document_id: uuid.UUID | None
    document_version: int | None
    document_title: str | None
    document_chars: int
    found: int | None
    missing: int | None
    score: float | None
    error: str | None
    created_at: datetime
    completed_at: datetime | None
    result: GapAnalysisResult | None = None


class GapAnalysisPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[GapAnalysisRecord]  # without `result` (read one analysis for it)
    next_cursor: str | None
