"""Rate limiting and metering on the request path (ARCHITECTURE §2: after the key, before the policy).

Runs inside authentication, for every request made with a tenant's key; the platform operator's key is
exempt (it is neither limited nor metered: it is nobody's usage). One Redis round trip decides (and counts)
the request and meters it by route template as answered 2xx; an answer of another status class moves that
count in one more round trip. A refused request is answered 429 `rate-limited` here, before any policy
decision, database work or audit record. The RateLimit fields go on every answer to a limited request, 2xx
or not. If Redis cannot answer, the request goes on without limits or headers (`lumen.core.limits.breaker`).
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.exceptions import HTTPException
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from lumen.core.auth.principal import Principal
from lumen.core.limits.limiter import RateLimiter

__all__ = ["RateLimitMiddleware"]


class RateLimitMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        principal = scope.get("user")
        if not isinstance(principal, Principal) or principal.tenant_id is None:
            await next_app(scope, receive, send)
            return
        tenant_id = principal.tenant_id
        limiter: RateLimiter = scope["litestar_app"].state.rate_limiter
        method = str(scope.get("method", "-"))
        route = scope.get("path_template") or "-"
        verdict = await limiter.check_request(tenant_id, principal.key_id, method=method, route=route)
        if verdict is not None and not verdict.admitted:
            await limiter.meter.record_request(tenant_id, method, route, 429, admitted_on=None)
            raise verdict.problem()
        headers = verdict.headers() if verdict is not None else {}
        status = 500

        async def meter(answered: int) -> None:
            if verdict is None:  # Redis did not answer the limiter: try to meter on its own
                await limiter.meter.record_request(tenant_id, method, route, answered)
            else:  # admitted and already metered as 2xx
                await limiter.meter.settle_request(
                    tenant_id, method, route, answered, admitted_on=verdict.day
                )

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if headers:
                    response_headers = MutableScopeHeaders.from_message(message)
                    for name, value in headers.items():
                        response_headers[name] = value
            await send(message)

        try:
            await next_app(scope, receive, send_with_headers)
        except HTTPException as exc:
            # Rendered outside this middleware (an idempotency conflict...): give it the fields too.
            exc.headers = {**headers, **(exc.headers or {})}
            await meter(exc.status_code)
            raise
        except Exception:
            await meter(500)
            raise
        await meter(status)
