"""Authentication middleware: `Authorization: Bearer <key>` -> Principal on `request.user`."""

from __future__ import annotations

import structlog
from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from lumen.core.auth.app_tokens import APP_TOKEN_PREFIX, AppTokenSigner
from lumen.core.auth.service import KeyAuthenticator
from lumen.core.http.errors import Unauthenticated
from lumen.core.tenancy.context import current_tenant

__all__ = ["PUBLIC_PATHS", "ApiKeyAuthenticationMiddleware"]

# Paths any caller may reach: probes, the API description and its docs, problem type descriptions.
PUBLIC_PATHS = ["^/healthz$", "^/readyz$", "^/schema", "^/problems/", "^/\\.well-known/"]


class ApiKeyAuthenticationMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:  # type: ignore[type-arg]
        header = connection.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise Unauthenticated("missing Authorization header; send `Authorization: Bearer <api key>`")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Authorization header must be `Bearer <api key>`")
        token = token.strip()
        if token.startswith(APP_TOKEN_PREFIX):
            # A patient app's short-lived session (POST /t/{slug}/session): signed, no database read.
            app_tokens: AppTokenSigner = connection.app.state.app_tokens
            principal = app_tokens.verify(token)
        else:
            authenticator: KeyAuthenticator = connection.app.state.authenticator
            principal = await authenticator.authenticate(token)
        if principal.tenant_id is not None:
            current_tenant.set(principal.tenant_id)
            structlog.contextvars.bind_contextvars(tenant_id=str(principal.tenant_id))
        if principal.key_id is not None:
            structlog.contextvars.bind_contextvars(key_id=str(principal.key_id))
        return AuthenticationResult(user=principal, auth=principal.key_id)
