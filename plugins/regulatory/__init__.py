"""The regulatory compliance assistant: what FDA, EU, UK (MHRA) and ICH instruments require, where they
say so, grounded answers that cite only what was retrieved, and SOP gap analysis. A built-in plugin, loaded
through Lumen's own `lumen.plugins` entry point and importing only `lumen.plugins.sdk`.

This module holds the hook implementations only: routes in controllers.py, ranking, answers and gap analysis
in service.py, the background gap analysis job in tasks.py (its kept results in models.py/repository.py),
curated requirements and gap elements (each sourced) in knowledge/.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lumen.plugins.regulatory.controllers import RegulatoryController
from lumen.plugins.regulatory.schemas import RegulatorySettings
from lumen.plugins.regulatory.service import load_catalog, load_gap_analyzer
from lumen.plugins.regulatory.tasks import COMPLETED_EVENT, JOB_NAME, run_gap_analysis
from lumen.plugins.sdk import (
    ActionSpec,
    CorpusDocument,
    JobSpec,
    KnowledgeSource,
    PluginInfo,
    StartupContext,
    WebhookEventType,
    hookimpl,
)

NAME = "regulatory"


@hookimpl
def lumen_plugin_info() -> PluginInfo:
    return PluginInfo(
        name=NAME,
        version="1.0.0",
        description="FDA, EU, UK and ICH GMP requirements with citations, grounded answers and SOP gap "
        "analysis.",
        default_enabled=True,
    )


@hookimpl
def register_actions() -> Mapping[str, ActionSpec]:
    return {
        "regulatory.read": ActionSpec(
            description="Search and read the regulatory requirements catalog.",
            scopes=("regulatory:read",),
            access="read",
        ),
        "regulatory.ask": ActionSpec(
            description="Ask a regulatory question and get an answer citing the catalog, or an abstention.",
            scopes=("regulatory:ask",),
            access="read",
        ),
        "regulatory.analyse": ActionSpec(
            description="Check a procedure (SOP) against the elements regulators require for its type.",
            scopes=("regulatory:analyse",),
            access="read",
        ),
    }


@hookimpl
def register_scopes() -> Mapping[str, str]:
    return {
        "regulatory:read": "Search and read the regulatory requirements catalog.",
        "regulatory:ask": "Ask regulatory questions answered from the catalog.",
        "regulatory:analyse": "Run SOP gap analyses against regulatory requirements.",
    }


@hookimpl
def register_routes() -> Sequence[Any]:
    return [RegulatoryController]


@hookimpl
def register_jobs() -> Sequence[JobSpec]:
    return [
        JobSpec(
            name=JOB_NAME,
            function=run_gap_analysis,
            description="Check one procedure (a large text, or an uploaded document) against the elements "
            "its type requires, keep the result and emit regulatory.gap_analysis.completed.",
        )
    ]


@hookimpl
def register_webhook_events() -> Sequence[WebhookEventType]:
    return [
        WebhookEventType(
            name=COMPLETED_EVENT,
            description="A background gap analysis finished (state succeeded, or failed when its document "
            "was deleted first). Counts and ids only, never the procedure's text; read the result at "
            "GET /v1/regulatory/gap-analyses/{analysis_id}.",
            schema={
                "type": "object",
                "properties": {
                    "analysis_id": {"type": "string", "format": "uuid"},
                    "state": {"enum": ["succeeded", "failed"]},
                    "document_type": {"type": "string"},
                    "jurisdictions": {"type": "array", "items": {"type": "string"}},
                    "document_id": {"type": ["string", "null"], "format": "uuid"},
                    "document_version": {"type": ["integer", "null"]},
                    "found": {"type": ["integer", "null"]},
                    "missing": {"type": ["integer", "null"]},
                    "score": {"type": ["number", "null"]},
                },
            },
        )
    ]


@hookimpl
def register_settings() -> type:
    return RegulatorySettings


@hookimpl
def register_knowledge() -> Sequence[KnowledgeSource]:
    catalog = load_catalog()
    analyzer = load_gap_analyzer()
    return [
        KnowledgeSource(
            name=catalog.name,
            version=catalog.version,
            description=catalog.description,
            provenance=catalog.provenance,
            reviewed=catalog.reviewed.isoformat(),
            entries=len(catalog.entries),
        ),
        KnowledgeSource(
            name="regulatory-gap-elements",
            version=analyzer.version,
            description="Elements that deviation, CAPA, change control, cleaning validation, data integrity, "
            "complaint handling and OOS procedures must contain, each tied to the requirements that call for "
            "it.",
            provenance="Derived by Lumen from the catalog requirements it cites (the same public sources).",
            reviewed=catalog.reviewed.isoformat(),
            entries=sum(len(analyzer.elements_for(t)) for t in analyzer.types),
        ),
    ]


@hookimpl
def register_corpora() -> Sequence[CorpusDocument]:
    return load_catalog().corpus_documents()


@hookimpl
def startup(context: StartupContext) -> None:
    # Validated once per process; a broken knowledge file stops start-up, naming the entry.
    load_catalog()
    load_gap_analyzer()
