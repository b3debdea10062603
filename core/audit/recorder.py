"""Recording what each request did, durably and in the same transaction as the change.

`AuditMiddleware` runs inside authentication. For a successful request it adds the request's audit records
to the unit of work's transaction (so a 2xx never exists without its record). For a denied (403) or failed
(5xx) request, whose transaction rolls back, it writes the record in a transaction of its own.

Which requests are recorded: every state change (POST, PUT, PATCH, DELETE on a route with an `action`
that is not declared `access="read"`), reads of patient data (routes marked `opt={"audit_reads": True}`,
or whose action is declared `phi=True` with access "read"), and every denied (403) or failed (5xx)
request on any route with an action, with its policy decision id. Records name fields, never values.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, cast

import msgspec
import structlog
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, HTTPReceiveMessage, HTTPScope, Message, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.audit.service import AuditEntry, AuditTrail, Outcome
from lumen.core.auth.principal import Principal
from lumen.core.db.session import Database
from lumen.core.db.unit_of_work import unit_of_work_if_any

__all__ = ["AuditMiddleware", "RequestAudit", "request_audit"]

log = structlog.get_logger()

_STATE_KEY = "lumen.request_audit"
_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_MAX_BODY_FOR_FIELDS = 1_048_576


class RequestAudit:
    """Per-request collector; services and plugins add domain records through `record`."""

    def __init__(self, principal: Principal, request_id: str | None) -> None:
        self.principal = principal
        self.request_id = request_id
        self.entries: list[AuditEntry] = []
        # Records kept besides the route's own (automatic or recorded) one: a PHI read made on the way.
        self.also: list[AuditEntry] = []
        self.policy_decision_id: str | None = None

    def record(self, entry: AuditEntry) -> None:
        self.entries.append(entry)

    def record_also(self, entry: AuditEntry) -> None:
        """A record that does not replace the route's own (e.g. a plugin reading a patient profile)."""
        self.also.append(entry)

    def stamp(self, entry: AuditEntry, outcome: Outcome | None = None) -> AuditEntry:
        entry.request_id = self.request_id
        entry.actor_kind = (
            "platform"
            if self.principal.is_platform
            else "patient"
            if self.principal.patient_id is not None
            else "key"
        )
        entry.actor_key_id = self.principal.key_id
        entry.policy_decision_id = entry.policy_decision_id or self.policy_decision_id
        if outcome is not None:
            entry.outcome = outcome
        return entry


def request_audit(scope: Scope) -> RequestAudit | None:
    found = scope.get("state", {}).get(_STATE_KEY)
    return cast("RequestAudit | None", found)


def _field_names(body: bytes) -> list[str]:
    with contextlib.suppress(msgspec.DecodeError):
        decoded = msgspec.json.decode(body) if body else None
        if isinstance(decoded, dict):
            return sorted(str(k) for k in decoded)[:64]
    return []


def _created_id(messages: list[Message]) -> str | None:
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    with contextlib.suppress(msgspec.DecodeError):
        decoded = msgspec.json.decode(body) if body else None
        if isinstance(decoded, dict) and isinstance(decoded.get("id"), str):
            return str(decoded["id"])
    return None


class AuditMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        principal = scope.get("user")
        handler = scope.get("route_handler")
        opt: dict[str, Any] = getattr(handler, "opt", {}) or {}
        action = opt.get("action")
        http = cast("HTTPScope", scope)
        if not isinstance(principal, Principal) or not action:
            await next_app(scope, receive, send)
            return
        audit = RequestAudit(principal, scope.get("state", {}).get("request_id"))
        scope["state"][_STATE_KEY] = audit
        body = bytearray()
        status = 500

        async def tee(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        async def read() -> HTTPReceiveMessage:
            message = cast("HTTPReceiveMessage", await receive())
            if message["type"] == "http.request" and len(body) < _MAX_BODY_FOR_FIELDS:
                body.extend(message["body"][: _MAX_BODY_FOR_FIELDS - len(body)])
            return message

        def automatic(outcome: Outcome, created: str | None) -> AuditEntry:
            params = http.get("path_params", {})
            resource_id = created or next((str(v) for k, v in params.items() if k.endswith("_id")), None)
            return AuditEntry(
                action=str(action),
                resource_type=opt.get("resource"),
                resource_id=resource_id,
                changed_fields=_field_names(bytes(body)) if http["method"] in _MUTATING else [],
                details={"status": status},
            )

        # Successes are recorded for state changes and patient-data reads; denials and errors always. A POST
        # whose action is declared a read (a computation such as an interaction check or a search) changes
        # nothing, so it is metered, not audited, unless it reads PHI (then `phi_read`, or the record a
        # plugin adds through `record_also` when it reads a patient's profile on the way).
        spec = scope["litestar_app"].state.actions.get(action)
        phi_read = spec is not None and spec.phi and spec.access == "read"
        changes_state = http["method"] in _MUTATING and (spec is None or spec.access != "read")
        records_success = changes_state or bool(opt.get("audit_reads")) or phi_read

        async def on_success(
            session_of: Callable[[], AsyncSession], final_status: int, messages: list[Message]
        ) -> None:
            if not (records_success or audit.entries or audit.also):
                return  # nothing to record: no session is opened for it
            session = session_of()
            created = _created_id(messages) if http["method"] == "POST" else None
            entries = audit.entries or ([automatic("success", created)] if records_success else [])
            entries = [*entries, *audit.also]
            await AuditTrail(session, principal.tenant_id).append([audit.stamp(e) for e in entries])

        uow = unit_of_work_if_any(scope)
        if uow is not None:
            # With the caller's scope: a handler that only records (ctx.audit) may never have opened one.
            uow.before_commit(on_success, scope=principal.scope)
        elif records_success and not opt.get("audits_itself"):
            # A route without the unit of work (one that streams) must write its own record, in a
            # transaction that commits before its first byte, and say so with `audits_itself`.
            raise RuntimeError(f"{action}: a state change must run in the request's unit of work")
        await next_app(scope, read, tee)
        if status == 403 or status >= 500:
            outcome: Outcome = "denied" if status == 403 else "error"
            entry = audit.stamp(automatic(outcome, None), outcome)
            incident = scope.get("state", {}).get("incident_id")
            if incident:
                entry.details["incident_id"] = incident
            await self._record_failure(scope, audit, entry)

    async def _record_failure(self, scope: Scope, audit: RequestAudit, entry: AuditEntry) -> None:
        """The request's own transaction rolls back; its denied/error record commits on its own."""
        db: Database = scope["litestar_app"].state.db
        try:
            async with db.transaction(audit.principal.scope) as session:
                await AuditTrail(session, audit.principal.tenant_id).append([entry])
        except Exception as exc:  # never turn a 403/500 into something else; but say so loudly
            log.error("audit.failure_record_lost", action=entry.action, error_type=type(exc).__name__)
