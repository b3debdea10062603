"""The triage plugin's shapes: its knowledge file (validated strictly at start-up, so a broken entry stops the
process naming it), its per-tenant settings, and what its routes accept and answer (inside the safety
envelope, ARCHITECTURE §6.2)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Literal

import msgspec

from lumen.plugins.sdk import SafetyEnvelope

__all__ = [
    "LEVEL3",
    "LEVELS",
    "Answer",
    "AnswerIn",
    "AssessRequest",
    "Assessment",
    "Cause",
    "Complaint",
    "Finding",
    "FindingOut",
    "InterviewIn",
    "InterviewOut",
    "Level",
    "Level3",
    "Modifier",
    "PatientOut",
    "Question",
    "Reason",
    "Reasons",
    "RedFlag",
    "RedFlagOut",
    "Source",
    "SpanOut",
    "TriageKnowledge",
    "TriageSettings",
    "VitalsOut",
]

Level = Literal["emergency_ambulance", "emergency", "consultation_24", "consultation", "self_care"]
Level3 = Literal["emergent", "non_emergent", "self_care"]
# Most urgent first: a lower index is a higher level.
LEVELS: tuple[Level, ...] = (
    "emergency_ambulance",
    "emergency",
    "consultation_24",
    "consultation",
    "self_care",
)
LEVEL3: dict[str, Level3] = {
    "emergency_ambulance": "emergent",
    "emergency": "emergent",
    "consultation_24": "non_emergent",
    "consultation": "non_emergent",
    "self_care": "self_care",
}

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=60, pattern=r"^[a-z0-9_]+$")]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
SourceId = Annotated[str, msgspec.Meta(min_length=3, max_length=80, pattern=r"^[a-z0-9-]+:[a-z0-9:._/-]+$")]
HttpsUrl = Annotated[str, msgspec.Meta(max_length=300, pattern=r"^https://[^\s/]+\.[a-z]{2,}/\S*$")]
Sex = Literal["female", "male"]


# --- per-tenant settings ------------------------------------------------------------------------------------


class TriageSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """PUT /v1/plugins/triage {"settings": {...}}."""

    # Named in every emergency instruction: 911 (US, Canada), 999 (UK), 112 (EU), 000 (Australia)...
    emergency_number: Annotated[str, msgspec.Meta(min_length=2, max_length=8, pattern=r"^[0-9]+$")] = "911"
    # The tenant's own sentence, appended to Lumen's disclaimer (never instead of it).
    disclaimer: Annotated[str, msgspec.Meta(max_length=500)] | None = None


# --- the knowledge file -------------------------------------------------------------------------------------


class Source(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: SourceId
    publisher: Label
    title: Label
    url: HttpsUrl


class Finding(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A thing a person can report, with the ways people say it (regular expressions, lower case)."""

    id: Id
    label: Label
    patterns: Annotated[
        list[Annotated[str, msgspec.Meta(min_length=1, max_length=400)]], msgspec.Meta(min_length=1)
    ]
    question: Label | None = None  # how an interview asks about it
    reviewed: date


class VitalCondition(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Literal[
        "temp_c", "hr", "rr", "spo2", "sbp", "dbp", "glucose_mmol", "bp_high", "bp_preg", "bp_preg_severe"
    ]
    op: Literal["<", "<=", ">", ">="]
    value: float


class RedFlag(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """When every finding in `all`, at least one in `any` (if given), none in `none`, and the patient and
    vital-sign conditions hold, the level is at least `level`."""

    id: Id
    family: Id
    label: Label
    level: Level
    all: list[Id] = msgspec.field(default_factory=list)
    any: list[Id] = msgspec.field(default_factory=list)
    none: list[Id] = msgspec.field(default_factory=list)
    age_min: float | None = None  # years, inclusive
    age_max: float | None = None  # years, exclusive
    pregnant: bool | None = None
    sex: Sex | None = None
    vitals: list[VitalCondition] = msgspec.field(default_factory=list)
    source: SourceId
    reviewed: date


class Discriminator(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    finding: Id
    level: Level


class DurationRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    min_days: float
    level: Level


class CauseEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    label: Label
    supported_by: list[Id] = msgspec.field(default_factory=list)


class Complaint(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A chief complaint: recognised by any of `findings`, with its usual level when nothing else is
    found, the red flags to ask about, discriminators that raise it, lasting symptoms that need a review,
    reassuring findings that may lower it by one step (never below self-care, never past a red flag)."""

    id: Id
    label: Label
    level: Level
    findings: Annotated[list[Id], msgspec.Meta(min_length=1)]
    tags: list[Id] = msgspec.field(default_factory=list)
    red_flags: list[Id] = msgspec.field(default_factory=list)
    discriminators: list[Discriminator] = msgspec.field(default_factory=list)
    duration_rules: list[DurationRule] = msgspec.field(default_factory=list)
    lower_if: list[Discriminator] = msgspec.field(default_factory=list)
    causes: list[CauseEntry] = msgspec.field(default_factory=list)
    advice: Annotated[str, msgspec.Meta(max_length=400)] = ""
    source: SourceId
    reviewed: date


class Modifier(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A patient factor that raises complaints carrying one of `tags` (all complaints when empty) to at
    least `min_level`."""

    id: Id
    label: Label
    min_level: Level
    tags: list[Id] = msgspec.field(default_factory=list)
    findings: list[Id] = msgspec.field(default_factory=list)
    age_min: float | None = None
    age_max: float | None = None
    pregnant: bool | None = None
    source: SourceId
    reviewed: date


class TriageKnowledge(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Label
    version: Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z.+-]+$")]
    description: Annotated[str, msgspec.Meta(max_length=1000)]
    provenance: Annotated[str, msgspec.Meta(max_length=2000)]
    reviewed: date
    sources: list[Source]
    findings: list[Finding]
    red_flags: list[RedFlag]
    complaints: list[Complaint]
    modifiers: list[Modifier]


# --- requests -----------------------------------------------------------------------------------------------

ComplaintText = Annotated[str, msgspec.Meta(min_length=1, max_length=4000, pattern=r"\S")]
Age = Annotated[float, msgspec.Meta(ge=0, le=125)]
PatientRef = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")]


class AssessRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """POST /v1/triage/assess. Age (years; 0.5 for six months), sex and pregnancy are read from the text
    when not given here."""

    text: ComplaintText
    age: Age | None = None
    sex: Sex | None = None
    pregnant: bool | None = None
    # One of the tenant's patient profiles: its age, sex and pregnancy fill whatever is not given above.
    patient_id: uuid.UUID | None = None


class InterviewIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    text: ComplaintText
    age: Age | None = None
    sex: Sex | None = None
    pregnant: bool | None = None
    patient_ref: PatientRef | None = None  # the tenant's own reference for the patient, never a name


Answer = Literal["yes", "no", "unknown"]


class AnswerIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An answer to the interview's current question: yes / no / unknown, or a number for a value question
    (age in years)."""

    question_id: Annotated[str, msgspec.Meta(min_length=1, max_length=80, pattern=r"^[a-z0-9_:]+$")]
    answer: Answer | Annotated[float, msgspec.Meta(ge=0, le=125)]


# --- responses ----------------------------------------------------------------------------------------------


class SpanOut(msgspec.Struct, frozen=True, kw_only=True):
    start: int
    end: int
    text: str


class RedFlagOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    label: str
    level: Level
    family: str
    span: SpanOut | None  # the words that triggered it; None when it came from an interview answer


class FindingOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    label: str
    present: bool
    source: Literal["text", "answer", "vital"]
    span: SpanOut | None = None
    laterality: Literal["left", "right", "both"] | None = None


class Reason(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    level: Level | None = None  # the level this reason points to (for) or away from (against)


class Reasons(msgspec.Struct, frozen=True, kw_only=True, rename={"for_": "for"}):
    for_: list[Reason]
    against: list[Reason]


class Cause(msgspec.Struct, frozen=True, kw_only=True):
    rank: int
    label: str  # "possibly ...": informational, never a diagnosis
    likelihood: Literal["more likely", "possible", "less likely"]


class Question(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    text: str
    kind: Literal["red_flag", "discriminator", "patient"]
    would_raise_to: Level | None = None


class PatientOut(msgspec.Struct, frozen=True, kw_only=True):
    age: float | None
    sex: Sex | None
    pregnant: bool | None
    read_from_text: list[str]  # which of age/sex/pregnant were read from the text


class VitalsOut(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    temp_c: float | None = None
    hr: float | None = None
    rr: float | None = None
    spo2: float | None = None
    sbp: float | None = None
    dbp: float | None = None
    glucose_mmol: float | None = None


class Assessment(SafetyEnvelope, kw_only=True):
    level: Level
    level3: Level3
    red_flags: list[RedFlagOut]
    reasons: Reasons
    possible_causes: list[Cause]
    advice: str
    questions: list[Question]
    complaints: list[str]
    findings: list[FindingOut]
    patient: PatientOut
    vitals: VitalsOut
    duration_days: float | None
    emergency_number: str


class InterviewOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    status: Literal["in_progress", "done"]
    patient_ref: str | None
    findings: list[FindingOut]
    next_question: Question | None
    answered: int
    result: Assessment | None  # when done
    created_at: datetime
    updated_at: datetime
