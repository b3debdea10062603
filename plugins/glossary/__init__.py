"""The glossary plugin: plain-language explanations of the medical words patients meet, for tenants'
patient apps. A built-in, loaded through Lumen's own `lumen.plugins` entry point like any partner plugin,
and importing only `lumen.plugins.sdk`.

This module holds the hook implementations only; the routes are in controllers.py, the lookup and search in
service.py, and the curated text (with a source for every entry) in knowledge/terms.json.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lumen.plugins.glossary.controllers import GlossaryController
from lumen.plugins.glossary.schemas import GlossarySettings
from lumen.plugins.glossary.service import load_glossary
from lumen.plugins.sdk import ActionSpec, KnowledgeSource, PluginInfo, StartupContext, hookimpl

NAME = "glossary"


@hookimpl
def lumen_plugin_info() -> PluginInfo:
    return PluginInfo(
        name=NAME,
        version="1.0.0",
        description="Plain-language explanations of medical terms, with sources, for patient apps.",
        default_enabled=True,
    )


@hookimpl
def register_actions() -> Mapping[str, ActionSpec]:
    return {
        "glossary.read": ActionSpec(
            description="Look up and search the plain-language medical glossary.",
            scopes=("glossary:read",),
            access="read",
        )
    }


@hookimpl
def register_scopes() -> Mapping[str, str]:
    return {"glossary:read": "Look up and search the plain-language medical glossary."}


@hookimpl
def register_routes() -> Sequence[Any]:
    return [GlossaryController]


@hookimpl
def register_settings() -> type:
    return GlossarySettings


@hookimpl
def register_knowledge() -> Sequence[KnowledgeSource]:
    glossary = load_glossary()
    return [
        KnowledgeSource(
            name=glossary.name,
            version=glossary.version,
            description=glossary.description,
            provenance=glossary.provenance,
            reviewed=glossary.reviewed.isoformat(),
            entries=len(glossary.entries),
        )
    ]


@hookimpl
def startup(context: StartupContext) -> None:
    load_glossary()  # validated once per process; a broken knowledge file stops start-up, naming the entry
