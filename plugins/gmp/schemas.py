"""The GMP plugin's shapes: template definitions (the knowledge file and tenants' own, validated alike), its
per-tenant settings, request bodies (strict, bounded) and responses."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec

from lumen.plugins.sdk import NOT_BLANK_TEXT, TEXT

__all__ = [
    "DocumentIn",
    "GmpSettings",
    "SignatureIn",
    "SignerIn",
    "Template",
    "TemplateKnowledge",
    "TransitionIn",
]

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200, pattern=NOT_BLANK_TEXT)]
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=500, pattern=NOT_BLANK_TEXT)]
Long = Annotated[str, msgspec.Meta(max_length=20_000, pattern=TEXT)]
Reason = Annotated[str, msgspec.Meta(min_length=3, max_length=1000, pattern=NOT_BLANK_TEXT)]
Key = Annotated[str, msgspec.Meta(min_length=3, max_length=64, pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")]
Ident = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")]
# Regulatory catalog ids: "us-21cfr-211.192", "eu-gmp-ch1-1.4", "ich-q10-3.2", "eu-gmp-annex15-10".
RequirementId = Annotated[
    str,
    msgspec.Meta(min_length=4, max_length=80, pattern=r"^(us|eu|uk|ich|who|pics)-[a-z0-9]+(-[a-z0-9.]+)+$"),
]
Option = Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9 /._-]*$")]
HttpsUrl = Annotated[str, msgspec.Meta(max_length=300, pattern=r"^https://[^\s/]+\.[a-z]{2,}/\S*$")]
UserId = Annotated[str, msgspec.Meta(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$")]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
NewPassword = Annotated[str, msgspec.Meta(min_length=12, max_length=256)]
Role = Literal["author", "reviewer", "approver", "qa"]
Meaning = Literal["authored", "reviewed", "approved"]
Classification = Literal["minor", "major", "critical"]
Status = Literal["draft", "in_review", "approved", "effective", "superseded", "retired"]

# --- templates ----------------------------------------------------------------------------------------------


class TemplateField(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: Ident
    label: Name
    type: Literal["text", "integer", "boolean", "date", "datetime", "enum"] = "text"
    required: bool = True
    max_length: Annotated[int, msgspec.Meta(ge=1, le=20_000)] = 2000
    options: Annotated[list[Option], msgspec.Meta(max_length=50)] = msgspec.field(default_factory=list)


class TemplateSection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: Ident
    title: Name
    guidance: Short
    # A narrative section is prose a person writes (or the model drafts, marked as such).
    narrative: bool = False
    required: bool = True
    fields: Annotated[list[Ident], msgspec.Meta(max_length=30)] = msgspec.field(default_factory=list)


class Numbering(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    prefix: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2,6}$")]
    digits: Annotated[int, msgspec.Meta(ge=3, le=6)] = 4
    yearly: bool = False  # DEV-2026-0001 rather than DEV-0001


class SourceRef(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    publisher: Name
    title: Name
    url: HttpsUrl


class Template(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: Key
    version: Annotated[int, msgspec.Meta(ge=1, le=10_000)] = 1
    name: Name
    kind: Ident
    description: Short
    numbering: Numbering
    requirements: Annotated[list[RequirementId], msgspec.Meta(max_length=40)]
    fields: Annotated[list[TemplateField], msgspec.Meta(min_length=1, max_length=60)]
    sections: Annotated[list[TemplateSection], msgspec.Meta(min_length=1, max_length=30)]
    source: SourceRef | None = None
    reviewed: date | None = None


class TemplateKnowledge(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    version: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    description: Short
    provenance: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    reviewed: date
    templates: list[Template]


class TemplateIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A tenant's own template; its id must not be a built-in's. Posting an id again adds a version."""

    id: Key
    name: Name
    kind: Ident
    description: Short
    numbering: Numbering
    requirements: Annotated[list[RequirementId], msgspec.Meta(max_length=40)] = msgspec.field(
        default_factory=list
    )
    fields: Annotated[list[TemplateField], msgspec.Meta(min_length=1, max_length=60)]
    sections: Annotated[list[TemplateSection], msgspec.Meta(min_length=1, max_length=30)]


class TemplateSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    version: int
    name: str
    kind: str
    description: str
    requirements: list[str]
    origin: Literal["built-in", "tenant"]


class TemplatePage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[TemplateSummary]
    knowledge_version: str


class TemplateOut(msgspec.Struct, frozen=True, kw_only=True):
    origin: Literal["built-in", "tenant"]
    template: Template


# --- settings -----------------------------------------------------------------------------------------------


class GmpSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """PUT /v1/plugins/gmp {"settings": {...}}."""

    deviation_due_days: Annotated[int, msgspec.Meta(ge=1, le=365)] = 30
    capa_effectiveness_days: Annotated[int, msgspec.Meta(ge=7, le=730)] = 90
    # §11.200(a)(1): within one continuous session, later signings need the password only.
    signing_session_minutes: Annotated[int, msgspec.Meta(ge=1, le=240)] = 15
    max_failed_signatures: Annotated[int, msgspec.Meta(ge=2, le=10)] = 3
    branding_name: (
        Annotated[str, msgspec.Meta(min_length=1, max_length=120, pattern=NOT_BLANK_TEXT)] | None
    ) = None
    document_footer: Annotated[str, msgspec.Meta(max_length=300, pattern=TEXT)] | None = None


# --- signers and signatures ---------------------------------------------------------------------------------


class SignerIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    user_id: UserId
    full_name: Name
    title: Name | None = None
    roles: Annotated[list[Role], msgspec.Meta(min_length=1, max_length=4)]
    password: NewPassword


class SignerPatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    roles: Annotated[list[Role], msgspec.Meta(min_length=1, max_length=4)] | None = None
    active: bool | None = None
    password: NewPassword | None = None
    unlock: bool = False


class SignerOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    user_id: str
    full_name: str
    title: str | None
    roles: list[str]
    active: bool
    locked: bool
    failed_attempts: int
    created_at: datetime


class SignerPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[SignerOut]
    next_cursor: str | None


class SignatureIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """§11.200(a)(1): the first signing of a session gives both components (`user_id` and `password`) and
    receives a `signing_session`; later signings in that session give `signing_session` and `password`."""

    meaning: Meaning
    signer_id: uuid.UUID
    password: Password
    user_id: UserId | None = None
    signing_session: Annotated[str, msgspec.Meta(min_length=20, max_length=100)] | None = None


class SignatureOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    document_id: uuid.UUID
    signer_id: uuid.UUID
    printed_name: str
    meaning: str
    version: str
    content_sha256: str
    signed_at: datetime
    authentication: str
    valid: bool  # the signed content is still the document's content, and the record is intact


class SignatureCreated(msgspec.Struct, frozen=True, kw_only=True):
    signature: SignatureOut
    signing_session: str
    signing_session_expires_at: datetime


# --- documents ----------------------------------------------------------------------------------------------

FieldValues = Annotated[dict[Ident, Any], msgspec.Meta(max_length=60)]
SectionTexts = Annotated[dict[Ident, Long], msgspec.Meta(max_length=30)]


class DocumentIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    template: Key
    template_version: Annotated[int, msgspec.Meta(ge=1, le=10_000)] | None = None
    author_signer_id: uuid.UUID
    fields: FieldValues
    sections: SectionTexts = msgspec.field(default_factory=dict)
    # Ask the model to draft empty narrative sections from the fields (marked machine-drafted).
    draft_narratives: bool = False


class DocumentPatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    signer_id: uuid.UUID  # who edits
    fields: FieldValues | None = None
    sections: SectionTexts | None = None
    reason: Reason | None = None  # required once the document has been approved


class TransitionIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    to: Literal["draft", "in_review", "approved", "effective", "retired"]
    signer_id: uuid.UUID  # who performs it; their roles decide (policy)
    reason: Reason | None = None


class RevisionIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    signer_id: uuid.UUID
    change: Literal["minor", "major"]
    reason: Reason


class SectionOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    title: str
    text: str
    machine_drafted: bool


class DraftingOut(msgspec.Struct, frozen=True, kw_only=True):
    requested: bool
    performed: bool
    sections: list[str]
    detail: str | None = None


class DocumentOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    number: str
    title: str
    template: str
    template_version: int
    status: str
    version: str
    fields: dict[str, Any]
    sections: list[SectionOut]
    requirements: list[str]
    content_sha256: str
    author_signer_id: uuid.UUID
    previous_id: uuid.UUID | None
    approved_at: datetime | None
    effective_at: datetime | None
    created_at: datetime
    updated_at: datetime
    machine_drafted: bool
    signatures: list[SignatureOut]
    drafting: DraftingOut | None = None


class DocumentSummary(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    number: str
    title: str
    template: str
    status: str
    version: str
    effective_at: datetime | None
    updated_at: datetime


class DocumentPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[DocumentSummary]
    next_cursor: str | None


class HistoryEntry(msgspec.Struct, frozen=True, kw_only=True):
    seq: int
    at: datetime
    action: str
    outcome: str
    actor_key_id: uuid.UUID | None
    signer_id: str | None
    changed_fields: list[str]
    reason: str | None
    version: str | None
    details: dict[str, Any]


class HistoryOut(msgspec.Struct, frozen=True, kw_only=True):
    document_id: uuid.UUID
    number: str
    entries: list[HistoryEntry]


# --- deviations and CAPA ------------------------------------------------------------------------------------


class DeviationIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    title: Name
    classification: Classification
    occurred_at: datetime
    discovered_at: datetime  # awareness
    reported_by_signer_id: uuid.UUID
    description: Long | None = None
    due_date: date | None = None  # default: awareness + the tenant's deviation_due_days
    document_id: uuid.UUID | None = None


class ExtensionIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    requested_by_signer_id: uuid.UUID
    requested_due_date: date
    reason: Reason


class ExtensionDecisionIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    decided_by_signer_id: uuid.UUID
    approve: bool


class CloseIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    signer_id: uuid.UUID
    reason: Reason


class ExtensionOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    requested_by_signer_id: uuid.UUID
    reason: str
    previous_due_date: date
    requested_due_date: date
    status: str
    decided_by_signer_id: uuid.UUID | None
    decided_at: datetime | None


class DeviationOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    number: str
    title: str
    classification: str
    occurred_at: datetime
    discovered_at: datetime
    due_date: date
    overdue: bool
    status: str
    description: str | None
    reported_by_signer_id: uuid.UUID
    document_id: uuid.UUID | None
    closed_at: datetime | None
    extensions: list[ExtensionOut]
    created_at: datetime


class DeviationPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[DeviationOut]
    next_cursor: str | None


class CapaActionIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    kind: Literal["corrective", "preventive"]
    description: Short
    owner_signer_id: uuid.UUID
    due_date: date


class CapaIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    title: Name
    owner_signer_id: uuid.UUID
    effectiveness_criteria: Short
    actions: Annotated[list[CapaActionIn], msgspec.Meta(min_length=1, max_length=50)]
    deviation_id: uuid.UUID | None = None
    effectiveness_check_due: date | None = None  # default: today + capa_effectiveness_days


class ActionCompleteIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    completed_by_signer_id: uuid.UUID
    note: Short


class EffectivenessIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    verified_by_signer_id: uuid.UUID
    result: Literal["effective", "not_effective"]
    summary: Short


class CapaActionOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    kind: str
    description: str
    owner_signer_id: uuid.UUID
    due_date: date
    completed_at: datetime | None
    completed_by_signer_id: uuid.UUID | None
    completion_note: str | None


class CapaOut(msgspec.Struct, frozen=True, kw_only=True):
    id: uuid.UUID
    number: str
    title: str
    status: str
    deviation_id: uuid.UUID | None
    owner_signer_id: uuid.UUID
    effectiveness_criteria: str
    effectiveness_check_due: date
    effectiveness_result: str | None
    effectiveness_summary: str | None
    verified_by_signer_id: uuid.UUID | None
    verified_at: datetime | None
    actions: list[CapaActionOut]
    created_at: datetime


class CapaPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[CapaOut]
    next_cursor: str | None
