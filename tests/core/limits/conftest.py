"""Helpers for the limits tests: small limits set through the operator API, a second app on the same
database and Redis (another API process, as far as the limiter can tell), and the RateLimit fields parsed."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from litestar import Litestar

from lumen.core.app import create_app
from lumen.core.settings import Settings
from tests.conftest import platform_headers


async def set_limits(
    client: httpx.AsyncClient, tenant_id: uuid.UUID, *, plan: str | None = None, **overrides: int
) -> dict[str, Any]:
    body: dict[str, Any] = {"overrides": overrides}
    if plan is not None:
        body["plan"] = plan
    r = await client.put(f"/v1/tenants/{tenant_id}/limits", json=body, headers=platform_headers())
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    return found


_ITEM = re.compile(r'"([^"]+)"((?:;[a-z]+=\d+)*)')


def parse_fields(value: str) -> dict[str, dict[str, int]]:
    """`"tenant";r=3;t=20, "key";r=1;t=40` -> {"tenant": {"r": 3, "t": 20}, "key": {...}}"""
    found = {}
    for item in value.split(","):
        match = _ITEM.fullmatch(item.strip())
        assert match, f"not a structured-field item: {item!r} in {value!r}"
        params = dict(p.split("=") for p in match.group(2).split(";") if p)
        found[match.group(1)] = {k: int(v) for k, v in params.items()}
    return found


def rate_state(response: httpx.Response) -> dict[str, dict[str, int]]:
    return parse_fields(response.headers["ratelimit"])


def rate_policies(response: httpx.Response) -> dict[str, dict[str, int]]:
    return parse_fields(response.headers["ratelimit-policy"])


async def started(app: Litestar) -> None:
    # The lifespan's hooks, called directly (see tests/core/plugins/test_requests.py for why).
    for hook in app.on_startup:
        await hook()


async def stopped(app: Litestar) -> None:
    for hook in app.on_shutdown:  # disposes only this app's own engine and Redis clients
        await hook()


@pytest.fixture(scope="module")
async def other_app(settings: Settings) -> AsyncIterator[Litestar]:
    """A second API instance on the same PostgreSQL and Redis: its own engine, Redis clients, caches."""
    app = create_app(settings)
    await started(app)
    try:
        yield app
    finally:
        await stopped(app)


@pytest.fixture(scope="module")
async def other(other_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=other_app), base_url="http://lumen.test"
    ) as http:
        yield http
