"""The arq worker: runs the kernel's and the plugins' jobs, and the outbox relay.

`lumen worker` runs it on its own; `lumen serve` starts one beside the API when embedded services are used,
so a single command gives a complete system. arq delivers at least once: every job is idempotent.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import inspect
import os
import signal
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import msgspec
import redis.asyncio as aioredis
import structlog
from arq.connections import RedisSettings, create_pool
from arq.cron import CronJob, cron
from arq.worker import Function, Retry, Worker, func
from sqlalchemy import select

from lumen.core.crypto import Sealer
from lumen.core.db import models as _all_models  # noqa: F401 - foreign keys to every table resolve
from lumen.core.db.base import utcnow
from lumen.core.db.session import Database
from lumen.core.jobs.models import Job
from lumen.core.jobs.outbox import enqueue, wake
from lumen.core.jobs.queues import JOBS_QUEUE, TRAINING_QUEUE
from lumen.core.jobs.relay import OutboxRelay
from lumen.core.keyfiles import read_or_create
from lumen.core.plugins.controllers import plugin_settings
from lumen.core.plugins.host import LoadedPlugin, PluginHost
from lumen.core.plugins.models import TenantPlugin
from lumen.core.settings import Settings
from lumen.core.tenancy.context import PLATFORM, Scope
from lumen.core.webhooks.service import (
    BATCH_SIZE,
    DELIVER_BATCH_JOB,
    DELIVER_JOB,
    MAX_IN_FLIGHT,
    deliver,
    deliver_batch,
    delivery_client,
)
from lumen.inference.retrieval.tasks import retrieval_functions, start_retrieval, stop_retrieval
from lumen.plugins.sdk.jobs import JobContext, TenantTransaction, parse_cron
from lumen.tenants.models import Tenant, TenantStatus

__all__ = ["build_worker", "health_key", "instance_secret", "redis_settings", "run_workers"]

log = structlog.get_logger()

_TRIES = 3


def redis_settings(url: str) -> RedisSettings:
    """arq's settings from a redis:// or unix:// URL (the embedded Redis listens on a unix socket)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return RedisSettings(unix_socket_path=parts.path)
    return RedisSettings.from_dsn(url)


def health_key() -> str:
    """The Redis key this host's worker refreshes while it polls (the container health check reads it)."""
    return f"lumen:worker-health:{socket.gethostname()}"


def instance_secret(settings: Settings) -> bytes:
    encoded = (
        settings.secret_key
        or read_or_create(
            settings.data_path / "secret.key", lambda: base64.b64encode(os.urandom(32)).decode()
        )[0]
    )
    secret = base64.b64decode(encoded)
    if len(secret) < 32:
        raise ValueError("LUMEN_SECRET_KEY must be base64 of at least 32 random bytes")
    return secret


_RESERVED = ("tenant_id", "job_id")


def _plugin_job(
    function: Callable[..., Awaitable[Any]], *, plugin: LoadedPlugin | None = None, job_name: str = ""
) -> Callable[..., Awaitable[Any]]:
    """Plugins get their payload, never the worker's resources. A job started with `create_job` (its payload
    carries `job_id`) has its status row kept: running, then succeeded with the result or failed with the
    error; a function that takes `report_progress` can move the progress bar (0-1, with a message). A
    function that takes `ctx` gets a JobContext: its tenant, its settings and transactions in the tenant's
    scope (the payload must then carry `tenant_id`, as `ctx.enqueue` and the scheduler always write)."""
    parameters = inspect.signature(function).parameters
    wants_progress = "report_progress" in parameters
    wants_ctx = "ctx" in parameters and plugin is not None

    @functools.wraps(function)
    async def run(ctx: dict[str, Any], **payload: Any) -> Any:
        job_id, tenant_id = payload.get("job_id"), payload.get("tenant_id")
        status = JobStatus(ctx["db"], job_id, tenant_id) if job_id and tenant_id else None
        progress = status.progress if status else _no_progress
        kwargs = dict(payload)
        if wants_ctx:
            assert plugin is not None
            if not tenant_id:
                raise ValueError(f"{job_name}: a job that takes ctx needs tenant_id in its payload")
            kwargs = {k: v for k, v in payload.items() if k not in _RESERVED or k in parameters}
            kwargs["ctx"] = await _job_context(ctx, plugin, job_name, uuid.UUID(tenant_id), job_id, progress)
        if wants_progress:
            kwargs["report_progress"] = progress
        if status is None:
            return await function(**kwargs)
        await status.start()
        try:
            result = await function(**kwargs)
        except Exception as exc:
            final = ctx["job_try"] >= _TRIES
            await status.finish(error=f"{type(exc).__name__}: {str(exc)[:1500]}", final=final)
            if final:
                raise
            # arq retries only what asks for it: back off 1 s, 2 s, 4 s...
            raise Retry(defer=2 ** (ctx["job_try"] - 1)) from exc
        await status.finish(result=result if isinstance(result, dict) else {"value": result})
        return result

    return run


async def _job_context(
    ctx: dict[str, Any],
    plugin: LoadedPlugin,
    job_name: str,
    tenant_id: uuid.UUID,
    job_id: str | None,
    progress: Callable[[float, str | None], Awaitable[None]],
) -> JobContext:
    db: Database = ctx["db"]
    scope = Scope.tenant(tenant_id)
    async with db.transaction(scope) as session:
        row = (
            await session.scalars(
                select(TenantPlugin).where(
                    TenantPlugin.tenant_id == tenant_id, TenantPlugin.plugin == plugin.name
                )
            )
        ).one_or_none()
    settings = plugin_settings(plugin, dict(row.settings) if row else None)

    @asynccontextmanager
    async def transaction() -> AsyncIterator[TenantTransaction]:
        async with db.transaction(scope) as session:
            tx = TenantTransaction(
                session, tenant_id, plugin=plugin.name, jobs=plugin.jobs.keys(), events=plugin.events.keys()
            )
            yield tx
        if tx.wrote_outbox:
            await wake(ctx["redis"])

    return JobContext(
        plugin=plugin.name,
        job_name=job_name,
        tenant_id=tenant_id,
        job_id=job_id,
        settings=settings,
        transaction=transaction,
        progress=progress,
    )


def _fan_out(plugin: LoadedPlugin, job_name: str) -> Callable[..., Awaitable[int]]:
    """The arq cron job of a scheduled plugin job: queue one run per tenant that has the plugin enabled,
    each written in that tenant's own scope (the run's id names the minute, so a repeat queues nothing
    new). Only the list of active tenants is read in platform scope."""

    async def fan_out(ctx: dict[str, Any]) -> int:
        db: Database = ctx["db"]
        slot = utcnow().strftime("%Y%m%dT%H%M")
        async with db.transaction(PLATFORM) as session:
            tenant_ids = (
                await session.scalars(select(Tenant.id).where(Tenant.status == TenantStatus.ACTIVE))
            ).all()
        queued = 0
        for tenant_id in tenant_ids:
            async with db.transaction(Scope.tenant(tenant_id)) as session:
                choice = (
                    await session.scalars(
                        select(TenantPlugin.enabled).where(
                            TenantPlugin.tenant_id == tenant_id, TenantPlugin.plugin == plugin.name
                        )
                    )
                ).one_or_none()
                if not (plugin.info.default_enabled if choice is None else choice):
                    continue
                await enqueue(
                    session,
                    tenant_id,
                    job_name,
                    {"tenant_id": str(tenant_id)},
                    job_id=f"{job_name}:{tenant_id}:{slot}",
                )
                queued += 1
        if queued:
            await wake(ctx["redis"])
        log.info("jobs.schedule_fanned_out", job=job_name, tenants=queued)
        return queued

    fan_out.__qualname__ = fan_out.__name__ = f"schedule_{job_name.replace('.', '_')}"
    return fan_out


async def _no_progress(fraction: float, message: str | None = None) -> None:
    return None


class JobStatus:
    """Writes one job's status row (tenant scope), each change in its own short transaction."""

    def __init__(self, db: Database, job_id: str, tenant_id: str) -> None:
        self._db, self._job_id, self._scope = db, uuid.UUID(job_id), Scope.tenant(uuid.UUID(tenant_id))

    async def _update(self, **changes: Any) -> None:
        async with self._db.transaction(self._scope) as session:
            job = await session.get(Job, self._job_id)
            if job is not None:
                for name, value in changes.items():
                    setattr(job, name, value)

    async def start(self) -> None:
        async with self._db.transaction(self._scope) as session:
            job = await session.get(Job, self._job_id)
            if job is not None:
                job.state, job.attempts, job.started_at, job.error = (
                    "running",
                    job.attempts + 1,
                    utcnow(),
                    None,
                )

    async def progress(self, fraction: float, message: str | None = None) -> None:
        await self._update(progress=min(1.0, max(0.0, float(fraction))), message=message)

    async def finish(
        self, *, result: dict[str, Any] | None = None, error: str | None = None, final: bool = True
    ) -> None:
        if error is None:
            await self._update(state="succeeded", progress=1.0, result=result, finished_at=utcnow())
        elif final:
            await self._update(state="failed", error=error, finished_at=utcnow())
        else:
            await self._update(state="queued", error=error)  # arq tries again


def build_worker(
    settings: Settings,
    *,
    queue: str = JOBS_QUEUE,
    burst: bool = False,
    plugins: Iterable[object] = (),
    run_schedules_at_startup: bool = False,
    handle_signals: bool | None = None,
) -> Worker:
    """The worker of one queue: JOBS_QUEUE (webhook deliveries, plugin and retrieval jobs, and the outbox
    relay) or TRAINING_QUEUE (training runs). `run_schedules_at_startup`: every scheduled job fans out once
    as the worker starts (tests, and an operator catching up after downtime), then keeps its schedule.
    `handle_signals` (default: not in burst mode): arq installs its own SIGTERM/SIGINT handlers; `run_workers`
    runs several workers in one process and handles the signals for all of them."""
    assert settings.redis.url is not None
    assert settings.database.url is not None
    if queue == TRAINING_QUEUE:
        return _training_worker(settings, burst=burst)
    host = PluginHost(allow=settings.plugins, extra=plugins)
    functions: list[Function] = [
        func(deliver, name=DELIVER_JOB, max_tries=3),
        func(deliver_batch, name=DELIVER_BATCH_JOB, max_tries=3),
    ]
    cron_jobs: list[CronJob] = []
    functions += retrieval_functions(_plugin_job, _TRIES)
    for plugin in host.plugins.values():
        for job in plugin.jobs.values():
            wrapped = _plugin_job(job.function, plugin=plugin, job_name=job.name)
            functions.append(func(wrapped, name=job.name, max_tries=_TRIES))  # type: ignore[arg-type]
            if job.cron is not None:
                cron_jobs.append(
                    cron(
                        _fan_out(plugin, job.name),  # type: ignore[arg-type]
                        name=f"{job.name}:schedule",
                        run_at_startup=run_schedules_at_startup,
                        **parse_cron(job.cron),  # type: ignore[arg-type]
                    )
                )

    async def startup(ctx: dict[str, Any]) -> None:
        assert settings.redis.url is not None
        ctx["settings"] = settings
        # One connection per concurrent job, so jobs never queue on the pool.
        ctx["db"] = Database(
            msgspec.structs.replace(settings.database, pool_size=settings.jobs.max_jobs, max_overflow=5)
        )
        ctx["redis"] = aioredis.Redis.from_url(settings.redis.url)
        ctx["sealer"] = Sealer(instance_secret(settings))
        # No redirects: a webhook that redirects elsewhere must not bypass the address checks.
        ctx["http"] = delivery_client(settings.webhooks)
        ctx["http_slots"] = asyncio.Semaphore(MAX_IN_FLIGHT)
        # Due webhook deliveries are relayed in batches (one job reads, sends and records many).
        ctx["relay"] = OutboxRelay(
            ctx["db"],
            await create_pool(redis_settings(settings.redis.url)),
            ctx["redis"],
            batches={DELIVER_JOB: (DELIVER_BATCH_JOB, BATCH_SIZE)},
        )
        ctx["relay"].start()
        # Ingestion jobs' embedder and backend; the shared corpora sync in the background.
        await start_retrieval(ctx, settings, host)
        log.info("jobs.worker_started", functions=[f.name for f in functions])

    async def shutdown(ctx: dict[str, Any]) -> None:
        await stop_retrieval(ctx)
        await ctx["relay"].stop()
        await ctx["http"].close()
        await ctx["redis"].aclose()
        await ctx["db"].dispose()

    return Worker(
        functions=functions,
        cron_jobs=cron_jobs,
        queue_name=JOBS_QUEUE,
        redis_settings=redis_settings(settings.redis.url),
        on_startup=startup,
        on_shutdown=shutdown,
        max_jobs=settings.jobs.max_jobs,
        poll_delay=settings.jobs.poll_seconds,
        job_timeout=settings.jobs.job_timeout_seconds,
        burst=burst,
        handle_signals=(not burst) if handle_signals is None else handle_signals,
        # SIGTERM/SIGINT: stop taking jobs and let those in hand finish, up to the grace period; only the
        # ones still running then are cancelled (arq runs them again: every job is idempotent).
        job_completion_wait=settings.jobs.shutdown_grace_seconds,
        health_check_key=health_key(),
        health_check_interval=settings.jobs.health_check_seconds,
        keep_result=3600,
    )


def _training_worker(settings: Settings, *, burst: bool) -> Worker:
    """Training runs on a queue of their own. arq keeps a running job's lease for its queue's longest
    timeout: on the jobs queue, training's hour would leave a webhook delivery or an ingestion whose worker
    died waiting an hour for another worker. Here the long lease is the training run's alone (a dead worker's
    run is resumed from its checkpoint by the next worker, training.job_timeout_seconds later). One run at a
    time per worker: a run already uses the CPU threads (or the GPU) it is given."""
    assert settings.redis.url is not None
    from lumen.training.tasks import TRAIN_JOB, training_job

    async def startup(ctx: dict[str, Any]) -> None:
        assert settings.redis.url is not None
        ctx["settings"] = settings
        ctx["db"] = Database(msgspec.structs.replace(settings.database, pool_size=2, max_overflow=2))
        ctx["redis"] = aioredis.Redis.from_url(settings.redis.url)
        log.info("jobs.training_worker_started")

    async def shutdown(ctx: dict[str, Any]) -> None:
        await ctx["redis"].aclose()
        await ctx["db"].dispose()

    return Worker(
        functions=[
            func(
                training_job(settings),  # type: ignore[arg-type]
                name=TRAIN_JOB,
                max_tries=_TRIES,
                timeout=settings.training.job_timeout_seconds,
            )
        ],
        queue_name=TRAINING_QUEUE,
        redis_settings=redis_settings(settings.redis.url),
        on_startup=startup,
        on_shutdown=shutdown,
        max_jobs=1,
        poll_delay=max(settings.jobs.poll_seconds, 0.5),
        job_timeout=settings.training.job_timeout_seconds,
        burst=burst,
        handle_signals=False,
        job_completion_wait=settings.jobs.shutdown_grace_seconds,
        health_check_key=health_key() + ":training",
        health_check_interval=settings.jobs.health_check_seconds,
        keep_result=3600,
    )


def run_workers(workers: list[Worker]) -> None:
    """Run several queues' workers in this process until SIGTERM or SIGINT. Each then takes no new job and
    finishes those in hand within its grace period (arq runs any cancelled one again), then closes."""
    loop = workers[0].loop

    def stop(signum: signal.Signals) -> None:
        for worker in workers:
            worker.handle_sig_wait_for_completion(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, functools.partial(stop, signum))

    async def main() -> None:
        await asyncio.gather(*(worker.async_run() for worker in workers), return_exceptions=True)

    try:
        loop.run_until_complete(main())
    finally:
        for worker in workers:
            loop.run_until_complete(worker.close())
