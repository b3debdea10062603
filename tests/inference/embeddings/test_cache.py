"""The disk cache of shared-corpus embeddings: a hit returns exactly what the model gave, any change to the
inputs or the model is a miss, and a broken or unwritable cache costs a re-embed, never an error."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from lumen.inference.embeddings import LocalEmbedder, shared_local_embedder
from lumen.inference.embeddings.cache import VectorCache, embed_cached

TEXTS = ["Warfarin and aspirin together raise the risk of bleeding.", "Store insulin pens below 30 °C."]


class Counting:
    """The real embedder, counting how many texts it was asked to embed."""

    def __init__(self, inner: LocalEmbedder) -> None:
        self.inner, self.embedded = inner, 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def dimensions(self) -> int:
        return self.inner.dimensions

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.embedded += len(texts)
        return await self.inner.embed(texts)


@pytest.fixture
def embedder() -> Counting:
    return Counting(shared_local_embedder())


async def test_a_second_embed_of_the_same_inputs_is_read_from_disk(
    embedder: Counting, tmp_path: Path
) -> None:
    cache = VectorCache(tmp_path)
    first = await embed_cached(embedder, TEXTS, cache)
    again = await embed_cached(embedder, TEXTS, cache)
    assert embedder.embedded == 2
    assert again == first  # stored as float32, the model's own precision: exactly what it gave


async def test_changed_inputs_or_another_model_are_misses(embedder: Counting, tmp_path: Path) -> None:
    cache = VectorCache(tmp_path)
    await embed_cached(embedder, TEXTS, cache)
    await embed_cached(embedder, [TEXTS[0], TEXTS[1] + " "], cache)
    assert embedder.embedded == 4
    assert cache.get("another-model", embedder.dimensions, TEXTS) is None
    assert cache.get(embedder.name, embedder.dimensions, TEXTS) is not None


def _corrupt(root: Path) -> None:
    [stored] = list(root.rglob("*.npy"))
    stored.write_bytes(b"not an array")


async def test_a_corrupt_file_is_a_miss_and_is_replaced(embedder: Counting, tmp_path: Path) -> None:
    cache = VectorCache(tmp_path)
    await embed_cached(embedder, TEXTS, cache)
    _corrupt(tmp_path)
    assert cache.get(embedder.name, embedder.dimensions, TEXTS) is None
    await embed_cached(embedder, TEXTS, cache)
    assert embedder.embedded == 4
    assert cache.get(embedder.name, embedder.dimensions, TEXTS) is not None


async def test_an_unwritable_cache_still_embeds(embedder: Counting, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    vectors = await embed_cached(embedder, TEXTS, VectorCache(blocker / "cache"))
    assert len(vectors) == 2 and len(vectors[0]) == embedder.dimensions
