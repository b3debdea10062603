"""`lumen inference serve`: the local engine behind the same HTTP API as vLLM's OpenAI-compatible server.

Same paths and payloads as vLLM (`/v1/models`, `/v1/chat/completions`, `/v1/completions` with SSE streaming,
`/v1/embeddings`, `/v1/load_lora_adapter`, `/v1/unload_lora_adapter`, `/health`, `/metrics`), so the pool
talks to a local engine and to a vLLM server with the same client, and the official `openai` client works
against either. Loopback only by default: the API's pool is its client, not the internet.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import msgspec
import structlog
from litestar import Litestar, MediaType, Request, Response, get, post
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Stream

from lumen.inference.local.engine import AdapterError, Chunk, Engine, EngineOverloaded, GenerationRequest

__all__ = ["build_server"]

log = structlog.get_logger()

MAX_TOKENS = 4096
Text = Annotated[str, msgspec.Meta(max_length=200_000)]


class Message(msgspec.Struct, forbid_unknown_fields=False):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: Text | list[dict[str, Any]] | None = None


class StreamOptions(msgspec.Struct, forbid_unknown_fields=False):
    include_usage: bool = False


class ChatRequest(msgspec.Struct, forbid_unknown_fields=False):
    """OpenAI's chat request; fields the engine does not implement are accepted and ignored, as vLLM does,
    except `n` > 1 and tools, which are refused."""

    model: str
    messages: Annotated[list[Message], msgspec.Meta(min_length=1, max_length=512)]
    max_tokens: Annotated[int, msgspec.Meta(ge=1, le=MAX_TOKENS)] | None = None
    max_completion_tokens: Annotated[int, msgspec.Meta(ge=1, le=MAX_TOKENS)] | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    top_p: Annotated[float, msgspec.Meta(gt=0, le=1)] | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    ignore_eos: bool = False  # vLLM's extension: decode exactly max_tokens
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: Annotated[int, msgspec.Meta(ge=1, le=1)] = 1
    user: str | None = None


class CompletionRequest(msgspec.Struct, forbid_unknown_fields=False):
    model: str
    prompt: Text
    max_tokens: Annotated[int, msgspec.Meta(ge=1, le=MAX_TOKENS)] | None = 16
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    top_p: Annotated[float, msgspec.Meta(gt=0, le=1)] | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    ignore_eos: bool = False  # vLLM's extension: decode exactly max_tokens
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: Annotated[int, msgspec.Meta(ge=1, le=1)] = 1


class EmbeddingRequest(msgspec.Struct, forbid_unknown_fields=False):
    input: Text | Annotated[list[Text], msgspec.Meta(min_length=1, max_length=2048)]
    model: str | None = None
    # The openai client asks for base64 (little-endian float32) by default; both are served.
    encoding_format: Literal["float", "base64"] = "float"


class LoadAdapter(msgspec.Struct, forbid_unknown_fields=True):
    lora_name: Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]
    lora_path: Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class UnloadAdapter(msgspec.Struct, forbid_unknown_fields=True):
    lora_name: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    lora_int_id: int | None = None


class _Refused(Exception):
    def __init__(self, status: int, message: str, kind: str) -> None:
        super().__init__(message)
        self.status, self.message, self.kind = status, message, kind


def _error(status: int, message: str, kind: str = "BadRequestError") -> Response[dict[str, Any]]:
    # vLLM's (and OpenAI's) error body, so the openai client raises the matching exception type.
    return Response({"error": {"message": message, "type": kind, "code": status}}, status_code=status)


def _vector(vector: Any, encoding: str) -> Any:
    if encoding == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    return vector.tolist()


def _stops(stop: str | list[str] | None) -> list[str]:
    if stop is None:
        return []
    stops = [stop] if isinstance(stop, str) else list(stop)
    return [s for s in stops if s][:8]


def _flatten(content: str | list[dict[str, Any]] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    return "".join(str(part.get("text", "")) for part in content if part.get("type") == "text")


class Metrics:
    def __init__(self, engine: Engine) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "lumen_engine_requests", "Requests finished, by reason", ["finish_reason"], registry=self.registry
        )
        self.prompt_tokens = Counter("lumen_engine_prompt_tokens", "Prompt tokens", registry=self.registry)
        self.generation_tokens = Counter(
            "lumen_engine_generation_tokens", "Generated tokens", registry=self.registry
        )
        self.ttft = Histogram(
            "lumen_engine_time_to_first_token_seconds",
            "Time to first token",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=self.registry,
        )
        running = Gauge("lumen_engine_requests_running", "Sequences in the batch", registry=self.registry)
        waiting = Gauge("lumen_engine_requests_waiting", "Requests waiting to join", registry=self.registry)
        adapters = Gauge("lumen_engine_adapters_loaded", "LoRA adapters loaded", registry=self.registry)
        # Loads and unloads since start: what adapter affinity saves (bench/inference_scale.py counts them).
        self.adapter_loads = Counter(
            "lumen_engine_adapter_loads", "LoRA adapters loaded since start", registry=self.registry
        )
        self.adapter_unloads = Counter(
            "lumen_engine_adapter_unloads", "LoRA adapters unloaded since start", registry=self.registry
        )
        running.set_function(lambda: engine.running)
        waiting.set_function(lambda: engine.waiting)
        adapters.set_function(lambda: len(engine.adapters))


def build_server(engine: Engine, *, served_name: str, embedder: Any = None) -> Litestar:
    """`served_name`: the base model's id in /v1/models and requests (the pool asks for it by this name).
    `embedder`: a zero-argument callable returning a SentenceTransformer, loaded on first use."""
    metrics = Metrics(engine)
    created = int(time.time())
    embed_lock = asyncio.Lock()
    loaded_embedder: list[Any] = []

    def _model_for(name: str) -> str | None:
        if name in (served_name, engine.model_info.hub_id, engine.model_info.name):
            return None
        if name in engine.adapters:
            return name
        raise HTTPException(status_code=404, detail=f"The model `{name}` does not exist.")

    def _request(
        prompt_ids: list[int], body: ChatRequest | CompletionRequest, adapter: str | None, max_tokens: int
    ) -> GenerationRequest:
        return GenerationRequest(
            prompt_ids=prompt_ids,
            max_tokens=max_tokens,
            temperature=0.0 if body.temperature is None else body.temperature,
            top_p=1.0 if body.top_p is None else body.top_p,
            seed=body.seed,
            stop=_stops(body.stop),
            adapter=adapter,
            ignore_eos=body.ignore_eos,
        )

    async def _collect(request: GenerationRequest) -> tuple[str, Chunk]:
        text: list[str] = []
        started = time.perf_counter()
        last: Chunk | None = None
        async for chunk in engine.stream(request):
            if not text and chunk.text:
                metrics.ttft.observe(time.perf_counter() - started)
            text.append(chunk.text)
            last = chunk
        assert last is not None
        _count(last)
        return "".join(text), last

    def _count(last: Chunk) -> None:
        metrics.requests.labels(last.finish_reason or "unknown").inc()
        metrics.prompt_tokens.inc(last.prompt_tokens)
        metrics.generation_tokens.inc(last.completion_tokens)

    def _usage(last: Chunk) -> dict[str, int]:
        return {
            "prompt_tokens": last.prompt_tokens,
            "completion_tokens": last.completion_tokens,
            "total_tokens": last.prompt_tokens + last.completion_tokens,
        }

    async def _sse(
        request: GenerationRequest, make: Any, usage: bool, model: str, rid: str, kind: str
    ) -> AsyncIterator[bytes]:
        started = time.perf_counter()
        first = True
        try:
            async for chunk in engine.stream(request):
                if chunk.finish_reason == "error":
                    err = {
                        "error": {
                            "message": chunk.error or "generation failed",
                            "type": "InternalServerError",
                        }
                    }
                    yield b"data: " + msgspec.json.encode(err) + b"\n\n"
                    break
                if first and chunk.text:
                    metrics.ttft.observe(time.perf_counter() - started)
                    first = False
                yield b"data: " + msgspec.json.encode(make(chunk.text, chunk.finish_reason)) + b"\n\n"
                if chunk.finish_reason is not None:
                    _count(chunk)
                    if usage:
                        tail = {
                            "id": rid,
                            "object": kind,
                            "created": int(time.time()),
                            "model": model,
                            "choices": [],
                            "usage": _usage(chunk),
                        }
                        yield b"data: " + msgspec.json.encode(tail) + b"\n\n"
            yield b"data: [DONE]\n\n"
        except EngineOverloaded:
            err = {"error": {"message": "The engine is overloaded", "type": "ServiceUnavailableError"}}
            yield b"data: " + msgspec.json.encode(err) + b"\n\n"

    @post("/v1/chat/completions", status_code=200)
    async def chat(data: ChatRequest) -> Response[Any]:
        adapter = _model_for(data.model)
        messages = [
            {"role": m.role if m.role != "developer" else "system", "content": _flatten(m.content)}
            for m in data.messages
        ]
        prompt = engine.encode_chat(messages)
        max_tokens = data.max_completion_tokens or data.max_tokens or 256
        request = _request(prompt, data, adapter, max_tokens)
        rid = f"chatcmpl-{uuid.uuid4().hex}"
        if data.stream:

            def make(text: str, reason: str | None) -> dict[str, Any]:
                return {
                    "id": rid,
                    "object": "chat.completion.chunk",
                    "created": int(time.time()),
                    "model": data.model,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"role": "assistant", "content": text},
                            "finish_reason": reason,
                            "logprobs": None,
                        }
                    ],
                }

            usage = bool(data.stream_options and data.stream_options.include_usage)
            return Stream(
                _sse(request, make, usage, data.model, rid, "chat.completion.chunk"),
                media_type="text/event-stream",
                headers={"cache-control": "no-cache"},
            )
        text, last = await _collect(request)
        if last.finish_reason == "error":
            return _error(500, last.error or "generation failed", "InternalServerError")
        return Response(
            {
                "id": rid,
                "object": "chat.completion",
                "created": int(time.time()),
                "model": data.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": text},
                        "finish_reason": last.finish_reason,
                        "logprobs": None,
                    }
                ],
                "usage": _usage(last),
            }
        )

    @post("/v1/completions", status_code=200)
    async def complete(data: CompletionRequest) -> Response[Any]:
        adapter = _model_for(data.model)
        request = _request(engine.encode_text(data.prompt), data, adapter, data.max_tokens or 16)
        rid = f"cmpl-{uuid.uuid4().hex}"
        if data.stream:

            def make(text: str, reason: str | None) -> dict[str, Any]:
                return {
                    "id": rid,
                    "object": "text_completion",
                    "created": int(time.time()),
                    "model": data.model,
                    "choices": [{"index": 0, "text": text, "finish_reason": reason, "logprobs": None}],
                }

            usage = bool(data.stream_options and data.stream_options.include_usage)
            return Stream(
                _sse(request, make, usage, data.model, rid, "text_completion"),
                media_type="text/event-stream",
                headers={"cache-control": "no-cache"},
            )
        text, last = await _collect(request)
        if last.finish_reason == "error":
            return _error(500, last.error or "generation failed", "InternalServerError")
        return Response(
            {
                "id": rid,
                "object": "text_completion",
                "created": int(time.time()),
                "model": data.model,
                "choices": [
                    {"index": 0, "text": text, "finish_reason": last.finish_reason, "logprobs": None}
                ],
                "usage": _usage(last),
            }
        )

    @post("/v1/embeddings", status_code=200)
    async def embeddings(data: EmbeddingRequest) -> Any:
        if embedder is None:
            return _error(404, "This server has no embedding model", "NotFoundError")
        async with embed_lock:
            if not loaded_embedder:
                loaded_embedder.append(await asyncio.to_thread(embedder))
        model = loaded_embedder[0]
        texts = [data.input] if isinstance(data.input, str) else data.input
        vectors = await asyncio.to_thread(
            lambda: model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        )
        tokens = sum(len(t.split()) for t in texts)
        return {
            "object": "list",
            "model": data.model or "all-minilm-l6-v2",
            "data": [
                {"object": "embedding", "index": i, "embedding": _vector(v, data.encoding_format)}
                for i, v in enumerate(vectors)
            ],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    @get("/v1/models")
    async def models() -> dict[str, Any]:
        base = {
            "id": served_name,
            "object": "model",
            "created": created,
            "owned_by": "lumen",
            "root": engine.model_info.hub_id,
            "parent": None,
            "max_model_len": 8192,
        }
        loras = [
            {
                "id": name,
                "object": "model",
                "created": created,
                "owned_by": "lumen",
                "root": path,
                "parent": served_name,
            }
            for name, path in engine.adapters.items()
        ]
        return {"object": "list", "data": [base, *loras]}

    @post("/v1/load_lora_adapter", status_code=200, media_type=MediaType.TEXT)
    async def load_lora(data: LoadAdapter) -> Any:
        try:
            await asyncio.to_thread(engine.load_adapter, data.lora_name, data.lora_path)
        except AdapterError as exc:
            raise _Refused(400, str(exc), "BadRequestError") from None
        metrics.adapter_loads.inc()
        return f"Success: LoRA adapter '{data.lora_name}' added successfully."

    @post("/v1/unload_lora_adapter", status_code=200, media_type=MediaType.TEXT)
    async def unload_lora(data: UnloadAdapter) -> Any:
        try:
            await asyncio.to_thread(engine.unload_adapter, data.lora_name)
        except AdapterError as exc:
            if "not loaded" in str(exc):
                raise _Refused(404, str(exc), "NotFoundError") from None
            raise _Refused(400, str(exc), "BadRequestError") from None
        metrics.adapter_unloads.inc()
        return f"Success: LoRA adapter '{data.lora_name}' removed successfully."

    @get("/health", media_type=MediaType.TEXT)
    async def health() -> str:
        return ""

    @get("/metrics", media_type="text/plain; version=0.0.4")
    async def metrics_page() -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(metrics.registry)

    def on_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
        if isinstance(exc, _Refused):
            return _error(exc.status, exc.message, exc.kind)
        if isinstance(exc, EngineOverloaded):
            return _error(503, "The engine is overloaded; retry shortly", "ServiceUnavailableError")
        if isinstance(exc, AdapterError):
            return _error(404, str(exc), "NotFoundError")
        if isinstance(exc, ValidationException):
            return _error(400, f"{exc.detail}: {exc.extra}" if exc.extra else str(exc.detail))
        if isinstance(exc, HTTPException):
            kind = "NotFoundError" if exc.status_code == 404 else "BadRequestError"
            return _error(exc.status_code, str(exc.detail), kind)
        log.error("inference.server_error", error_type=type(exc).__name__)
        return _error(500, "Internal error", "InternalServerError")

    return Litestar(
        route_handlers=[chat, complete, embeddings, models, load_lora, unload_lora, health, metrics_page],
        exception_handlers={Exception: on_error},
        request_max_body_size=4 * 1024 * 1024,
        openapi_config=None,
        debug=False,
    )


def app_from_env() -> Litestar:
    """Factory for granian's worker process (`lumen inference serve` exports its options as LUMEN_*)."""
    import os

    from lumen.core.logging import configure_logging
    from lumen.core.settings import load_settings
    from lumen.inference.local.store import ModelStore

    settings = load_settings()
    configure_logging(settings.log)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    store = ModelStore(settings.model_path)
    model = store.resolve(settings.inference.local_model)
    engine = Engine(
        model,
        device=settings.inference.local_device,
        max_batch=settings.inference.local_max_batch,
        max_adapters=settings.inference.max_adapters_per_replica,
    )

    def embedder() -> Any:
        from sentence_transformers import SentenceTransformer

        stored = store.resolve("all-minilm-l6-v2")
        return SentenceTransformer(str(stored.path), device="cpu")

    served = settings.inference.base_model_name
    app = build_server(engine, served_name=served, embedder=embedder)
    app.on_shutdown.append(lambda: engine.close())
    log.info("inference.engine_ready", model=model.name, served_name=served)
    return app
