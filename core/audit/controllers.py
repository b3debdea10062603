"""Reading, verifying and exporting the audit trail. A tenant key sees its tenant's chain; the platform
operator's key sees the operator's own chain."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get
from litestar.params import QueryParameter
from litestar.response import Stream
from sqlalchemy import select

from lumen.core.audit.models import AuditEvent, AuditHead
from lumen.core.audit.schemas import AuditEventOut, AuditPage, PublicKeyOut
from lumen.core.audit.service import GENESIS, ChainReport, verify_chain
from lumen.core.audit.signing import AuditSigner
from lumen.core.auth.principal import Principal
from lumen.core.db.base import utcnow
from lumen.core.db.pagination import DEFAULT_LIMIT, MAX_LIMIT
from lumen.core.db.session import Database
from lumen.core.http.dependencies import Caller, DbSession

__all__ = ["AuditController", "audit_public_key"]

AUDIT_SCOPE = "audit:read"


def event_out(e: AuditEvent) -> AuditEventOut:
    return AuditEventOut(
        id=e.id,
        tenant_id=e.tenant_id,
        seq=e.seq,
        occurred_at=e.occurred_at,
        request_id=e.request_id,
        actor_kind=e.actor_kind,
        actor_key_id=e.actor_key_id,
        actor_member_id=e.actor_member_id,
        action=e.action,
        resource_type=e.resource_type,
        resource_id=e.resource_id,
        outcome=e.outcome,
        policy_decision_id=e.policy_decision_id,
        changed_fields=list(e.changed_fields),
        details=dict(e.details),
        prev_hash=e.prev_hash.hex(),
        hash=e.hash.hex(),
    )


def _head(principal: Principal) -> Any:
    return (
        (AuditHead.tenant_id == principal.tenant_id) if principal.tenant_id else AuditHead.tenant_id.is_(None)
    )


def _chain(principal: Principal) -> Any:
    return (
        (AuditEvent.tenant_id == principal.tenant_id)
        if principal.tenant_id
        else AuditEvent.tenant_id.is_(None)
    )


Short = Annotated[str | None, QueryParameter(max_length=128)]


class AuditController(Controller):
    path = "/v1/audit"
    tags = ["audit"]

    @get(
        "/",
        operation_id="listAuditEvents",
        summary="Audit records, oldest first",
        opt={"action": "audit.read"},
    )
    async def list_events(
        self,
        session: DbSession,
        principal: Caller,
        action: Short = None,
        outcome: Annotated[Literal["success", "denied", "error"] | None, QueryParameter()] = None,
        resource_type: Short = None,
        resource_id: Short = None,
        request_id: Short = None,
        since: Annotated[datetime | None, QueryParameter()] = None,
        until: Annotated[datetime | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
        cursor: Annotated[str | None, QueryParameter(max_length=20, pattern=r"^\d+$")] = None,
    ) -> AuditPage:
        statement = select(AuditEvent).where(_chain(principal))
        for column, value in (
            (AuditEvent.action, action),
            (AuditEvent.outcome, outcome),
            (AuditEvent.resource_type, resource_type),
            (AuditEvent.resource_id, resource_id),
            (AuditEvent.request_id, request_id),
        ):
            if value is not None:
                statement = statement.where(column == value)
        if since is not None:
            statement = statement.where(AuditEvent.occurred_at >= since)
        if until is not None:
            statement = statement.where(AuditEvent.occurred_at < until)
        if cursor is not None:
            statement = statement.where(AuditEvent.seq > int(cursor))
        rows = list((await session.scalars(statement.order_by(AuditEvent.seq).limit(limit + 1))).all())
        next_cursor = str(rows[limit - 1].seq) if len(rows) > limit else None
        return AuditPage(items=[event_out(e) for e in rows[:limit]], next_cursor=next_cursor)

    @get(
        "/verify",
        operation_id="verifyAuditChain",
        summary="Check the whole chain; name the first bad record",
        opt={"action": "audit.verify"},
    )
    async def verify(self, session: DbSession, principal: Caller) -> ChainReport:
        return await verify_chain(session, principal.tenant_id)

    @get(
        "/export",
        operation_id="exportAuditTrail",
        opt={"action": "audit.export", "no_unit_of_work": True},
        summary="The whole chain as JSON Lines, ending with an Ed25519-signed checkpoint",
        media_type="application/x-ndjson",
    )
    async def export(self, request: Request[Any, Any, Any], principal: Caller) -> Stream:
        db: Database = request.app.state.db
        signer: AuditSigner = request.app.state.audit_signer
        return Stream(
            _export_lines(db, signer, principal),
            media_type="application/x-ndjson",
            headers={"content-disposition": "attachment; filename=audit.jsonl"},
        )


async def _export_lines(db: Database, signer: AuditSigner, principal: Principal) -> AsyncIterator[bytes]:
    count, head = 0, None
    async with db.transaction(principal.scope) as session:
        anchor = (await session.scalars(select(AuditHead).where(_head(principal)))).one_or_none()
        base_seq, base_hash = (anchor.base_seq, anchor.base_hash) if anchor else (0, GENESIS)
        result = await session.stream_scalars(
            select(AuditEvent)
            .where(_chain(principal))
            .order_by(AuditEvent.seq)
            .execution_options(yield_per=1000)
        )
        async for event in result:
            count, head = count + 1, event.hash
            yield msgspec.json.encode(event_out(event)) + b"\n"
    checkpoint = {
        "tenant_id": str(principal.tenant_id) if principal.tenant_id else None,
        "count": count,
        "head_hash": head.hex() if head else None,
        # Where the chain starts after retention purges: the first record links to base_hash.
        "base_seq": base_seq,
        "base_hash": base_hash.hex(),
        "exported_at": utcnow().isoformat(),
        "key_id": signer.key_id,
    }
    signed = msgspec.json.encode(checkpoint, order="sorted")
    yield msgspec.json.encode({"checkpoint": checkpoint, "signature": signer.sign(signed)}) + b"\n"


@get(
    "/.well-known/lumen-audit-key",
    operation_id="getAuditPublicKey",
    tags=["audit"],
    exclude_from_auth=True,
    summary="The Ed25519 public key that signs audit export checkpoints",
    sync_to_thread=False,
)
def audit_public_key(request: Request[Any, Any, Any]) -> PublicKeyOut:
    signer: AuditSigner = request.app.state.audit_signer
    return PublicKeyOut(key_id=signer.key_id, algorithm="Ed25519", public_key=signer.public_key_b64)
