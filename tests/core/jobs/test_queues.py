"""Training runs have a queue and a worker of their own, so their hour-long lease never delays the hand-over
of an ordinary job (a webhook delivery, an ingestion) whose worker died."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid

from lumen.core.db.session import Database
from lumen.core.jobs.outbox import enqueue
from lumen.core.jobs.queues import JOBS_QUEUE, TRAINING_QUEUE, queue_for
from lumen.core.jobs.relay import OutboxRelay
from lumen.core.jobs.worker import build_worker, redis_settings
from lumen.core.settings import Settings
from lumen.core.tenancy.context import PLATFORM, Scope
from lumen.core.webhooks.service import DELIVER_JOB
from lumen.tenants.service import TenantService
from lumen.training.tasks import TRAIN_JOB


def test_training_runs_go_to_the_training_queue_and_nothing_else_does() -> None:
    assert queue_for(TRAIN_JOB) == TRAINING_QUEUE
    assert queue_for(DELIVER_JOB) == JOBS_QUEUE
    assert queue_for("gmp.review_due") == JOBS_QUEUE


def test_the_jobs_worker_leases_a_job_for_the_jobs_timeout_not_trainings(settings: Settings) -> None:
    jobs = build_worker(settings, burst=True)
    training = build_worker(settings, queue=TRAINING_QUEUE, burst=True)
    assert jobs.queue_name == JOBS_QUEUE and TRAIN_JOB not in jobs.functions
    assert jobs.in_progress_timeout_s == settings.jobs.job_timeout_seconds + 10
    assert training.queue_name == TRAINING_QUEUE and set(training.functions) == {TRAIN_JOB}
    assert training.in_progress_timeout_s == settings.training.job_timeout_seconds + 10


async def test_the_relay_puts_each_job_on_its_queue(settings: Settings) -> None:
    from arq.connections import create_pool

    assert settings.redis.url is not None
    db = Database(settings.database)
    arq = await create_pool(redis_settings(settings.redis.url))
    try:
        async with db.transaction(PLATFORM) as session:
            tenant = await TenantService(session).create(slug="queues-" + uuid.uuid4().hex[:8], name="Q")
        tenant_id = tenant.id
        ids = {name: f"queue-probe-{uuid.uuid4()}" for name in (TRAIN_JOB, DELIVER_JOB)}
        async with db.transaction(Scope.tenant(tenant_id)) as session:
            for name, job_id in ids.items():
                await enqueue(session, tenant_id, name, {"tenant_id": str(tenant_id)}, job_id=job_id)
        relay = OutboxRelay(db, arq, arq)
        for _ in range(50):  # other tests' rows may be in the same sweep
            await relay.relay_once()
            if await arq.zscore(TRAINING_QUEUE, ids[TRAIN_JOB]) is not None:
                break
            await asyncio.sleep(0.1)
        assert await arq.zscore(TRAINING_QUEUE, ids[TRAIN_JOB]) is not None
        assert await arq.zscore(JOBS_QUEUE, ids[TRAIN_JOB]) is None
        assert await arq.zscore(JOBS_QUEUE, ids[DELIVER_JOB]) is not None
        assert await arq.zscore(TRAINING_QUEUE, ids[DELIVER_JOB]) is None
    finally:
        await arq.zrem(JOBS_QUEUE, ids[DELIVER_JOB])
        await arq.zrem(TRAINING_QUEUE, ids[TRAIN_JOB])
        await arq.aclose()
        await db.dispose()


async def test_lumen_worker_runs_both_queues_and_stops_them_on_sigterm(settings: Settings) -> None:
    """The CLI's worker: both queues' heartbeats appear, and SIGTERM closes both (arq deletes a worker's
    heartbeat on close) well inside the grace period, exiting 0."""
    import signal

    import redis.asyncio as aioredis

    from lumen.core.jobs.worker import health_key
    from tests.conftest import attached_env

    assert settings.redis.url is not None
    env = attached_env(settings)
    keys = [health_key(), health_key() + ":training"]
    client = aioredis.Redis.from_url(settings.redis.url)
    worker = _start_worker(env)
    try:
        for _ in range(1200):  # the process imports the plugins before it polls
            if await client.exists(*keys) == 2:
                break
            await asyncio.sleep(0.1)
        assert await client.exists(*keys) == 2
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 60) == 0
        # The training heartbeat is this process's alone (an in-process test worker may share the other).
        assert await client.exists(keys[1]) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
        await client.aclose()


def _start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "lumen.core.cli", "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
