"""Route guards: who may call a route. Object-level checks (another tenant's id -> 404) live in
repositories, which always filter by the caller's tenant."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import Guard

from lumen.core.auth.principal import Principal
from lumen.core.http.errors import Forbidden, LumenProblem

__all__ = ["platform_only", "requires_scope"]


def _principal(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    principal = connection.user
    if not isinstance(principal, Principal):  # public paths have no principal; guards never run there
        raise RuntimeError("guard on an unauthenticated route")
    return principal


def platform_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if not _principal(connection).is_platform:
        raise LumenProblem("This route needs the platform operator's key.", slug="platform-key-required")


def requires_scope(scope: str) -> Guard:
    """A tenant key holding `scope` (or `admin`)."""

    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = _principal(connection)
        if principal.is_platform:
            raise LumenProblem(
                "This route acts within a tenant: use one of its API keys.", slug="tenant-key-required"
            )
        if not principal.has_scope(scope):
            raise Forbidden(f"This API key lacks the `{scope}` scope.", extra={"required_scope": scope})

    guard.__name__ = f"requires_scope_{scope}"
    return guard
