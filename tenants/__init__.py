"""Tenants and their API keys (members, patients and branding arrive with later issues)."""
