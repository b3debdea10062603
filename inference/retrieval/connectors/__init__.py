"""Connectors for the public sources the product plan names: each fetches with httpx (when the network
allows) and parses the source's real format into documents retrieval can ingest."""
