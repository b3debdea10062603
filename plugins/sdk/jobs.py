"""Background work and webhook events for plugins: the outbox writes behind `ctx.enqueue` and `ctx.emit`, the
`TenantTransaction` a job (or a request's separate transaction) works in, and the `JobContext` a plugin's job
function receives when it declares a `ctx` parameter.

Everything here writes in one tenant's transaction, under that tenant's row-level-security scope: the outbox
row or the webhook event commits with the change that causes it, or not at all (ARCHITECTURE §2). A plugin
may only enqueue its own jobs and emit its own event types.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.audit.service import AuditEntry, AuditTrail
from lumen.core.jobs.outbox import create_job, enqueue
from lumen.core.webhooks.service import emit
from lumen.plugins.sdk.documents import TenantDocument, read_tenant_document
from lumen.plugins.sdk.repository import TenantRepository

__all__ = ["JobContext", "TenantTransaction", "parse_cron"]

R = TypeVar("R", bound=TenantRepository[Any])
Progress = Callable[[float, str | None], Awaitable[None]]


async def enqueue_plugin_job(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    plugin: str,
    jobs: Collection[str],
    job_name: str,
    payload: dict[str, Any] | None,
    *,
    track: bool,
) -> str:
    """Write one of `plugin`'s jobs to the outbox; its id (the GET /v1/jobs/{id} id when tracked)."""
    if job_name not in jobs:
        raise ValueError(f"plugin {plugin!r} may only enqueue its own registered jobs, not {job_name!r}")
    body = {**(payload or {}), "tenant_id": str(tenant_id)}
    if track:
        return str((await create_job(session, tenant_id, job_name, body)).id)
    return (await enqueue(session, tenant_id, job_name, body)).job_id


async def emit_plugin_event(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    plugin: str,
    events: Collection[str],
    event_type: str,
    data: dict[str, Any],
) -> str:
    """Record one of `plugin`'s webhook events and queue its deliveries; the event id."""
    if event_type not in events:
        raise ValueError(
            f"plugin {plugin!r} may only emit event types it registered (register_webhook_events), "
            f"not {event_type!r}"
        )
    return str((await emit(session, tenant_id, event_type, dict(data))).id)


class TenantTransaction:
    """One transaction in one tenant's scope, as a plugin sees it: repositories, webhook events, jobs and
    audit records, all committed together when the `async with` block ends cleanly (rolled back otherwise)."""

    def __init__(
        self,
        session: AsyncSession,
        tenant_id: uuid.UUID,
        *,
        plugin: str,
        jobs: Collection[str],
        events: Collection[str],
    ) -> None:
        self._session = session
        self.tenant_id = tenant_id
        self.plugin = plugin
        self._jobs, self._events = jobs, events
        self.wrote_outbox = False  # the owner wakes the relay after commit

    def repository(self, repository_type: type[R]) -> R:
        return repository_type(self._session, self.tenant_id)

    async def document(self, document_id: uuid.UUID, *, version: int | None = None) -> TenantDocument | None:
        """One of the tenant's uploaded documents (POST /v1/documents) with its extracted text: `version`, or
        the newest; None if the tenant has no such document (or version), e.g. it was deleted meanwhile."""
        return await read_tenant_document(self._session, self.tenant_id, document_id, version=version)

    async def emit(self, event_type: str, data: dict[str, Any]) -> str:
        """A webhook event of this plugin's (register_webhook_events), delivered after the commit."""
        event_id = await emit_plugin_event(
            self._session, self.tenant_id, self.plugin, self._events, event_type, data
        )
        self.wrote_outbox = True
        return event_id

    async def enqueue(
        self, job_name: str, payload: dict[str, Any] | None = None, *, track: bool = False
    ) -> str:
        """One of this plugin's jobs, run after the commit (`track`: with a GET /v1/jobs/{id} status row)."""
        job_id = await enqueue_plugin_job(
            self._session, self.tenant_id, self.plugin, self._jobs, job_name, payload, track=track
        )
        self.wrote_outbox = True
        return job_id

    async def audit(
        self,
        action: str,
        *,
        resource_type: str | None = None,
        resource_id: str | None = None,
        changed_fields: Sequence[str] = (),
        details: dict[str, Any] | None = None,
        actor_key_id: uuid.UUID | None = None,
    ) -> None:
        """Append a record to the tenant's audit trail in this transaction (field names, never values)."""
        entry = AuditEntry(
            action=action,
            resource_type=resource_type,
            resource_id=resource_id,
            changed_fields=list(changed_fields),
            details=dict(details or {}),
            actor_kind="key" if actor_key_id else "system",
            actor_key_id=actor_key_id,
        )
        await AuditTrail(self._session, self.tenant_id).append([entry])


# Opens a TenantTransaction for a tenant; the worker and the request path each provide their own.
TransactionOpener = Callable[[], Any]


class JobContext:
    """What a plugin's job function gets when it declares a `ctx` parameter: the tenant it runs for, its
    settings, progress reporting and transactions under the tenant's scope. Never a platform-wide session.

        async def remind(ctx: JobContext, document_id: str) -> dict:
            async with ctx.transaction() as tx:
                doc = await tx.repository(DocumentRepository).get(uuid.UUID(document_id))
                await tx.emit("docs.reminder.sent", {"document_id": document_id})
            await ctx.report_progress(1.0, "done")
    """

    def __init__(
        self,
        *,
        plugin: str,
        job_name: str,
        tenant_id: uuid.UUID,
        job_id: str | None,
        settings: Any,
        transaction: Callable[[], Any],
        progress: Progress,
    ) -> None:
        self.plugin = plugin
        self.job_name = job_name
        self.tenant_id = tenant_id
        self.job_id = job_id  # the GET /v1/jobs/{id} id when the job was enqueued with track=True
        self.settings = settings  # the tenant's settings for the plugin (its Struct; defaults if unset)
        self._transaction = transaction
        self._progress = progress

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[TenantTransaction]:
        """A transaction in this job's tenant scope; commits when the block ends without an exception."""
        async with self._transaction() as tx:
            yield tx

    async def report_progress(self, fraction: float, message: str | None = None) -> None:
        """Move the job's progress bar (0-1, with a short message); a no-op for untracked jobs."""
        await self._progress(fraction, message)


# --- schedules --------------------------------------------------------------------------------------------

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 7))
_PART = re.compile(r"^(\*|\d{1,2}(-\d{1,2})?)(/\d{1,2})?$")


def parse_cron(expression: str) -> dict[str, int | set[int] | None]:
    """A five-field cron expression ("*/15 * * * *": minute hour day month weekday, weekday 0 or 7 =
    Sunday) as arq's `cron()` keyword arguments. Supports `*`, `N`, `A-B`, `*/K`, `A-B/K` and lists."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"cron {expression!r}: five fields expected (minute hour day month weekday)")
    result: dict[str, int | set[int] | None] = {}
    for text, (name, low, high) in zip(fields, _FIELDS, strict=True):
        if text == "*":
            result[name] = None
            continue
        values: set[int] = set()
        for part in text.split(","):
            if not _PART.match(part):
                raise ValueError(f"cron {expression!r}: cannot read {name} {part!r}")
            head, _, step_text = part.partition("/")
            step = int(step_text) if step_text else 1
            if head == "*":
                start, end = low, high
            elif "-" in head:
                start, end = (int(x) for x in head.split("-"))
            else:
                start = end = int(head)
            if not (low <= start <= end <= high) or step < 1:
                raise ValueError(f"cron {expression!r}: {name} {part!r} is outside {low}-{high}")
            values.update(range(start, end + 1, step))
        if name == "weekday":  # cron counts from Sunday, arq (Python) from Monday
            values = {(v - 1) % 7 for v in values}
        result[name] = values
    return result
