"""Publishing a trained adapter: files into the adapter store, a signed manifest, registry rows, rollback.

Naming: each published run is an immutable version `<name>-v<N>`; the name `<name>` itself is the tenant's
*current* version (a separate registry row with its own copy of the files, hence its own served name on the
replicas, so switching versions never serves stale weights from a replica's cache). Publishing moves
`<name>` to the new version; rollback (`POST /v1/training/adapters/{name}/rollback`) moves it back to an
earlier version in one call. Chat with `model="<name>"` follows the current version, with
`model="<name>-v<N>"` a pinned one.

The manifest (lumen-manifest.json, next to the weights) records the base model, the dataset and its
version and SHA-256, the hyperparameters, the metrics and gate result, and each file's SHA-256; it is
signed with the deployment's Ed25519 key (the audit signer, public at /.well-known/lumen-audit-key) in
lumen-manifest.sig.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.audit.signing import AuditSigner, verify_signature
from lumen.core.db.base import utcnow
from lumen.inference.local.store import sha256_of
from lumen.inference.pool.models import Adapter
from lumen.training.models import TrainingRun

__all__ = [
    "MANIFEST",
    "SIGNATURE",
    "PublishedFiles",
    "copy_version",
    "current_version",
    "next_version",
    "register",
    "verify_manifest",
    "write_adapter",
]

MANIFEST = "lumen-manifest.json"
SIGNATURE = "lumen-manifest.sig"
WEIGHTS = "adapter_model.safetensors"


@dataclass(frozen=True)
class PublishedFiles:
    adapter_id: uuid.UUID
    path: Path
    sha256: str
    size_bytes: int
    manifest: dict[str, Any]


def canonical(manifest: dict[str, Any]) -> bytes:
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()


def write_adapter(
    save: Any,
    store: Path,
    tenant_id: uuid.UUID,
    manifest: dict[str, Any],
    signer: AuditSigner,
) -> PublishedFiles:
    """`save(folder)` writes the peft files; the manifest (with each file's SHA-256) and its signature are
    added, and the folder is moved into place atomically."""
    adapter_id = uuid.uuid4()
    parent = store / str(tenant_id)
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".train-", dir=parent))
    try:
        save(work)
        files = {p.name: sha256_of(p) for p in sorted(work.iterdir()) if p.is_file()}
        manifest = {**manifest, "adapter_id": str(adapter_id), "files": files}
        _sign_into(work, manifest, signer)
        target = parent / str(adapter_id)
        work.rename(target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    weights = target / WEIGHTS
    return PublishedFiles(adapter_id, target, files[WEIGHTS], weights.stat().st_size, manifest)


def _sign_into(folder: Path, manifest: dict[str, Any], signer: AuditSigner) -> None:
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
    signature = {
        "algorithm": "Ed25519",
        "key_id": signer.key_id,
        "signature": signer.sign(canonical(manifest)),
    }
    (folder / SIGNATURE).write_text(json.dumps(signature, indent=2))


def verify_manifest(folder: Path, public_key_b64: str) -> bool:
    """The signature matches the manifest, and every file matches the SHA-256 the manifest records."""
    manifest = json.loads((folder / MANIFEST).read_text())
    signature = json.loads((folder / SIGNATURE).read_text())
    if not verify_signature(public_key_b64, canonical(manifest), signature["signature"]):
        return False
    return all(sha256_of(folder / name) == digest for name, digest in manifest["files"].items())


def copy_version(source: Path, store: Path, tenant_id: uuid.UUID) -> tuple[uuid.UUID, Path]:
    """A copy of a version's folder for the `<name>` row (its own files, its own served name)."""
    adapter_id = uuid.uuid4()
    parent = store / str(tenant_id)
    work = Path(tempfile.mkdtemp(prefix=".alias-", dir=parent))
    try:
        for path in source.iterdir():
            if path.is_file():
                shutil.copy2(path, work / path.name)
        target = parent / str(adapter_id)
        work.rename(target)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return adapter_id, target


async def next_version(session: AsyncSession, tenant_id: uuid.UUID, name: str) -> int:
    highest = await session.scalar(
        select(func.max(TrainingRun.adapter_version)).where(
            TrainingRun.tenant_id == tenant_id, TrainingRun.adapter_name == name
        )
    )
    return int(highest or 0) + 1


def current_version(alias: Adapter) -> int | None:
    try:
        manifest = json.loads((Path(alias.path) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    version = manifest.get("version")
    return int(version) if isinstance(version, int) else None


async def register(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    name: str,
    files: PublishedFiles | tuple[uuid.UUID, Path],
    *,
    rank: int,
    target_modules: list[str],
    base_model: str,
    description: str,
) -> Adapter:
    if isinstance(files, PublishedFiles):
        adapter_id, path, digest, size = files.adapter_id, files.path, files.sha256, files.size_bytes
    else:
        adapter_id, path = files
        digest, size = sha256_of(path / WEIGHTS), (path / WEIGHTS).stat().st_size
    adapter = Adapter(
        id=adapter_id,
        tenant_id=tenant_id,
        name=name,
        description=description[:500],
        base_model=base_model,
        rank=rank,
        target_modules=",".join(target_modules),
        size_bytes=size,
        sha256=digest,
        path=str(path),
        critical=False,
        created_at=utcnow(),
    )
    session.add(adapter)
    await session.flush()
    return adapter


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
