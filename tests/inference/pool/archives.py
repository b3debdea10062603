"""Adapter archives built without torch (safetensors from NumPy): structurally real LoRA adapters for the
registry's tests and the isolation matrix, which never load them into a model."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile

import numpy as np
from safetensors.numpy import save

BASE_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


def adapter_files(*, rank: int = 4, base: str = BASE_ID, peft_type: str = "LORA") -> dict[str, bytes]:
    config = {
        "peft_type": peft_type,
        "base_model_name_or_path": base,
        "r": rank,
        "lora_alpha": 8,
        "target_modules": ["q_proj", "v_proj"],
        "task_type": "CAUSAL_LM",
    }
    rng = np.random.default_rng(0)
    tensors = {
        "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight": rng.normal(size=(rank, 576)).astype(
            "f4"
        ),
        "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight": rng.normal(size=(576, rank)).astype(
            "f4"
        ),
    }
    return {"adapter_config.json": json.dumps(config).encode(), "adapter_model.safetensors": save(tensors)}


def tar_gz(files: dict[str, bytes], *, folder: str = "adapter") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{folder}/{name}" if folder else name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()
