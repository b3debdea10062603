"""The hooks a Lumen plugin can implement (pluggy project "lumen", entry-point group "lumen.plugins").

Every hook is documented in docs/plugins.md with its signature and an example; a test checks that each one
here is documented there and exercised by a test. Registration hooks return data and run once at start-up;
the host attributes each result to the plugin that returned it, so a duplicate (route prefix, action, job,
event type, policy module) fails start-up naming both plugins.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

import pluggy

from lumen.core.policy.actions import ActionSpec
from lumen.plugins.sdk.types import (
    CorpusDocument,
    JobSpec,
    KnowledgeSource,
    PatientErasedContext,
    PluginInfo,
    PolicySource,
    StartupContext,
    TenantEventContext,
    WebhookEventType,
)

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "lumen"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec(firstresult=True)
def lumen_plugin_info() -> PluginInfo:  # type: ignore[empty-body]
    """Name, version, description and defaults of this plugin. Every plugin implements it."""


@hookspec
def register_routes() -> Sequence[Any]:  # type: ignore[empty-body]
    """Litestar controllers or route handlers, all under one `/v1/<prefix>` of the plugin's own. Each route
    names its action in `opt={"action": ...}`; the action must be one this plugin registers."""


@hookspec
def register_actions() -> Mapping[str, ActionSpec]:  # type: ignore[empty-body]
    """Actions this plugin's routes perform, named `<plugin>.<verb>` (e.g. `interactions.check`), with the
    scopes that grant them. They are allowed only while the plugin is enabled for the tenant."""


@hookspec
def register_scopes() -> Mapping[str, str]:  # type: ignore[empty-body]
    """API-key scopes this plugin introduces, name -> description (e.g. `interactions:check`)."""


@hookspec
def register_policies() -> Sequence[PolicySource]:  # type: ignore[empty-body]
    """Rego modules in package `lumen.ext.<plugin>` that add `deny` reasons or `obligations` to the core
    decision (they can restrict, never grant), and their `*_test.rego` unit tests."""


@hookspec
def register_jobs() -> Sequence[JobSpec]:  # type: ignore[empty-body]
    """Background jobs, named `<plugin>.<job>`; they run on the worker (jobs component)."""


@hookspec
def register_webhook_events() -> Sequence[WebhookEventType]:  # type: ignore[empty-body]
    """Webhook event types this plugin emits, named `<plugin>.<thing>.<happened>`."""


@hookspec
def register_knowledge() -> Sequence[KnowledgeSource]:  # type: ignore[empty-body]
    """Curated knowledge the plugin ships (name, version, provenance); listed by GET /v1/plugins."""


@hookspec(firstresult=True)
def register_settings() -> type | None:
    """The msgspec Struct of this plugin's per-tenant settings (PUT /v1/plugins/{name} validates against
    it, naming the field on error). Every field needs a default."""


@hookspec
def register_corpora() -> Sequence[CorpusDocument]:  # type: ignore[empty-body]
    """Documents of platform-shared retrieval corpora this plugin ships (regulatory texts, patient
    education). Retrieval ingests each once per content hash; every tenant with the plugin can search them."""


@hookspec
def register_services() -> Mapping[str, Any]:  # type: ignore[empty-body]
    """Services this plugin offers other plugins, named `<plugin>.<service>` (e.g. `interactions.check`),
    each a callable taking the caller's `PluginContext` first. Another plugin reaches one with
    `ctx.service("interactions.check")`; the documented signature is the service's contract."""


@hookspec
def register_hookspecs() -> Sequence[object]:  # type: ignore[empty-body]
    """Modules or classes of further hookspecs, so that plugins can extend each other (e.g. the
    interactions plugin lets others add `interaction_rules`)."""


@hookspec
def startup(context: StartupContext) -> Awaitable[None] | None:
    """Once per worker when the app starts (may be async). Load indexes, warm caches."""


@hookspec
def tenant_provisioned(context: TenantEventContext) -> Awaitable[None] | None:
    """After a tenant is created and committed (may be async)."""


@hookspec
def tenant_deleted(context: TenantEventContext) -> Awaitable[None] | None:
    """After a tenant's rows are deleted and committed: erase what the plugin keeps elsewhere (may be
    async)."""


@hookspec
def patient_erased(context: PatientErasedContext) -> Awaitable[None] | None:
    """While a patient is being erased, in the erasing request's transaction: delete what the plugin keeps
    about that patient (interviews, histories) through `context.transaction` (may be async). Raising fails
    the erasure, so nothing is left half-erased."""
