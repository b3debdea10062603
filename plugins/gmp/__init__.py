"""The GMP documents plugin: controlled-document templates, document generation and control (lifecycle,
versions, history), deviations and CAPA with due-date webhooks, and 21 CFR Part 11 electronic signatures.

Hook implementations only; routes in controllers.py, logic in service.py (documents), signing.py (Part 11)
and quality.py (deviations, CAPA), rendering in rendering.py, scheduled jobs in tasks.py, role separation in
policies/gmp.rego, built-in templates (with their sources) in knowledge/templates.json.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from lumen.plugins.gmp.controllers import (
    CapaController,
    DeviationController,
    DocumentController,
    SignerController,
    TemplateController,
)
from lumen.plugins.gmp.schemas import GmpSettings
from lumen.plugins.gmp.service import load_templates
from lumen.plugins.gmp.tasks import announce_due_capa_checks, announce_overdue_deviations
from lumen.plugins.sdk import (
    ActionSpec,
    JobSpec,
    KnowledgeSource,
    PluginInfo,
    PolicySource,
    StartupContext,
    WebhookEventType,
    hookimpl,
)

NAME = "gmp"


@hookimpl
def lumen_plugin_info() -> PluginInfo:
    return PluginInfo(
        name=NAME,
        version="1.0.0",
        description="GMP controlled documents, deviations and CAPA, with 21 CFR Part 11 e-signatures.",
        default_enabled=True,
    )


@hookimpl
def register_scopes() -> Mapping[str, str]:
    return {
        "gmp:read": "Read GMP templates, documents, deviations, CAPA and signers; render documents.",
        "gmp:write": "Create and edit GMP documents, deviations and CAPA; move them through their lifecycle.",
        "gmp:sign": "Submit Part 11 electronic signatures (each still needs the signer's own credential).",
        "gmp:admin": "Manage signers (credentials, roles, unlocking) and tenant templates.",
    }


@hookimpl
def register_actions() -> Mapping[str, ActionSpec]:
    return {
        "gmp.read": ActionSpec(
            description="Read GMP records and render documents.",
            scopes=("gmp:read", "gmp:write", "gmp:admin"),
            access="read",
        ),
        "gmp.write": ActionSpec(
            description="Create and edit GMP documents, deviations and CAPA.",
            scopes=("gmp:write",),
            access="write",
        ),
        "gmp.transition": ActionSpec(
            description="Lifecycle transitions and QA decisions (role-checked per signer by policy).",
            scopes=("gmp:write",),
            access="write",
        ),
        "gmp.sign": ActionSpec(
            description="Apply a Part 11 electronic signature.", scopes=("gmp:sign",), access="write"
        ),
        "gmp.manage": ActionSpec(
            description="Manage signers and tenant templates.", scopes=("gmp:admin",), access="write"
        ),
    }


@hookimpl
def register_routes() -> Sequence[Any]:
    return [TemplateController, SignerController, DocumentController, DeviationController, CapaController]


@hookimpl
def register_policies() -> Sequence[PolicySource]:
    folder = resources.files(__name__) / "policies"
    return [PolicySource(name=n, source=(folder / n).read_text()) for n in ("gmp.rego", "gmp_test.rego")]


@hookimpl
def register_settings() -> type:
    return GmpSettings


@hookimpl
def register_jobs() -> Sequence[JobSpec]:
    return [
        JobSpec(
            name="gmp.deviations_overdue",
            function=announce_overdue_deviations,
            cron="*/15 * * * *",
            description="Emit gmp.deviation.overdue once for each open deviation past its due date.",
        ),
        JobSpec(
            name="gmp.capa_effectiveness_due",
            function=announce_due_capa_checks,
            cron="7 * * * *",
            description="Emit gmp.capa.effectiveness_check_due once for each CAPA whose check falls due.",
        ),
    ]


@hookimpl
def register_webhook_events() -> Sequence[WebhookEventType]:
    return [
        WebhookEventType(
            name="gmp.document.approved",
            description="A controlled document was approved (after an independent approval signature).",
            schema={
                "type": "object",
                "properties": {
                    "document_id": {"type": "string"},
                    "number": {"type": "string"},
                    "version": {"type": "string"},
                    "title": {"type": "string"},
                    "approved_at": {"type": "string", "format": "date-time"},
                },
            },
        ),
        WebhookEventType(
            name="gmp.deviation.overdue",
            description="An open deviation passed its due date (sent once per due date).",
            schema={
                "type": "object",
                "properties": {
                    "deviation_id": {"type": "string"},
                    "number": {"type": "string"},
                    "classification": {"enum": ["minor", "major", "critical"]},
                    "due_date": {"type": "string", "format": "date"},
                    "days_overdue": {"type": "integer"},
                },
            },
        ),
        WebhookEventType(
            name="gmp.capa.effectiveness_check_due",
            description="A CAPA's effectiveness check fell due.",
            schema={
                "type": "object",
                "properties": {
                    "capa_id": {"type": "string"},
                    "number": {"type": "string"},
                    "effectiveness_check_due": {"type": "string", "format": "date"},
                    "owner_signer_id": {"type": "string"},
                },
            },
        ),
        WebhookEventType(
            name="gmp.signer.locked",
            description="A signer was locked after repeated failed signature attempts (21 CFR 11.300(d)).",
            schema={
                "type": "object",
                "properties": {
                    "signer_id": {"type": "string"},
                    "failures": {"type": "integer"},
                    "locked_at": {"type": "string", "format": "date-time"},
                },
            },
        ),
    ]


@hookimpl
def register_knowledge() -> Sequence[KnowledgeSource]:
    knowledge = load_templates()
    return [
        KnowledgeSource(
            name=knowledge.name,
            version=knowledge.version,
            description=knowledge.description,
            provenance=knowledge.provenance,
            reviewed=knowledge.reviewed.isoformat(),
            entries=len(knowledge.templates),
        )
    ]


@hookimpl
def startup(context: StartupContext) -> None:
    load_templates()  # a broken templates file stops start-up, naming the template
