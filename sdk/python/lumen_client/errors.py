"""Typed errors from Lumen's problem+json (RFC 9457): one exception class per problem type slug."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = [
    "APIConnectionError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "IdempotencyKeyInUse",
    "IdempotencyKeyReused",
    "InternalError",
    "LumenError",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "PlatformKeyRequired",
    "ProblemError",
    "RateLimited",
    "ServiceUnavailable",
    "TenantKeyRequired",
    "TenantSuspended",
    "Unauthenticated",
    "Unprocessable",
    "UnsupportedMediaType",
    "ValidationError",
    "WebhookVerificationError",
    "error_from_response",
]


class LumenError(Exception):
    """Base of every error this client raises."""


class APIConnectionError(LumenError):
    """Lumen could not be reached (after retries)."""


class WebhookVerificationError(LumenError):
    """A webhook's signature or timestamp did not verify."""


class ProblemError(LumenError):
    """An error response. `type`, `title`, `status`, `detail` as Lumen sent them; `errors` the field list."""

    slug = ""

    def __init__(self, response: httpx.Response, body: dict[str, Any]) -> None:
        self.response = response
        self.body = body
        self.status: int = int(body.get("status", response.status_code))
        self.type: str = str(body.get("type", ""))
        self.title: str = str(body.get("title", ""))
        self.detail: str = str(body.get("detail", ""))
        self.errors: list[dict[str, Any]] = list(body.get("errors") or [])
        self.request_id = response.headers.get("x-request-id")
        super().__init__(
            f"{self.status} {self.title}: {self.detail}" if self.detail else f"{self.status} {self.title}"
        )


class BadRequest(ProblemError):
    slug = "bad-request"


class ValidationError(ProblemError):
    slug = "validation-error"


class Unauthenticated(ProblemError):
    slug = "unauthenticated"


class Forbidden(ProblemError):
    slug = "forbidden"


class TenantSuspended(Forbidden):
    slug = "tenant-suspended"


class PlatformKeyRequired(Forbidden):
    slug = "platform-key-required"


class TenantKeyRequired(Forbidden):
    slug = "tenant-key-required"


class NotFound(ProblemError):
    slug = "not-found"


class MethodNotAllowed(ProblemError):
    slug = "method-not-allowed"


class Conflict(ProblemError):
    slug = "conflict"


class IdempotencyKeyInUse(Conflict):
    slug = "idempotency-key-in-use"


class PayloadTooLarge(ProblemError):
    slug = "payload-too-large"


class UnsupportedMediaType(ProblemError):
    slug = "unsupported-media-type"


class Unprocessable(ProblemError):
    slug = "unprocessable"


class IdempotencyKeyReused(Unprocessable):
    slug = "idempotency-key-reused"


class RateLimited(ProblemError):
    slug = "rate-limited"

    @property
    def retry_after(self) -> float | None:
        value = self.response.headers.get("retry-after", "")
        try:
            return float(value)
        except ValueError:
            return None


class InternalError(ProblemError):
    slug = "internal-error"

    @property
    def incident_id(self) -> str | None:
        value = self.body.get("incident_id")
        return str(value) if value else None


class ServiceUnavailable(ProblemError):
    slug = "service-unavailable"


BY_SLUG: dict[str, type[ProblemError]] = {
    cls.slug: cls
    for cls in (
        BadRequest,
        ValidationError,
        Unauthenticated,
        Forbidden,
        TenantSuspended,
        PlatformKeyRequired,
        TenantKeyRequired,
        NotFound,
        MethodNotAllowed,
        Conflict,
        IdempotencyKeyInUse,
        PayloadTooLarge,
        UnsupportedMediaType,
        Unprocessable,
        IdempotencyKeyReused,
        RateLimited,
        InternalError,
        ServiceUnavailable,
    )
}
BY_STATUS: dict[int, type[ProblemError]] = {
    400: BadRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    422: Unprocessable,
    429: RateLimited,
    500: InternalError,
    503: ServiceUnavailable,
}


def error_from_response(response: httpx.Response) -> ProblemError:
    """The exception for an error response: by the problem type's slug, else by status."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {
            "status": response.status_code,
            "title": response.reason_phrase,
            "detail": response.text[:500],
        }
    slug = str(body.get("type", "")).rsplit("/", 1)[-1]
    cls = BY_SLUG.get(slug) or BY_STATUS.get(response.status_code) or ProblemError
    return cls(response, body)
