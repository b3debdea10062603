"""A disk cache of the shared corpora's embeddings, so that a fresh database (a new deployment, every test
server, every CI run) does not spend minutes of CPU re-embedding text the same model has embedded before.

Only for the platform's shared corpora (public text the plugins ship), never for a tenant's documents:
those stay in the tenant's database rows and nowhere else. The key is the SHA-256 of the model name and the
exact embedding inputs, so a changed text, chunking or model is a miss, never a stale hit. A file that
cannot be read, or has the wrong shape, is a miss; a cache that cannot be written is skipped with a
warning (a read-only file system in a container is fine).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import platformdirs
import structlog

from lumen.inference.embeddings.protocol import Embedder

__all__ = ["VectorCache", "default_cache_dir", "embed_cached"]

log = structlog.get_logger()


def default_cache_dir() -> Path:
    return platformdirs.user_cache_path("lumen") / "corpus-embeddings"


class VectorCache:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, model: str, inputs: Sequence[str]) -> Path:
        digest = hashlib.sha256(model.encode())
        for text in inputs:
            digest.update(b"\x00")
            digest.update(text.encode())
        name = digest.hexdigest()
        return self.root / name[:2] / f"{name}.npy"

    def get(self, model: str, dimensions: int, inputs: Sequence[str]) -> list[list[float]] | None:
        path = self._path(model, inputs)
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            return None
        if array.shape != (len(inputs), dimensions) or not np.isfinite(array).all():
            return None
        return [row.tolist() for row in array]

    def put(self, model: str, inputs: Sequence[str], vectors: Sequence[Sequence[float]]) -> None:
        path = self._path(model, inputs)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                np.save(out, np.asarray(vectors, dtype=np.float32), allow_pickle=False)
            os.replace(tmp, path)  # readers see the whole file or none
        except OSError as exc:
            log.warning("embeddings.cache_unwritable", error_type=type(exc).__name__)


async def embed_cached(
    embedder: Embedder, inputs: Sequence[str], cache: VectorCache | None
) -> list[list[float]]:
    if cache is None:
        return await embedder.embed(inputs)
    found = await asyncio.to_thread(cache.get, embedder.name, embedder.dimensions, inputs)
    if found is not None:
        return found
    vectors = await embedder.embed(inputs)
    await asyncio.to_thread(cache.put, embedder.name, inputs, vectors)
    return vectors
