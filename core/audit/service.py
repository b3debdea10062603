"""Appending to and verifying the hash chain.

Each tenant has one chain (the platform operator's own actions form the chain with tenant_id NULL). A record
carries `seq` (1, 2, 3... with no gaps), the previous record's hash, and its own SHA-256 over a canonical
JSON encoding of every field. Appenders lock the chain's head row (SELECT ... FOR UPDATE), so concurrent
appends queue instead of forking; the lock is held only from the append to the commit, which the unit of
work runs last.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import msgspec
from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.audit.models import AuditEvent, AuditHead
from lumen.core.db.base import utcnow

__all__ = [
    "GENESIS",
    "AuditEntry",
    "AuditTrail",
    "ChainReport",
    "canonical_bytes",
    "record_hash",
    "verify_chain",
]

GENESIS = b"\x00" * 32
Outcome = Literal["success", "denied", "error"]


@dataclass
class AuditEntry:
    """What a caller records; the trail adds seq, time and hashes. Never put PHI or secrets in here."""

    action: str
    outcome: Outcome = "success"
    resource_type: str | None = None
    resource_id: str | None = None
    changed_fields: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    actor_kind: str = "key"
    actor_key_id: uuid.UUID | None = None
    actor_member_id: uuid.UUID | None = None
    request_id: str | None = None
    policy_decision_id: str | None = None


def _fields(
    tenant_id: uuid.UUID | None, seq: int, occurred_at: datetime, e: AuditEntry | AuditEvent, prev_hash: bytes
) -> dict[str, Any]:
    return {
        "tenant_id": str(tenant_id) if tenant_id else None,
        "seq": seq,
        "occurred_at": occurred_at.isoformat(timespec="microseconds"),
        "request_id": e.request_id,
        "actor_kind": e.actor_kind,
        "actor_key_id": str(e.actor_key_id) if e.actor_key_id else None,
        "actor_member_id": str(e.actor_member_id) if e.actor_member_id else None,
        "action": e.action,
        "resource_type": e.resource_type,
        "resource_id": e.resource_id,
        "outcome": e.outcome,
        "policy_decision_id": e.policy_decision_id,
        "changed_fields": list(e.changed_fields),
        "details": e.details,
        "prev_hash": prev_hash.hex(),
    }


# The fields a record's hash covers (everything but `id` and `hash` itself).
CANONICAL_FIELDS = (
    "tenant_id",
    "seq",
    "occurred_at",
    "request_id",
    "actor_kind",
    "actor_key_id",
    "actor_member_id",
    "action",
    "resource_type",
    "resource_id",
    "outcome",
    "policy_decision_id",
    "changed_fields",
    "details",
    "prev_hash",
)


def canonical_bytes(record: AuditEvent) -> bytes:
    """The exact bytes a record's hash covers: sorted-key JSON of every field but `id` and `hash`."""
    data = _fields(record.tenant_id, record.seq, record.occurred_at, record, record.prev_hash)
    return msgspec.json.encode(data, order="sorted")


def record_hash(record: AuditEvent) -> bytes:
    return hashlib.sha256(canonical_bytes(record)).digest()


class AuditTrail:
    """Appends to one chain inside the caller's transaction; the caller's commit makes it durable."""

    def __init__(self, session: AsyncSession, tenant_id: uuid.UUID | None) -> None:
        self.session = session
        self.tenant_id = tenant_id

    async def _lock_head(self) -> AuditHead:
        await self.session.execute(
            insert(AuditHead)
            .values(id=uuid.uuid4(), tenant_id=self.tenant_id, seq=0, hash=GENESIS)
            .on_conflict_do_nothing(index_elements=["tenant_id"])
        )
        head_filter = (
            (AuditHead.tenant_id == self.tenant_id) if self.tenant_id else AuditHead.tenant_id.is_(None)
        )
        head = (await self.session.scalars(select(AuditHead).where(head_filter).with_for_update())).one()
        return head

    async def append(self, entries: Sequence[AuditEntry]) -> list[AuditEvent]:
        if not entries:
            return []
        head = await self._lock_head()
        records = []
        seq, prev = head.seq, head.hash
        for entry in entries:
            seq += 1
            record = AuditEvent(
                id=uuid.uuid4(),
                tenant_id=self.tenant_id,
                seq=seq,
                occurred_at=utcnow(),
                request_id=entry.request_id,
                actor_kind=entry.actor_kind,
                actor_key_id=entry.actor_key_id,
                actor_member_id=entry.actor_member_id,
                action=entry.action,
                resource_type=entry.resource_type,
                resource_id=entry.resource_id,
                outcome=entry.outcome,
                policy_decision_id=entry.policy_decision_id,
                changed_fields=list(entry.changed_fields),
                details=dict(entry.details),
                prev_hash=prev,
            )
            record.hash = record_hash(record)
            prev = record.hash
            records.append(record)
        self.session.add_all(records)
        head.seq, head.hash = seq, prev
        await self.session.flush()
        return records


class ChainReport(msgspec.Struct):
    ok: bool
    checked: int
    first_bad: dict[str, Any] | None = None


async def _stream(session: AsyncSession, tenant_id: uuid.UUID | None) -> AsyncIterator[AuditEvent]:
    chain = (AuditEvent.tenant_id == tenant_id) if tenant_id else AuditEvent.tenant_id.is_(None)
    result = await session.stream_scalars(
        select(AuditEvent).where(chain).order_by(AuditEvent.seq).execution_options(yield_per=1000)
    )
    async for record in result:
        yield record


async def verify_chain(session: AsyncSession, tenant_id: uuid.UUID | None) -> ChainReport:
    """Walk the chain in seq order; name the first record that was edited, deleted, inserted or reordered."""
    head_filter = (AuditHead.tenant_id == tenant_id) if tenant_id else AuditHead.tenant_id.is_(None)
    head = (await session.scalars(select(AuditHead).where(head_filter))).one_or_none()
    # After a retention purge the chain starts past its anchor, linked to the last purged record's hash.
    base_seq, base_hash = (head.base_seq, head.base_hash) if head is not None else (0, GENESIS)
    expected_seq, prev, checked = base_seq + 1, base_hash, 0

    def bad(record: AuditEvent | None, reason: str, seq: int) -> ChainReport:
        where: dict[str, Any] = {"seq": seq, "reason": reason}
        if record is not None:
            where["id"] = str(record.id)
        return ChainReport(ok=False, checked=checked, first_bad=where)

    async for record in _stream(session, tenant_id):
        if record.seq != expected_seq:
            return bad(
                record,
                f"sequence gap: expected {expected_seq}, found {record.seq} "
                "(a record was deleted or inserted)",
                expected_seq,
            )
        if record.prev_hash != prev:
            return bad(
                record,
                "previous-hash link broken (a record before it was removed, added or reordered)",
                record.seq,
            )
        if record_hash(record) != record.hash:
            return bad(record, "content does not match its hash (the record was edited)", record.seq)
        prev, expected_seq, checked = record.hash, expected_seq + 1, checked + 1
    if head is not None and (head.seq != base_seq + checked or head.hash != prev):
        return bad(
            None,
            f"chain ends at {base_seq + checked} but its head records {head.seq} "
            "(records at the end were deleted)",
            base_seq + checked + 1,
        )
    return ChainReport(ok=True, checked=checked)


async def purge_before(session: AsyncSession, tenant_id: uuid.UUID | None, before: datetime) -> int:
    """The retention job: delete one chain's records older than `before`, re-anchoring the chain so that it
    still verifies. Must run as the table owner; the trigger admits the DELETE only in this transaction
    (SET LOCAL lumen.audit_retention). Returns how many records were removed."""
    chain = (AuditEvent.tenant_id == tenant_id) if tenant_id else AuditEvent.tenant_id.is_(None)
    last = (
        await session.scalars(
            select(AuditEvent)
            .where(chain, AuditEvent.occurred_at < before)
            .order_by(AuditEvent.seq.desc())
            .limit(1)
        )
    ).one_or_none()
    if last is None:
        return 0
    head = await AuditTrail(session, tenant_id)._lock_head()
    await session.execute(text("SELECT set_config('lumen.audit_retention', 'on', true)"))
    removed = await session.execute(delete(AuditEvent).where(chain, AuditEvent.seq <= last.seq))
    head.base_seq, head.base_hash = last.seq, last.hash
    await session.execute(text("SELECT set_config('lumen.audit_retention', '', true)"))
    await session.flush()
    return int(removed.rowcount or 0)  # type: ignore[attr-defined]
