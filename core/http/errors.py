"""Every error Lumen returns is RFC 9457 problem+json with a stable `type`; this is the one place that
renders them. Bad input is a 4xx that names the field; anything unexpected is a 500 with no stack trace
(the trace goes to the log with the request id, which the response also carries)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.plugins.problem_details import (
    ProblemDetailsConfig,
    ProblemDetailsException,
    ProblemDetailsPlugin,
)
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import StatementError

from lumen.core.http.types import PATTERN_EXPLANATIONS

__all__ = [
    "PROBLEM_TYPES",
    "Conflict",
    "Forbidden",
    "LumenProblem",
    "NotFound",
    "Unauthenticated",
    "UnprocessableEntity",
    "problem_details_plugin",
]

log = structlog.get_logger()

# Relative to the API origin, so every type is dereferenceable: GET /problems/{slug} describes it.
PROBLEM_BASE = "/problems/"

# slug -> (default status, title). Slugs are part of the API contract: never rename one.
PROBLEM_TYPES: dict[str, tuple[int, str]] = {
    "bad-request": (400, "The request could not be read"),
    "validation-error": (400, "The request is not valid"),
    "unauthenticated": (401, "A valid API key is required"),
    "forbidden": (403, "The API key lacks the scope this needs"),
    "tenant-suspended": (403, "The tenant is suspended"),
    "platform-key-required": (403, "Only the platform operator may do this"),
    "tenant-key-required": (403, "This needs a tenant's API key"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "conflict": (409, "Conflicts with the current state"),
    "idempotency-key-in-use": (409, "A request with this Idempotency-Key is still in progress"),
    "payload-too-large": (413, "The request body is too large"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "idempotency-key-reused": (422, "The Idempotency-Key was used with a different request"),
    "unprocessable": (422, "The request is well-formed but cannot be processed"),
    "rate-limited": (429, "Too many requests"),
    "internal-error": (500, "Internal error"),
    "service-unavailable": (503, "A service Lumen depends on is unavailable"),
}

_BY_STATUS = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "unprocessable",
    429: "rate-limited",
    503: "service-unavailable",
}


def type_uri(slug: str) -> str:
    return PROBLEM_BASE + slug


class LumenProblem(ProblemDetailsException):
    """Raise with a slug from PROBLEM_TYPES; status and title follow from it."""

    slug = "bad-request"

    def __init__(
        self,
        detail: str,
        *,
        slug: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        slug = slug or self.slug
        status, title = PROBLEM_TYPES[slug]
        super().__init__(
            detail=detail,
            status_code=status_code or status,
            type_=type_uri(slug),
            title=title,
            headers=headers,
            extra=extra,
        )


class NotFound(LumenProblem):
    slug = "not-found"


class Conflict(LumenProblem):
    slug = "conflict"


class Unauthenticated(LumenProblem):
    slug = "unauthenticated"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="lumen"'})


class Forbidden(LumenProblem):
    slug = "forbidden"


class UnprocessableEntity(LumenProblem):
    """A 422 whatever its slug: `slug="validation-error"` (whose default status is 400, for bodies that do not
    decode) still answers 422 for a well-formed value that names something that does not exist."""

    slug = "unprocessable"

    def __init__(
        self,
        detail: str,
        *,
        slug: str | None = None,
        status_code: int | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail, slug=slug, status_code=status_code or 422, headers=headers, extra=extra)


def field_message(exc: Exception) -> str:
    """msgspec says `Expected ... - at `$.max_items``; name the field the way the caller wrote it."""
    text, _, where = str(exc).rpartition(" - at `$")
    field = where.rstrip("`").lstrip(".")
    return f"{field}: {text}" if field and text else str(exc)


def _explain(message: str) -> str:
    for pattern, meaning in PATTERN_EXPLANATIONS.items():
        message = message.replace(f"Expected `str` matching regex {pattern!r}", f"Expected {meaning}")
    return message


def _field_errors(extra: Any) -> list[dict[str, str]]:
    errors = []
    for item in extra if isinstance(extra, list) else []:
        if isinstance(item, Mapping):
            error = {k: str(v) for k, v in item.items() if k in ("key", "message", "source")}
            if "message" in error:
                error["message"] = _explain(error["message"])
            errors.append(error)
    return errors


_MISSING_FIELD = "Object missing required field `"


def _name_field(error: dict[str, str]) -> dict[str, str]:
    """Litestar reports body problems at key `data`; name the field (or the missing body) instead."""
    message = error.get("message", "")
    if error.get("key") == "data" and error.get("source") == "body":
        if message == "'data'":
            return {**error, "key": "body", "message": "the request body is empty; send a JSON object"}
        if message.startswith(_MISSING_FIELD):
            field = message[len(_MISSING_FIELD) :].split("`", 1)[0]
            return {**error, "key": field, "message": "required field is missing"}
    return error


def _from_http_exception(exc: HTTPException) -> ProblemDetailsException:
    if isinstance(exc, ValidationException):
        errors = [_name_field(e) for e in _field_errors(exc.extra)]
        named = "; ".join(
            f"{e['key']}: {e['message']}" if e.get("key") else e.get("message", "") for e in errors
        )
        detail = named or str(exc.detail)
        slug = "validation-error" if errors else "bad-request"
        return LumenProblem(
            detail, slug=slug, status_code=exc.status_code, extra={"errors": errors} if errors else None
        )
    slug = _BY_STATUS.get(exc.status_code, "bad-request" if exc.status_code < 500 else "internal-error")
    detail = str(exc.detail) if exc.status_code < 500 else PROBLEM_TYPES[slug][1]
    return LumenProblem(detail, slug=slug, status_code=exc.status_code, headers=exc.headers)


def _unstorable_value(request: Request[Any, Any, Any], exc: StatementError) -> Response[Any]:
    """A value validation let through but PostgreSQL cannot store (a safety net: schemas should refuse it
    first, naming the field). Anything else that fails in a statement is a genuine 500."""
    causes: list[BaseException] = []
    cause: BaseException | None = exc.orig
    while cause is not None and len(causes) < 5:  # SQLAlchemy wraps the driver's error; look through
        causes.append(cause)
        cause = cause.__cause__
    if any(isinstance(c, (OverflowError, ValueError)) or type(c).__name__ in _UNSTORABLE for c in causes):
        log.warning("http.unstorable_value", error_type=type(cause).__name__, path=request.url.path)
        return LumenProblem(
            "A value in the request cannot be stored (out of range or not valid text).",
            slug="validation-error",
            status_code=422,
        ).to_response(request)
    return _internal_error(request, exc)


# asyncpg's data exceptions, as SQLAlchemy wraps them (names, to avoid importing driver internals).
_UNSTORABLE = frozenset(
    {
        "DataError",
        "CharacterNotInRepertoireError",
        "DatetimeFieldOverflowError",
        "NumericValueOutOfRangeError",
        "StringDataRightTruncationError",
        "InvalidTextRepresentationError",
        "UntranslatableCharacterError",
    }
)


def _internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Contain the failure: a 500 that names an incident id (in the log with the trace), never the trace."""
    incident_id = uuid.uuid4().hex
    handler = request.scope.get("route_handler")
    plugin = getattr(handler, "opt", {}).get("plugin")
    log.error(
        "http.unhandled_error",
        incident_id=incident_id,
        plugin=plugin,
        error_type=type(exc).__name__,
        path=request.url.path,
        exc_info=exc,
    )
    problem = LumenProblem(
        f"An internal error occurred (incident {incident_id}); quote it and the request id to support.",
        slug="internal-error",
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        extra={"incident_id": incident_id},
    )
    request.scope.setdefault("state", {})["incident_id"] = incident_id
    return problem.to_response(request)


def problem_details_plugin() -> ProblemDetailsPlugin:
    return ProblemDetailsPlugin(
        ProblemDetailsConfig(
            enable_for_all_http_exceptions=True,
            exception_to_problem_detail_map={HTTPException: _from_http_exception},
        )
    )


EXCEPTION_HANDLERS = {StatementError: _unstorable_value, Exception: _internal_error}
