"""Model-backed services shared by plugins: inference pool, local engine, embeddings, retrieval."""
