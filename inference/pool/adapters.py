"""Checking an uploaded LoRA adapter archive and writing it to the adapter store.

An adapter is code-free data or it is refused: the archive (.tar.gz or .zip) may hold only
`adapter_config.json`, `adapter_model.safetensors` and a README, in one folder at most; pickle-based weights
(`.bin`, `.pt`, `.pkl`...) are refused outright, since loading them can run arbitrary code. The config must be
a LoRA for the base model the pool serves, with a rank within the configured maximum, and the safetensors
header must describe only LoRA matrices of that rank. Sizes are checked before and while extracting, so a
zip bomb is refused, not unpacked.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import tempfile
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = ["AdapterArchiveError", "CheckedAdapter", "check_and_store", "remove_stored"]

CONFIG = "adapter_config.json"
WEIGHTS = "adapter_model.safetensors"
ALLOWED = {CONFIG, WEIGHTS, "README.md"}
PICKLE_SUFFIXES = {".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz"}
MAX_MEMBERS = 16
MAX_CONFIG_BYTES = 64 * 1024


class AdapterArchiveError(ValueError):
    """The archive is not an adapter Lumen accepts; the message says exactly why (shown to the caller)."""


@dataclass(frozen=True)
class CheckedAdapter:
    path: Path
    base_model: str
    rank: int
    target_modules: list[str]
    size_bytes: int
    sha256: str


def _members(archive: bytes, limit: int) -> dict[str, bytes]:
    """The archive's files by base name, refusing links, paths that climb out, and oversized contents."""
    files: dict[str, bytes] = {}
    total = 0

    def add(name: str, size: int, read: Any) -> None:
        nonlocal total
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts or len(path.parts) > 2:
            raise AdapterArchiveError(f"The archive entry {name!r} has a path Lumen does not accept")
        base = path.name
        suffix = PurePosixPath(base).suffix.lower()
        if suffix in PICKLE_SUFFIXES:
            raise AdapterArchiveError(
                f"{base} holds pickle-based weights, which can run code when loaded; save the adapter with "
                "safetensors (save_pretrained(..., safe_serialization=True)) and upload that"
            )
        if base not in ALLOWED:
            raise AdapterArchiveError(
                f"Unexpected file {base!r} in the archive; an adapter archive holds only {sorted(ALLOWED)}"
            )
        if base in files:
            raise AdapterArchiveError(f"The archive holds {base} twice")
        total += size
        if size < 0 or total > limit:
            raise AdapterArchiveError(f"The archive unpacks to more than {limit} bytes")
        data = read()
        if len(data) != size:
            raise AdapterArchiveError(f"{base} is truncated or its size is misreported")
        files[base] = data

    if archive[:2] == b"PK":
        try:
            with zipfile.ZipFile(io.BytesIO(archive)) as zf:
                infos = [i for i in zf.infolist() if not i.is_dir()]
                if len(infos) > MAX_MEMBERS:
                    raise AdapterArchiveError(f"The archive has more than {MAX_MEMBERS} entries")
                for info in infos:
                    if (info.external_attr >> 16) & 0o170000 == 0o120000:
                        raise AdapterArchiveError(f"The archive entry {info.filename!r} is a link")
                    add(info.filename, info.file_size, lambda info=info: zf.read(info))
        except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
            if isinstance(exc, AdapterArchiveError):
                raise
            raise AdapterArchiveError(f"The zip archive cannot be read: {exc}") from None
        except RuntimeError as exc:  # encrypted entries
            raise AdapterArchiveError(f"The zip archive cannot be read: {exc}") from None
    else:
        try:
            with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tf:
                count = 0
                for member in tf:
                    count += 1
                    if count > MAX_MEMBERS * 2:
                        raise AdapterArchiveError(f"The archive has more than {MAX_MEMBERS} entries")
                    if member.isdir():
                        continue
                    if not member.isfile():
                        raise AdapterArchiveError(
                            f"The archive entry {member.name!r} is a link or device, not a file"
                        )
                    handle = tf.extractfile(member)
                    if handle is None:
                        raise AdapterArchiveError(f"The archive entry {member.name!r} cannot be read")
                    add(
                        member.name,
                        member.size,
                        lambda handle=handle, size=member.size: handle.read(size + 1),
                    )
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            if isinstance(exc, AdapterArchiveError):
                raise
            raise AdapterArchiveError(
                "The archive is neither a readable .tar.gz nor a .zip file"
                if not files
                else f"The archive is corrupt: {exc}"
            ) from None
    return files


def _check_config(raw: bytes, accepted_bases: set[str], max_rank: int) -> dict[str, Any]:
    if len(raw) > MAX_CONFIG_BYTES:
        raise AdapterArchiveError(f"{CONFIG} is larger than {MAX_CONFIG_BYTES} bytes")
    try:
        config = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise AdapterArchiveError(f"{CONFIG} is not valid JSON") from None
    if not isinstance(config, dict):
        raise AdapterArchiveError(f"{CONFIG} must be a JSON object")
    if str(config.get("peft_type", "")).upper() != "LORA":
        raise AdapterArchiveError(f"{CONFIG}: peft_type must be LORA, not {config.get('peft_type')!r}")
    base = config.get("base_model_name_or_path")
    if base not in accepted_bases:
        raise AdapterArchiveError(
            f"{CONFIG}: base_model_name_or_path is {base!r}, but the pool serves {sorted(accepted_bases)!r}; "
            "an adapter only works on the base model it was trained on"
        )
    rank = config.get("r")
    if not isinstance(rank, int) or isinstance(rank, bool) or not 1 <= rank <= max_rank:
        raise AdapterArchiveError(f"{CONFIG}: r (the LoRA rank) must be an integer from 1 to {max_rank}")
    targets = config.get("target_modules")
    if isinstance(targets, str):
        targets = [targets]
    if not isinstance(targets, list) or not targets or not all(isinstance(t, str) for t in targets):
        raise AdapterArchiveError(f"{CONFIG}: target_modules must name the modules the adapter changes")
    for key in ("rank_pattern", "alpha_pattern"):
        pattern = config.get(key) or {}
        if isinstance(pattern, dict) and any(
            not isinstance(v, int) or v > max_rank for v in pattern.values()
        ):
            raise AdapterArchiveError(f"{CONFIG}: {key} holds a rank above {max_rank}")
    return config


def _check_weights(path: Path, max_rank: int) -> None:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            names = list(f.keys())
            if not names:
                raise AdapterArchiveError(f"{WEIGHTS} holds no tensors")
            for name in names:
                if "lora_" not in name:
                    raise AdapterArchiveError(
                        f"{WEIGHTS} holds {name!r}, which is not a LoRA matrix; only adapters are accepted"
                    )
                shape = f.get_slice(name).get_shape()
                if "lora_A" in name and (len(shape) != 2 or shape[0] > max_rank):
                    raise AdapterArchiveError(f"{WEIGHTS}: {name} has shape {shape}, beyond rank {max_rank}")
    except SafetensorError as exc:
        raise AdapterArchiveError(f"{WEIGHTS} is not a valid safetensors file: {exc}") from None
    except (OSError, ValueError) as exc:
        raise AdapterArchiveError(f"{WEIGHTS} cannot be read: {exc}") from None


def check_and_store(
    archive: bytes,
    store: Path,
    owner: str,
    adapter_id: uuid.UUID,
    *,
    accepted_bases: set[str],
    max_rank: int,
    max_bytes: int,
) -> CheckedAdapter:
    """Check the archive and write its files to `store/owner/adapter_id/` (atomically: a refused or broken
    upload leaves nothing behind)."""
    if len(archive) > max_bytes:
        raise AdapterArchiveError(f"The archive is larger than {max_bytes} bytes")
    files = _members(archive, limit=max_bytes * 4)
    missing = [n for n in (CONFIG, WEIGHTS) if n not in files]
    if missing:
        raise AdapterArchiveError(f"The archive lacks {', '.join(missing)}")
    config = _check_config(files[CONFIG], accepted_bases, max_rank)
    target = store / owner / str(adapter_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".upload-", dir=target.parent))
    try:
        for name, data in files.items():
            (work / name).write_bytes(data)
        _check_weights(work / WEIGHTS, max_rank)
        work.rename(target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    targets = config["target_modules"]
    return CheckedAdapter(
        path=target,
        base_model=str(config["base_model_name_or_path"]),
        rank=int(config["r"]),
        target_modules=[targets] if isinstance(targets, str) else list(targets),
        size_bytes=len(archive),
        sha256=hashlib.sha256(archive).hexdigest(),
    )


def remove_stored(path: str, store: Path) -> None:
    """Delete an adapter's folder, only ever inside the store."""
    folder = Path(path).resolve()
    if store.resolve() in folder.parents:
        shutil.rmtree(folder, ignore_errors=True)
