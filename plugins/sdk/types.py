"""Public types a plugin returns from its hooks or receives from Lumen. Stable API: change with care."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import msgspec

__all__ = [
    "CorpusDocument",
    "JobSpec",
    "KnowledgeSource",
    "PatientErasedContext",
    "PluginInfo",
    "PolicySource",
    "StartupContext",
    "TenantEventContext",
    "WebhookEventType",
]


class PluginInfo(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # lower-case, [a-z][a-z0-9_]*; also the prefix of its actions, jobs and events
    version: str
    description: str = ""
    # Built-in domain plugins are on for every tenant until it turns them off; partner plugins are off
    # until a tenant turns them on.
    default_enabled: bool = False


class PolicySource(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # file name, e.g. "authz.rego" or "authz_test.rego"; stored as "<plugin>/<name>"
    source: str


class JobSpec(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # "<plugin>.<job>"
    # An async function. Declaring a `ctx` parameter gives it a JobContext (tenant, settings, transactions
    # under the tenant's scope); the enqueued payload arrives as keyword arguments.
    function: Callable[..., Any]
    description: str = ""
    # A schedule ("*/15 * * * *": minute hour day month weekday): the job then runs periodically, once for
    # every tenant that has the plugin enabled, each run in that tenant's own scope.
    cron: str | None = None


class WebhookEventType(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # "<plugin>.<thing>.<happened>"
    description: str
    # JSON Schema of the event's `data` (published in the OpenAPI `webhooks` section).
    schema: dict[str, Any] = msgspec.field(default_factory=dict)
    contains_phi: bool = False


class KnowledgeSource(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    version: str
    description: str
    # Where the facts come from (FDA label, CFR section, guidance...) and when they were last reviewed.
    provenance: str
    reviewed: str  # ISO date
    entries: int = 0


class StartupContext(msgspec.Struct, frozen=True, kw_only=True):
    plugin: str
    settings: Any  # lumen.core.settings.Settings (read-only)


class TenantEventContext(msgspec.Struct, frozen=True, kw_only=True):
    plugin: str
    tenant_id: uuid.UUID


class PatientErasedContext(msgspec.Struct, frozen=True, kw_only=True):
    """A patient being erased (DELETE /v1/patients/{id}): `transaction` is the erasing request's own, so what
    the plugin deletes through its repositories commits or rolls back with the erasure."""

    plugin: str
    tenant_id: uuid.UUID
    patient_id: uuid.UUID
    transaction: Any  # lumen.plugins.sdk.TenantTransaction


class CorpusDocument(msgspec.Struct, frozen=True, kw_only=True):
    """One document of a platform-shared retrieval corpus that a plugin ships (register_corpora): e.g. one
    requirement of the regulatory catalog, or one patient-education topic. Retrieval ingests these once per
    content hash, readable by every tenant with the plugin; `source_id` is stable and citations name it."""

    corpus: str  # "regulatory", "patient-education"... one corpus may be fed by several plugins
    source_id: str  # stable id, e.g. "us-21cfr-211.100"; unique within the corpus
    title: str
    text: str
    content_type: str = "text/markdown"  # "text/markdown" or "text/plain"
    section_id: str | None = None  # "21 CFR 211.100(a)", "EU GMP Annex 11 §4.8"
    jurisdiction: str | None = None  # "US", "EU", "UK", "ICH"
    document_type: str | None = None  # "regulation", "guidance", "patient-education"...
    effective_date: str | None = None  # ISO date
    source_url: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
