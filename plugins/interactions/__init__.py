"""The interactions plugin: drug-drug interaction checking and a drug information database, on curated
knowledge with provenance (knowledge/*.json). A built-in, loaded through Lumen's own `lumen.plugins` entry
point, importing only `lumen.plugins.sdk`. This module holds the hook implementations only.

Routes (controllers.py): POST /v1/interactions/check, GET/POST /v1/interactions/rules,
GET/DELETE /v1/interactions/rules/{rule_id}, GET /v1/drugs?q=, GET /v1/drugs/{drug}.

Services for other plugins (register_services), both async, both reached with `ctx.service(name)`:

    check = ctx.service("interactions.check")
    result: dict = await check(ctx, ["simvastatin", "Biaxin"], {"age": 70, "egfr": 25})

  `interactions.check(ctx: PluginContext, medications: Sequence[str], patient: Mapping[str, Any] | None =
  None) -> dict`: exactly the JSON of POST /v1/interactions/check (msgspec.to_builtins of CheckResult):
  `interactions` (severity-sorted, each with drugs, severity, mechanism, clinical_effect, management,
  evidence, references, reviewed, rule_id), `warnings`, `recognized`, `unrecognized` (never dropped) and the
  safety envelope (disclaimer, citations, confidence, knowledge_version, abstained). The tenant's own rules,
  other plugins' `interaction_rules` and the tenant's settings apply, as on the route. A `patient` that does
  not validate raises a 422 problem naming the field; more than 50 medications too.

    lookup = ctx.service("interactions.lookup")
    found: dict | None = await lookup(ctx, "Tylenol")

  `interactions.lookup(ctx: PluginContext, name: str) -> dict | None`: the normalised single ingredient a
  name stands for (brands, UK/US names, salts), as `{"id", "name", "uk_name", "classes", "properties",
  "atc", "rxcui", "knowledge_version"}`; None when the name is unknown or is a combination product.

Hook for other plugins (register_hookspecs, see hookspecs.py): `interaction_rules(tenant_id) -> Sequence[rule
dict]`, called on every check of that tenant; the rules apply to that tenant only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from lumen.plugins.interactions.controllers import DrugsController, InteractionsController
from lumen.plugins.interactions.hookspecs import InteractionRuleSpecs
from lumen.plugins.interactions.schemas import MAX_MEDICATIONS, InteractionsSettings, Patient
from lumen.plugins.interactions.service import check_for, checker, load_knowledge
from lumen.plugins.sdk import (
    ActionSpec,
    KnowledgeSource,
    PluginContext,
    PluginInfo,
    StartupContext,
    UnprocessableEntity,
    hookimpl,
)

NAME = "interactions"


@hookimpl
def lumen_plugin_info() -> PluginInfo:
    return PluginInfo(
        name=NAME,
        version="1.0.0",
        description="Drug interaction checker and drug information database on curated, sourced knowledge.",
        default_enabled=True,
    )


@hookimpl
def register_actions() -> Mapping[str, ActionSpec]:
    return {
        "interactions.check": ActionSpec(
            description="Check medications for interactions and patient-specific cautions.",
            scopes=("interactions:check",),
            access="read",
        ),
        "interactions.read": ActionSpec(
            description="Search drugs, read monographs and the tenant's interaction rules.",
            scopes=("interactions:read", "interactions:check"),
            access="read",
        ),
        "interactions.manage_rules": ActionSpec(
            description="Add or remove the tenant's own interaction rules.",
            scopes=("interactions:admin",),
        ),
    }


@hookimpl
def register_scopes() -> Mapping[str, str]:
    return {
        "interactions:check": "Check medications for interactions; search drugs and read monographs.",
        "interactions:read": "Search drugs, read monographs and the tenant's interaction rules.",
        "interactions:admin": "Add or remove the tenant's own interaction rules.",
    }


@hookimpl
def register_routes() -> Sequence[Any]:
    return [InteractionsController, DrugsController]


@hookimpl
def register_settings() -> type:
    return InteractionsSettings


@hookimpl
def register_hookspecs() -> Sequence[object]:
    return [InteractionRuleSpecs]


async def check_service(
    ctx: PluginContext, medications: Sequence[str], patient: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    meds = list(medications)
    if not meds or len(meds) > MAX_MEDICATIONS or any(not isinstance(m, str) or len(m) > 200 for m in meds):
        raise UnprocessableEntity(
            f"medications: 1 to {MAX_MEDICATIONS} names of at most 200 characters", slug="validation-error"
        )
    try:
        parsed = msgspec.convert(dict(patient), Patient) if patient is not None else None
    except msgspec.ValidationError as exc:
        raise UnprocessableEntity(f"patient: {exc}", slug="validation-error") from exc
    result: dict[str, Any] = msgspec.to_builtins(await check_for(ctx, meds, parsed))
    return result


async def lookup_service(ctx: PluginContext, name: str) -> dict[str, Any] | None:
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        return None
    return checker().lookup(name)


@hookimpl
def register_services() -> Mapping[str, Any]:
    return {"interactions.check": check_service, "interactions.lookup": lookup_service}


@hookimpl
def register_knowledge() -> Sequence[KnowledgeSource]:
    knowledge = load_knowledge()
    header = knowledge.headers["ingredients"]
    return [
        KnowledgeSource(
            name="interactions",
            version=knowledge.version,
            description=f"{len(knowledge.ingredients)} ingredients, {len(knowledge.products)} combination "
            f"products, {len(knowledge.classes)} classes and "
            f"{len(knowledge.rules) + len(knowledge.group_rules)} interaction rules.",
            provenance=header.provenance,
            reviewed=knowledge.reviewed.isoformat(),
            entries=len(knowledge.ingredients),
        )
    ]


@hookimpl
def startup(context: StartupContext) -> None:
    checker()  # validated once per process; broken knowledge stops start-up, naming the entry
