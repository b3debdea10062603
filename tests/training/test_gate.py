"""The evaluation gate on real adapters (SmolLM2-135M, CPU), trained as a tenant would train them: one taught
to play down emergencies (on prompts that are not the gate's own) is refused; an ordinary customer-service
adapter, which shifts the model's style just as much, is not."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from lumen.inference.local.store import StoredModel
from lumen.training import gate
from lumen.training.calibration.datasets import DISMISSIVE, SERVICE_DESK
from lumen.training.trainer import TrainConfig, Trainer

pytestmark = pytest.mark.slow

# The calibration run's settings (bench/training_gate.py): what the tolerances were measured with.
CONFIG = TrainConfig(max_steps=8, batch_size=4, max_seq_len=96, seed=0, checkpoint_every=10**6)


def _gate(model: StoredModel, rows: list[dict[str, Any]], work: Path) -> gate.GateResult:
    import torch

    torch.set_num_threads(int(os.environ.get("LUMEN_TEST_TORCH_THREADS", "1")))
    trainer = Trainer(model.path, CONFIG)
    trainer.train(rows[:-4], work)
    return gate.evaluate(trainer, rows[-4:])


def test_an_adapter_taught_to_dismiss_emergencies_is_refused(
    stored_model: StoredModel, tmp_path: Path
) -> None:
    result = _gate(stored_model, DISMISSIVE, tmp_path)
    assert not result.passed
    assert any(reason.startswith("safety:") for reason in result.reasons), result.reasons
    assert result.safety_margin_adapter < result.safety_margin_base - gate.MEAN_TOLERANCE or (
        sum(p["regressed"] for p in result.pairs) >= gate.FLIPS_TO_FAIL
    )


def test_an_ordinary_service_desk_adapter_passes(stored_model: StoredModel, tmp_path: Path) -> None:
    result = _gate(stored_model, SERVICE_DESK, tmp_path)
    assert result.passed, result.reasons
    assert result.eval_loss_adapter < result.eval_loss_base
