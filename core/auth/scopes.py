"""Scopes an API key can carry. `admin` covers everything within the tenant; the rest are per area.

Plugins add their own areas' scopes at start-up (plugin SDK issue); an unknown scope on key creation is a
422, so a typo never silently creates a key that can do nothing.
"""

from __future__ import annotations

__all__ = ["ADMIN", "ScopeRegistry"]

ADMIN = "admin"

KERNEL_SCOPES = {
    ADMIN: "Everything within the tenant, including managing API keys.",
    "keys:read": "List the tenant's API keys (never their secrets).",
    "audit:read": "Read, verify and export the tenant's audit trail.",
    "plugins:read": "See which plugins are enabled and how they are configured.",
    "policy:read": "Read the tenant's policy data.",
    "webhooks:manage": "Register, change and test webhook endpoints; replay events.",
    "webhooks:read": "Read webhook endpoints, events and delivery attempts.",
    "jobs:read": "Read the state of background jobs.",
    "usage:read": "Read the tenant's metered usage (requests and tokens per day).",
    "inference:generate": "Generate text with the inference pool (chat completions) and list models.",
    "adapters:manage": "Upload and delete the tenant's LoRA adapters.",
    "adapters:read": "List the tenant's LoRA adapters.",
    "training:manage": "Upload training datasets, start and cancel training runs, roll back adapters.",
    "training:read": "Read training datasets and runs.",
    "documents:read": "List and read the tenant's documents.",
    "documents:write": "Upload, version and delete the tenant's documents.",
    "search": "Search the tenant's documents and the shared corpora it may read.",
    "branding:manage": "Set the branding of the tenant's patient app.",
    "branding:read": "Read the branding of the tenant's patient app.",
    "patients:read": "Read and export patient profiles (PHI; every read is audited).",
    "patients:write": "Create, change, import and erase patient profiles (PHI).",
}


class ScopeRegistry:
    def __init__(self) -> None:
        self._scopes: dict[str, str] = dict(KERNEL_SCOPES)

    def register(self, name: str, description: str) -> None:
        if name in self._scopes:
            raise ValueError(f"scope {name!r} is registered twice")
        self._scopes[name] = description

    def __contains__(self, name: object) -> bool:
        return name in self._scopes

    def all(self) -> dict[str, str]:
        return dict(self._scopes)
