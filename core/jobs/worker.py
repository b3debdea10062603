"""The arq worker: runs the kernel's and the plugins' jobs, and the outbox relay.

`lumen worker` runs it on its own; `lumen serve` starts one beside the API when embedded services are used,
so a single command gives a complete system. arq delivers at least once: every job is idempotent.
"""

from __future__ import annotations

import base64
import functools
import os
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec
import redis.asyncio as aioredis
import structlog
from arq.connections import RedisSettings, create_pool
from arq.worker import Function, Worker, func

from lumen.core.crypto import Sealer
from lumen.core.db.session import Database
from lumen.core.jobs.relay import OutboxRelay
from lumen.core.keyfiles import read_or_create
from lumen.core.plugins.host import PluginHost
from lumen.core.settings import Settings
from lumen.core.webhooks.service import DELIVER_JOB, deliver

__all__ = ["build_worker", "instance_secret", "redis_settings"]

log = structlog.get_logger()


def redis_settings(url: str) -> RedisSettings:
    """arq's settings from a redis:// or unix:// URL (the embedded Redis listens on a unix socket)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return RedisSettings(unix_socket_path=parts.path)
    return RedisSettings.from_dsn(url)


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


def _plugin_job(function: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    @functools.wraps(function)
    async def run(ctx: dict[str, Any], **payload: Any) -> Any:
        return await function(**payload)  # plugins get their payload, never the worker's resources

    return run


def build_worker(settings: Settings, *, burst: bool = False) -> Worker:
    assert settings.redis.url is not None
    assert settings.database.url is not None
    host = PluginHost(allow=settings.plugins)
    functions: list[Function] = [func(deliver, name=DELIVER_JOB, max_tries=3)]
    for plugin in host.plugins.values():
        functions += [
            func(_plugin_job(job.function), name=job.name)  # type: ignore[arg-type]  # arq's WorkerCoroutine
            for job in plugin.jobs.values()
        ]

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
        ctx["http"] = httpx.AsyncClient(follow_redirects=False, limits=httpx.Limits(max_connections=100))
        ctx["relay"] = OutboxRelay(
            ctx["db"], await create_pool(redis_settings(settings.redis.url)), ctx["redis"]
        )
        ctx["relay"].start()
        log.info("jobs.worker_started", functions=[f.name for f in functions])

    async def shutdown(ctx: dict[str, Any]) -> None:
        await ctx["relay"].stop()
        await ctx["http"].aclose()
        await ctx["redis"].aclose()
        await ctx["db"].dispose()

    return Worker(
        functions=functions,
        redis_settings=redis_settings(settings.redis.url),
        on_startup=startup,
        on_shutdown=shutdown,
        max_jobs=settings.jobs.max_jobs,
        poll_delay=settings.jobs.poll_seconds,
        job_timeout=120,
        burst=burst,
        handle_signals=not burst,
        keep_result=3600,
    )
