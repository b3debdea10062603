"""Emitting events and delivering them.

`emit` runs inside the transaction of the change that caused the event: the event, one delivery per
subscribed endpoint and their outbox rows commit together (or not at all). `deliver` is the worker's job:
sign, POST, record the attempt, and either finish or schedule the next attempt through the outbox.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import msgspec
import structlog
from sqlalchemy import Select, literal_column, select
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from lumen.core.crypto import Sealer
from lumen.core.db.base import utcnow
from lumen.core.db.session import Database
from lumen.core.jobs.outbox import enqueue
from lumen.core.settings import WebhookSettings
from lumen.core.tenancy.context import Scope
from lumen.core.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from lumen.core.webhooks.signing import new_message_id, sign
from lumen.core.webhooks.ssrf import PublicResolver, UnsafeURL, resolve_public

__all__ = [
    "BATCH_SIZE",
    "DELIVER_BATCH_JOB",
    "DELIVER_JOB",
    "KERNEL_EVENT_TYPES",
    "MAX_IN_FLIGHT",
    "attempt_deliveries",
    "deliver",
    "deliver_batch",
    "delivery_client",
    "emit",
    "endpoint_secrets",
    "seal_secret",
]

log = structlog.get_logger()

DELIVER_JOB = "webhooks.deliver"
DELIVER_BATCH_JOB = "webhooks.deliver_batch"
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
    """Record an event and queue a delivery to each enabled endpoint subscribed to it (or to one endpoint),
    all committed with the caller's transaction. The caller must make the commit wake the relay
    (lumen.core.jobs.outbox.wake_after_commit)."""
    event = WebhookEvent(
        id=uuid.uuid4(), tenant_id=tenant_id, type=event_type, data=data, created_at=utcnow()
    )
    session.add(event)
    for subscriber_id, event_types in await _subscribers(session, tenant_id):
        if endpoint_id is not None:
            if subscriber_id == endpoint_id:
                await queue_delivery(session, event, subscriber_id)
        elif not event_types or event_type in event_types:
            await queue_delivery(session, event, subscriber_id)
    # The rows go in with the session's next flush or its commit: a transaction that emits many events
    # writes them in a few multi-row INSERTs.
    return event


_SUBSCRIBERS = "lumen.webhooks.subscribers"


async def _subscribers(session: AsyncSession, tenant_id: uuid.UUID) -> list[tuple[uuid.UUID, list[str]]]:
    """The tenant's enabled endpoints (id, event-type filter), read once per transaction: a request or job
    that emits many events reads them once, and their rows go in together at the next flush. An endpoint
    added, changed or deleted in the session since (flushed or not) makes the next call read them again."""
    cached: dict[uuid.UUID, list[tuple[uuid.UUID, list[str]]]] | None = session.info.get(_SUBSCRIBERS)
    if cached is not None and tenant_id in cached and not _endpoint_writes_pending(session.sync_session):
        return cached[tenant_id]
    rows = await session.execute(  # autoflushes pending writes first, endpoints included
        select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(
            WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.enabled
        )
    )
    found = [(row.id, list(row.event_types or ())) for row in rows]
    session.info.setdefault(_SUBSCRIBERS, {})[tenant_id] = found
    return found


def _endpoint_writes_pending(session: Session) -> bool:
    return any(isinstance(obj, WebhookEndpoint) for obj in (*session.new, *session.dirty, *session.deleted))


@sa_event.listens_for(Session, "before_flush")
def _forget_subscribers(session: Session, _context: Any, _instances: Any) -> None:
    if _SUBSCRIBERS in session.info and _endpoint_writes_pending(session):
        del session.info[_SUBSCRIBERS]


@sa_event.listens_for(Session, "after_commit")
@sa_event.listens_for(Session, "after_rollback")
def _forget_subscribers_at_end(session: Session) -> None:
    session.info.pop(_SUBSCRIBERS, None)


async def queue_delivery(
    session: AsyncSession, event: WebhookEvent, endpoint_id: uuid.UUID, message_id: str | None = None
) -> WebhookDelivery:
    delivery = WebhookDelivery(
        id=uuid.uuid4(),
        tenant_id=event.tenant_id,
        event_id=event.id,
        event=event,
        endpoint_id=endpoint_id,
        message_id=message_id or new_message_id(),
        state="pending",
        attempt_count=0,
        next_attempt_at=utcnow(),
    )
    session.add(delivery)
    # Both rows go in with the caller's next flush or its commit: one round trip for all of an event's
    # deliveries (the event itself is flushed by the endpoint query that precedes them).
    await enqueue(
        session,
        event.tenant_id,
        DELIVER_JOB,
        {"tenant_id": str(event.tenant_id), "delivery_id": str(delivery.id)},
        job_id=f"{delivery.id}:0",
        flush=False,
    )
    return delivery


# A pending delivery this far past its next attempt has lost its job.
STALLED_AFTER = timedelta(minutes=2)


def stalled_deliveries(cutoff: datetime) -> Select[WebhookDelivery]:
    """Pending deliveries whose next attempt was due before `cutoff` (a batch, locked for this sweep)."""
    return (
        select(WebhookDelivery)
        # 'pending' written into the statement, not bound: the planner then matches the partial index of
        # pending rows (migration 0021) in every plan, the generic one of a prepared statement too.
        .where(WebhookDelivery.state == literal_column("'pending'"), WebhookDelivery.next_attempt_at < cutoff)
        .limit(500)
        .with_for_update(skip_locked=True)
    )


async def requeue_stalled(session: AsyncSession) -> int:
    """Platform scope (the relay): queue a fresh attempt for every pending delivery that is overdue."""
    stalled = (await session.scalars(stalled_deliveries(utcnow() - STALLED_AFTER))).all()
    now = utcnow()
    for delivery in stalled:
        delivery.next_attempt_at = now
        rescued = f"{delivery.id}:{delivery.attempt_count}:rescued-{int(now.timestamp())}"
        await _queue_attempt(session, delivery.tenant_id, delivery.id, rescued)
    return len(stalled)


async def _queue_attempt(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    delivery_id: uuid.UUID,
    job_id: str,
    *,
    defer_until: datetime | None = None,
) -> None:
    """A `webhooks.deliver` job for one more attempt of a delivery (a retry, a rescue, a deferred send)."""
    await enqueue(
        session,
        tenant_id,
        DELIVER_JOB,
        {"tenant_id": str(tenant_id), "delivery_id": str(delivery_id)},
        job_id=job_id,
        defer_until=defer_until,
    )


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


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after", "")
    return float(value) if value.isdigit() else None


async def deliver(ctx: dict[str, Any], *, tenant_id: str, delivery_id: str) -> str:
    """The `webhooks.deliver` job: one attempt of one delivery (retries and rescues). Idempotent: a finished
    delivery is left alone."""
    outcomes = await attempt_deliveries(ctx, uuid.UUID(tenant_id), [uuid.UUID(delivery_id)])
    return next(iter(outcomes.values()), "nothing to do")


async def deliver_batch(ctx: dict[str, Any], *, tenant_id: str, items: list[dict[str, Any]]) -> str:
    """The `webhooks.deliver_batch` job: the first attempt of up to BATCH_SIZE deliveries of one tenant,
    sent concurrently, read and recorded in one transaction each instead of two per delivery. The relay
    groups due `webhooks.deliver` rows into it (lumen.core.jobs.relay); a retry is a `webhooks.deliver`
    job of its own, deferred to its time."""
    ids = [uuid.UUID(str(item["delivery_id"])) for item in items]
    outcomes = await attempt_deliveries(ctx, uuid.UUID(tenant_id), ids)
    counts = Counter(outcome.split(" ", 1)[0] for outcome in outcomes.values())
    return ", ".join(f"{n} {word}" for word, n in sorted(counts.items()))


# Deliveries one batch job sends at most (they go out concurrently, so a batch takes about one attempt's
# time: well inside jobs.job_timeout_seconds).
BATCH_SIZE = 32
# Requests one batch sends to one endpoint at once.
PER_ENDPOINT = 16
# Requests one worker process has in flight at most; the HTTP client's connection pool has as many
# connections, so an attempt never waits for a connection inside its own timeout.
MAX_IN_FLIGHT = 100


def delivery_client(settings: WebhookSettings) -> aiohttp.ClientSession:
    """The worker's HTTP client for deliveries: MAX_IN_FLIGHT connections, no redirects followed (a webhook
    that redirects elsewhere must not bypass the address checks), and a resolver that refuses non-public
    addresses at connect time. aiohttp, not httpx: on the same deliveries it spends about a tenth of the CPU
    per request (bench/webhooks.py notes the measurement), which is what bounds a worker's throughput."""
    connector = aiohttp.TCPConnector(
        limit=MAX_IN_FLIGHT, resolver=PublicResolver(allow_private=settings.allow_private)
    )
    return aiohttp.ClientSession(connector=connector, auto_decompress=False, trust_env=False)


@dataclass(slots=True)
class _Send:
    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    url: str
    message_id: str
    body: bytes
    secrets: list[str]
    attempt: int


@dataclass(slots=True)
class _Result:
    status: int | None = None
    error: str | None = None
    excerpt: str | None = None
    retry_after: float | None = None
    duration_ms: float = 0.0
    sent: bool = True  # False: not attempted before the job's deadline; queued again as it was


async def attempt_deliveries(
    ctx: dict[str, Any], tenant: uuid.UUID, delivery_ids: list[uuid.UUID]
) -> dict[uuid.UUID, str]:
    """One attempt for each pending delivery among `delivery_ids` (one tenant's): read them with their
    endpoints and events, sign and POST them concurrently, then record every attempt and its consequence
    (success, retry, give-up, endpoint disabled) under row locks, so a delivery finished meanwhile by
    another worker is left as it is. Returns each delivery's outcome."""
    db: Database = ctx["db"]
    sealer: Sealer = ctx["sealer"]
    scope = Scope.tenant(tenant)
    outcomes: dict[uuid.UUID, str] = dict.fromkeys(delivery_ids, "nothing to do")
    sends: list[_Send] = []
    async with db.transaction(scope) as session:
        rows = (
            await session.execute(
                select(WebhookDelivery, WebhookEndpoint, WebhookEvent)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
                .where(WebhookDelivery.id.in_(delivery_ids), WebhookDelivery.state == "pending")
            )
        ).all()
        signing: dict[uuid.UUID, list[str]] = {}
        for delivery, endpoint, event in rows:
            if not endpoint.enabled:
                delivery.state = "failed"
                outcomes[delivery.id] = "endpoint disabled"
                continue
            if endpoint.id not in signing:
                signing[endpoint.id] = endpoint_secrets(sealer, endpoint)
            sends.append(
                _Send(
                    delivery.id,
                    endpoint.id,
                    endpoint.url,
                    delivery.message_id,
                    _body(event),
                    signing[endpoint.id],
                    delivery.attempt_count + 1,
                )
            )
    if not sends:
        return outcomes
    results = await _send_all(ctx, sends)
    requeued = False
    async with db.transaction(scope) as session:
        locked = {
            d.id: d
            for d in (
                await session.scalars(
                    select(WebhookDelivery)
                    .where(WebhookDelivery.id.in_([s.delivery_id for s in sends]))
                    .order_by(WebhookDelivery.id)
                    .with_for_update()
                )
            ).all()
        }
        endpoints = {
            e.id: e
            for e in (
                await session.scalars(
                    select(WebhookEndpoint).where(WebhookEndpoint.id.in_({s.endpoint_id for s in sends}))
                )
            ).all()
        }
        for send, result in zip(sends, results, strict=True):
            locked_delivery, found_endpoint = locked.get(send.delivery_id), endpoints.get(send.endpoint_id)
            if locked_delivery is None or found_endpoint is None or locked_delivery.state != "pending":
                outcomes[send.delivery_id] = "finished meanwhile"
                continue
            outcome, retry = await _record(
                ctx, session, tenant, locked_delivery, found_endpoint, send, result
            )
            outcomes[send.delivery_id] = outcome
            requeued = requeued or retry
    if requeued:
        await _wake(ctx)
    return outcomes


async def _send_all(ctx: dict[str, Any], sends: list[_Send]) -> list[_Result]:
    settings: WebhookSettings = ctx["settings"].webhooks
    client: aiohttp.ClientSession = ctx["http"]
    timeout = aiohttp.ClientTimeout(total=settings.timeout_seconds)
    slots: asyncio.Semaphore = ctx["http_slots"]
    # An attempt not started by then is not made: the job must finish (and record what it sent) well
    # before arq's job timeout cancels it.
    deadline = time.monotonic() + max(
        1.0, ctx["settings"].jobs.job_timeout_seconds - settings.timeout_seconds - 10
    )
    # Each URL's host is resolved and checked once per batch.
    unsafe: dict[str, str | None] = {}
    for url in {s.url for s in sends}:
        try:
            await resolve_public(url, allow_private=settings.allow_private)
            unsafe[url] = None
        except UnsafeURL as exc:
            unsafe[url] = str(exc)

    # A receiver gets at most PER_ENDPOINT requests at once from one batch.
    per_endpoint = {
        endpoint_id: asyncio.Semaphore(PER_ENDPOINT) for endpoint_id in {s.endpoint_id for s in sends}
    }

    async def send(item: _Send) -> _Result:
        if unsafe[item.url] is not None:
            return _Result(error=unsafe[item.url])
        async with per_endpoint[item.endpoint_id], slots:
            if time.monotonic() > deadline:
                return _Result(sent=False)
            started = time.perf_counter()
            result = _Result()
            try:
                timestamp = int(time.time())
                async with client.post(
                    item.url,
                    data=item.body,
                    timeout=timeout,
                    allow_redirects=False,
                    headers={
                        "content-type": "application/json",
                        "webhook-id": item.message_id,
                        "webhook-timestamp": str(timestamp),
                        "webhook-signature": sign(item.secrets, item.message_id, timestamp, item.body),
                        "user-agent": "Lumen-Webhooks/1",
                    },
                ) as response:
                    head = await response.content.read(_EXCERPT * 4)  # the rest is not needed
                    result.status, result.retry_after = response.status, _retry_after(response.headers)
                    result.excerpt = head.decode("utf-8", errors="replace")[:_EXCERPT]
            except (aiohttp.ClientError, TimeoutError) as exc:
                result.error = f"{type(exc).__name__}: {str(exc)[:200]}"
            result.duration_ms = round((time.perf_counter() - started) * 1000, 1)
            return result

    return list(await asyncio.gather(*(send(item) for item in sends)))


async def _record(
    ctx: dict[str, Any],
    session: AsyncSession,
    tenant: uuid.UUID,
    delivery: WebhookDelivery,
    endpoint: WebhookEndpoint,
    send: _Send,
    result: _Result,
) -> tuple[str, bool]:
    """Record one attempt and decide what follows. Returns the outcome and whether a job was queued."""
    settings: WebhookSettings = ctx["settings"].webhooks
    now = utcnow()
    if not result.sent:
        later = f"{delivery.id}:{delivery.attempt_count}:later-{int(now.timestamp())}"
        await _queue_attempt(session, tenant, delivery.id, later)
        return "not attempted (the batch ran out of time): queued again", True
    session.add(
        WebhookAttempt(
            tenant_id=tenant,
            delivery_id=delivery.id,
            attempt=send.attempt,
            status_code=result.status,
            duration_ms=result.duration_ms,
            response_excerpt=result.excerpt,
            error=result.error,
        )
    )
    status = result.status
    delivery.attempt_count, delivery.last_status = send.attempt, status
    if status is not None and 200 <= status < 300:
        delivery.state, delivery.next_attempt_at = "succeeded", None
        if endpoint.failing_since is not None:
            endpoint.failing_since = None
        return "delivered", False
    if not endpoint.enabled:  # disabled by an earlier delivery of this batch
        delivery.state, delivery.next_attempt_at = "failed", None
        return "endpoint disabled", False
    endpoint.failing_since = endpoint.failing_since or now
    if status == 410:
        await _disable(session, endpoint, "the endpoint answered 410 Gone")
        delivery.state, delivery.next_attempt_at = "failed", None
        return "gone (410): endpoint disabled", True
    if (now - endpoint.failing_since).total_seconds() >= settings.disable_after_seconds:
        await _disable(session, endpoint, "failing for too long")
        delivery.state, delivery.next_attempt_at = "failed", None
        return "endpoint disabled after failing too long", True
    schedule = settings.retry_schedule_seconds
    if send.attempt >= len(schedule):
        delivery.state, delivery.next_attempt_at = "failed", None
        return "gave up", False
    delay = schedule[send.attempt] * random.uniform(0.9, 1.1)  # noqa: S311 - jitter, not security
    if result.retry_after is not None:
        delay = max(delay, result.retry_after)
    delivery.next_attempt_at = now + timedelta(seconds=delay)
    await _queue_attempt(
        session, tenant, delivery.id, f"{delivery.id}:{send.attempt}", defer_until=delivery.next_attempt_at
    )
    return f"attempt {send.attempt} failed ({status or result.error}); retry in {delay:.1f} s", True


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
            await queue_delivery(session, event, other.id)


async def _wake(ctx: dict[str, Any]) -> None:
    from lumen.core.jobs.outbox import wake

    await wake(ctx["redis"])
