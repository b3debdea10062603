"""The training loop: LoRA (or QLoRA on a GPU) on the pool's base model with transformers + peft.

A plain PyTorch loop rather than transformers' Trainer, because the pipeline needs three things it must
control exactly: a callback per step (progress, loss, cancellation), checkpoints that a retried job resumes
from bit-for-bit (adapter weights, optimiser state, step, loss history; the batches are a pure function of
the step, so a resumed run sees the same data as an uninterrupted one), and no extra processes.

Only the assistant's last answer is learned: the prompt's tokens are masked out of the loss.
Runs in the worker (never in the API process), on a thread, with torch's threads limited by settings.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import structlog

__all__ = ["Cancelled", "TrainConfig", "TrainOutcome", "Trainer", "TrainingError"]

log = structlog.get_logger()

CHECKPOINT = "checkpoint"
IGNORE = -100


class TrainingError(RuntimeError):
    """The run cannot go on; the message says why (stored on the run, shown to the tenant)."""


class Cancelled(Exception):
    """The tenant cancelled the run."""


@dataclass(frozen=True)
class TrainConfig:
    max_steps: int = 50
    learning_rate: float = 1e-3
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.0
    batch_size: int = 4
    max_seq_len: int = 256
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    seed: int = 0
    method: str = "lora"  # or "qlora"
    checkpoint_every: int = 5


@dataclass
class TrainOutcome:
    losses: list[float]
    resumed_from: int
    steps: int
    tokens: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


# step, loss, total steps -> None; raise Cancelled to stop (the checkpoint stays for nothing: it is removed).
StepCallback = Callable[[int, float, int], None]


class Trainer:
    def __init__(self, model_path: Path, config: TrainConfig, *, device: str = "cpu") -> None:
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.config = config
        self.tokenizer: Any = AutoTokenizer.from_pretrained(str(model_path))
        torch.manual_seed(config.seed)
        if config.method == "qlora":
            if not torch.cuda.is_available():
                raise TrainingError("qlora needs a GPU (bitsandbytes 4-bit); this worker has none")
            from peft import prepare_model_for_kbit_training
            from transformers import BitsAndBytesConfig

            quant = BitsAndBytesConfig(  # type: ignore[no-untyped-call]
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=torch.bfloat16,
            )
            base: Any = AutoModelForCausalLM.from_pretrained(
                str(model_path), quantization_config=quant, device_map={"": 0}
            )
            base = prepare_model_for_kbit_training(base)  # type: ignore[no-untyped-call]
            self.device = torch.device("cuda")
        else:
            self.device = torch.device(device)
            dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
            loaded: Any = AutoModelForCausalLM.from_pretrained(str(model_path), dtype=dtype)
            base = loaded.to(self.device)
        lora = LoraConfig(
            r=config.rank,
            lora_alpha=config.alpha,
            lora_dropout=config.dropout,
            target_modules=list(config.target_modules),
            task_type="CAUSAL_LM",
        )
        self.model: Any = get_peft_model(base, lora)
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id

    # --- data -----------------------------------------------------------------------------------------

    def _ids(self, messages: Sequence[dict[str, str]], generation_prompt: bool) -> list[int]:
        ids = self.tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=generation_prompt, tokenize=True
        )
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):
            ids = ids["input_ids"]
        return [int(i) for i in ids]

    def encode(self, example: dict[str, Any]) -> tuple[list[int], list[int]]:
        """Input ids and labels (the prompt masked), cut to max_seq_len from the left so the answer stays."""
        messages = example["messages"]
        prompt = self._ids(messages[:-1], generation_prompt=True)
        full = self._ids(messages, generation_prompt=False)
        cut = len(prompt) if full[: len(prompt)] == prompt else 0
        labels = [IGNORE] * cut + full[cut:]
        limit = self.config.max_seq_len
        if len(full) > limit:
            full, labels = full[-limit:], labels[-limit:]
        return full, labels

    def _batch(self, encoded: list[tuple[list[int], list[int]]]) -> tuple[Any, Any, Any]:
        torch = self.torch
        width = max(len(ids) for ids, _ in encoded)
        ids = [i + [self.pad_id] * (width - len(i)) for i, _ in encoded]
        labels = [lab + [IGNORE] * (width - len(lab)) for _, lab in encoded]
        mask = [[1] * len(i) + [0] * (width - len(i)) for i, _ in encoded]

        def as_tensor(rows: list[list[int]]) -> Any:
            return torch.tensor(rows, dtype=torch.long, device=self.device)

        return as_tensor(ids), as_tensor(labels), as_tensor(mask)

    def _order(self, n: int) -> list[int]:
        order = list(range(n))
        random.Random(self.config.seed).shuffle(order)  # noqa: S311 - reproducible batches
        return order

    # --- training -------------------------------------------------------------------------------------

    def train(
        self, rows: Sequence[dict[str, Any]], work: Path, on_step: StepCallback | None = None
    ) -> TrainOutcome:
        import time

        torch = self.torch
        config = self.config
        encoded = [self.encode(r) for r in rows]
        encoded = [e for e in encoded if any(label != IGNORE for label in e[1])]
        if not encoded:
            raise TrainingError("no example has an answer left within max_seq_len tokens")
        order = self._order(len(encoded))
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
        warmup = max(1, config.max_steps // 10)

        def lr_at(step: int) -> float:  # linear warm-up, then cosine to 10 %
            if step < warmup:
                return config.learning_rate * (step + 1) / warmup
            progress = (step - warmup) / max(1, config.max_steps - warmup)
            return config.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

        start, losses = self._resume(work, optimizer)
        resumed_from = start
        self.model.train()
        tokens = 0
        began = time.perf_counter()
        for step in range(start, config.max_steps):
            picks = [order[(step * config.batch_size + j) % len(order)] for j in range(config.batch_size)]
            ids, labels, mask = self._batch([encoded[i] for i in picks])
            for group in optimizer.param_groups:
                group["lr"] = lr_at(step)
            out = self.model(input_ids=ids, attention_mask=mask, labels=labels)
            loss = out.loss
            if not torch.isfinite(loss):
                raise TrainingError(f"the loss became {float(loss)} at step {step + 1}; lower learning_rate")
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            tokens += int(mask.sum())
            losses.append(round(float(loss.detach()), 6))
            done = step + 1
            if done % config.checkpoint_every == 0 and done < config.max_steps:
                self._checkpoint(work, optimizer, done, losses)
            if on_step is not None:
                on_step(done, losses[-1], config.max_steps)
        self.model.eval()
        return TrainOutcome(
            losses=losses,
            resumed_from=resumed_from,
            steps=config.max_steps,
            tokens=tokens,
            seconds=time.perf_counter() - began,
        )

    def _checkpoint(self, work: Path, optimizer: Any, step: int, losses: list[float]) -> None:
        """Written to a temporary folder and swapped in, so a crash mid-write leaves the previous one."""
        from peft import get_peft_model_state_dict
        from safetensors.torch import save_file

        work.mkdir(parents=True, exist_ok=True)
        tmp = work / f".{CHECKPOINT}-{step}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        state = {k: v.detach().cpu().contiguous() for k, v in get_peft_model_state_dict(self.model).items()}
        save_file(state, str(tmp / "adapter.safetensors"))
        self.torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        (tmp / "state.json").write_text(
            json.dumps({"step": step, "losses": losses, "config": asdict(self.config)})
        )
        final = work / CHECKPOINT
        old = work / f".{CHECKPOINT}-old"
        shutil.rmtree(old, ignore_errors=True)
        if final.exists():
            os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
        log.info("training.checkpoint_written", step=step)

    def _resume(self, work: Path, optimizer: Any) -> tuple[int, list[float]]:
        from peft import set_peft_model_state_dict
        from safetensors.torch import load_file

        folder = work / CHECKPOINT
        if not (folder / "state.json").exists():
            return 0, []
        state = json.loads((folder / "state.json").read_text())
        saved = state.get("config", {})
        for key in ("rank", "alpha", "batch_size", "seed", "learning_rate", "max_steps"):
            if saved.get(key) != getattr(self.config, key):
                log.warning("training.checkpoint_ignored", reason=f"{key} changed")
                return 0, []
        set_peft_model_state_dict(self.model, load_file(str(folder / "adapter.safetensors")))
        optimizer.load_state_dict(self.torch.load(folder / "optimizer.pt", weights_only=True))
        log.info("training.resumed", step=state["step"])
        return int(state["step"]), [float(x) for x in state["losses"]]

    # --- evaluation -----------------------------------------------------------------------------------

    def mean_loss(self, rows: Sequence[dict[str, Any]], *, adapter: bool) -> float:
        """Mean per-token loss of the answers, with the adapter or with the base model alone."""
        torch = self.torch
        total, count = 0.0, 0
        self.model.eval()
        with torch.no_grad(), self._adapter(adapter):
            for row in rows:
                ids, labels, mask = self._batch([self.encode(row)])
                out = self.model(input_ids=ids, attention_mask=mask, labels=labels)
                n = int((labels[:, 1:] != IGNORE).sum())
                if n:
                    total += float(out.loss) * n
                    count += n
        return total / max(1, count)

    def answer_logprob(self, prompt: str, answer: str, *, adapter: bool) -> float:
        """Mean per-token log-probability of `answer` as the reply to `prompt`."""
        messages = [{"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]
        torch = self.torch
        with torch.no_grad(), self._adapter(adapter):
            ids, labels, mask = self._batch([self.encode({"messages": messages})])
            out = self.model(input_ids=ids, attention_mask=mask, labels=labels)
        return -float(out.loss)

    def _adapter(self, enabled: bool) -> Any:
        import contextlib

        return contextlib.nullcontext() if enabled else self.model.disable_adapter()

    def generate(self, prompt: str, *, adapter: bool, max_new_tokens: int = 24) -> str:
        torch = self.torch
        ids = self._ids([{"role": "user", "content": prompt}], generation_prompt=True)
        with torch.no_grad(), self._adapter(adapter):
            out = self.model.generate(
                input_ids=torch.tensor([ids], device=self.device),
                attention_mask=torch.ones((1, len(ids)), dtype=torch.long, device=self.device),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=self.pad_id,
            )
        return str(self.tokenizer.decode(out[0][len(ids) :], skip_special_tokens=True))

    def save_adapter(self, folder: Path, base_model_id: str) -> None:
        """The adapter as peft saves it (safetensors), recording the pool's base model id."""
        self.model.save_pretrained(str(folder), safe_serialization=True)
        config_path = folder / "adapter_config.json"
        data = json.loads(config_path.read_text())
        data["base_model_name_or_path"] = base_model_id
        config_path.write_text(json.dumps(data, indent=2))
