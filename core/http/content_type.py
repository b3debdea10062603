"""Bodies are read as the media type the route declares (JSON unless it says otherwise), and a request that
labels its body as something else gets 415 instead of being parsed anyway."""

from __future__ import annotations

from typing import Any

from litestar import Request

from lumen.core.http.errors import LumenProblem

__all__ = ["require_declared_content_type"]

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


async def require_declared_content_type(request: Request[Any, Any, Any]) -> None:
    if request.method not in _WITH_BODY:
        return
    handler = request.route_handler
    if "data" not in handler.parsed_fn_signature.parameters:
        return  # the route reads no body
    has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if not has_body and not media_type:
        return  # an optional body left out (e.g. rotating a key with the default overlap)
    accepted: tuple[str, ...] = tuple(handler.opt.get("content_types", ("application/json",)))
    if media_type in accepted or (media_type.endswith("+json") and "application/json" in accepted):
        return
    raise LumenProblem(
        f"Content-Type must be {' or '.join(accepted)} (got {media_type or 'none'}).",
        slug="unsupported-media-type",
    )
