"""Real inference processes for the pool's tests: two `lumen inference serve` replicas on loopback, each a
separate process running SmolLM2-135M on the CPU, and two small LoRA adapters made here with peft.

The converted model is cached across runs (LUMEN_TEST_MODEL_DIR, default the cache `lumen serve` uses): the
first run converts the GGUF from the wheel once; every run checks the files' SHA-256.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import platformdirs
import pytest

from lumen.inference.local.store import ModelStore, StoredModel

# The same cache `lumen serve` uses by default (inference.model_dir), so a machine converts the model once.
MODEL_DIR = Path(os.environ.get("LUMEN_TEST_MODEL_DIR", platformdirs.user_cache_path("lumen") / "models"))
BASE_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


@pytest.fixture(scope="session")
def stored_model() -> StoredModel:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return ModelStore(MODEL_DIR).resolve("smollm2-135m-instruct")


def make_adapter(model: StoredModel, folder: Path, seed: int, rank: int = 4) -> Path:
    """A LoRA adapter with random (non-zero) weights: its outputs differ from the base model's."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    base = AutoModelForCausalLM.from_pretrained(str(model.path))
    config = LoraConfig(
        r=rank, lora_alpha=4 * rank, target_modules=["q_proj", "v_proj"], init_lora_weights=False
    )
    peft_model = get_peft_model(base, config)
    peft_model.save_pretrained(str(folder), safe_serialization=True)
    config_path = folder / "adapter_config.json"
    data = json.loads(config_path.read_text())
    data["base_model_name_or_path"] = BASE_ID  # where it was trained, as a real adapter records it
    config_path.write_text(json.dumps(data))
    return folder


def archive_of(folder: Path, extra: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(folder.iterdir()):
            tar.add(path, arcname=f"adapter/{path.name}")
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(f"adapter/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@dataclass
class Adapters:
    alpha: Path
    beta: Path


@pytest.fixture(scope="session")
def lora_adapters(stored_model: StoredModel, tmp_path_factory: pytest.TempPathFactory) -> Adapters:
    root = tmp_path_factory.mktemp("adapters")
    return Adapters(
        alpha=make_adapter(stored_model, root / "alpha", seed=1),
        beta=make_adapter(stored_model, root / "beta", seed=2),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EngineProcess:
    """`lumen inference serve` as a real child process."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 300) -> None:
        env = {
            **os.environ,
            "LUMEN_INFERENCE__MODEL_DIR": str(MODEL_DIR),
            "LUMEN_LOG_LEVEL": "warning",
            "HF_HUB_OFFLINE": "1",
            "OMP_NUM_THREADS": "1",  # two replicas share two cores
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lumen.core.cli",
                "inference",
                "serve",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
            ],
            env=env,
            start_new_session=True,  # granian serves from a child process: signal the whole group
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the inference engine exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise RuntimeError("the inference engine did not start in time")

    def _signal(self, sig: int) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    def kill(self) -> None:
        """Die at once, as a crashed or OOM-killed replica does."""
        self._signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait()

    def stop(self) -> None:
        if self.process is None:
            return
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.process.wait()


@pytest.fixture(scope="session")
def replicas(
    stored_model: StoredModel, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[EngineProcess]]:
    engines = [EngineProcess(tmp_path_factory.mktemp(f"engine{i}")) for i in range(2)]
    try:
        for engine in engines:
            engine.start()
        yield engines
    finally:
        for engine in engines:
            engine.stop()
