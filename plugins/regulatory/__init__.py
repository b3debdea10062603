"""The regulatory compliance assistant: what FDA, EU, UK (MHRA) and ICH instruments require, where they
say so, grounded answers that cite only what was retrieved, and SOP gap analysis. A built-in plugin, loaded
through Lumen's own `lumen.plugins` entry point and importing only `lumen.plugins.sdk`.

This module holds the hook implementations only: routes in controllers.py, ranking, answers and gap analysis
in service.py, curated requirements and gap elements (each sourced) in knowledge/.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lumen.plugins.regulatory.controllers import RegulatoryController
from lumen.plugins.regulatory.schemas import RegulatorySettings
from lumen.plugins.regulatory.service import load_catalog, load_gap_analyzer
from lumen.plugins.sdk import (
    ActionSpec,
    CorpusDocument,
    KnowledgeSource,
    PluginInfo,
    StartupContext,
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
