"""Retrieval's work on the worker: the ingestion job, and syncing the shared corpora at start-up."""

from __future__ import annotations

import asyncio
import functools
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from arq.worker import Function, func

from lumen.core.plugins.host import PluginHost
from lumen.core.settings import Settings
from lumen.core.tenancy.context import Scope
from lumen.inference.retrieval.repository import DocumentRepository
from lumen.inference.retrieval.runtime import Retrieval
from lumen.inference.retrieval.service import INGEST_JOB, ingest_version

__all__ = ["retrieval_functions", "start_retrieval", "stop_retrieval"]

log = structlog.get_logger()

Wrap = Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]


async def _mark_failed(retrieval: Retrieval, tenant_id: str, version_id: str, error: str) -> None:
    async with retrieval.db.transaction(Scope.tenant(uuid.UUID(tenant_id))) as session:
        version = await DocumentRepository(session, uuid.UUID(tenant_id)).version(uuid.UUID(version_id))
        if version is not None and version.state != "ready":
            version.state, version.error = "failed", error[:500]


def retrieval_functions(wrap: Wrap, tries: int) -> list[Function]:
    """`wrap` is the worker's job-status wrapper (running → succeeded/failed, progress)."""

    async def ingest(ctx: dict[str, Any], **payload: Any) -> Any:
        retrieval: Retrieval = ctx["retrieval"]
        run = wrap(functools.partial(ingest_version, retrieval.db, retrieval.embedder, retrieval.backend))
        try:
            return await run(ctx, **payload)
        except Exception as exc:
            if ctx.get("job_try", 1) >= tries:
                await _mark_failed(retrieval, payload["tenant_id"], payload["version_id"], type(exc).__name__)
            raise

    return [func(ingest, name=INGEST_JOB, max_tries=tries)]


async def _sync(retrieval: Retrieval) -> None:
    try:
        await retrieval.sync_corpora()
    except Exception as exc:  # the API still serves; the next start (or `lumen corpora sync`) tries again
        log.error("retrieval.corpora_sync_failed", error_type=type(exc).__name__, error=str(exc)[:300])


async def start_retrieval(ctx: dict[str, Any], settings: Settings, host: PluginHost) -> None:
    retrieval = Retrieval.for_host(settings, ctx["db"], host)
    ctx["retrieval"] = retrieval
    retrieval.warm_in_background()
    ctx["corpora_sync"] = asyncio.create_task(_sync(retrieval)) if retrieval.shared else None


async def stop_retrieval(ctx: dict[str, Any]) -> None:
    task = ctx.get("corpora_sync")
    if task is not None and not task.done():
        task.cancel()
    retrieval: Retrieval | None = ctx.get("retrieval")
    if retrieval is not None:
        await retrieval.aclose()
