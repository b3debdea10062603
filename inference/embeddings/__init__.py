"""Embeddings for retrieval: the `Embedder` protocol and the in-process default (all-MiniLM-L6-v2)."""

from lumen.inference.embeddings.local import LocalEmbedder, shared_local_embedder
from lumen.inference.embeddings.protocol import Embedder

__all__ = ["Embedder", "LocalEmbedder", "shared_local_embedder"]
