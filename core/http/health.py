"""Liveness, readiness and the problem-type descriptions; none of these need a key."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from litestar import Request, Response, get
from litestar.params import FromPath
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from lumen.core.http.errors import PROBLEM_TYPES, NotFound, type_uri

__all__ = ["healthz", "problem_type", "readyz"]

_CHECK_TIMEOUT = 2.0


class Health(msgspec.Struct):
    status: str
    checks: dict[str, str] = msgspec.field(default_factory=dict)


@get(
    "/healthz",
    operation_id="healthz",
    summary="Liveness: the process answers",
    tags=["health"],
    exclude_from_auth=True,
    sync_to_thread=False,
)
def healthz() -> Health:
    return Health(status="ok")


@get(
    "/readyz",
    operation_id="readyz",
    summary="Readiness: PostgreSQL and Redis reachable",
    tags=["health"],
    exclude_from_auth=True,
)
async def readyz(request: Request[Any, Any, Any]) -> Response[Health]:
    state = request.app.state

    async def check(name: str, probe: Any) -> tuple[str, str]:
        try:
            await asyncio.wait_for(probe(), _CHECK_TIMEOUT)
            return name, "ok"
        except Exception as exc:  # reported, never raised: readiness must answer
            return name, f"unavailable ({type(exc).__name__})"

    results = dict(await asyncio.gather(check("database", state.db.ping), check("redis", state.redis.ping)))
    ready = all(v == "ok" for v in results.values())
    return Response(
        Health(status="ready" if ready else "not_ready", checks=results),
        status_code=HTTP_200_OK if ready else HTTP_503_SERVICE_UNAVAILABLE,
    )


class ProblemType(msgspec.Struct):
    type: str
    status: int
    title: str


@get(
    "/problems/{slug:str}",
    operation_id="getProblemType",
    summary="Describe a problem type",
    tags=["health"],
    exclude_from_auth=True,
    sync_to_thread=False,
)
def problem_type(slug: FromPath[str]) -> ProblemType:
    if slug not in PROBLEM_TYPES:
        raise NotFound(f"no problem type {slug!r}")
    status, title = PROBLEM_TYPES[slug]
    return ProblemType(type=type_uri(slug), status=status, title=title)
