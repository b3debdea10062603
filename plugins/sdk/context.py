"""PluginContext: everything a plugin's route handler gets from Lumen for one request.

A plugin never sees the app, a raw database session or another tenant's data. It gets the tenant and
caller, its own per-tenant settings, an audit recorder, repositories bound to the request's transaction
(scoped to the tenant, with row-level security underneath), and the policy decision's obligations.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any, TypeVar

import msgspec
from litestar.di import NamedDependency
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.audit.models import AuditEvent
from lumen.core.audit.recorder import RequestAudit
from lumen.core.audit.service import AuditEntry
from lumen.core.auth.principal import Principal
from lumen.core.http.errors import Forbidden, LumenProblem, NotFound, UnprocessableEntity
from lumen.core.policy.decision import Decision
from lumen.core.tenancy.data_cache import TenantDataCache
from lumen.plugins.sdk.documents import TenantDocument, read_tenant_document
from lumen.plugins.sdk.inference import ChatMessage, Generation, ModelServices, Passage
from lumen.plugins.sdk.jobs import TenantTransaction, emit_plugin_event, enqueue_plugin_job
from lumen.plugins.sdk.repository import TenantRepository

__all__ = ["AuditRecord", "Context", "PluginContext", "TenantInfo"]


class TenantInfo(msgspec.Struct, frozen=True, kw_only=True):
    """Who the tenant is, for what a plugin prints (a document header, a letter)."""

    id: uuid.UUID
    slug: str
    name: str


class AuditRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One record of the tenant's audit trail, as a plugin reads its own history (`ctx.audit_records`)."""

    seq: int
    occurred_at: datetime
    action: str
    outcome: str
    actor_kind: str
    actor_key_id: uuid.UUID | None
    resource_type: str | None
    resource_id: str | None
    changed_fields: list[str]
    details: dict[str, Any]
    policy_decision_id: str | None
    request_id: str | None


R = TypeVar("R", bound=TenantRepository[Any])
T = TypeVar("T")


class PluginContext:
    def __init__(
        self,
        *,
        plugin: str,
        principal: Principal,
        settings: Any,
        session: AsyncSession | Callable[[], AsyncSession],
        audit: RequestAudit | None,
        obligations: Sequence[str] = (),
        services: Mapping[str, Any] | None = None,
        models: ModelServices | None = None,
        hooks: Any = None,
        jobs: Collection[str] = (),
        events: Collection[str] = (),
        on_outbox_write: Callable[[], None] | None = None,
        separate_transaction: Callable[[], AbstractAsyncContextManager[TenantTransaction]] | None = None,
        decide: Callable[[str, dict[str, Any]], Awaitable[Decision]] | None = None,
        action: str | None = None,
        patients: Callable[[uuid.UUID], Awaitable[dict[str, Any]]] | None = None,
        data_cache: TenantDataCache | None = None,
        forget_after_commit: Callable[[str], None] | None = None,
    ) -> None:
        if principal.tenant_id is None:
            raise ValueError("a plugin context belongs to one tenant")
        self.plugin = plugin
        self.principal = principal
        self.tenant_id: uuid.UUID = principal.tenant_id
        self.settings = settings  # this plugin's per-tenant settings (its msgspec Struct)
        self.obligations = tuple(obligations)  # what the policy decision requires of this request
        # The request's session, or how to get it: opened on first use, so a request that never reads
        # the database (a check served from cached rules) does not set one up.
        self._session_source = session
        self._opened: AsyncSession | None = None
        self._audit = audit
        self._services = services or {}
        self._models = models
        # pluggy's hook relay: a plugin calls the hooks it declared through register_hookspecs, e.g.
        # `ctx.hooks.interaction_rules(tenant_id=ctx.tenant_id)`, and gets every implementation's result.
        self.hooks = hooks
        self._jobs, self._events = jobs, events  # this plugin's own registered jobs and event types
        self._on_outbox_write = on_outbox_write  # wakes the relay once the request commits
        self._separate_transaction = separate_transaction
        self._decide = decide
        self.action = action  # the action of the request's route
        self._patients = patients
        self._data_cache = data_cache
        self._forget_after_commit = forget_after_commit

    @property
    def _session(self) -> AsyncSession:
        if self._opened is None:
            source = self._session_source
            self._opened = source if isinstance(source, AsyncSession) else source()
        return self._opened

    # --- policy, the tenant, the tenant's audit trail --------------------------------------------------

    async def authorize(self, resource: dict[str, Any], *, action: str | None = None) -> Decision:
        """A second policy decision, for this request's action (or another of the plugin's), with the
        domain facts the route-level decision could not know in `resource` (who signs, who wrote the
        document...). The plugin's `lumen.ext.<plugin>` rules read them from `input.resource`. Denied:
        a 403 `forbidden` problem with the policy's reasons and decision id; the id is audited."""
        if self._decide is None:
            raise RuntimeError("policy decisions are not available here")
        chosen = action or self.action
        if chosen is None or not chosen.startswith(self.plugin + "."):
            raise ValueError(f"plugin {self.plugin!r} may only ask about its own actions, not {chosen!r}")
        decision = await self._decide(chosen, dict(resource))
        if self._audit is not None:
            self._audit.policy_decision_id = decision.id
        if not decision.allow:
            raise Forbidden(
                "; ".join(decision.reasons) or "Denied by policy.",
                extra={"decision_id": decision.id, "reasons": list(decision.reasons)},
            )
        return decision

    async def tenant_info(self) -> TenantInfo:
        """The tenant's id, slug and display name (for headers and branding)."""
        from lumen.tenants.models import Tenant

        tenant = (await self._session.scalars(select(Tenant).where(Tenant.id == self.tenant_id))).one()
        return TenantInfo(id=tenant.id, slug=tenant.slug, name=tenant.name)

    async def audit_records(
        self, *, resource_type: str, resource_id: str, limit: int = 500
    ) -> list[AuditRecord]:
        """This plugin's records (actions `<plugin>.*`) about one resource of this tenant, oldest first:
        the who/what/when/why history of an object, straight from the hash-chained trail."""
        rows = (
            await self._session.scalars(
                select(AuditEvent)
                .where(
                    AuditEvent.tenant_id == self.tenant_id,
                    AuditEvent.resource_type == resource_type,
                    AuditEvent.resource_id == resource_id,
                    AuditEvent.action.startswith(self.plugin + ".", autoescape=True),
                )
                .order_by(AuditEvent.seq)
                .limit(max(1, min(limit, 5000)))
            )
        ).all()
        return [
            AuditRecord(
                seq=r.seq,
                occurred_at=r.occurred_at,
                action=r.action,
                outcome=r.outcome,
                actor_kind=r.actor_kind,
                actor_key_id=r.actor_key_id,
                resource_type=r.resource_type,
                resource_id=r.resource_id,
                changed_fields=list(r.changed_fields),
                details=dict(r.details),
                policy_decision_id=r.policy_decision_id,
                request_id=r.request_id,
            )
            for r in rows
        ]

    # --- per-tenant data kept between requests ------------------------------------------------------------

    async def cached(self, name: str, load: Callable[[], Awaitable[T]]) -> T:
        """This plugin's value `name` for the tenant, kept in the worker between requests: `load()` runs
        on a miss (in this request's transaction, so it may use `ctx.repository`). For small data read on
        every request (a tenant's own rules) that changes rarely and only through the plugin's own routes,
        which call `forget(name)` when they change it. Kept at most a minute if a change is not announced
        (Redis down). Without a cache (a context built outside a request) it simply loads."""
        if self._data_cache is None:
            return await load()
        return await self._data_cache.get(self.tenant_id, f"{self.plugin}:{name}", load)

    def forget(self, name: str) -> None:
        """The request changes the tenant's `name`: once it commits, every worker drops its cached copy."""
        if self._forget_after_commit is not None:
            self._forget_after_commit(f"{self.plugin}:{name}")

    # --- the tenant's uploaded documents -------------------------------------------------------------

    async def document(self, document_id: uuid.UUID | str, *, version: int | None = None) -> TenantDocument:
        """One of the tenant's uploaded documents (POST /v1/documents) with its extracted text: `version`,
        or the newest. Another tenant's or an unknown id is a 404 naming `document_id` (an unknown version
        one naming `version`); a malformed id a 422. Read in the request's transaction, tenant-scoped. Never
        log the text."""
        if isinstance(document_id, str):
            try:
                document_id = uuid.UUID(document_id)
            except ValueError:
                raise UnprocessableEntity("document_id: not a UUID", slug="validation-error") from None
        found = await read_tenant_document(self._session, self.tenant_id, document_id, version=version)
        if found is None:
            if version is not None and (
                await read_tenant_document(self._session, self.tenant_id, document_id) is not None
            ):
                raise NotFound(f"version: the document has no version {version}")
            raise NotFound("document_id: no such document")
        return found

    # --- patient profiles --------------------------------------------------------------------------------

    async def patient(self, patient_id: uuid.UUID | str) -> dict[str, Any]:
        """The tenant's patient profile, decrypted, as plain builtins: `external_ref`, `birth_date`, `sex`,
        `pregnancy_status`, `conditions`, `medications`, `allergies` (each a name or {system, code,
        display}), `egfr`, `locale`, `consents`, and derived `age` (years), `pregnant` (bool or None),
        `medication_names`, `condition_names`, `allergy_names`. Another tenant's or an unknown id is a 404;
        a malformed one a 422 naming `patient_id`; a key without `patients:read` (or `admin`) a 403; a
        signed-in patient's app session reads only that patient (any other id is a 404). The read is audited
        (`patients.read`, the patient's id only). Never log what it returns."""
        if self._patients is None:
            raise LumenProblem("Patient profiles are not available here.", slug="service-unavailable")
        if isinstance(patient_id, str):
            try:
                patient_id = uuid.UUID(patient_id)
            except ValueError:
                raise UnprocessableEntity("patient_id: not a UUID", slug="validation-error") from None
        own = self.principal.patient_id
        if own is not None:
            # A signed-in patient's app session: their own profile only. Any other id is a 404, exactly as
            # an unknown one (no oracle), whatever the session's scopes.
            if patient_id != own:
                raise NotFound("No patient with this id in this tenant.")
        elif not set(self.principal.scopes) & {"admin", "patients:read", "patients:write"}:
            raise Forbidden("patient_id: reading a patient profile needs the `patients:read` scope")
        profile = await self._patients(patient_id)
        if self._audit is not None:
            self._audit.record_also(
                AuditEntry(
                    action="patients.read",
                    resource_type="patient",
                    resource_id=str(patient_id),
                    details={"via": self.action or self.plugin},
                )
            )
        return profile

    # --- jobs, webhook events, and work that must outlive the request's outcome -----------------------

    def _outbox_written(self) -> None:
        if self._on_outbox_write is not None:
            self._on_outbox_write()

    async def enqueue(
        self, job_name: str, payload: dict[str, Any] | None = None, *, track: bool = False
    ) -> str:
        """Run one of this plugin's jobs (register_jobs) after the request commits; it is written to the
        outbox in the request's transaction, so it runs if and only if the request's change commits.
        `track=True` also creates a job status row, and the returned id is the one GET /v1/jobs/{id} shows
        (progress, result, error); otherwise the id is the queue's. The payload is JSON; the job function
        receives it as keyword arguments (and `tenant_id`, always this tenant)."""
        job_id = await enqueue_plugin_job(
            self._session, self.tenant_id, self.plugin, self._jobs, job_name, payload, track=track
        )
        self._outbox_written()
        return job_id

    async def emit(self, event_type: str, data: dict[str, Any]) -> str:
        """A webhook event of this plugin's (register_webhook_events), recorded in the request's transaction
        and delivered to the tenant's subscribed endpoints after it commits. Returns the event id. No PHI
        in `data` unless the event type is declared `contains_phi`."""
        event_id = await emit_plugin_event(
            self._session, self.tenant_id, self.plugin, self._events, event_type, data
        )
        self._outbox_written()
        return event_id

    @asynccontextmanager
    async def separate_transaction(self) -> AsyncIterator[TenantTransaction]:
        """A short transaction of its own, in this tenant's scope, that commits whatever the request's
        outcome: for what must stand although the request answers 4xx (a failed sign-in attempt counted
        and audited). Do not write rows the request's own transaction has locked."""
        if self._separate_transaction is None:
            raise RuntimeError("separate transactions are not available here")
        async with self._separate_transaction() as tx:
            yield tx

    # --- other plugins and the shared model services ----------------------------------------------------

    def service(self, name: str) -> Any:
        """Another plugin's service (`<plugin>.<service>`, see its docs); a 503 naming it if that plugin is
        not installed, so a feature that needs it fails closed instead of answering without it."""
        function = self._services.get(name)
        if function is None:
            raise LumenProblem(
                f"This needs the {name!r} service, whose plugin is not installed on this Lumen.",
                slug="service-unavailable",
            )
        return function

    def _model_services(self) -> ModelServices:
        if self._models is None:
            raise LumenProblem(
                "The inference pool is not configured on this Lumen.", slug="service-unavailable"
            )
        return self._models

    async def generate(
        self,
        messages: Sequence[ChatMessage],
        *,
        model: str = "lumen-base",
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
    ) -> Generation:
        """Text from the shared pool, for this tenant (its adapters only). The model phrases; it never
        decides a severity, a triage level or a citation (ARCHITECTURE §6.1)."""
        return await self._model_services().generate(
            self.tenant_id,
            messages,
            model=model,
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            seed=seed,
        )

    def generate_stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        model: str = "lumen-base",
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
    ) -> AsyncIterator[str]:
        """The same generation as `generate()`, as the text pieces the model produces them (for streaming an
        answer). A pool that cannot serve raises before the first piece; a replica failing after it raises
        a 503 LumenProblem from the iterator, so a caller can withdraw what it already showed."""
        return self._model_services().generate_stream(
            self.tenant_id,
            messages,
            model=model,
            max_tokens=max_tokens,
            temperature=temperature,
            stop=stop,
            seed=seed,
        )

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Embeddings from the pool's embedding model (384 dimensions on the embedded default)."""
        return await self._model_services().embed(self.tenant_id, texts)

    async def retrieve(
        self,
        query: str,
        *,
        corpora: Sequence[str] | None = None,
        filters: Mapping[str, Any] | None = None,
        k: int = 5,
    ) -> list[Passage]:
        """Passages from the corpora this tenant may read (its own documents and the platform's shared
        corpora), best first."""
        return await self._model_services().retrieve(
            self.tenant_id, query, corpora=corpora, filters=filters, k=k
        )

    def repository(self, repository_type: type[R]) -> R:
        """A repository bound to this request's transaction and tenant; the request boundary commits."""
        return repository_type(self._session, self.tenant_id)

    def audit(
        self,
        action: str,
        *,
        resource_type: str | None = None,
        resource_id: str | None = None,
        changed_fields: Sequence[str] = (),
        details: dict[str, Any] | None = None,
    ) -> None:
        """Record a domain event in the request's audit trail (instead of the automatic one). Field names
        only, never values; no PHI in details."""
        if self._audit is None:
            raise RuntimeError("this route is not audited (it names no action)")
        self._audit.record(
            AuditEntry(
                action=action,
                resource_type=resource_type,
                resource_id=resource_id,
                changed_fields=list(changed_fields),
                details=dict(details or {}),
            )
        )


# What a plugin route declares: `ctx: Context` (Litestar 3 drops dependencies inferred by name alone).
Context = NamedDependency[PluginContext]
