"""The pool as tenants and plugins use it: model names resolved to the tenant's own adapters (or the
platform's shared ones), token budgets charged and metered, and no prompt text kept anywhere.

`InferenceGateway` is what the tenant-facing routes and `PluginContext.generate()/embed()` call.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.db.session import Database
from lumen.core.http.errors import LumenProblem
from lumen.core.settings import InferenceSettings
from lumen.core.tenancy.context import Scope
from lumen.inference.pool.models import Adapter
from lumen.inference.pool.router import AdapterHandle, InferencePool, PoolError
from lumen.plugins.sdk.inference import ChatMessage, Generation

__all__ = ["InferenceGateway", "estimate_tokens", "pool_problem", "prompt_digest"]

log = structlog.get_logger()


def pool_problem(exc: PoolError) -> LumenProblem:
    slug = {400: "validation-error", 404: "not-found", 422: "unprocessable", 429: "rate-limited"}.get(
        exc.status, "service-unavailable"
    )
    headers = {"retry-after": str(exc.retry_after)} if exc.retry_after else None
    status = exc.status if exc.status in (400, 404, 422, 429, 503) else 503
    return LumenProblem(exc.detail, slug=slug, status_code=status, headers=headers)


def estimate_tokens(texts: Sequence[str]) -> int:
    """A cheap upper-ish estimate (about 4 characters a token) for charging budgets before generating."""
    return max(1, sum(len(t) for t in texts) // 4 + 4 * len(texts))


def prompt_digest(texts: Sequence[str]) -> str:
    """What the audit trail keeps of a prompt: its SHA-256, never the text."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "replace"))
        digest.update(b"\x00")
    return digest.hexdigest()


class InferenceGateway:
    def __init__(
        self,
        pool: InferencePool | None,
        db: Database,
        settings: InferenceSettings,
        adapter_store: Path,
        rate_limiter: Any = None,
    ) -> None:
        self._pool = pool
        self.db = db
        self.settings = settings
        self.adapter_store = adapter_store
        self.rate_limiter = rate_limiter

    @property
    def pool(self) -> InferencePool:
        """The replicas; a 503 where none are configured (the adapter registry works without them)."""
        if self._pool is None:
            raise PoolError(503, "No inference servers are configured on this Lumen.", retry_after=30)
        return self._pool

    @property
    def has_pool(self) -> bool:
        return self._pool is not None

    @property
    def base_name(self) -> str:
        return self.settings.base_model_name

    async def find_adapter(self, session: AsyncSession, tenant_id: uuid.UUID, name: str) -> Adapter | None:
        """The tenant's own adapter of that name, else the platform's shared one; never another tenant's."""
        rows = (
            await session.scalars(
                select(Adapter).where(
                    Adapter.name == name, or_(Adapter.tenant_id == tenant_id, Adapter.tenant_id.is_(None))
                )
            )
        ).all()
        own = [a for a in rows if a.tenant_id == tenant_id]
        shared = [a for a in rows if a.tenant_id is None]
        found = own or shared
        return found[0] if found else None

    async def resolve(self, session: AsyncSession, tenant_id: uuid.UUID, model: str) -> AdapterHandle | None:
        if model == self.base_name:
            return None
        adapter = await self.find_adapter(session, tenant_id, model)
        if adapter is None:
            raise PoolError(
                404,
                f"The model {model!r} does not exist for this tenant; GET /v1/models lists those it may use.",
            )
        return AdapterHandle(served_name=adapter.served_name, path=adapter.path, pinned=adapter.critical)

    async def charge_prompt(
        self, tenant_id: uuid.UUID, key_id: uuid.UUID | None, tokens: int, model: str, adapter: str | None
    ) -> None:
        if self.rate_limiter is not None:
            await self.rate_limiter.consume_tokens(tenant_id, key_id, tokens, model=model, adapter=adapter)

    async def charge_output(
        self, tenant_id: uuid.UUID, key_id: uuid.UUID | None, tokens: int, model: str, adapter: str | None
    ) -> None:
        if self.rate_limiter is not None and tokens > 0:
            await self.rate_limiter.consume_tokens(
                tenant_id, key_id, tokens, model=model, adapter=adapter, direction="out", enforce=False
            )

    # --- what plugins call through their context (ModelServices) -------------------------------------------

    async def generate(
        self,
        tenant_id: uuid.UUID,
        messages: Sequence[ChatMessage],
        *,
        model: str = "lumen-base",
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
    ) -> Generation:
        try:
            return await self._generate(tenant_id, messages, model, max_tokens, temperature, stop, seed)
        except PoolError as exc:
            raise pool_problem(exc) from None

    async def generate_stream(
        self,
        tenant_id: uuid.UUID,
        messages: Sequence[ChatMessage],
        *,
        model: str = "lumen-base",
        max_tokens: int = 256,
        temperature: float = 0.0,
        stop: Sequence[str] = (),
        seed: int | None = None,
    ) -> AsyncIterator[str]:
        """`generate()` as the text pieces arrive: the pool fails over before the first piece; after it, a
        broken replica raises a 503 problem from the iterator. Output tokens are charged when it ends."""
        public = self.base_name if model == "lumen-base" else model
        try:
            async with self.db.transaction(Scope.tenant(tenant_id)) as session:
                adapter = await self.resolve(session, tenant_id, public)
        except PoolError as exc:
            raise pool_problem(exc) from None
        label = None if adapter is None else public
        await self.charge_prompt(
            tenant_id, None, estimate_tokens([m.content for m in messages]), public, label
        )
        body: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if stop:
            body["stop"] = list(stop)
        if seed is not None:
            body["seed"] = seed
        completion = 0
        try:
            events = self.pool.stream("/v1/chat/completions", body, adapter)
        except PoolError as exc:
            raise pool_problem(exc) from None
        try:
            async for event in events:
                if "error" in event:
                    raise LumenProblem(
                        str(event["error"].get("message") or "The model failed mid-answer."),
                        slug="service-unavailable",
                    )
                if event.get("usage"):
                    completion = int(event["usage"].get("completion_tokens", 0))
                for choice in event.get("choices") or []:
                    piece = (choice.get("delta") or {}).get("content")
                    if piece:
                        yield piece
        except PoolError as exc:
            raise pool_problem(exc) from None
        finally:
            aclose = getattr(events, "aclose", None)  # an async generator: closes the replica's stream
            if aclose is not None:
                await aclose()
            await self.charge_output(tenant_id, None, completion, public, label)

    async def _generate(
        self,
        tenant_id: uuid.UUID,
        messages: Sequence[ChatMessage],
        model: str,
        max_tokens: int,
        temperature: float,
        stop: Sequence[str],
        seed: int | None,
    ) -> Generation:
        model = self.base_name if model == "lumen-base" else model
        async with self.db.transaction(Scope.tenant(tenant_id)) as session:
            adapter = await self.resolve(session, tenant_id, model)
        texts = [m.content for m in messages]
        label = None if adapter is None else model
        await self.charge_prompt(tenant_id, None, estimate_tokens(texts), model, label)
        body: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if stop:
            body["stop"] = list(stop)
        if seed is not None:
            body["seed"] = seed
        result = await self.pool.complete("/v1/chat/completions", body, adapter)
        usage = result.get("usage") or {}
        completion = int(usage.get("completion_tokens", 0))
        await self.charge_output(tenant_id, None, completion, model, label)
        choice = result["choices"][0]
        return Generation(
            text=choice["message"]["content"] or "",
            model=model,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=completion,
            finish_reason=str(choice.get("finish_reason") or "stop"),
        )

    async def embed(self, tenant_id: uuid.UUID, texts: Sequence[str]) -> list[list[float]]:
        try:
            return await self.pool.embed(texts)
        except PoolError as exc:
            raise pool_problem(exc) from None

    async def stream_chat(
        self, body: dict[str, Any], adapter: AdapterHandle | None, public_model: str
    ) -> AsyncGenerator[dict[str, Any]]:
        async for event in self.pool.stream("/v1/chat/completions", body, adapter):
            if "model" in event:
                event["model"] = public_model
            yield event
