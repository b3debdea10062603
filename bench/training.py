"""Training step cost: tokens/s and peak memory of one LoRA training step, on the CPU with the local model
(SmolLM2-135M-Instruct, what tests and CI train), and on a GPU, where one exists, for a 7B-shaped model.

Each configuration runs warm-up steps, then `--steps` timed steps of the real Trainer (forward, backward,
AdamW update; rank 8 on q/k/v/o), batches of `--batch` examples padded to `--seq` tokens. Peak memory: the
process's peak RSS growth over the run on the CPU (ru_maxrss), torch.cuda.max_memory_allocated on a GPU.

GPU rows: a randomly initialised Mistral-7B-shaped model (hidden 4096, 32 layers, GQA 8 KV heads, MLP 14336)
loaded in 4-bit NF4 (QLoRA) needs bitsandbytes and a CUDA device; without one they print "not measured".

Run::

    python bench/training.py                 # CPU: 135M, batch 4 x 128 tokens, 10 steps
    python bench/training.py --steps 20 --seq 256

Prints a table and writes JSON to bench/results/training.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _rows(n: int, words: int) -> list[dict[str, Any]]:
    text = " ".join(["the patient asked about the dose of the medicine"] * (words // 9 + 1))
    return [
        {
            "messages": [
                {"role": "user", "content": f"{i}: {text}"},
                {"role": "assistant", "content": f"{text} {i}"},
            ]
        }
        for i in range(n)
    ]


def bench_cpu(model_dir: Path, steps: int, batch: int, seq: int, threads: int) -> dict[str, Any]:
    import torch

    from lumen.inference.local.store import ModelStore
    from lumen.training.trainer import TrainConfig, Trainer

    torch.set_num_threads(threads)
    model = ModelStore(model_dir).resolve("smollm2-135m-instruct")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows = _rows(batch * 4, seq)
    warm = 2
    config = TrainConfig(max_steps=warm + steps, batch_size=batch, max_seq_len=seq, checkpoint_every=10_000)
    trainer = Trainer(model.path, config)
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times: list[float] = []
    last = [time.perf_counter()]

    def tick(step: int, loss: float, total: int) -> None:
        now = time.perf_counter()
        if step > warm:
            times.append(now - last[0])
        last[0] = now

    with tempfile.TemporaryDirectory() as work:
        outcome = trainer.train(rows, Path(work), tick)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tokens_per_step = outcome.tokens / (warm + steps)
    mean = sum(times) / len(times)
    trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
    return {
        "device": "cpu",
        "model": "SmolLM2-135M-Instruct",
        "method": "lora r8 q/k/v/o",
        "threads": threads,
        "batch": batch,
        "seq": seq,
        "steps": steps,
        "trainable_params": trainable,
        "seconds_per_step": round(mean, 3),
        "tokens_per_second": round(tokens_per_step / mean, 1),
        "peak_rss_mb": round(peak / 1024, 1),
        "model_and_training_rss_growth_mb": round((peak - before) / 1024, 1),
        "training_rss_growth_mb": round((peak - loaded) / 1024, 1),
        "first_loss": outcome.losses[0],
        "last_loss": outcome.losses[-1],
    }


def bench_gpu_7b(steps: int, batch: int, seq: int) -> dict[str, Any]:
    import torch

    if not torch.cuda.is_available():
        return {"device": "gpu", "model": "Mistral-7B-shaped", "status": "not measured (no CUDA device)"}
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        return {
            "device": "gpu",
            "model": "Mistral-7B-shaped",
            "status": "not measured (bitsandbytes missing)",
        }
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig, MistralConfig

    config = MistralConfig(
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        vocab_size=32000,
        max_position_embeddings=4096,
    )
    with tempfile.TemporaryDirectory() as folder:
        AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16).save_pretrained(folder)
        quant = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
        model = AutoModelForCausalLM.from_pretrained(folder, quantization_config=quant, device_map={"": 0})
    model = prepare_model_for_kbit_training(model)
    lora = LoraConfig(
        r=16,
        lora_alpha=32,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-4)
    ids = torch.randint(0, 32000, (batch, seq), device="cuda")
    torch.cuda.reset_peak_memory_stats()
    times = []
    for i in range(steps + 2):
        torch.cuda.synchronize()
        t = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        if i >= 2:
            times.append(time.perf_counter() - t)
    mean = sum(times) / len(times)
    return {
        "device": torch.cuda.get_device_name(0),
        "model": "Mistral-7B-shaped (random weights)",
        "method": "qlora nf4 r16 all linear",
        "batch": batch,
        "seq": seq,
        "steps": steps,
        "seconds_per_step": round(mean, 3),
        "tokens_per_second": round(batch * seq / mean, 1),
        "peak_gpu_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model-dir", default=str(Path.home() / ".cache" / "lumen-tests" / "models"))
    parser.add_argument("--output", default="bench/results/training.json")
    args = parser.parse_args()
    rows = [
        bench_cpu(Path(args.model_dir), args.steps, args.batch, args.seq, args.threads),
        bench_gpu_7b(args.steps, 4, 2048),
    ]
    print(
        f"{'device':<10} {'model':<34} {'batch x seq':<12} {'s/step':>8} {'tokens/s':>10} {'peak memory':>16}"
    )
    for r in rows:
        if "status" in r:
            print(f"{r['device']:<10} {r['model']:<34} {'-':<12} {'-':>8} {'-':>10} {r['status']:>16}")
            continue
        memory = f"{r['peak_rss_mb']} MB RSS" if "peak_rss_mb" in r else f"{r['peak_gpu_memory_mb']} MB GPU"
        print(
            f"{r['device'][:10]:<10} {r['model'][:34]:<34} {str(r['batch']) + ' x ' + str(r['seq']):<12} "
            f"{r['seconds_per_step']:>8} {r['tokens_per_second']:>10} {memory:>16}"
        )
    out = {
        "benchmark": "training",
        "when": datetime.now(UTC).isoformat(),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "rows": rows,
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
