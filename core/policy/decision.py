"""What a policy engine is asked (PolicyInput) and what it answers (Decision).

The input is a plain JSON document, the same for the in-process engine and for an OPA server, so a
decision can be replayed anywhere from the audit record. It carries ids, scopes and configuration, never
request bodies: PHI has no business in an authorization input.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from lumen.core.auth.principal import Principal

__all__ = ["Decision", "PolicyInput", "PrincipalInput", "TenantInput"]


class PrincipalInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    kind: Literal["platform", "tenant"]
    tenant_id: str | None = None  # None for the platform operator
    key_id: str | None = None
    scopes: list[str] = msgspec.field(default_factory=list)
    # The member's role when a person (not a bare API key) acts through a tenant's app.
    role: str | None = None
    mode: str = "live"

    @classmethod
    def from_principal(cls, principal: Principal, *, role: str | None = None) -> PrincipalInput:
        return cls(
            kind="platform" if principal.is_platform else "tenant",
            tenant_id=None if principal.tenant_id is None else str(principal.tenant_id),
            key_id=None if principal.key_id is None else str(principal.key_id),
            scopes=sorted(principal.scopes),
            role=role,
            mode=principal.mode,
        )


class TenantInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """The tenant the request acts within (for the platform operator: the tenant acted on, if any)."""

    id: str | None = None
    plan: str | None = None
    enabled_plugins: list[str] = msgspec.field(default_factory=list)
    settings: dict[str, Any] = msgspec.field(default_factory=dict)
    # The tenant's own policy data: `deny_actions` [action], `scope_grants` {action: [scope]},
    # `obligations` {action: [obligation]}, `include_phi_in_webhooks` bool (PHI in webhooks only if true).
    policy_data: dict[str, Any] = msgspec.field(default_factory=dict)


class PolicyInput(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    principal: PrincipalInput
    action: str  # a name from the action table, e.g. "keys.create", "interactions.check"
    resource: dict[str, Any] = msgspec.field(default_factory=dict)
    tenant: TenantInput = msgspec.field(default_factory=TenantInput)

    def to_dict(self) -> dict[str, Any]:
        """The input document as plain JSON types (what OPA receives as `input`)."""
        result: dict[str, Any] = msgspec.to_builtins(self)
        return result

    def to_json(self) -> bytes:
        return msgspec.json.encode(self)


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """One authorization decision. `id` goes into the audit record of the request it decided."""

    id: str
    allow: bool
    reasons: list[str]
    obligations: list[str]
    engine: str  # "regorus-rvm", "regorus-interpreter" or "opa"
    policy_version: str

    def has_obligation(self, name: str) -> bool:
        return name in self.obligations
