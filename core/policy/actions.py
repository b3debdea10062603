"""The action table: every action a principal can ask for, and what the policy needs to know about it.

The table is policy *data* (``data.lumen.actions``), not code, so the same Rego decides for the kernel's
actions and for the ones plugins register; it travels to OPA inside the bundle. An action the table does
not name is denied ("unknown action"), so a route can never be reachable through a typo.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = ["KERNEL_ACTIONS", "ActionSpec"]


class ActionSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One row of the action table, as the Rego policy reads it."""

    description: str = ""
    # Only the platform operator may do it (managing tenants); no tenant key ever may.
    platform: bool = False
    # The platform operator may also do it, on its own records (the platform's audit chain).
    operator: bool = False
    # Scopes that grant it to a tenant key, besides `admin` (which grants every tenant action).
    scopes: tuple[str, ...] = ()
    # The plugin it belongs to: it is allowed only while that plugin is enabled for the tenant.
    plugin: str | None = None
    # It touches protected health information: reads of PHI carry the `audit_phi_read` obligation.
    phi: bool = False
    access: Literal["read", "write"] = "write"
    # A grouping the policy can key obligations on ("webhooks": redact PHI when the tenant asks).
    category: str | None = None
    # Obligations every allowed call of this action carries.
    obligations: tuple[str, ...] = ()


KERNEL_ACTIONS: dict[str, ActionSpec] = {
    # The platform operator's work: tenants and their first keys.
    "tenants.create": ActionSpec(description="Create a tenant.", platform=True),
    "tenants.list": ActionSpec(description="List tenants.", platform=True, access="read"),
    "tenants.read": ActionSpec(description="Read one tenant.", platform=True, access="read"),
    "tenants.update": ActionSpec(description="Change a tenant (name, status, plan).", platform=True),
    "tenants.delete": ActionSpec(description="Delete a tenant.", platform=True),
    "tenants.keys.create": ActionSpec(description="Issue an API key for a tenant.", platform=True),
    # A tenant managing its own keys: reading needs `keys:read`, everything else `admin`.
    "keys.create": ActionSpec(description="Issue an API key."),
    "keys.list": ActionSpec(
        description="List API keys (never their secrets).", scopes=("keys:read",), access="read"
    ),
    "keys.read": ActionSpec(description="Read one API key's metadata.", scopes=("keys:read",), access="read"),
    "keys.revoke": ActionSpec(description="Revoke an API key."),
    "keys.rotate": ActionSpec(description="Replace an API key with a new secret."),
    # The audit trail: a tenant's chain with `audit:read`; the operator's own chain with the platform key.
    "audit.read": ActionSpec(
        description="Read audit records.", scopes=("audit:read",), operator=True, access="read"
    ),
    "audit.verify": ActionSpec(
        description="Verify the audit chain.", scopes=("audit:read",), operator=True, access="read"
    ),
    # Plugins and the tenant's own policy data.
    "plugins.read": ActionSpec(
        description="List plugins and their settings.", scopes=("plugins:read",), access="read"
    ),
    "plugins.configure": ActionSpec(description="Enable, disable or configure a plugin."),
    "policy.read": ActionSpec(
        description="Read the tenant's policy data.", scopes=("policy:read",), access="read"
    ),
    "policy.update": ActionSpec(description="Change the tenant's policy data."),
    # OPA sidecars pull the bundle of the installed policies (deploy/: services.lumen in OPA's config).
    "policy.bundle.read": ActionSpec(
        description="Download the OPA bundle of the installed policies.", platform=True, access="read"
    ),
    # Webhooks and jobs.
    "webhooks.endpoints.create": ActionSpec(
        description="Register a webhook endpoint.", scopes=("webhooks:manage",)
    ),
    "webhooks.endpoints.read": ActionSpec(
        description="List webhook endpoints.", scopes=("webhooks:manage", "webhooks:read"), access="read"
    ),
    "webhooks.endpoints.update": ActionSpec(
        description="Change or rotate a webhook endpoint.", scopes=("webhooks:manage",)
    ),
    "webhooks.endpoints.delete": ActionSpec(
        description="Remove a webhook endpoint.", scopes=("webhooks:manage",)
    ),
    "webhooks.endpoints.test": ActionSpec(description="Send a test event.", scopes=("webhooks:manage",)),
    "webhooks.events.read": ActionSpec(
        description="Read webhook events and delivery attempts.",
        scopes=("webhooks:manage", "webhooks:read"),
        access="read",
    ),
    "webhooks.events.replay": ActionSpec(description="Deliver an event again.", scopes=("webhooks:manage",)),
    # The inference pool: OpenAI-compatible generation with the base model or the tenant's adapters.
    "inference.chat": ActionSpec(
        description="Generate text with the base model or one of the tenant's adapters.",
        scopes=("inference:generate",),
    ),
    "inference.models.read": ActionSpec(
        description="List the models the tenant may call.",
        scopes=("inference:generate", "adapters:read", "adapters:manage"),
        access="read",
    ),
    "adapters.create": ActionSpec(
        description="Upload a LoRA adapter (the platform operator's are shared with every tenant).",
        scopes=("adapters:manage",),
        operator=True,
    ),
    "adapters.read": ActionSpec(
        description="List and read LoRA adapters.",
        scopes=("adapters:manage", "adapters:read"),
        operator=True,
        access="read",
    ),
    "adapters.delete": ActionSpec(
        description="Delete a LoRA adapter.", scopes=("adapters:manage",), operator=True
    ),
    # Training: tenant datasets, LoRA runs (worker jobs), rollback of a trained adapter's current version.
    "training.datasets.create": ActionSpec(
        description="Upload a training dataset (validated, PHI-scanned).", scopes=("training:manage",)
    ),
    "training.read": ActionSpec(
        description="List and read training datasets and runs.",
        scopes=("training:manage", "training:read"),
        access="read",
    ),
    "training.runs.create": ActionSpec(description="Start a training run.", scopes=("training:manage",)),
    "training.runs.cancel": ActionSpec(description="Cancel a training run.", scopes=("training:manage",)),
    "training.adapters.rollback": ActionSpec(
        description="Point a trained adapter's name at an earlier version.", scopes=("training:manage",)
    ),
    # Patient profiles (PHI, encrypted at rest): every read is audited through `audit_phi_read`.
    "patients.create": ActionSpec(
        description="Create a patient profile (JSON or a FHIR Bundle).", scopes=("patients:write",), phi=True
    ),
    "patients.list": ActionSpec(
        description="List patient profiles.",
        scopes=("patients:read", "patients:write"),
        phi=True,
        access="read",
    ),
    "patients.read": ActionSpec(
        description="Read a patient profile (JSON or FHIR).",
        scopes=("patients:read", "patients:write"),
        phi=True,
        access="read",
    ),
    "patients.update": ActionSpec(
        description="Change a patient profile.", scopes=("patients:write",), phi=True
    ),
    "patients.delete": ActionSpec(
        description="Erase a patient and the data derived from them.", scopes=("patients:write",), phi=True
    ),
    "patients.export": ActionSpec(
        description="Export everything held on a patient (JSON and FHIR).",
        scopes=("patients:read", "patients:write"),
        phi=True,
        access="read",
    ),
    "patients.app_link": ActionSpec(
        description="Issue a one-time sign-in link to the patient app for a patient.",
        scopes=("patients:write",),
        phi=True,
    ),
    "patients.app_signout": ActionSpec(
        description="End every patient app session of a patient and void their unused sign-in links.",
        scopes=("patients:write",),
        phi=True,
    ),
    "jobs.read": ActionSpec(
        description="Read a job's state and progress.", scopes=("jobs:read",), access="read"
    ),
    # Rate limits and usage: the operator sets a tenant's plan and overrides; a tenant reads its usage.
    "tenants.limits.read": ActionSpec(
        description="Read a tenant's plan, overrides and effective limits.", platform=True, access="read"
    ),
    "tenants.limits.update": ActionSpec(
        description="Set a tenant's plan and limit overrides.", platform=True
    ),
    "usage.read": ActionSpec(
        description="Read the tenant's metered usage per day.", scopes=("usage:read",), access="read"
    ),
    # Retrieval: the tenant's documents and search over them plus the shared corpora it may read.
    "documents.create": ActionSpec(
        description="Upload a document or a new version of one.", scopes=("documents:write",)
    ),
    "documents.list": ActionSpec(
        description="List the tenant's documents.",
        scopes=("documents:read", "documents:write"),
        access="read",
    ),
    "documents.read": ActionSpec(
        description="Read one document and its versions.",
        scopes=("documents:read", "documents:write"),
        access="read",
    ),
    "documents.delete": ActionSpec(
        description="Delete a document with every version, chunk and vector.", scopes=("documents:write",)
    ),
    "search.query": ActionSpec(
        description="Search the tenant's documents and the shared corpora.", scopes=("search",), access="read"
    ),
    "audit.export": ActionSpec(
        description="Export the audit chain, signed.", scopes=("audit:read",), operator=True, access="read"
    ),
    # The tenant's white-labelled patient app (/t/{slug}/): its branding.
    "branding.update": ActionSpec(
        description="Set the branding of the tenant's patient app.", scopes=("branding:manage",)
    ),
    "branding.read": ActionSpec(
        description="Read the branding of the tenant's patient app.",
        scopes=("branding:manage", "branding:read"),
        access="read",
    ),
}
