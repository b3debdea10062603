"""The local generation engine: transformers + peft on CPU (or a GPU), decoding concurrent requests together.

Batching happens at every decoding step, not per call (continuous batching, as vLLM does): a request that
arrives while others are being decoded is prefilled and joins the running batch at the next step, and each
sequence leaves the batch when it meets its own stop condition (end of turn, a stop string, max_tokens).
The running batch shares one key/value cache, left-padded so that every row ends at the same column; the
attention mask hides the padding and each row gets its own position ids.

Rows may use different LoRA adapters in the same step through peft's per-sample `adapter_names`, so a batch
mixing tenants' adapters is still one forward pass. Adapters load and unload between steps, on the engine's
own thread, so a request never sees a half-loaded adapter.

Greedy decoding (temperature 0) is deterministic; with a temperature, a request's `seed` seeds its own
generator, so the same seed gives the same tokens.
"""

from __future__ import annotations

import asyncio
import functools
import queue
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from lumen.inference.local.store import StoredModel

__all__ = ["AdapterError", "Chunk", "Engine", "EngineOverloaded", "GenerationRequest"]

log = structlog.get_logger()

BASE = "__base__"  # peft's name for "no adapter" in a mixed batch


class AdapterError(ValueError):
    """An adapter cannot be loaded or unloaded; the message says why."""


class EngineOverloaded(RuntimeError):
    """The engine's waiting line is full."""


@dataclass
class GenerationRequest:
    prompt_ids: list[int]
    max_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: Sequence[str] = ()
    adapter: str | None = None
    # Decode exactly max_tokens (vLLM's `ignore_eos`): for benchmarks that compare equal amounts of work.
    ignore_eos: bool = False
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class Chunk:
    """One step's output for one request: new text, and on the last chunk why it finished and the counts."""

    text: str
    finish_reason: str | None = None  # "stop" | "length" | "error" | None while running
    prompt_tokens: int = 0
    completion_tokens: int = 0
    error: str | None = None


@dataclass
class _Sequence:
    request: GenerationRequest
    emit: Callable[[Chunk], object]
    generator: Any  # torch.Generator or None for greedy
    generated: list[int] = field(default_factory=list)
    text: str = ""  # decoded so far
    sent: int = 0  # characters of `text` already emitted
    cancelled: bool = False
    first_token_at: float | None = None


class Engine:
    """One model, its adapters and one decoding thread. Thread-safe entry points: `submit`, `stream`,
    `load_adapter`, `unload_adapter`."""

    def __init__(
        self,
        model: StoredModel,
        *,
        device: str = "cpu",
        max_batch: int = 16,
        max_waiting: int = 256,
        max_adapters: int = 8,
        threads: int | None = None,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.torch = torch
        self.device = torch.device(device)
        self.model_info = model
        self.tokenizer: Any = AutoTokenizer.from_pretrained(str(model.path))
        dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        loaded: Any = AutoModelForCausalLM.from_pretrained(str(model.path), dtype=dtype)
        self.base: Any = loaded.to(self.device)
        self.base.eval()
        self.model: Any = self.base  # becomes a PeftModel with the first adapter
        self.max_batch = max_batch
        self.max_adapters = max_adapters
        self.adapters: dict[str, str] = {}  # name -> path
        eos = self.tokenizer.eos_token_id
        self.eos_ids = {eos} if isinstance(eos, int) else set(eos or [])
        if self.base.generation_config is not None and self.base.generation_config.eos_token_id is not None:
            extra = self.base.generation_config.eos_token_id
            self.eos_ids |= {extra} if isinstance(extra, int) else set(extra)
        self.pad_id = (
            self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else min(self.eos_ids)
        )
        self._waiting: queue.Queue[tuple[GenerationRequest, Callable[[Chunk], object]]] = queue.Queue(
            max_waiting
        )
        self._control: queue.Queue[tuple[Callable[[], Any], Any]] = queue.Queue()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._active: list[_Sequence] = []
        self._cache: Any = None
        self._mask: Any = None  # [B, L] 1 for real tokens, 0 for left padding
        self.stats = {"steps": 0, "tokens": 0, "requests": 0, "batch_rows": 0, "prefills": 0}
        self._thread = threading.Thread(target=self._run, name="lumen-engine", daemon=True)
        self._thread.start()

    # --- public, thread-safe -------------------------------------------------------------------------------

    @property
    def running(self) -> int:
        return len(self._active)

    @property
    def waiting(self) -> int:
        return self._waiting.qsize()

    def encode_chat(self, messages: Sequence[dict[str, str]]) -> list[int]:
        ids = self.tokenizer.apply_chat_template(list(messages), add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):
            ids = ids["input_ids"]
        return [int(i) for i in ids]

    def encode_text(self, text: str) -> list[int]:
        return [int(i) for i in self.tokenizer(text, add_special_tokens=False)["input_ids"]]

    def submit(self, request: GenerationRequest, emit: Callable[[Chunk], object]) -> None:
        """Queue a request; the engine thread calls `emit` with each chunk (the last one finished)."""
        if request.adapter is not None and request.adapter not in self.adapters:
            raise AdapterError(f"The adapter {request.adapter!r} is not loaded")
        try:
            self._waiting.put_nowait((request, emit))
        except queue.Full:
            raise EngineOverloaded("the engine's waiting line is full") from None
        self._wake.set()

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[Chunk] = asyncio.Queue()
        self.submit(request, lambda chunk: loop.call_soon_threadsafe(chunks.put_nowait, chunk))
        try:
            while True:
                chunk = await chunks.get()
                yield chunk
                if chunk.finish_reason is not None:
                    return
        finally:
            self.cancel(request.id)

    def cancel(self, request_id: str) -> None:
        """Stop decoding a request whose client went away (a no-op once it finished)."""
        self._call(lambda: self._cancel(request_id), wait=False)

    def load_adapter(self, name: str, path: str) -> None:
        self._call(lambda: self._load_adapter(name, path))

    def unload_adapter(self, name: str) -> None:
        self._call(lambda: self._unload_adapter(name))

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)

    # --- control operations run on the engine thread between steps ---------------------------------------

    def _call(self, operation: Callable[[], Any], *, wait: bool = True) -> Any:
        done: queue.Queue[tuple[bool, Any]] = queue.Queue(1)
        self._control.put((operation, done if wait else None))
        self._wake.set()
        if not wait:
            return None
        ok, value = done.get()
        if not ok:
            raise value
        return value

    def _cancel(self, request_id: str) -> None:
        for sequence in self._active:
            if sequence.request.id == request_id:
                sequence.cancelled = True

    def _load_adapter(self, name: str, path: str) -> None:
        from peft import PeftModel

        if name in self.adapters:
            raise AdapterError(f"An adapter named {name!r} is already loaded")
        if len(self.adapters) >= self.max_adapters:
            raise AdapterError(
                f"{len(self.adapters)} adapters are loaded, the most this engine holds; unload one first"
            )
        if not (Path(path) / "adapter_config.json").exists():
            raise AdapterError(f"No adapter_config.json in {path}")
        try:
            if self.model is self.base:
                self.model = PeftModel.from_pretrained(self.base, path, adapter_name=name, is_trainable=False)
            else:
                self.model.load_adapter(path, adapter_name=name, is_trainable=False)
        except (ValueError, OSError, RuntimeError, KeyError) as exc:
            raise AdapterError(f"The adapter {name!r} could not be loaded: {exc}") from exc
        self.model.eval()
        self.adapters[name] = path
        log.info("inference.adapter_loaded", adapter=name)

    def _unload_adapter(self, name: str) -> None:
        if name not in self.adapters:
            raise AdapterError(f"The adapter {name!r} is not loaded")
        if any(s.request.adapter == name for s in self._active):
            raise AdapterError(f"The adapter {name!r} is in use; try again when its requests finish")
        self.model.delete_adapter(name)
        del self.adapters[name]
        if not self.adapters:  # the last one: back to the plain model, without empty LoRA wrappers
            self.base = self.model.unload()
            self.model = self.base
        log.info("inference.adapter_unloaded", adapter=name)

    # --- the decoding loop --------------------------------------------------------------------------------

    def _run(self) -> None:
        torch = self.torch
        with torch.inference_mode():
            while not self._stop.is_set():
                self._run_control()
                admitted = self._admit()
                if admitted:
                    self._guard(functools.partial(self._prefill, admitted), admitted)
                if self._active:
                    self._guard(self._step, self._active)
                elif not admitted:
                    self._wake.wait(timeout=0.5)
                    self._wake.clear()
        for sequence in self._active:
            sequence.emit(Chunk("", finish_reason="error", error="the engine stopped"))

    def _guard(self, step: Callable[[], None], sequences: list[_Sequence]) -> None:
        """A failing step ends the requests in the batch with an error chunk instead of killing the engine
        (the shared cache cannot be trusted after a failed forward, so the whole batch goes)."""
        try:
            step()
        except Exception as exc:  # the engine must keep serving later requests
            log.error("inference.step_failed", error_type=type(exc).__name__, error=str(exc)[:300])
            for sequence in {id(s): s for s in [*self._active, *sequences]}.values():
                sequence.emit(Chunk("", finish_reason="error", error=f"{type(exc).__name__}: {exc}"[:300]))
            self._active, self._cache, self._mask = [], None, None

    def _run_control(self) -> None:
        while True:
            try:
                operation, done = self._control.get_nowait()
            except queue.Empty:
                return
            try:
                result = operation()
            except Exception as exc:
                if done is not None:
                    done.put((False, exc))
            else:
                if done is not None:
                    done.put((True, result))

    def _admit(self) -> list[_Sequence]:
        admitted: list[_Sequence] = []
        while len(self._active) + len(admitted) < self.max_batch:
            try:
                request, emit = self._waiting.get_nowait()
            except queue.Empty:
                break
            if request.adapter is not None and request.adapter not in self.adapters:
                emit(Chunk("", finish_reason="error", error=f"The adapter {request.adapter!r} was unloaded"))
                continue
            generator = None
            if request.temperature > 0:
                generator = self.torch.Generator(device="cpu")
                generator.manual_seed(request.seed if request.seed is not None else time.time_ns() % (2**63))
            admitted.append(_Sequence(request=request, emit=emit, generator=generator))
            self.stats["requests"] += 1
        return admitted

    def _forward(self, input_ids: Any, mask: Any, positions: Any, cache: Any, adapters: list[str]) -> Any:
        kwargs: dict[str, Any] = {
            "input_ids": input_ids,
            "attention_mask": mask,
            "position_ids": positions,
            "cache": cache,
            "use_cache": True,
        }
        if self.model is not self.base:
            if all(a == BASE for a in adapters):
                with self.model.disable_adapter():
                    return self.base(**kwargs)
            if len(set(adapters)) == 1:
                self.model.set_adapter(adapters[0])
                return self.model(**kwargs)
            kwargs["adapter_names"] = adapters
            return self.model(**kwargs)
        return self.base(**kwargs)

    def _prefill(self, sequences: list[_Sequence]) -> None:
        from transformers import DynamicCache

        torch = self.torch
        self.stats["prefills"] += 1
        width = max(len(s.request.prompt_ids) for s in sequences)
        ids = torch.full((len(sequences), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, sequence in enumerate(sequences):
            prompt = sequence.request.prompt_ids
            ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            mask[row, width - len(prompt) :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache()
        adapters = [s.request.adapter or BASE for s in sequences]
        out = self._forward(
            ids.to(self.device), mask.to(self.device), positions.to(self.device), cache, adapters
        )
        logits = out.logits[:, -1, :].float().cpu()
        self._merge(cache, mask)  # the cache object is filled in place
        self._active.extend(sequences)
        self._accept(sequences, logits)

    def _merge(self, cache: Any, mask: Any) -> None:
        """Join newly prefilled rows to the running batch, left-padding whichever side is shorter."""
        torch = self.torch
        mask = mask.to(self.device)
        if self._cache is None or not self._active:
            self._cache, self._mask = cache, mask
            return
        old_len, new_len = self._mask.shape[1], mask.shape[1]
        width = max(old_len, new_len)

        def pad(t: Any, by: int) -> Any:
            if by == 0:
                return t
            shape = list(t.shape)
            shape[-2] = by
            return torch.cat([t.new_zeros(shape), t], dim=-2)

        for old_layer, new_layer in zip(self._cache.layers, cache.layers, strict=True):
            old_layer.keys = torch.cat(
                [pad(old_layer.keys, width - old_len), pad(new_layer.keys, width - new_len)]
            )
            old_layer.values = torch.cat(
                [pad(old_layer.values, width - old_len), pad(new_layer.values, width - new_len)]
            )
        self._mask = torch.cat(
            [
                torch.nn.functional.pad(self._mask, (width - old_len, 0)),
                torch.nn.functional.pad(mask, (width - new_len, 0)),
            ]
        )

    def _step(self) -> None:
        torch = self.torch
        rows = len(self._active)
        last = torch.tensor([[s.generated[-1]] for s in self._active], dtype=torch.long, device=self.device)
        positions = self._mask.sum(-1, keepdim=True)
        self._mask = torch.cat([self._mask, self._mask.new_ones((rows, 1))], dim=-1)
        adapters = [s.request.adapter or BASE for s in self._active]
        out = self._forward(last, self._mask, positions, self._cache, adapters)
        self.stats["steps"] += 1
        self.stats["batch_rows"] += rows
        self._accept(list(self._active), out.logits[:, -1, :].float().cpu())

    def _accept(self, sequences: list[_Sequence], logits: Any) -> None:
        """Pick each row's next token, emit its new text, and drop finished rows from the batch."""
        torch = self.torch
        finished: list[int] = []
        offset = len(self._active) - len(sequences)  # the rows of `sequences` are the batch's last ones
        for i, sequence in enumerate(sequences):
            token = self._sample(logits[i], sequence)
            sequence.generated.append(token)
            self.stats["tokens"] += 1
            if sequence.first_token_at is None:
                sequence.first_token_at = time.perf_counter()
            reason = self._finish_reason(sequence, token)
            self._emit(sequence, reason)
            if reason is not None:
                finished.append(offset + i)
        if finished:
            keep = [i for i in range(len(self._active)) if i not in set(finished)]
            self._active = [self._active[i] for i in keep]
            if not keep:
                self._cache, self._mask = None, None
                return
            index = torch.tensor(keep, dtype=torch.long, device=self.device)
            for layer in self._cache.layers:
                layer.keys = layer.keys.index_select(0, index)
                layer.values = layer.values.index_select(0, index)
            self._mask = self._mask.index_select(0, index)
            # Columns that are padding in every remaining row cost compute on every step: drop them.
            real = self._mask.any(dim=0).nonzero()
            first = int(real[0]) if len(real) else 0
            if first > 0:
                self._mask = self._mask[:, first:]
                for layer in self._cache.layers:
                    layer.keys = layer.keys[:, :, first:, :]
                    layer.values = layer.values[:, :, first:, :]

    def _sample(self, logits: Any, sequence: _Sequence) -> int:
        torch = self.torch
        request = sequence.request
        if request.temperature <= 0 or sequence.generator is None:
            return int(torch.argmax(logits))
        probs = torch.softmax(logits / request.temperature, dim=-1)
        if request.top_p < 1.0:
            sorted_probs, order = torch.sort(probs, descending=True)
            keep = sorted_probs.cumsum(-1) - sorted_probs < request.top_p
            sorted_probs = sorted_probs * keep
            probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
            probs = probs / probs.sum()
        return int(torch.multinomial(probs, 1, generator=sequence.generator))

    def _finish_reason(self, sequence: _Sequence, token: int) -> str | None:
        if sequence.cancelled:
            return "cancelled"
        if token in self.eos_ids and not sequence.request.ignore_eos:
            return "stop"
        sequence.text = self.tokenizer.decode(sequence.generated, skip_special_tokens=True)
        for stop in sequence.request.stop:
            at = sequence.text.find(stop)
            if at >= 0:
                sequence.text = sequence.text[:at]
                return "stop"
        if len(sequence.generated) >= sequence.request.max_tokens:
            return "length"
        return None

    def _emit(self, sequence: _Sequence, reason: str | None) -> None:
        text = sequence.text
        ready = len(text)
        if reason is None:
            if text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
                ready = len(text.rstrip("\ufffd"))
            for stop in sequence.request.stop:  # hold back what may be the start of a stop string
                for k in range(min(len(stop) - 1, len(text)), 0, -1):
                    if text.endswith(stop[:k]):
                        ready = min(ready, len(text) - k)
                        break
        delta = text[sequence.sent : ready] if ready > sequence.sent else ""
        sequence.sent = max(sequence.sent, ready)
        if reason is None and not delta:
            return
        completion = len(sequence.generated) - (
            1 if reason == "stop" and sequence.generated[-1] in self.eos_ids else 0
        )
        sequence.emit(
            Chunk(
                delta,
                finish_reason="stop" if reason == "cancelled" else reason,
                prompt_tokens=len(sequence.request.prompt_ids),
                completion_tokens=completion,
            )
        )
