"""The in-process embedder: the real all-MiniLM-L6-v2 from its wheel, offline, 384 unit-length dimensions."""

from __future__ import annotations

import math

from lumen.inference.embeddings import Embedder, LocalEmbedder, shared_local_embedder


def _cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_vectors_are_384_dimensional_and_unit_length() -> None:
    embedder = shared_local_embedder()
    assert isinstance(embedder, Embedder) and embedder.dimensions == 384
    [vector] = await embedder.embed(["Rinse the vessel three times with purified water."])
    assert len(vector) == 384 and math.isclose(math.fsum(x * x for x in vector), 1.0, rel_tol=1e-4)


async def test_meaning_decides_the_distance() -> None:
    rinse, wash, tax = await shared_local_embedder().embed(
        [
            "How many times is the vessel rinsed?",
            "The tank is washed three times with water.",
            "Quarterly corporate tax filings are due in April.",
        ]
    )
    assert _cosine(rinse, wash) > _cosine(rinse, tax) + 0.2


async def test_batches_keep_their_order_and_empty_is_empty() -> None:
    embedder = shared_local_embedder()
    texts = [f"sentence number {i} about dosing" for i in range(40)]
    together = await embedder.embed(texts)
    alone = await embedder.embed([texts[17]])
    assert _cosine(together[17], alone[0]) > 0.9999
    assert await embedder.embed([]) == []


def test_one_model_per_process() -> None:
    assert shared_local_embedder() is shared_local_embedder()
    assert LocalEmbedder().name == "all-MiniLM-L6-v2"
