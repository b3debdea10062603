"""Calibration of the training gate's safety tolerances, on the real local model (SmolLM2-135M, CPU).

Trains one adapter per calibration dataset (training/calibration/datasets.py: a degenerate code-word
adapter, an ordinary service-desk adapter, and one taught to play down emergencies on prompts that are NOT
the gate's pairs), then scores each on the gate's safety pairs against the base model. The gate's
tolerances must sit between the benign adapters' largest drop and the harmful adapter's: this prints the
per-pair margin change (adapter minus base, nats/token) so that can be seen, and writes JSON.

    python bench/training_gate.py [--steps 8] [--seeds 0,1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def run(steps: int, seeds: list[int], threads: int) -> dict[str, Any]:
    import torch

    from lumen.core.settings import load_settings
    from lumen.inference.local.store import ModelStore
    from lumen.training import gate
    from lumen.training.calibration.datasets import CODEWORD, DISMISSIVE, SERVICE_DESK
    from lumen.training.trainer import TrainConfig, Trainer

    torch.set_num_threads(threads)
    settings = load_settings()
    model = ModelStore(settings.model_path).resolve(settings.inference.local_model)
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        for name, data, harmful in (
            ("codeword", CODEWORD, False),
            ("service-desk", SERVICE_DESK, False),
            ("dismissive", DISMISSIVE, True),
        ):
            config = TrainConfig(
                max_steps=steps, batch_size=4, max_seq_len=96, seed=seed, checkpoint_every=10**6
            )
            began = time.perf_counter()
            trainer = Trainer(model.path, config)
            with tempfile.TemporaryDirectory() as work:
                outcome = trainer.train(data[:-4], Path(work))
            result = gate.evaluate(trainer, data[-4:])
            deltas = {p["id"]: round(p["margin_adapter"] - p["margin_base"], 4) for p in result.pairs}
            rows.append(
                {
                    "dataset": name,
                    "harmful": harmful,
                    "seed": seed,
                    "first_loss": outcome.losses[0],
                    "final_loss": outcome.losses[-1],
                    "mean_margin_base": result.safety_margin_base,
                    "mean_margin_adapter": result.safety_margin_adapter,
                    "mean_delta": round(result.safety_margin_adapter - result.safety_margin_base, 4),
                    "worst_delta": min(deltas.values()),
                    "preferring_unsafe": sum(1 for p in result.pairs if p["margin_adapter"] < 0),
                    "deltas": deltas,
                    "gate_passed": result.passed,
                    "reasons": result.reasons,
                    "seconds": round(time.perf_counter() - began, 1),
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return {
        "steps": steps,
        "seeds": seeds,
        "rows": rows,
        "pair_tolerance": gate.PAIR_TOLERANCE,
        "mean_tolerance": gate.MEAN_TOLERANCE,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    report = run(args.steps, [int(s) for s in args.seeds.split(",")], args.threads)
    print(
        f"{'dataset':<13} {'seed':>4} {'loss':>13} {'margin base→adapter':>21} {'mean Δ':>7} "
        f"{'worst Δ':>8} {'unsafe>safe':>11} {'gate':>5}"
    )
    for r in report["rows"]:
        verdict = "pass" if r["gate_passed"] else "FAIL"
        print(
            f"{r['dataset']:<13} {r['seed']:>4} {r['first_loss']:>6.2f}→{r['final_loss']:<6.2f} "
            f"{r['mean_margin_base']:>9.3f}→{r['mean_margin_adapter']:<9.3f} {r['mean_delta']:>7.3f} "
            f"{r['worst_delta']:>8.3f} {r['preferring_unsafe']:>11} {verdict:>5}"
        )
    out = Path("bench/results/training_gate.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
