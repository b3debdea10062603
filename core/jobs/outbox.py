"""Writing work to the outbox inside the caller's transaction, and waking the relay once it commits.

The outbox row commits with the change that causes it, or not at all: no event without its change, no change
without its event. The relay (lumen.core.jobs.relay, in the worker) moves committed rows to arq; a
commit's after-hook publishes a wake-up so that happens within milliseconds, and the relay's periodic sweep
(the reconciler) picks up anything a crash left behind.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import redis.asyncio as aioredis
import structlog
from litestar.types import Scope
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.jobs.models import Job, OutboxMessage

__all__ = ["WAKE_CHANNEL", "create_job", "enqueue", "wake", "wake_after_commit"]

log = structlog.get_logger()

WAKE_CHANNEL = "lumen:outbox:wake"


async def enqueue(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    job: str,
    payload: dict[str, Any],
    *,
    job_id: str | None = None,
    defer_until: datetime | None = None,
    flush: bool = True,
) -> OutboxMessage:
    """Queue `job` to run after this transaction commits. `job_id` makes repeats run once (arq dedupes).
    `flush=False` leaves the row to the session's next flush (at the latest, the commit): for callers that
    write many rows in a loop."""
    message = OutboxMessage(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        job=job,
        payload=payload,
        defer_until=defer_until,
    )
    message.job_id = job_id or str(message.id)
    session.add(message)
    if flush:
        await session.flush()
    return message


async def create_job(session: AsyncSession, tenant_id: uuid.UUID, name: str, payload: dict[str, Any]) -> Job:
    """Long work a client watches through GET /v1/jobs/{id}: a status row plus its outbox entry."""
    job = Job(id=uuid.uuid4(), tenant_id=tenant_id, name=name, state="queued", progress=0.0, attempts=0)
    session.add(job)
    await session.flush()
    await enqueue(session, tenant_id, name, {**payload, "job_id": str(job.id)}, job_id=str(job.id))
    return job


async def wake(redis: aioredis.Redis) -> None:
    try:
        await redis.publish(WAKE_CHANNEL, b"1")
    except Exception as exc:  # the relay's sweep still finds the rows
        log.warning("jobs.wake_failed", error_type=type(exc).__name__)


def wake_after_commit(scope: Scope) -> None:
    """Call in a request that wrote outbox rows: the relay is woken once they are committed."""
    from lumen.core.db.unit_of_work import unit_of_work

    redis: aioredis.Redis = scope["litestar_app"].state.redis

    async def done() -> None:
        await wake(redis)

    unit_of_work(scope).after_commit(done)
