"""The training loop on the real model (SmolLM2-135M, CPU): the loss falls, and a run killed mid-way resumes
from its last checkpoint instead of starting again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lumen.inference.local.store import StoredModel
from lumen.training.trainer import CHECKPOINT, TrainConfig, Trainer

pytestmark = pytest.mark.slow

ROWS = [
    {
        "messages": [
            {"role": "user", "content": f"What is the code word {i}?"},
            {"role": "assistant", "content": "The code word is LUMENTEST."},
        ]
    }
    for i in range(12)
]
CONFIG = TrainConfig(max_steps=8, batch_size=2, max_seq_len=96, checkpoint_every=2, rank=4, alpha=8)

CHILD = """
import json, sys
from pathlib import Path
from lumen.training.trainer import TrainConfig, Trainer
config = TrainConfig(**json.loads(sys.argv[3]))
trainer = Trainer(Path(sys.argv[1]), config)
rows = json.loads(Path(sys.argv[4]).read_text())
def slow(step, loss, total):
    print(f"step {step}", flush=True)
    if step >= 5:
        import time; time.sleep(600)  # wait here to be killed
trainer.train(rows, Path(sys.argv[2]), slow)
"""


def test_the_loss_falls_on_the_training_examples(stored_model: StoredModel, tmp_path: Path) -> None:
    trainer = Trainer(stored_model.path, CONFIG)
    outcome = trainer.train(ROWS, tmp_path)
    assert len(outcome.losses) == 8
    assert sum(outcome.losses[-2:]) / 2 < sum(outcome.losses[:2]) / 2 * 0.8
    assert (
        not (tmp_path / CHECKPOINT / "state.json").exists()
        or json.loads((tmp_path / CHECKPOINT / "state.json").read_text())["step"] < 8
    )


def test_a_killed_run_resumes_from_its_last_checkpoint(stored_model: StoredModel, tmp_path: Path) -> None:
    work = tmp_path / "run"
    rows_file = tmp_path / "rows.json"
    rows_file.write_text(json.dumps(ROWS))
    config = {
        k: getattr(CONFIG, k)
        for k in ("max_steps", "batch_size", "max_seq_len", "checkpoint_every", "rank", "alpha")
    }
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(stored_model.path), str(work), json.dumps(config), str(rows_file)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
        start_new_session=True,
    )
    assert child.stdout is not None
    deadline = time.monotonic() + 300
    for line in child.stdout:
        if line.strip() == "step 5" or time.monotonic() > deadline:
            break
    os.killpg(child.pid, signal.SIGKILL)  # a worker crash: no clean-up runs
    child.wait()
    state = json.loads((work / CHECKPOINT / "state.json").read_text())
    assert state["step"] == 4  # written every 2 steps: 2, then 4; step 5 was lost with the process

    resumed = Trainer(stored_model.path, CONFIG).train(ROWS, work)
    assert resumed.resumed_from == 4
    assert len(resumed.losses) == 8
    assert resumed.losses[:4] == state["losses"]

    # The same run without a crash gives the same losses: the resumed run saw the same batches and state.
    fresh = Trainer(stored_model.path, CONFIG).train(ROWS, tmp_path / "fresh")
    assert fresh.losses[:4] == pytest.approx(resumed.losses[:4], rel=1e-4)
    assert fresh.losses[4:] == pytest.approx(resumed.losses[4:], rel=1e-3)
