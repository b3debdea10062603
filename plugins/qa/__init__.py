"""The Q&A plugin: medical questions answered from cited patient-education passages and label dosing facts,
with guards in code before and after the model (see service.py for their order).

Routes: POST /v1/qa/ask {question, patient_id?, locale?, stream?} -> answer, kind, citations, confidence and
the safety envelope; POST /v1/qa/ask/stream (server-sent events: meta, delta..., done).

Knowledge: knowledge/patient_education.json (plain-language topics in our own words, each with its public
sources), shipped to retrieval as the platform corpus "patient-education" (register_corpora) and indexed in
memory as the fallback while retrieval is unavailable; knowledge/dosing.json (adult label doses, the only
source of numbers in a dosing answer). Uses the services `triage.assess`, `interactions.lookup` and
`interactions.check`; without them the matching guards fall back to this plugin's own lexicon or abstain.

Settings (PUT /v1/plugins/qa): emergency_number, disclaimer, min_confidence, use_model, max_tokens.
This module holds the hook implementations only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lumen.plugins.sdk import (
    ActionSpec,
    CorpusDocument,
    KnowledgeSource,
    PluginInfo,
    StartupContext,
    hookimpl,
)

NAME = "qa"
SCOPE_ASK = "qa:ask"


@hookimpl
def lumen_plugin_info() -> PluginInfo:
    return PluginInfo(
        name=NAME,
        version="1.0.0",
        description="Medical Q&A with citations, label-only dosing, emergency routing and abstention.",
        default_enabled=True,
    )


@hookimpl
def register_actions() -> Mapping[str, ActionSpec]:
    return {
        "qa.ask": ActionSpec(
            description="Ask a medical question (optionally about one of the tenant's patients).",
            scopes=(SCOPE_ASK,),
            phi=True,
        ),
    }


@hookimpl
def register_scopes() -> Mapping[str, str]:
    return {SCOPE_ASK: "Ask medical questions (Q&A with citations)."}


@hookimpl
def register_routes() -> Sequence[Any]:
    from lumen.plugins.qa.controllers import QaController

    return [QaController]


@hookimpl
def register_settings() -> type:
    from lumen.plugins.qa.schemas import QaSettings

    return QaSettings


@hookimpl
def register_corpora() -> Sequence[CorpusDocument]:
    from lumen.plugins.qa.service import load_engine

    return load_engine().corpus_documents()


@hookimpl
def register_knowledge() -> Sequence[KnowledgeSource]:
    from lumen.plugins.qa.service import load_engine

    engine = load_engine()
    return [
        KnowledgeSource(
            name=k.name,
            version=k.version,
            description=k.description,
            provenance=k.provenance,
            reviewed=k.reviewed.isoformat(),
            entries=n,
        )
        for k, n in (
            (engine.education, len(engine.education.topics)),
            (engine.dosing, len(engine.dosing.entries)),
        )
    ]


@hookimpl
def startup(context: StartupContext) -> None:
    from lumen.plugins.qa.service import load_engine

    load_engine()  # validates and indexes the knowledge once per process
