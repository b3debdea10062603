"""Audit tables. The application role may only SELECT and INSERT them (lumen.core.db.roles), and a trigger
refuses UPDATE, DELETE and TRUNCATE from anyone outside the documented retention job (see the migration)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Index, LargeBinary, String, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from lumen.core.db.base import Base

__all__ = ["AuditEvent", "AuditHead"]


class AuditEvent(Base):
    """One audited action. `tenant_id` has no foreign key on purpose: the trail outlives a deleted tenant
    (it holds no PHI), and the platform operator's own actions form a chain with `tenant_id` NULL."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index(
            "uq_audit_events_tenant_id_seq",
            "tenant_id",
            "seq",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
        Index("ix_audit_events_tenant_id_request_id", "tenant_id", "request_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime]
    request_id: Mapped[str | None] = mapped_column(String(64))
    actor_kind: Mapped[str] = mapped_column(String(16))  # platform | key | member | system | patient
    actor_key_id: Mapped[uuid.UUID | None]
    actor_member_id: Mapped[uuid.UUID | None]
    action: Mapped[str] = mapped_column(String(128))
    resource_type: Mapped[str | None] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(128))
    outcome: Mapped[str] = mapped_column(String(16))  # success | denied | error
    policy_decision_id: Mapped[str | None] = mapped_column(String(64))
    changed_fields: Mapped[list[str]] = mapped_column(ARRAY(String(128)))
    details: Mapped[dict[str, object]] = mapped_column(JSONB)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class AuditHead(Base):
    """The last link of each chain: the lock appenders queue on, and the check that the tail is intact."""

    __tablename__ = "audit_heads"
    __table_args__ = (
        Index("uq_audit_heads_tenant_id", "tenant_id", unique=True, postgresql_nulls_not_distinct=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID | None]
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    # The retention job's anchor: records up to base_seq were purged; the first kept record links to
    # base_hash. (0 and the genesis hash while nothing was purged.)
    base_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    base_hash: Mapped[bytes] = mapped_column(
        LargeBinary(32), default=b"\x00" * 32, server_default=text("'\\x" + "00" * 32 + "'::bytea")
    )
