"""Who is calling: the platform operator, one API key of one tenant, or a tenant's patient app session."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from lumen.core.auth.scopes import ADMIN
from lumen.core.tenancy.context import PLATFORM, Scope

__all__ = ["Principal"]


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: uuid.UUID | None  # None only for the platform operator
    key_id: uuid.UUID | None
    scopes: frozenset[str] = field(default_factory=frozenset)
    mode: str = "live"
    # Set only for a patient app session after a patient signed in: the one patient whose profile this
    # caller may use as context (docs/patient-app.md). It grants no scope.
    patient_id: uuid.UUID | None = None

    @property
    def is_platform(self) -> bool:
        return self.tenant_id is None

    @property
    def scope(self) -> Scope:
        return PLATFORM if self.tenant_id is None else Scope.tenant(self.tenant_id)

    def has_scope(self, scope: str) -> bool:
        return ADMIN in self.scopes or scope in self.scopes

    @classmethod
    def platform(cls) -> Principal:
        return cls(tenant_id=None, key_id=None)
