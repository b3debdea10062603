"""The relay: committed outbox rows -> arq jobs, at least once.

It runs in the worker. It sweeps on every wake-up (published after a commit) and at least every second
otherwise, so rows left behind by a crash between commit and wake-up are relayed anyway (the reconciler).
Rows are claimed with FOR UPDATE SKIP LOCKED, so several workers relay without stepping on each other, and
each arq job id is the row's job_id, so a row relayed twice (enqueued, then the commit marking it was lost)
still runs once while arq remembers the id, and at least once in any case: handlers are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping

import redis.asyncio as aioredis
import structlog
from arq.connections import ArqRedis
from sqlalchemy import select, update

from lumen.core.db.base import utcnow
from lumen.core.db.session import Database
from lumen.core.jobs.models import OutboxMessage
from lumen.core.jobs.outbox import WAKE_CHANNEL
from lumen.core.jobs.queues import queue_for
from lumen.core.tenancy.context import PLATFORM

__all__ = ["OutboxRelay"]

log = structlog.get_logger()

_BATCH = 500
_SWEEP_SECONDS = 1.0
# After a wake-up, the relay waits this long for more commits before it sweeps: a burst of small
# transactions is relayed as a few full batches (and batch jobs) instead of one small one per commit.
_COALESCE_SECONDS = 0.02
_RESCUE_SECONDS = 30.0


class OutboxRelay:
    """`batches` maps a job to the job that takes many of its payloads at once, and how many: due rows of
    that job for one tenant are relayed as one batch job (payload: tenant_id and the rows' payloads as
    `items`) instead of one job each. A deferred row is always relayed on its own, at its time."""

    def __init__(
        self,
        db: Database,
        arq: ArqRedis,
        redis: aioredis.Redis,
        *,
        batches: Mapping[str, tuple[str, int]] | None = None,
    ) -> None:
        self._db = db
        self._arq = arq
        self._redis = redis
        self._batches = dict(batches or {})
        self._task: asyncio.Task[None] | None = None

    async def relay_once(self) -> int:
        """Move one batch; returns how many rows were relayed."""
        async with self._db.transaction(PLATFORM) as session:
            rows = (
                await session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.relayed_at.is_(None))
                    .order_by(OutboxMessage.created_at)
                    .limit(_BATCH)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            now = utcnow()
            singles: list[OutboxMessage] = []
            grouped: dict[tuple[str, uuid.UUID], list[OutboxMessage]] = defaultdict(list)
            for row in rows:
                due = row.defer_until is None or row.defer_until <= now
                if row.job in self._batches and due:
                    grouped[(row.job, row.tenant_id)].append(row)
                else:
                    singles.append(row)
            for (job, tenant_id), group in grouped.items():
                batch_job, size = self._batches[job]
                for start in range(0, len(group), size):
                    chunk = group[start : start + size]
                    if len(chunk) == 1:
                        singles.append(chunk[0])
                        continue
                    # The first row's job id names the batch: relayed again (the commit below lost), the
                    # same rows in the same order make the same batch, which arq runs once.
                    await self._arq.enqueue_job(
                        batch_job,
                        _job_id=f"batch:{chunk[0].job_id}",
                        _queue_name=queue_for(batch_job),
                        tenant_id=str(tenant_id),
                        items=[row.payload for row in chunk],
                    )
            for row in singles:
                deferred = row.defer_until is not None and row.defer_until > now
                await self._arq.enqueue_job(
                    row.job,
                    _job_id=row.job_id,
                    _queue_name=queue_for(row.job),
                    _defer_until=row.defer_until if deferred else None,
                    **row.payload,
                )
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_([row.id for row in rows]))
                .values(relayed_at=now)
                .execution_options(synchronize_session=False)
            )
        return len(rows)

    async def rescue_stalled(self) -> int:
        """Deliveries whose next attempt is long overdue (their job was lost: it exhausted arq's tries on a
        database outage, or Redis lost it) are queued again. Runs with the sweep."""
        from lumen.core.webhooks.service import requeue_stalled

        async with self._db.transaction(PLATFORM) as session:
            return await requeue_stalled(session)

    async def run(self) -> None:
        wake = asyncio.Event()

        async def listen() -> None:
            while True:
                try:
                    async with self._redis.pubsub() as pubsub:
                        await pubsub.subscribe(WAKE_CHANNEL)
                        async for message in pubsub.listen():
                            if message.get("type") == "message":
                                wake.set()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("jobs.relay_listener_failed", error_type=type(exc).__name__)
                    await asyncio.sleep(1.0)

        listener = asyncio.create_task(listen())
        next_rescue = time.monotonic() + _RESCUE_SECONDS
        try:
            while True:
                try:
                    while await self.relay_once() == _BATCH:
                        pass  # a backlog: keep going
                    if time.monotonic() >= next_rescue:
                        next_rescue = time.monotonic() + _RESCUE_SECONDS
                        if rescued := await self.rescue_stalled():
                            log.warning("jobs.stalled_deliveries_requeued", count=rescued)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the database restarting: try again on the next sweep
                    log.error("jobs.relay_failed", error_type=type(exc).__name__)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), _SWEEP_SECONDS)
                    await asyncio.sleep(_COALESCE_SECONDS)
                wake.clear()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    def start(self) -> None:
        self._task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
