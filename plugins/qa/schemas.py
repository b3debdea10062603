"""Edge types and knowledge types of the Q&A plugin."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from lumen.plugins.sdk import NOT_BLANK_TEXT, TEXT, SafetyEnvelope

__all__ = [
    "Answer",
    "AskRequest",
    "DosingEntry",
    "DosingKnowledge",
    "EducationKnowledge",
    "QaSettings",
    "Source",
    "Topic",
]

MAX_QUESTION = 2000

Question = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=MAX_QUESTION,
        pattern=NOT_BLANK_TEXT,
        examples=["What is the maximum daily dose of paracetamol for a healthy adult?"],
    ),
]
Locale = Annotated[str, Meta(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$", max_length=35, examples=["en-GB"])]
Phone = Annotated[str, Meta(pattern=r"^[0-9+ ]{2,16}$", examples=["911", "999", "112"])]
Sentence = Annotated[str, Meta(max_length=500, pattern=TEXT)]


class AskRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """POST /v1/qa/ask: a question, optionally about one of the tenant's patients."""

    question: Question
    patient_id: uuid.UUID | None = None
    locale: Locale | None = None
    stream: bool = False


class QaSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Per-tenant settings (PUT /v1/plugins/qa)."""

    emergency_number: Phone = "911"
    disclaimer: Sentence | None = None
    # Below this retrieval confidence (0-1) the answer abstains instead of guessing.
    min_confidence: Annotated[float, Meta(ge=0.05, le=0.95)] = 0.4
    # Let the model phrase the answer from the cited passages (checked afterwards); off: extractive only.
    use_model: bool = True
    max_tokens: Annotated[int, Meta(ge=16, le=512)] = 160


class Source(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    publisher: Annotated[str, Meta(min_length=1, max_length=200)]
    title: Annotated[str, Meta(min_length=1, max_length=300)]
    url: Annotated[str, Meta(pattern=r"^https://", max_length=500)]


class Topic(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9-]{1,60}$")]
    title: Annotated[str, Meta(min_length=3, max_length=200)]
    text: Annotated[str, Meta(min_length=80, max_length=3000)]
    sources: Annotated[list[Source], Meta(min_length=1)]
    reviewed: date


class EducationKnowledge(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    version: str
    description: str
    provenance: str
    reviewed: date
    topics: Annotated[list[Topic], Meta(min_length=100)]


class DosingEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An adult label dose: the only source of any number a dosing answer states."""

    id: Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_-]{1,60}$")]
    names: Annotated[list[str], Meta(min_length=1)]
    adult_dose: str
    max_daily: str
    max_daily_mg: Annotated[float, Meta(gt=0)]
    cautions: list[str]
    sources: Annotated[list[Source], Meta(min_length=1)]
    reviewed: date


class DosingKnowledge(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    version: str
    description: str
    provenance: str
    reviewed: date
    entries: Annotated[list[DosingEntry], Meta(min_length=1)]


Kind = Literal["emergency", "dosing", "education", "abstained"]


class Answer(SafetyEnvelope, kw_only=True):
    """The answer, with the safety envelope. `kind` says which path answered; `guards` names every guard
    that changed the answer (emergency_first, dosing_from_label, no_diagnosis, injection_ignored,
    model_output_rejected, low_confidence, child_dosing...)."""

    answer: str
    kind: Kind
    emergency: bool = False
    emergency_number: str | None = None
    triage_level: str | None = None
    guards: list[str] = msgspec.field(default_factory=list)
    interactions: list[dict[str, Any]] = msgspec.field(default_factory=list)
    generated: bool = False  # the model phrased the answer (and it passed the checks)
    model: str | None = None
    locale: str | None = None
