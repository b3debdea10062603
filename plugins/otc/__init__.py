"""The OTC plugin: over-the-counter options for self-care problems (POST /v1/otc/recommend), from curated
label facts (knowledge/otc.json: indications by complaint, adult and child label doses, maximum daily doses,
age limits, pregnancy advice, key contraindications and allergy groups, each with its source and review
date).

It uses two other plugins' services and fails closed without them (503): `triage.assess` to triage the
symptoms first (anything above self-care returns the triage advice, never products), and
`interactions.check` to check every candidate with the patient's current medicines (contraindicated and
major interactions exclude it; moderate and minor ones are shown with it).

Settings (PUT /v1/plugins/otc {"settings": {...}}): `emergency_number` (default "911"; set it to the same
number as the triage plugin's, it is passed to `triage.assess`) and `disclaimer`, the tenant's sentence
appended to Lumen's.

This module holds the hook implementations only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lumen.plugins.otc.schemas import OTCSettings
from lumen.plugins.sdk import ActionSpec, KnowledgeSource, PluginInfo, StartupContext, hookimpl

NAME = "otc"
SCOPE = "otc:recommend"


@hookimpl
def lumen_plugin_info() -> PluginInfo:
    return PluginInfo(
        name=NAME,
        version="1.0.0",
        description="Over-the-counter options for self-care problems, checked for interactions.",
        default_enabled=True,
    )


@hookimpl
def register_actions() -> Mapping[str, ActionSpec]:
    return {
        "otc.recommend": ActionSpec(
            description="Suggest over-the-counter options for a self-care problem.", scopes=(SCOPE,), phi=True
        )
    }


@hookimpl
def register_scopes() -> Mapping[str, str]:
    return {SCOPE: "Get over-the-counter medicine suggestions for self-care problems."}


@hookimpl
def register_routes() -> Sequence[Any]:
    from lumen.plugins.otc.controllers import OTCController

    return [OTCController]


@hookimpl
def register_settings() -> type:
    return OTCSettings


@hookimpl
def register_knowledge() -> Sequence[KnowledgeSource]:
    from lumen.plugins.otc.service import load_otc

    knowledge = load_otc().knowledge
    return [
        KnowledgeSource(
            name=knowledge.name,
            version=knowledge.version,
            description=knowledge.description,
            provenance=knowledge.provenance,
            reviewed=knowledge.reviewed.isoformat(),
            entries=len(knowledge.products),
        )
    ]


@hookimpl
def startup(context: StartupContext) -> None:
    from lumen.plugins.otc.service import load_otc

    load_otc()  # validated once per process; a broken knowledge file stops start-up, naming the entry
