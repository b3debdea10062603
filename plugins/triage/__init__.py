"""The triage plugin: symptom assessment to one of five levels (emergency_ambulance, emergency,
consultation_24, consultation, self_care; also emergent / non_emergent / self_care), with the red flags found
and the words that triggered them, reasons for and against, possible causes, advice naming the tenant's
emergency number, and the questions that would most change the result. One-shot (POST /v1/triage/assess) or
as a resumable interview (POST /v1/triage/interviews, .../{interview_id}/answers, GET .../{interview_id}).

Curated knowledge decides every level (ARCHITECTURE §6.1): knowledge/triage.json holds the lexicon of
findings, red flags, complaints and modifiers, each with its source and review date. Text is read by a
rule-based medspaCy pipeline (TargetMatcher + ConText negation); no model is used.

Settings (PUT /v1/plugins/triage {"settings": {...}}): `emergency_number` (default "911"; e.g. "999", "112")
and `disclaimer` (the tenant's sentence, appended to Lumen's).

Service for other plugins (register_services), the contract:

    assess = ctx.service("triage.assess")
    result = assess(ctx, text, age=None, sex=None, pregnant=None, *, emergency_number=None) -> dict

`text` is the symptom description (1-4000 characters), `age` in years (0-125, 0.5 for six months), `sex`
"female" | "male", `pregnant` a bool; whatever is None is read from the text where it says so. The result is
the POST /v1/triage/assess response as plain builtins: `level`, `level3`, `red_flags` [{id, label, level,
family, span: {start, end, text} | None}], `reasons` {"for": [...], "against": [...]}, `possible_causes`,
`advice`, `questions`, `complaints`, `findings`, `patient`, `vitals`, `duration_days`, `emergency_number`,
and the safety envelope (`disclaimer`, `citations`, `confidence`, `knowledge_version`, `abstained`,
`abstain_reason`). The emergency number named in the advice is `emergency_number`, else the caller's own
setting of that name (`ctx.settings.emergency_number`), else "911": a service runs with the caller's
context, which does not carry triage's settings. Invalid arguments raise a 422 problem naming the field.
It is synchronous, pure and fast (no I/O); the caller audits its own use.

This module holds the hook implementations only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lumen.plugins.sdk import (
    ActionSpec,
    KnowledgeSource,
    PatientErasedContext,
    PluginInfo,
    StartupContext,
    hookimpl,
)
from lumen.plugins.triage.schemas import TriageSettings

NAME = "triage"
SCOPE_ASSESS = "triage:assess"
SCOPE_READ = "triage:read"


@hookimpl
def lumen_plugin_info() -> PluginInfo:
    return PluginInfo(
        name=NAME,
        version="1.0.0",
        description="Symptom assessment and triage to five levels, with red flags, reasons and advice.",
        default_enabled=True,
    )


@hookimpl
def register_actions() -> Mapping[str, ActionSpec]:
    return {
        "triage.assess": ActionSpec(
            description="Assess a symptom description (one-shot triage).", scopes=(SCOPE_ASSESS,), phi=True
        ),
        "triage.interview": ActionSpec(
            description="Start a triage interview or answer its questions.", scopes=(SCOPE_ASSESS,), phi=True
        ),
        "triage.read": ActionSpec(
            description="Read a triage interview and its result.",
            scopes=(SCOPE_ASSESS, SCOPE_READ),
            access="read",
            phi=True,
        ),
    }


@hookimpl
def register_scopes() -> Mapping[str, str]:
    return {
        SCOPE_ASSESS: "Assess symptoms and run triage interviews.",
        SCOPE_READ: "Read triage interviews and their results.",
    }


@hookimpl
def register_routes() -> Sequence[Any]:
    from lumen.plugins.triage.controllers import TriageController

    return [TriageController]


@hookimpl
def register_settings() -> type:
    return TriageSettings


@hookimpl
def register_services() -> Mapping[str, Any]:
    from lumen.plugins.triage.controllers import assess_service

    return {"triage.assess": assess_service}


@hookimpl
def register_knowledge() -> Sequence[KnowledgeSource]:
    from lumen.plugins.triage.service import load_triage

    triage = load_triage()
    knowledge = triage.knowledge
    return [
        KnowledgeSource(
            name=knowledge.name,
            version=knowledge.version,
            description=knowledge.description,
            provenance=knowledge.provenance,
            reviewed=knowledge.reviewed.isoformat(),
            entries=len(knowledge.complaints) + len(knowledge.red_flags),
        )
    ]


@hookimpl
async def patient_erased(context: PatientErasedContext) -> None:
    """Interviews recorded for the patient (their `patient_ref` is the patient's id) go with the patient."""
    from lumen.plugins.triage.repository import InterviewRepository

    await context.transaction.repository(InterviewRepository).delete_for_patient(str(context.patient_id))


@hookimpl
def startup(context: StartupContext) -> None:
    from lumen.plugins.triage.service import load_triage

    # Validates the knowledge and builds the medspaCy pipeline once per process (about a second), so that
    # no request pays for it; a broken knowledge file stops start-up naming the entry.
    triage = load_triage()
    triage.reader.read("warm up: no fever, chest pain for 2 days, temperature 38.5 C")
