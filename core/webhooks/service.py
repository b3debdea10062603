"""Emitting events and delivering them.

`emit` runs inside the transaction of the change that caused the event: the event, one delivery per
subscribed endpoint and their outbox rows commit together (or not at all). `deliver` is the worker's job:
sign, POST, record the attempt, and either finish or schedule the next attempt through the outbox.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
import msgspec
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.crypto import Sealer
from lumen.core.db.base import utcnow
from lumen.core.db.session import Database
from lumen.core.jobs.outbox import enqueue
from lumen.core.settings import WebhookSettings
from lumen.core.tenancy.context import Scope
from lumen.core.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from lumen.core.webhooks.signing import new_message_id, sign
from lumen.core.webhooks.ssrf import UnsafeURL, resolve_public

__all__ = ["DELIVER_JOB", "KERNEL_EVENT_TYPES", "deliver", "emit", "endpoint_secrets", "seal_secret"]

log = structlog.get_logger()

DELIVER_JOB = "webhooks.deliver"
_SECRET_PURPOSE = "webhook-secret"  # noqa: S105 - a key-derivation label, not a secret
_EXCERPT = 1000

# Event types the kernel emits; plugins register theirs (register_webhook_events).
KERNEL_EVENT_TYPES = {
    "api_key.created": "An API key was issued (id, name, prefix, scopes; never the secret).",
    "api_key.revoked": "An API key was revoked.",
    "endpoint.disabled": "A webhook endpoint was disabled (410 Gone, or failing for days).",
    "webhook.test": "Sent on request by POST /v1/webhooks/endpoints/{id}/test.",
    "usage.threshold_reached": "The tenant crossed a configured share of a quota.",
}


def threshold_listener(db: Database, redis: Any) -> Any:
    """Emits `usage.threshold_reached` when the usage meter reports a tenant crossing a quota share."""
    from lumen.core.jobs.outbox import wake

    async def listen(tenant_id: uuid.UUID, quota: str, share: float) -> None:
        async with db.transaction(Scope.tenant(tenant_id)) as session:
            await emit(
                session,
                tenant_id,
                "usage.threshold_reached",
                {"quota": quota, "share": share, "date": utcnow().date().isoformat()},
            )
        await wake(redis)

    return listen


def seal_secret(sealer: Sealer, endpoint_id: uuid.UUID, secret: str) -> bytes:
    return sealer.seal(_SECRET_PURPOSE, endpoint_id.bytes, secret.encode())


def endpoint_secrets(sealer: Sealer, endpoint: WebhookEndpoint) -> list[str]:
    """The secrets that sign now: the current one, and the previous one during a rotation's overlap."""
    found = []
    current = sealer.open(_SECRET_PURPOSE, endpoint.id.bytes, endpoint.secret_sealed)
    if current is not None:
        found.append(current.decode())
    if (
        endpoint.previous_secret_sealed is not None
        and endpoint.previous_secret_expires_at is not None
        and endpoint.previous_secret_expires_at > utcnow()
    ):
        previous = sealer.open(_SECRET_PURPOSE, endpoint.id.bytes, endpoint.previous_secret_sealed)
        if previous is not None:
            found.append(previous.decode())
    return found


async def emit(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    event_type: str,
    data: dict[str, Any],
    *,
    endpoint_id: uuid.UUID | None = None,
) -> WebhookEvent:
    """Record an event and queue a delivery to each enabled endpoint subscribed to it (or to one endpoint).
    The caller must make the commit wake the relay (lumen.core.jobs.outbox.wake_after_commit)."""
    event = WebhookEvent(id=uuid.uuid4(), tenant_id=tenant_id, type=event_type, data=data)
    session.add(event)
    query = select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.enabled)
    if endpoint_id is not None:
        query = query.where(WebhookEndpoint.id == endpoint_id)
    for endpoint in (await session.scalars(query)).all():
        if endpoint.event_types and event_type not in endpoint.event_types and endpoint_id is None:
            continue
        await queue_delivery(session, event, endpoint)
    await session.flush()
    return event


async def queue_delivery(
    session: AsyncSession, event: WebhookEvent, endpoint: WebhookEndpoint, message_id: str | None = None
) -> WebhookDelivery:
    delivery = WebhookDelivery(
        id=uuid.uuid4(),
        tenant_id=event.tenant_id,
        event_id=event.id,
        endpoint_id=endpoint.id,
        message_id=message_id or new_message_id(),
        state="pending",
        attempt_count=0,
        next_attempt_at=utcnow(),
    )
    session.add(delivery)
    await session.flush()
    await enqueue(
        session,
        event.tenant_id,
        DELIVER_JOB,
        {"tenant_id": str(event.tenant_id), "delivery_id": str(delivery.id)},
        job_id=f"{delivery.id}:0",
    )
    return delivery


# A pending delivery this far past its next attempt has lost its job.
STALLED_AFTER = timedelta(minutes=2)


async def requeue_stalled(session: AsyncSession) -> int:
    """Platform scope (the relay): queue a fresh attempt for every pending delivery that is overdue."""
    cutoff = utcnow() - STALLED_AFTER
    stalled = (
        await session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at < cutoff)
            .limit(500)
            .with_for_update(skip_locked=True)
        )
    ).all()
    now = utcnow()
    for delivery in stalled:
        delivery.next_attempt_at = now
        await enqueue(
            session,
            delivery.tenant_id,
            DELIVER_JOB,
            {"tenant_id": str(delivery.tenant_id), "delivery_id": str(delivery.id)},
            job_id=f"{delivery.id}:{delivery.attempt_count}:rescued-{int(now.timestamp())}",
        )
    return len(stalled)


def _body(event: WebhookEvent) -> bytes:
    # Standard Webhooks payload shape: type, timestamp, data.
    return msgspec.json.encode(
        {
            "type": event.type,
            "timestamp": event.created_at.isoformat(),
            "data": event.data,
            "id": str(event.id),
        }
    )


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


async def deliver(ctx: dict[str, Any], *, tenant_id: str, delivery_id: str) -> str:
    """The `webhooks.deliver` job: one attempt. Idempotent: a finished delivery is left alone."""
    db: Database = ctx["db"]
    sealer: Sealer = ctx["sealer"]
    settings: WebhookSettings = ctx["settings"].webhooks
    client: httpx.AsyncClient = ctx["http"]
    tenant = uuid.UUID(tenant_id)
    scope = Scope.tenant(tenant)
    async with db.transaction(scope) as session:
        delivery = await session.get(WebhookDelivery, uuid.UUID(delivery_id))
        if delivery is None or delivery.state != "pending":
            return "nothing to do"
        endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id)
        event = await session.get(WebhookEvent, delivery.event_id)
        if endpoint is None or event is None:
            return "gone"
        if not endpoint.enabled:
            delivery.state = "failed"
            return "endpoint disabled"
        url, message_id, body = endpoint.url, delivery.message_id, _body(event)
        signing = endpoint_secrets(sealer, endpoint)
        attempt = delivery.attempt_count + 1
    status: int | None = None
    error: str | None = None
    excerpt: str | None = None
    retry_after: float | None = None
    started = time.perf_counter()
    try:
        await resolve_public(url, allow_private=settings.allow_private)
        timestamp = int(time.time())
        response = await client.post(
            url,
            content=body,
            timeout=settings.timeout_seconds,
            headers={
                "content-type": "application/json",
                "webhook-id": message_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(signing, message_id, timestamp, body),
                "user-agent": "Lumen-Webhooks/1",
            },
        )
        status, excerpt, retry_after = response.status_code, response.text[:_EXCERPT], _retry_after(response)
    except UnsafeURL as exc:
        error = str(exc)
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {str(exc)[:200]}"
    duration = (time.perf_counter() - started) * 1000
    async with db.transaction(scope) as session:
        delivery = await session.get(WebhookDelivery, uuid.UUID(delivery_id), with_for_update=True)
        endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id) if delivery else None
        if delivery is None or endpoint is None or delivery.state != "pending":
            return "finished meanwhile"
        session.add(
            WebhookAttempt(
                tenant_id=tenant,
                delivery_id=delivery.id,
                attempt=attempt,
                status_code=status,
                duration_ms=round(duration, 1),
                response_excerpt=excerpt,
                error=error,
            )
        )
        delivery.attempt_count, delivery.last_status = attempt, status
        now = utcnow()
        if status is not None and 200 <= status < 300:
            delivery.state, delivery.next_attempt_at = "succeeded", None
            endpoint.failing_since = None
            return "delivered"
        endpoint.failing_since = endpoint.failing_since or now
        if status == 410:
            await _disable(session, endpoint, "the endpoint answered 410 Gone")
            delivery.state, delivery.next_attempt_at = "failed", None
            return "gone (410): endpoint disabled"
        if (now - endpoint.failing_since).total_seconds() >= settings.disable_after_seconds:
            await _disable(session, endpoint, "failing for too long")
            delivery.state, delivery.next_attempt_at = "failed", None
            return "endpoint disabled after failing too long"
        schedule = settings.retry_schedule_seconds
        if attempt >= len(schedule):
            delivery.state, delivery.next_attempt_at = "failed", None
            return "gave up"
        delay = schedule[attempt] * random.uniform(0.9, 1.1)  # noqa: S311 - jitter, not security
        if retry_after is not None:
            delay = max(delay, retry_after)
        delivery.next_attempt_at = now + timedelta(seconds=delay)
        await enqueue(
            session,
            tenant,
            DELIVER_JOB,
            {"tenant_id": tenant_id, "delivery_id": delivery_id},
            job_id=f"{delivery_id}:{attempt}",
            defer_until=delivery.next_attempt_at,
        )
    await _wake(ctx)
    return f"attempt {attempt} failed ({status or error}); retry in {delay:.1f} s"


async def _disable(session: AsyncSession, endpoint: WebhookEndpoint, reason: str) -> None:
    endpoint.enabled, endpoint.disabled_reason = False, reason
    log.warning("webhooks.endpoint_disabled", endpoint_id=str(endpoint.id), reason=reason)
    event = WebhookEvent(
        id=uuid.uuid4(),
        tenant_id=endpoint.tenant_id,
        type="endpoint.disabled",
        data={"endpoint_id": str(endpoint.id), "reason": reason},
    )
    session.add(event)
    # Other enabled endpoints of the tenant hear about it.
    others = (
        await session.scalars(
            select(WebhookEndpoint).where(
                WebhookEndpoint.tenant_id == endpoint.tenant_id,
                WebhookEndpoint.enabled,
                WebhookEndpoint.id != endpoint.id,
            )
        )
    ).all()
    for other in others:
        if not other.event_types or "endpoint.disabled" in other.event_types:
            await queue_delivery(session, event, other)


async def _wake(ctx: dict[str, Any]) -> None:
    from lumen.core.jobs.outbox import wake

    await wake(ctx["redis"])
