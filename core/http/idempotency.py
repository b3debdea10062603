"""Idempotency-Key on creating POSTs, with Stripe's semantics, stored in PostgreSQL per tenant.

- First request with a key: runs, and its response is stored in the same transaction as the change it
  made (a `before_commit` of the unit of work), so "created" and "remembered" can never disagree.
- Same key, same request: the stored response is returned again (`Idempotent-Replayed: true`).
- Same key, different request (method, path, query or body): 422 `idempotency-key-reused`.
- A concurrent duplicate waits on the first one's row lock, then replays its result.
- Responses >= 400 roll back, so nothing is stored and a retry runs afresh.
- Keys are kept for `server.idempotency_ttl_seconds` (24 h); after that a key may be reused.
- The caller's API key is part of the request: another key of the tenant re-using the Idempotency-Key is a
  different request (422), so a replay can never hand a response to a key the route would have refused.
- Stored responses can hold secrets (a newly issued API key). They are sealed with AES-256-GCM under a key
  derived from the instance secret and the request itself, so the table alone reveals nothing and only a
  caller who sends the identical request again can have the response back.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

from litestar.enums import ScopeType
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, HTTPReceiveMessage, HTTPScope, Message, Receive, Scope, Send
from sqlalchemy import Index, LargeBinary, SmallInteger, String, delete, select
from sqlalchemy.dialects.postgresql import JSONB, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from lumen.core.auth.principal import Principal
from lumen.core.crypto import Sealer
from lumen.core.db.base import TenantModel, utcnow
from lumen.core.db.unit_of_work import unit_of_work, unit_of_work_if_any
from lumen.core.http.errors import LumenProblem

__all__ = ["IdempotencyMiddleware", "IdempotencyRecord"]

MAX_KEY_LENGTH = 255
_PURPOSE = "idempotency-response"
_SKIPPED_HEADERS = {b"content-length", b"x-request-id", b"date", b"server"}


class IdempotencyRecord(TenantModel):
    __tablename__ = "idempotency_keys"
    __table_args__ = (
        Index("uq_idempotency_keys_tenant_id_key", "tenant_id", "key", unique=True),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    request_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(2048))
    status: Mapped[int | None] = mapped_column(SmallInteger, default=None)
    response_headers: Mapped[list[list[str]] | None] = mapped_column(JSONB, default=None)
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)


async def _read_body(scope: HTTPScope, receive: Receive) -> bytes:
    handler = scope.get("route_handler")
    resolve = getattr(handler, "resolve_request_max_body_size", None)
    limit: float = (resolve() if resolve else None) or math.inf
    announced = next((v for k, v in scope["headers"] if k == b"content-length"), None)
    if announced is not None and announced.isdigit() and int(announced) > limit:
        raise RequestEntityTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = cast("HTTPReceiveMessage", await receive())
        if message["type"] == "http.disconnect":
            break
        chunk = message["body"]
        size += len(chunk)
        if size > limit:
            raise RequestEntityTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay_receive(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> HTTPReceiveMessage:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return cast("HTTPReceiveMessage", await receive())  # disconnect notifications still come through

    return replay


def _context(tenant_id: uuid.UUID, idempotency_key: str, digest: bytes) -> bytes:
    """Each stored response is sealed under a key bound to its tenant, Idempotency-Key and request."""
    return tenant_id.bytes + idempotency_key.encode() + b"\0" + digest


class IdempotencyMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    def __init__(self, ttl_seconds: int, secret: bytes) -> None:
        self.ttl = timedelta(seconds=ttl_seconds)
        self._sealer = Sealer(secret)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        scope = cast("HTTPScope", scope)  # `scopes` limits this middleware to HTTP
        header = next((v for k, v in scope["headers"] if k == b"idempotency-key"), None)
        principal = scope.get("user")
        if (
            header is None
            or scope["method"] != "POST"
            or not isinstance(principal, Principal)
            or principal.tenant_id is None  # operator routes are not tenant-scoped; the header is ignored
            # Routes that manage their own transactions (chat completions, streamed) store no response to
            # replay: the header is ignored there rather than failing the request.
            or unit_of_work_if_any(scope) is None
        ):
            await next_app(scope, receive, send)
            return
        key = header.decode("latin-1").strip()
        if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise LumenProblem(
                f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} printable characters.", slug="validation-error"
            )
        body = await _read_body(scope, receive)
        tenant_id = principal.tenant_id
        caller = principal.key_id.bytes if principal.key_id else b""
        digest = hashlib.sha256(
            b"\n".join(
                [
                    caller,
                    scope["method"].encode(),
                    scope["path"].encode(),
                    scope.get("query_string", b""),
                    body,
                ]
            )
        ).digest()
        session = unit_of_work(scope).session(principal.scope)
        record_id = await self._claim(session, tenant_id, key, digest, scope)
        if record_id is None:
            await self._replay(session, tenant_id, key, digest, send)
            return

        async def remember(
            session_of: Callable[[], AsyncSession], status: int, messages: list[Message]
        ) -> None:
            session = session_of()
            start = next(m for m in messages if m["type"] == "http.response.start")
            headers = [
                [k.decode("latin-1"), v.decode("latin-1")]
                for k, v in start.get("headers", [])
                if k.lower() not in _SKIPPED_HEADERS
            ]
            payload = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
            record = await session.get(IdempotencyRecord, record_id)
            if record is not None:
                record.status, record.response_headers = status, headers
                record.response_body = self._sealer.seal(_PURPOSE, _context(tenant_id, key, digest), payload)

        unit_of_work(scope).before_commit(remember)
        await next_app(scope, _replay_receive(body, receive), send)

    async def _claim(
        self, session: AsyncSession, tenant_id: uuid.UUID, key: str, digest: bytes, scope: HTTPScope
    ) -> uuid.UUID | None:
        values: dict[str, Any] = {
            "id": uuid.uuid4(),
            "tenant_id": tenant_id,
            "key": key,
            "request_hash": digest,
            "method": scope["method"],
            "path": scope["path"][:2048],
        }
        # Drop an expired record for this key first, so the key can be used afresh.
        await session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.tenant_id == tenant_id,
                IdempotencyRecord.key == key,
                IdempotencyRecord.created_at < utcnow() - self.ttl,
            )
        )
        statement = (
            insert(IdempotencyRecord)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["tenant_id", "key"])
            .returning(IdempotencyRecord.id)
        )
        claimed: uuid.UUID | None = (await session.execute(statement)).scalar_one_or_none()
        return claimed

    async def _replay(
        self, session: AsyncSession, tenant_id: uuid.UUID, key: str, digest: bytes, send: Send
    ) -> None:
        record = (
            await session.execute(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.tenant_id == tenant_id, IdempotencyRecord.key == key
                )
            )
        ).scalar_one_or_none()
        if record is None or record.status is None:
            raise LumenProblem(
                "A request with this Idempotency-Key is still in progress; retry shortly.",
                slug="idempotency-key-in-use",
            )
        if record.request_hash != digest:
            raise LumenProblem(
                "This Idempotency-Key was already used with a different request "
                "(API key, method, path, query or body).",
                slug="idempotency-key-reused",
            )
        body = self._sealer.open(_PURPOSE, _context(tenant_id, key, digest), record.response_body or b"")
        if body is None:
            raise LumenProblem(
                "The response stored for this Idempotency-Key can no longer be replayed.", slug="conflict"
            )
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (record.response_headers or [])]
        headers += [(b"content-length", str(len(body)).encode()), (b"idempotent-replayed", b"true")]
        await send({"type": "http.response.start", "status": record.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
