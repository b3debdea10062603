"""Request context: a request id on every request and response, bound into every log line.

The id is chosen by `RequestContextMiddleware`; the response header and the access log line are written by
`finish_response`, an app-level before-send hook, because that is the only place that also sees responses
rendered for exceptions raised inside middleware (authentication, idempotency).
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import structlog
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from lumen.core.tenancy.context import current_tenant

__all__ = ["RequestContextMiddleware", "finish_response"]

log = structlog.get_logger()

# A caller's own request id is kept only if it is short and plain: it ends up in logs.
_CALLER_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestContextMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        request_id = given if _CALLER_ID.match(given) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["request_started"] = time.perf_counter()
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        token = current_tenant.set(None)
        try:
            await next_app(scope, receive, send)
        finally:
            current_tenant.reset(token)


SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


async def finish_response(message: Message, scope: Scope) -> None:
    if message["type"] != "http.response.start":
        return
    state: dict[str, Any] = scope.get("state", {})
    request_id = state.get("request_id")
    if request_id is None:
        return
    headers = MutableScopeHeaders.from_message(message)
    headers["x-request-id"] = request_id
    # An API answers data, never pages to frame or content to sniff (OWASP API8: security misconfiguration).
    for name, value in SECURITY_HEADERS.items():
        if name not in headers:
            headers[name] = value
    principal = scope.get("user")
    tenant_id = getattr(principal, "tenant_id", None)
    # Method, route template and status only: never bodies, query strings or headers.
    log.info(
        "http.request_handled",
        request_id=request_id,
        tenant_id=str(tenant_id) if tenant_id else None,
        method=scope.get("method", "-"),
        route=scope.get("path_template") or "-",
        status=message["status"],
        duration_ms=round(
            (time.perf_counter() - state.get("request_started", time.perf_counter())) * 1000, 2
        ),
    )
