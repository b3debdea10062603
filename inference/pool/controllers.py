"""The pool's tenant-facing API: OpenAI-compatible chat completions and model list, and the adapter registry.

`POST /v1/chat/completions` takes OpenAI's request and answers OpenAI's response (or its SSE stream), so a
tenant points the official `openai` client at Lumen with its API key. `model` is `lumen-base` or the name of
one of the tenant's adapters (or a platform-shared one). The prompt is never stored or logged: the audit
record keeps its SHA-256 and token counts.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import structlog
from litestar import Controller, Request, Response, delete, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT
from sqlalchemy import or_, select

from lumen.core.audit.recorder import request_audit
from lumen.core.audit.service import AuditEntry, AuditTrail
from lumen.core.auth.principal import Principal
from lumen.core.db.pagination import DEFAULT_LIMIT, MAX_LIMIT, paginate
from lumen.core.db.unit_of_work import unit_of_work
from lumen.core.http.dependencies import Caller, DbSession
from lumen.core.http.errors import Conflict, LumenProblem, NotFound, UnprocessableEntity
from lumen.inference.pool.adapters import AdapterArchiveError, check_and_store, remove_stored
from lumen.inference.pool.models import Adapter
from lumen.inference.pool.router import PoolError
from lumen.inference.pool.service import InferenceGateway, estimate_tokens, pool_problem, prompt_digest

__all__ = ["AdapterController", "ChatController"]

log = structlog.get_logger()

MAX_TOKENS = 4096
Content = Annotated[str, msgspec.Meta(max_length=100_000)]
AdapterName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]*$")]


class ChatMessageIn(msgspec.Struct, forbid_unknown_fields=True):
    role: Literal["system", "user", "assistant", "developer"]
    content: Content
    name: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class StreamOptions(msgspec.Struct, forbid_unknown_fields=True):
    include_usage: bool = False


class ChatCompletionIn(msgspec.Struct, forbid_unknown_fields=True):
    """OpenAI's chat completion request, the fields Lumen serves (an unknown one is a 400 naming it)."""

    model: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    messages: Annotated[list[ChatMessageIn], msgspec.Meta(min_length=1, max_length=256)]
    max_tokens: Annotated[int, msgspec.Meta(ge=1, le=MAX_TOKENS)] | None = None
    max_completion_tokens: Annotated[int, msgspec.Meta(ge=1, le=MAX_TOKENS)] | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    top_p: Annotated[float, msgspec.Meta(gt=0, le=1)] | None = None
    seed: Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)] | None = None
    stop: (
        Annotated[str, msgspec.Meta(max_length=100)]
        | Annotated[list[Annotated[str, msgspec.Meta(max_length=100)]], msgspec.Meta(max_length=4)]
        | None
    ) = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: Annotated[int, msgspec.Meta(ge=1, le=1)] = 1
    user: Annotated[str, msgspec.Meta(max_length=128)] | None = None


class ModelOut(msgspec.Struct):
    id: str
    object: str = "model"
    created: int = 0
    owned_by: str = "lumen"
    parent: str | None = None
    shared: bool = False


class ModelList(msgspec.Struct):
    data: list[ModelOut]
    object: str = "list"


class AdapterOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    description: str
    base_model: str
    rank: int
    target_modules: list[str]
    size_bytes: int
    sha256: str
    critical: bool
    shared: bool
    created_at: datetime


class AdapterPage(msgspec.Struct):
    items: list[AdapterOut]
    next_cursor: str | None = None


def _gateway(request: Request[Any, Any, Any]) -> InferenceGateway:
    gateway: InferenceGateway | None = getattr(request.app.state, "inference", None)
    if gateway is None:
        raise LumenProblem("The inference pool is not configured on this Lumen.", slug="service-unavailable")
    return gateway


def _adapter_out(a: Adapter) -> AdapterOut:
    return AdapterOut(
        id=a.id,
        name=a.name,
        description=a.description,
        base_model=a.base_model,
        rank=a.rank,
        target_modules=[t for t in a.target_modules.split(",") if t],
        size_bytes=a.size_bytes,
        sha256=a.sha256,
        critical=a.critical,
        shared=a.tenant_id is None,
        created_at=a.created_at,
    )


# With `"stream": true` the answer is server-sent events (OpenAI's format): each event's `data` is a chunk (a
# JSON object) or, last, `[DONE]`. The schema of one event, for the OpenAPI document.
CHAT_SSE_CONTENT = {
    "text/event-stream": {
        "schema": {"type": "object", "required": ["data"], "properties": {"data": {"type": "string"}}}
    }
}


class ChatController(Controller):
    path = "/v1"
    tags = ["inference"]

    @get(
        "/models",
        operation_id="listModels",
        summary="The models this tenant may call (OpenAI format)",
        opt={"action": "inference.models.read"},
    )
    async def models(
        self, request: Request[Any, Any, Any], session: DbSession, principal: Caller
    ) -> ModelList:
        gateway = _gateway(request)
        query = select(Adapter).where(
            or_(Adapter.tenant_id == principal.tenant_id, Adapter.tenant_id.is_(None))
        )
        adapters = (await session.scalars(query.order_by(Adapter.name))).all()
        base = ModelOut(id=gateway.base_name, created=0)
        return ModelList(
            data=[base]
            + [
                ModelOut(
                    id=a.name,
                    created=int(a.created_at.timestamp()),
                    parent=gateway.base_name,
                    shared=a.tenant_id is None,
                )
                for a in adapters
            ]
        )

    @post(
        "/chat/completions",
        operation_id="createChatCompletion",
        summary="Generate a chat answer with the base model or one of the tenant's adapters (OpenAI format)",
        status_code=200,
        opt={
            "action": "inference.chat",
            "no_unit_of_work": True,
            "audits_itself": True,
            "openapi_response_content": CHAT_SSE_CONTENT,
        },
    )
    async def chat(
        self, request: Request[Any, Any, Any], data: JSONBody[ChatCompletionIn], principal: Caller
    ) -> Response[Any]:
        gateway = _gateway(request)
        tenant_id = principal.tenant_id
        if tenant_id is None:
            raise LumenProblem("This needs a tenant's API key.", slug="tenant-key-required")
        texts = [m.content for m in data.messages]
        prompt_tokens = estimate_tokens(texts)
        max_tokens = data.max_completion_tokens or data.max_tokens or 256
        adapter_label = None if data.model == gateway.base_name else data.model
        # Resolve the model and write the audit record in one short transaction that commits before any
        # output: the record exists even if the client goes away mid-stream.
        try:
            async with request.app.state.db.transaction(principal.scope) as session:
                adapter = await gateway.resolve(session, tenant_id, data.model)
                audit = request_audit(request.scope)
                entry = AuditEntry(
                    action="inference.chat",
                    resource_type="model",
                    resource_id=data.model,
                    details={
                        "prompt_sha256": prompt_digest(texts),
                        "prompt_tokens_estimate": prompt_tokens,
                        "max_tokens": max_tokens,
                        "stream": data.stream,
                        "messages": len(data.messages),
                    },
                )
                if audit is not None:
                    entry = audit.stamp(entry)
                await AuditTrail(session, tenant_id).append([entry])
        except PoolError as exc:
            raise pool_problem(exc) from None
        await gateway.charge_prompt(tenant_id, principal.key_id, prompt_tokens, data.model, adapter_label)
        body: dict[str, Any] = {
            "messages": [
                {"role": m.role if m.role != "developer" else "system", "content": m.content}
                for m in data.messages
            ],
            "max_tokens": max_tokens,
        }
        for name in ("temperature", "top_p", "seed", "stop"):
            value = getattr(data, name)
            if value is not None:
                body[name] = value
        if not data.stream:
            try:
                result = await gateway.pool.complete("/v1/chat/completions", body, adapter)
            except PoolError as exc:
                raise pool_problem(exc) from None
            result["model"] = data.model
            completion = int((result.get("usage") or {}).get("completion_tokens", 0))
            await gateway.charge_output(tenant_id, principal.key_id, completion, data.model, adapter_label)
            return Response(result)
        include_usage = bool(data.stream_options and data.stream_options.include_usage)
        try:
            events: AsyncGenerator[dict[str, Any]] = gateway.stream_chat(body, adapter, data.model)
        except PoolError as exc:
            raise pool_problem(exc) from None
        # Start the stream here, so that a pool that cannot serve at all is a clean 429/503, not a broken
        # stream; once the first event is in hand, failures end the stream with an error event.
        try:
            first = await anext(events)
        except PoolError as exc:
            raise pool_problem(exc) from None
        except StopAsyncIteration:
            raise LumenProblem("The model produced no output.", slug="service-unavailable") from None

        async def sse() -> AsyncIterator[bytes]:
            completion = 0
            try:
                pending: dict[str, Any] | None = first
                while pending is not None:
                    event = pending
                    if event.get("usage"):
                        completion = int(event["usage"].get("completion_tokens", 0))
                    if event.get("choices") or include_usage or "error" in event:
                        yield b"data: " + msgspec.json.encode(event) + b"\n\n"
                    if "error" in event:
                        break
                    pending = await anext(events, None)
                yield b"data: [DONE]\n\n"
            except PoolError as exc:
                err = {"error": {"message": exc.detail, "type": "pool_error"}}
                yield b"data: " + msgspec.json.encode(err) + b"\n\n" + b"data: [DONE]\n\n"
            finally:
                await events.aclose()
                await gateway.charge_output(
                    tenant_id, principal.key_id, completion, data.model, adapter_label
                )

        return Stream(sse(), media_type="text/event-stream", headers={"cache-control": "no-cache"})


# The upload reads its multipart form itself; this is how the OpenAPI document describes it.
ADAPTER_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file", "name"],
                "properties": {
                    "file": {"type": "string", "format": "binary", "description": ".tar.gz or .zip"},
                    "name": {"type": "string", "maxLength": 64, "pattern": "^[a-z0-9][a-z0-9._-]*$"},
                    "description": {"type": "string", "maxLength": 500},
                    "critical": {"type": "boolean"},
                },
            }
        }
    },
}


class AdapterController(Controller):
    path = "/v1/adapters"
    tags = ["inference"]

    @post(
        "/",
        operation_id="uploadAdapter",
        summary="Upload a LoRA adapter (multipart: `file` = .tar.gz or .zip with adapter_config.json and "
        "adapter_model.safetensors; `name`; optional `description`, `critical`)",
        status_code=HTTP_201_CREATED,
        opt={"action": "adapters.create", "resource": "adapter", "openapi_request_body": ADAPTER_UPLOAD_BODY},
        request_max_body_size=80 * 1024 * 1024,
    )
    async def upload(
        self, request: Request[Any, Any, Any], session: DbSession, principal: Caller
    ) -> AdapterOut:
        gateway = _gateway(request)
        media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media_type != "multipart/form-data":
            raise LumenProblem(
                f"Content-Type must be multipart/form-data (got {media_type or 'none'}).",
                slug="unsupported-media-type",
            )
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise UnprocessableEntity(
                "file: the adapter archive is required (a multipart file part)", slug="validation-error"
            )
        name = form.get("name")
        if not isinstance(name, str):
            raise UnprocessableEntity("name: required", slug="validation-error")
        try:
            name = msgspec.convert(name, AdapterName)
        except msgspec.ValidationError:
            raise UnprocessableEntity(
                "name: 1-64 characters, lower-case letters, digits, '.', '_' or '-'", slug="validation-error"
            ) from None
        if name == gateway.base_name:
            raise UnprocessableEntity(f"name: {name!r} is the base model's name", slug="validation-error")
        description = form.get("description") or ""
        if not isinstance(description, str) or len(description) > 500:
            raise UnprocessableEntity("description: at most 500 characters", slug="validation-error")
        critical = str(form.get("critical") or "false").lower()
        if critical not in ("true", "false", "1", "0"):
            raise UnprocessableEntity("critical: true or false", slug="validation-error")
        existing = (
            await session.scalars(
                select(Adapter.id).where(Adapter.name == name, Adapter.tenant_id == principal.tenant_id)
                if principal.tenant_id is not None
                else select(Adapter.id).where(Adapter.name == name, Adapter.tenant_id.is_(None))
            )
        ).first()
        if existing is not None:
            raise Conflict(f"An adapter named {name!r} exists; delete it first or choose another name.")
        archive = await upload.read()
        settings = gateway.settings
        adapter_id = uuid.uuid4()
        owner = str(principal.tenant_id) if principal.tenant_id else "shared"
        accepted = {settings.base_model_name, settings.base_model_id}
        try:
            checked = check_and_store(
                archive,
                gateway.adapter_store,
                owner,
                adapter_id,
                accepted_bases=accepted,
                max_rank=settings.max_adapter_rank,
                max_bytes=settings.max_adapter_bytes,
            )
        except AdapterArchiveError as exc:
            raise UnprocessableEntity(f"file: {exc}", slug="validation-error") from None
        adapter = Adapter(
            id=adapter_id,
            tenant_id=principal.tenant_id,
            name=name,
            description=description,
            base_model=checked.base_model,
            rank=checked.rank,
            target_modules=",".join(checked.target_modules),
            size_bytes=checked.size_bytes,
            sha256=checked.sha256,
            path=str(checked.path),
            critical=critical in ("true", "1"),
        )
        session.add(adapter)
        await session.flush()
        store = gateway.adapter_store

        async def undo() -> None:  # the row did not commit: its files must not linger
            remove_stored(str(checked.path), store)

        unit_of_work(request.scope).after_rollback(undo)
        log.info("inference.adapter_uploaded", adapter_id=str(adapter_id), rank=checked.rank)
        return _adapter_out(adapter)

    @get(
        "/",
        operation_id="listAdapters",
        summary="The tenant's adapters and the platform's shared ones",
        opt={"action": "adapters.read"},
    )
    async def list_adapters(
        self,
        session: DbSession,
        principal: Caller,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, QueryParameter(max_length=200)] = None,
    ) -> AdapterPage:
        query = select(Adapter).where(
            or_(Adapter.tenant_id == principal.tenant_id, Adapter.tenant_id.is_(None))
        )
        rows, next_cursor = await paginate(session, query, Adapter, cursor=cursor, limit=limit)
        return AdapterPage(items=[_adapter_out(a) for a in rows], next_cursor=next_cursor)

    @get(
        "/{adapter_id:uuid}",
        operation_id="getAdapter",
        summary="One adapter",
        opt={"action": "adapters.read"},
    )
    async def get_adapter(
        self, adapter_id: FromPath[uuid.UUID], session: DbSession, principal: Caller
    ) -> AdapterOut:
        return _adapter_out(await _visible(session, principal, adapter_id))

    @delete(
        "/{adapter_id:uuid}",
        operation_id="deleteAdapter",
        summary="Delete an adapter: unloaded from every replica, its files removed",
        status_code=HTTP_204_NO_CONTENT,
        opt={"action": "adapters.delete", "resource": "adapter"},
    )
    async def delete_adapter(
        self,
        request: Request[Any, Any, Any],
        adapter_id: FromPath[uuid.UUID],
        session: DbSession,
        principal: Caller,
    ) -> None:
        gateway = _gateway(request)
        adapter = await _visible(session, principal, adapter_id)
        if adapter.tenant_id != principal.tenant_id:  # a shared adapter, seen by a tenant: not its to delete
            raise NotFound("adapter not found")
        await session.delete(adapter)
        served, path, store = adapter.served_name, adapter.path, gateway.adapter_store

        async def unload() -> None:
            if gateway.has_pool:
                await gateway.pool.forget_adapter(served)
            remove_stored(path, store)

        unit_of_work(request.scope).after_commit(unload)


async def _visible(session: Any, principal: Principal, adapter_id: uuid.UUID) -> Adapter:
    owner = Adapter.tenant_id == principal.tenant_id if principal.tenant_id else Adapter.tenant_id.is_(None)
    found = (
        await session.scalars(
            select(Adapter).where(Adapter.id == adapter_id, or_(owner, Adapter.tenant_id.is_(None)))
        )
    ).one_or_none()
    if found is None:
        raise NotFound("adapter not found")
    adapter: Adapter = found
    return adapter
