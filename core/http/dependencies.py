"""Dependencies every controller uses: the caller and a session scoped to the caller's tenant."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.auth.principal import Principal
from lumen.core.db.unit_of_work import unit_of_work

__all__ = ["DEPENDENCIES", "Caller", "DbSession", "provide_principal", "provide_session"]

# What controllers declare: `session: DbSession`, `principal: Caller`.
DbSession = NamedDependency[AsyncSession]
Caller = NamedDependency[Principal]


def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    principal = request.user
    if not isinstance(principal, Principal):
        raise RuntimeError("route needs authentication but none ran")
    return principal


def provide_session(request: Request[Any, Any, Any], principal: Caller) -> AsyncSession:
    """The request's session, in the caller's scope; the unit of work commits it."""
    return unit_of_work(request.scope).session(principal.scope)


DEPENDENCIES = {
    "principal": Provide(provide_principal, sync_to_thread=False),
    "session": Provide(provide_session, sync_to_thread=False),
}
