"""The benchmark corpus for bench/retrieval.py: real text, embedded once and cached on disk.

Texts, in this order, until the requested size: the chunks of every installed plugin's shared corpora, the
PubMedQA contexts (chunked by the product's own chunker) and long answers, then windows of 2, 3, 4...
consecutive sentences of each PubMedQA article ("varied to reach size": every text is still real prose, and
every vector is the real embedding of its text). PubMedQA is read from /work/shared/benchmarks for
evaluation only; nothing of it enters the product.

    python bench/retrieval_corpus.py --size 20000      # embed (resumable; Ctrl-C keeps what is done)

The cache is bench/.cache/retrieval/{texts.jsonl, embeddings.f32} (float32 rows of 384).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

PUBMEDQA = Path("/work/shared/benchmarks/pubmedqa/ori_pqal.json")
CACHE = Path(__file__).parent / ".cache" / "retrieval"
DIM = 384


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z0-9(])", text) if len(s.strip()) > 20]


def corpus_texts() -> Iterator[tuple[str, str]]:
    """(kind, text) pairs in a fixed order."""
    from lumen.core.plugins.host import PluginHost
    from lumen.inference.retrieval.chunking import chunk_document
    from lumen.inference.retrieval.parsing import parse

    for plugin in PluginHost().plugins.values():
        for doc in plugin.corpora:
            parsed = parse(doc.text.encode(), "text/markdown")
            for chunk in chunk_document(parsed, title=doc.title, section_id=doc.section_id):
                yield "corpus", chunk.text
    articles = json.loads(PUBMEDQA.read_text())
    sentences: list[list[str]] = []
    for item in articles.values():
        for context in item["CONTEXTS"]:
            parsed = parse(context.encode(), "text/plain")
            for chunk in chunk_document(parsed):
                yield "pubmedqa-context", chunk.text
        yield "pubmedqa-answer", item["LONG_ANSWER"]
        sentences.append([s for c in item["CONTEXTS"] for s in _sentences(c)])
    for width in range(2, 12):
        for article in sentences:
            for i in range(0, max(0, len(article) - width + 1)):
                yield f"pubmedqa-window{width}", " ".join(article[i : i + width])[:1000]


def questions() -> list[str]:
    return [item["QUESTION"] for item in json.loads(PUBMEDQA.read_text()).values()]


def load(size: int) -> tuple[list[str], np.ndarray]:
    """The first `size` cached texts and their embeddings (fewer if fewer are cached)."""
    texts_path, vectors_path = CACHE / "texts.jsonl", CACHE / "embeddings.f32"
    if not vectors_path.exists():
        return [], np.zeros((0, DIM), dtype=np.float32)
    vectors = np.fromfile(vectors_path, dtype=np.float32).reshape(-1, DIM)
    texts = []
    with texts_path.open() as f:
        for line, _ in zip(f, range(min(size, len(vectors))), strict=False):
            texts.append(json.loads(line)["text"])
    return texts, vectors[: len(texts)]


async def embed_cache(size: int, batch: int = 256) -> int:
    from lumen.inference.embeddings import LocalEmbedder

    CACHE.mkdir(parents=True, exist_ok=True)
    texts_path, vectors_path = CACHE / "texts.jsonl", CACHE / "embeddings.f32"
    done = len(load(10**9)[0])
    wanted = []
    for i, (kind, text) in enumerate(corpus_texts()):
        if i >= size:
            break
        if i >= done:
            wanted.append((kind, text))
    embedder = LocalEmbedder()
    started = time.perf_counter()
    for start in range(0, len(wanted), batch):
        part = wanted[start : start + batch]
        vectors = np.asarray(await embedder.embed([t for _, t in part]), dtype=np.float32)
        with vectors_path.open("ab") as out:
            vectors.tofile(out)
        with texts_path.open("a") as out:
            for kind, text in part:
                out.write(json.dumps({"kind": kind, "text": text}) + "\n")
        n = start + len(part)
        rate = n / (time.perf_counter() - started)
        print(f"embedded {done + n} / {size} ({rate:.0f}/s)", flush=True)
    return done + len(wanted)


def query_vectors(batch: int = 256) -> np.ndarray:
    path = CACHE / "questions.f32"
    if path.exists():
        return np.fromfile(path, dtype=np.float32).reshape(-1, DIM)
    from lumen.inference.embeddings import LocalEmbedder

    vectors = np.asarray(asyncio.run(LocalEmbedder().embed(questions())), dtype=np.float32)
    CACHE.mkdir(parents=True, exist_ok=True)
    vectors.tofile(path)
    return vectors


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=20_000)
    args = parser.parse_args()
    query_vectors()
    print(asyncio.run(embed_cache(args.size)))
