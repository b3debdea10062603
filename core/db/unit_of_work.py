"""The request boundary commits (ARCHITECTURE §2, §7): services never commit.

`UnitOfWorkMiddleware` gives each request one lazily-opened session. When the handler has produced its
response, the middleware commits if the status is below 400 and rolls back otherwise, and only then sends
the response: a client never sees a 2xx for work that was not durably committed. If the commit itself
fails, the client gets a problem response instead of the success it would otherwise have seen.

Work that must land in the same transaction as the response (the stored response of an idempotent
request, later the audit record) registers a `before_commit` callback.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from lumen.core.db.session import Database, scope_of
from lumen.core.tenancy.context import Scope as TenantScope

__all__ = ["UnitOfWork", "UnitOfWorkMiddleware", "unit_of_work", "unit_of_work_if_any"]

log = structlog.get_logger()

_STATE_KEY = "lumen.unit_of_work"

# (the request's session, opened on first call; the response status; the response messages)
BeforeCommit = Callable[[Callable[[], AsyncSession], int, list[Message]], Awaitable[None]]
AfterCommit = Callable[[], Awaitable[None]]


class UnitOfWork:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._session: AsyncSession | None = None
        self._before_commit: list[BeforeCommit] = []
        self._after_commit: list[AfterCommit] = []
        self._after_rollback: list[AfterCommit] = []
        self._callback_scope: TenantScope | None = None

    def session(self, scope: TenantScope) -> AsyncSession:
        """The request's session, opened on first use; one request never mixes two scopes."""
        if self._session is None:
            self._session = self._db.session(scope)
        elif scope_of(self._session) != scope:
            raise RuntimeError("a unit of work cannot switch tenant scope")
        return self._session

    @property
    def active(self) -> bool:
        return self._session is not None

    def before_commit(self, callback: BeforeCommit, *, scope: TenantScope | None = None) -> None:
        """Run `callback` in the transaction, just before the commit of a successful request. It gets the
        session as a function: a callback that writes nothing (an audit hook on a read) opens nothing. A
        callback that may write in a request which might not have used the database gives the `scope` to
        open the session in."""
        self._before_commit.append(callback)
        if scope is not None:
            self._callback_scope = scope

    def _session_for_callbacks(self) -> AsyncSession:
        if self._session is None:
            if self._callback_scope is None:
                raise RuntimeError("a before-commit callback needs a session, and none is open nor scoped")
            self._session = self._db.session(self._callback_scope)
        return self._session

    def after_commit(self, callback: AfterCommit) -> None:
        """Run once the change is durable, before the response is sent (cache invalidation, wake-ups)."""
        self._after_commit.append(callback)

    def after_rollback(self, callback: AfterCommit) -> None:
        """Run if the change does not commit (an error status, an exception, a failed commit): undo what the
        request did outside the database, such as files it wrote."""
        self._after_rollback.append(callback)

    async def _rolled_back(self) -> None:
        for undo in self._after_rollback:
            try:
                await undo()
            except Exception as exc:
                log.error("uow.after_rollback_failed", error_type=type(exc).__name__)

    async def complete(self, status: int, messages: list[Message]) -> None:
        """Commit (status < 400) or roll back; raises if the commit fails."""
        if self._session is None and not self._before_commit:
            return
        # A request that never touched the database (no session was opened, or its session ran no
        # statement) has no transaction: nothing to commit, roll back or give back.
        used = False
        try:
            if status < 400:
                try:
                    for callback in self._before_commit:
                        await callback(self._session_for_callbacks, status, messages)
                    session = self._session
                    if session is not None and session.in_transaction():
                        used = True
                        await session.commit()
                except BaseException:
                    used = self._session is not None  # whatever state it was left in, it is closed below
                    await self._rolled_back()
                    raise
                for done in self._after_commit:
                    try:
                        await done()
                    except Exception as exc:  # the change is committed; a failed follow-up must not undo that
                        log.error("uow.after_commit_failed", error_type=type(exc).__name__)
            else:
                session = self._session
                if session is not None and session.in_transaction():
                    used = True
                    await session.rollback()
                await self._rolled_back()
        finally:
            session, self._session = self._session, None
            if used and session is not None:
                await session.close()

    async def abort(self) -> None:
        if self._session is not None:
            try:
                await self._session.rollback()
            finally:
                await self._session.close()
                self._session = None
        await self._rolled_back()


def unit_of_work(scope: Scope) -> UnitOfWork:
    uow: UnitOfWork = scope["state"][_STATE_KEY]
    return uow


def unit_of_work_if_any(scope: Scope) -> UnitOfWork | None:
    """None on routes that manage their own transactions (`opt={"no_unit_of_work": True}`)."""
    found: UnitOfWork | None = scope.get("state", {}).get(_STATE_KEY)
    return found


def _problem(status: int, slug: str, detail: str) -> list[Message]:
    import msgspec

    from lumen.core.http.errors import PROBLEM_TYPES, type_uri

    body = msgspec.json.encode(
        {"type": type_uri(slug), "title": PROBLEM_TYPES[slug][1], "status": status, "detail": detail}
    )
    return [
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/problem+json"),
                (b"content-length", str(len(body)).encode()),
            ],
        },
        {"type": "http.response.body", "body": body, "more_body": False},
    ]


class UnitOfWorkMiddleware(ASGIMiddleware):
    scopes = (ScopeType.HTTP,)
    # Streaming routes (answers streamed as they are generated) manage their own transaction.
    exclude_opt_key = "no_unit_of_work"

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        db: Database = scope["litestar_app"].state.db
        uow = UnitOfWork(db)
        scope.setdefault("state", {})[_STATE_KEY] = uow
        opt = getattr(scope.get("route_handler"), "opt", None) or {}
        if opt.get("stream_after_commit"):
            await self._stream_after_commit(uow, scope, receive, send, next_app)
            return
        messages: list[Message] = []
        status = 500

        async def hold(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            messages.append(message)

        try:
            await next_app(scope, receive, hold)
        except BaseException:
            await uow.abort()
            raise
        try:
            await uow.complete(status, messages)
        except IntegrityError as exc:
            log.warning("db.commit_conflict", constraint=_constraint(exc))
            messages = _problem(409, "conflict", "The change conflicts with data committed meanwhile; retry.")
        except (DBAPIError, OSError) as exc:
            log.error("db.commit_failed", error_type=type(exc).__name__)
            messages = _problem(503, "service-unavailable", "The change could not be committed; retry.")
        for message in messages:
            await send(message)

    async def _stream_after_commit(
        self, uow: UnitOfWork, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp
    ) -> None:
        """Routes with `opt={"stream_after_commit": True}` (answers streamed as they are generated): the
        handler's work (its reads, its audit record) commits when the response starts, before the first
        byte, and the body then passes through as it is produced. The body must not use the request's
        session (it is closed by then); a failed commit still answers a clean problem, as nothing was sent."""
        replaced = False

        async def forward(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return
            if message["type"] == "http.response.start":
                problem: list[Message] | None = None
                try:
                    await uow.complete(message["status"], [message])
                except IntegrityError as exc:
                    log.warning("db.commit_conflict", constraint=_constraint(exc))
                    problem = _problem(409, "conflict", "The change conflicts with data committed meanwhile.")
                except (DBAPIError, OSError) as exc:
                    log.error("db.commit_failed", error_type=type(exc).__name__)
                    problem = _problem(
                        503, "service-unavailable", "The change could not be committed; retry."
                    )
                if problem is not None:
                    replaced = True
                    for part in problem:
                        await send(part)
                    return
            await send(message)

        try:
            await next_app(scope, receive, forward)
        except BaseException:
            await uow.abort()
            raise


def _constraint(exc: IntegrityError) -> Any:
    return getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)
