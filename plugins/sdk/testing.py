"""Pytest fixtures that run a plugin inside a real Lumen: embedded PostgreSQL and Redis, the real app over
ASGI, tenants and keys made through the public API. Nothing is mocked, so what passes here is what a tenant
will see: the policy decision, per-tenant enablement, settings validation and the audit trail all run.

Usage, in the plugin's own `tests/conftest.py`::

    import pytest

    pytest_plugins = ["lumen.plugins.sdk.testing"]

    @pytest.fixture(scope="session")
    def lumen_plugins() -> list[object]:
        return []  # installed plugins load through their entry points; list extra plugin objects here

and in its pyproject.toml (the fixtures share one event loop with the tests)::

    [tool.pytest.ini_options]
    asyncio_mode = "auto"
    asyncio_default_fixture_loop_scope = "session"
    asyncio_default_test_loop_scope = "session"

A test then asks for a client and a fresh tenant (an admin key of its own)::

    from lumen.plugins.sdk.testing import enable_plugin

    async def test_convert(lumen_client, lumen_tenant):
        await enable_plugin(lumen_client, lumen_tenant, "units", {"decimals": 1})
        r = await lumen_client.get("/v1/units/analytes", headers=lumen_tenant.headers)
        assert r.status_code == 200

Fixtures: `lumen_settings` (session: starts the embedded servers in a temporary data dir, stops them at the
end), `lumen_plugins` (session, override it), `lumen_app`, `lumen_client` (session: runs the app's lifespan,
so plugin `startup` hooks run), `lumen_tenant` (per test) and `lumen_tenant_factory` (per test: makes more
tenants, e.g. with narrower scopes). Helpers: `enable_plugin`, `create_tenant`, `create_key`,
`assert_problem`, `rego_test_results` (the plugin's `*_test.rego` unit tests, run in-process).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

import httpx
import msgspec
import pytest
import pytest_asyncio
from litestar import Litestar

from lumen.core.app import create_app
from lumen.core.embedded import EmbeddedServices
from lumen.core.logging import configure_logging
from lumen.core.policy.rego_tests import RegoTestResult, run_rego_tests
from lumen.core.settings import Settings, load_settings

__all__ = [
    "BASE_URL",
    "LumenTenant",
    "RegoTestResult",
    "TenantFactory",
    "assert_problem",
    "create_key",
    "create_tenant",
    "enable_plugin",
    "lumen_app",
    "lumen_client",
    "lumen_plugins",
    "lumen_settings",
    "lumen_tenant",
    "lumen_tenant_factory",
    "rego_test_results",
]

BASE_URL = "http://lumen.test"


class LumenTenant(msgspec.Struct, frozen=True, kw_only=True):
    """A tenant made for one test, with one API key (admin unless the test asked for other scopes)."""

    id: uuid.UUID
    slug: str
    key: str
    key_id: uuid.UUID
    scopes: tuple[str, ...] = ("admin",)

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.key}"}


TenantFactory = Callable[..., Awaitable[LumenTenant]]


def pytest_configure(config: pytest.Config) -> None:
    # Session fixtures hold pooled connections bound to one event loop; tests on another loop fail with
    # errors far from the cause, so say what is missing up front.
    try:
        loop_scope = config.getini("asyncio_default_test_loop_scope")
    except ValueError:  # pytest-asyncio not active
        return
    if loop_scope != "session":
        config.issue_config_time_warning(
            pytest.PytestConfigWarning(
                'lumen.plugins.sdk.testing: set asyncio_default_test_loop_scope = "session" (and '
                "asyncio_default_fixture_loop_scope) so tests share the event loop of lumen_client"
            ),
            stacklevel=2,
        )


# --- fixtures ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def lumen_settings() -> Iterator[Settings]:
    """Real embedded PostgreSQL and Redis for the whole session, with a platform key made for it. Nothing
    is read from the environment, so a developer's LUMEN_DATABASE_URL can never be the test database."""
    data_dir = tempfile.mkdtemp(prefix="lumen-")  # short: unix socket paths are limited to ~100 bytes
    base = load_settings(
        {
            "LUMEN_DATA_DIR": data_dir,
            "LUMEN_LOG_LEVEL": "warning",
            "LUMEN_PLATFORM_KEY": "lm_platform_test_" + secrets.token_hex(16),
            "LUMEN_ENVIRONMENT": "test",
        }
    )
    configure_logging(base.log)
    services = EmbeddedServices(base)
    resolved = services.start()
    try:
        yield resolved
    finally:
        services.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def lumen_plugins() -> list[object]:
    """Plugin objects (modules or instances with hookimpls) to load besides the installed entry points.
    Override it (session scope) to load a plugin that is not installed, or a test double of another."""
    return []


@pytest.fixture(scope="session")
def lumen_app(lumen_settings: Settings, lumen_plugins: Sequence[object]) -> Litestar:
    return create_app(lumen_settings, plugins=lumen_plugins)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def lumen_client(lumen_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app (no socket), inside the app's lifespan: plugin `startup` hooks have run."""
    async with _lifespan(lumen_app):
        # httpx types an ASGI app more narrowly than Litestar types its __call__; they are compatible.
        transport = httpx.ASGITransport(app=lumen_app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield client


@pytest_asyncio.fixture(loop_scope="session")
async def lumen_tenant(lumen_client: httpx.AsyncClient, lumen_settings: Settings) -> LumenTenant:
    """A new tenant with an admin key, made through the public API with the platform key."""
    return await create_tenant(lumen_client, _platform_key(lumen_settings))


@pytest_asyncio.fixture(loop_scope="session")
async def lumen_tenant_factory(lumen_client: httpx.AsyncClient, lumen_settings: Settings) -> TenantFactory:
    """`await lumen_tenant_factory(scopes=["units:read"])`: another tenant, with a key of those scopes."""
    platform_key = _platform_key(lumen_settings)

    async def make(*, scopes: Sequence[str] = ("admin",), mode: str = "live") -> LumenTenant:
        return await create_tenant(lumen_client, platform_key, scopes=scopes, mode=mode)

    return make


# --- helpers -----------------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _lifespan(app: Litestar) -> AsyncIterator[None]:
    """The app's lifespan (on_startup, then on_shutdown) in a task of its own: Litestar enters an anyio task
    group there, which must be left by the task that entered it, and a fixture's setup and teardown run in
    different tasks."""
    started = asyncio.Event()
    stop = asyncio.Event()

    async def run() -> None:
        async with app.lifespan():
            started.set()
            await stop.wait()

    task = asyncio.create_task(run(), name="lumen-lifespan")
    waiting = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if task.done():  # start-up failed (a plugin's `startup` hook raised): say so here
        waiting.cancel()
        task.result()
        raise RuntimeError("the app's lifespan ended during start-up")
    try:
        yield
    finally:
        stop.set()
        await task


def _platform_key(settings: Settings) -> str:
    if not settings.platform_key:
        raise RuntimeError("lumen_settings has no platform key; tenants cannot be created")
    return settings.platform_key


def _expect(response: httpx.Response, status: int, doing: str) -> Any:
    if response.status_code != status:
        raise AssertionError(f"{doing}: expected {status}, got {response.status_code}: {response.text}")
    return response.json()


async def create_tenant(
    client: httpx.AsyncClient,
    platform_key: str,
    *,
    scopes: Sequence[str] = ("admin",),
    mode: str = "live",
) -> LumenTenant:
    """Create a tenant and its first key (POST /v1/tenants, POST /v1/tenants/{id}/keys)."""
    platform = {"authorization": f"Bearer {platform_key}"}
    slug = "t-" + secrets.token_hex(5)
    tenant = _expect(
        await client.post("/v1/tenants", json={"slug": slug, "name": slug.upper()}, headers=platform),
        201,
        "creating a tenant",
    )
    key = _expect(
        await client.post(
            f"/v1/tenants/{tenant['id']}/keys",
            json={"name": "test", "scopes": list(scopes), "mode": mode},
            headers=platform,
        ),
        201,
        "creating the tenant's first key",
    )
    return LumenTenant(
        id=uuid.UUID(tenant["id"]),
        slug=slug,
        key=key["key"],
        key_id=uuid.UUID(key["id"]),
        scopes=tuple(scopes),
    )


async def create_key(
    client: httpx.AsyncClient, tenant: LumenTenant, *, scopes: Sequence[str], mode: str = "live"
) -> LumenTenant:
    """Another key of the same tenant (POST /v1/keys with the tenant's admin key), as a LumenTenant."""
    key = _expect(
        await client.post(
            "/v1/keys",
            json={"name": "test", "scopes": list(scopes), "mode": mode},
            headers=tenant.headers,
        ),
        201,
        "creating a key",
    )
    return msgspec.structs.replace(tenant, key=key["key"], key_id=uuid.UUID(key["id"]), scopes=tuple(scopes))


async def enable_plugin(
    client: httpx.AsyncClient,
    tenant: LumenTenant,
    name: str,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Turn plugin `name` on for the tenant (PUT /v1/plugins/{name}), with settings if given; returns the
    plugin's view as GET /v1/plugins/{name} shows it. Raises AssertionError on anything but 200."""
    body: dict[str, Any] = {"enabled": True}
    if settings is not None:
        body["settings"] = settings
    result: dict[str, Any] = _expect(
        await client.put(f"/v1/plugins/{name}", json=body, headers=tenant.headers),
        200,
        f"enabling plugin {name!r}",
    )
    return result


def assert_problem(response: httpx.Response, status: int, slug: str | None = None) -> dict[str, Any]:
    """The response is RFC 9457 problem+json with this status (and `type` /problems/<slug>)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["status"] == status, body
    assert str(body["type"]).startswith("/problems/"), body
    if slug is not None:
        assert body["type"] == f"/problems/{slug}", body
    return body


def rego_test_results(app: Litestar, plugin: str) -> list[RegoTestResult]:
    """Run the plugin's `*_test.rego` unit tests against the app's whole policy (core + every plugin), as
    `opa test` would with the bundle; one result per test rule."""
    prefix = f"{plugin}/"
    return [
        result
        for result in run_rego_tests(app.state.policy_set)
        if result.module.startswith(prefix) or result.name == "(load)"  # a set that does not load fails all
    ]
