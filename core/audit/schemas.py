from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

__all__ = ["AuditEventOut", "AuditPage", "PublicKeyOut"]


class AuditEventOut(msgspec.Struct):
    id: uuid.UUID
    tenant_id: uuid.UUID | None
    seq: int
    occurred_at: datetime
    request_id: str | None
    actor_kind: str
    actor_key_id: uuid.UUID | None
    actor_member_id: uuid.UUID | None
    action: str
    resource_type: str | None
    resource_id: str | None
    outcome: str
    policy_decision_id: str | None
    changed_fields: list[str]
    details: dict[str, object]
    prev_hash: str
    hash: str


class AuditPage(msgspec.Struct):
    items: list[AuditEventOut]
    next_cursor: str | None = None


class PublicKeyOut(msgspec.Struct):
    key_id: str
    algorithm: str
    public_key: str  # base64 of the raw 32-byte Ed25519 public key
