"""Shared fixtures: one real embedded PostgreSQL and Redis for the whole run, the real app over ASGI.

Nothing here is mocked: tests talk to the same PostgreSQL (as the unprivileged application role, so RLS
binds) and Redis that `lumen serve` uses.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from lumen.core.app import create_app
from lumen.core.db.session import async_url
from lumen.core.embedded import EmbeddedServices
from lumen.core.logging import configure_logging
from lumen.core.settings import Settings, load_settings

PLATFORM_KEY = "lm_platform_test_" + secrets.token_hex(16)


@pytest.fixture(scope="session")
def data_dir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="lumen-test-")  # short: unix socket paths are limited to ~100 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(data_dir: str) -> Iterator[Settings]:
    base = load_settings(
        {
            "LUMEN_DATA_DIR": data_dir,
            "LUMEN_LOG_LEVEL": "warning",
            "LUMEN_PLATFORM_KEY": PLATFORM_KEY,
            "LUMEN_ENVIRONMENT": "test",
        }
    )
    # JSON lines, plain tracebacks (rich ones take seconds to render); loggers not cached, so a test may
    # raise the level or capture events whichever tests ran before it.
    configure_logging(base.log, cache_loggers=False)
    services = EmbeddedServices(base)
    resolved = services.start()
    yield resolved
    services.stop()


@pytest.fixture(scope="session")
def app(settings: Settings) -> Litestar:
    return create_app(settings)


@pytest.fixture(scope="session")
async def client(app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://lumen.test") as http:
        yield http


@pytest.fixture(scope="session")
async def app_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """Raw connections as the application role (owns nothing, no BYPASSRLS)."""
    assert settings.database.url is not None
    engine = create_async_engine(async_url(settings.database.url))
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
async def owner_engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    """Raw connections as the owner (for catalog checks and setting up time-dependent rows)."""
    assert settings.database.owner_url is not None
    engine = create_async_engine(async_url(settings.database.owner_url))
    yield engine
    await engine.dispose()


def attached_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment of a Lumen process a test starts beside the session's embedded servers: their URLs
    and data dir, warnings only, and no LUMEN_* value inherited from the shell."""
    assert settings.database.url is not None and settings.redis.url is not None
    env = {k: v for k, v in os.environ.items() if not k.startswith("LUMEN_")}
    env.update(
        LUMEN_DATABASE_URL=settings.database.url,
        LUMEN_REDIS_URL=settings.redis.url,
        LUMEN_DATA_DIR=settings.data_dir,
        LUMEN_LOG_LEVEL="warning",
    )
    env.update(extra)
    return env


def platform_headers() -> dict[str, str]:
    return {"authorization": f"Bearer {PLATFORM_KEY}"}


def bearer(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


@dataclass
class TenantHandle:
    id: uuid.UUID
    slug: str
    key: str  # an admin key
    key_id: uuid.UUID

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.key)


async def create_tenant(client: httpx.AsyncClient, *, scopes: list[str] | None = None) -> TenantHandle:
    slug = "t-" + secrets.token_hex(5)
    r = await client.post(
        "/v1/tenants", json={"slug": slug, "name": slug.upper()}, headers=platform_headers()
    )
    assert r.status_code == 201, r.text
    tenant_id = r.json()["id"]
    r = await client.post(
        f"/v1/tenants/{tenant_id}/keys",
        json={"name": "admin", "scopes": scopes or ["admin"]},
        headers=platform_headers(),
    )
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return TenantHandle(id=uuid.UUID(tenant_id), slug=slug, key=body["key"], key_id=uuid.UUID(body["id"]))


@pytest.fixture
async def tenant_a(client: httpx.AsyncClient) -> TenantHandle:
    return await create_tenant(client)


@pytest.fixture
async def tenant_b(client: httpx.AsyncClient) -> TenantHandle:
    return await create_tenant(client)


def assert_problem(response: httpx.Response, status: int, slug: str | None = None) -> dict[str, Any]:
    """The response is RFC 9457 problem+json with this status (and type slug)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("/problems/")
    if slug is not None:
        assert body["type"] == f"/problems/{slug}", body
    return body
