"""Retrieval: document ingestion, platform-shared corpora and hybrid search with exact citations, for one
tenant at a time (ARCHITECTURE §3-4). Knows a tenant id, never a domain."""
