"""Loading plugins (core/plugins/host.py and the checks in create_app): what a plugin may claim, and the error
start-up fails with when it claims something it may not. Every error names the plugin; a clash names both.

The plugins here are plain objects with @hookimpl methods, registered directly (`extra=`), except for the
allow-list tests: LUMEN_PLUGINS filters *installed* entry points only, never plugins handed to the host in
code, so those tests put fake entry points in front of the host.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Mapping, Sequence
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import msgspec
import pytest
from litestar import get

from lumen.core.app import create_app
from lumen.core.plugins import host as host_module
from lumen.core.plugins.host import ENTRY_POINT_GROUP, PluginError, PluginHost
from lumen.core.settings import Settings, load_settings
from lumen.plugins.sdk import (
    ActionSpec,
    JobSpec,
    KnowledgeSource,
    PluginInfo,
    PolicySource,
    WebhookEventType,
    hookimpl,
)

OFFLINE = {"LUMEN_DATABASE_URL": "postgresql://nobody@/none", "LUMEN_REDIS_URL": "redis://x"}


def offline_settings(**env: str) -> Settings:
    """Building the app touches no server; these settings are enough for start-up checks."""
    return load_settings({**OFFLINE, **env})


def route(path: str, action: str | None) -> Any:
    """A fresh route handler (Litestar binds a handler to the router it is registered on)."""

    @get(path, operation_id="probe" + path.replace("/", "_"), opt={"action": action} if action else {})
    async def handler() -> dict[str, str]:
        return {}

    return handler


async def _job() -> None:
    return None


def deny_module(package: str) -> str:
    return f'package {package}\n\nimport rego.v1\n\ndeny contains "no" if input.action == "never"\n'


class FakePlugin:
    """A plugin whose registrations are whatever the test gives it."""

    def __init__(
        self,
        name: str,
        *,
        actions: Mapping[str, ActionSpec] | None = None,
        scopes: Mapping[str, str] | None = None,
        routes: Sequence[Any] = (),
        jobs: Sequence[str] = (),
        events: Sequence[str] = (),
        policies: Mapping[str, str] | None = None,
        settings: type | None = None,
        knowledge: Sequence[KnowledgeSource] = (),
    ) -> None:
        self.__name__ = f"fake_{name}"
        self.name = name
        self.actions = dict(actions or {})
        self.scopes = dict(scopes or {})
        self.routes = list(routes)
        self.jobs = [JobSpec(name=j, function=_job) for j in jobs]
        self.events = [WebhookEventType(name=e, description=e) for e in events]
        self.policies = [PolicySource(name=n, source=s) for n, s in (policies or {}).items()]
        self.settings = settings
        self.knowledge = list(knowledge)

    @hookimpl
    def lumen_plugin_info(self) -> PluginInfo:
        return PluginInfo(name=self.name, version="0.0.1")

    @hookimpl
    def register_actions(self) -> Mapping[str, ActionSpec]:
        return self.actions

    @hookimpl
    def register_scopes(self) -> Mapping[str, str]:
        return self.scopes

    @hookimpl
    def register_routes(self) -> Sequence[Any]:
        return self.routes

    @hookimpl
    def register_jobs(self) -> Sequence[JobSpec]:
        return self.jobs

    @hookimpl
    def register_webhook_events(self) -> Sequence[WebhookEventType]:
        return self.events

    @hookimpl
    def register_policies(self) -> Sequence[PolicySource]:
        return self.policies

    @hookimpl
    def register_settings(self) -> type | None:
        return self.settings

    @hookimpl
    def register_knowledge(self) -> Sequence[KnowledgeSource]:
        return self.knowledge


def read(plugin: str) -> dict[str, ActionSpec]:
    return {f"{plugin}.read": ActionSpec(scopes=(f"{plugin}:read",), access="read")}


def with_route(name: str, prefix: str | None = None) -> FakePlugin:
    return FakePlugin(
        name, actions=read(name), routes=[route(f"/v1/{prefix or name}/things", f"{name}.read")]
    )


def assert_names_both(exc: pytest.ExceptionInfo[PluginError], one: str, other: str) -> None:
    assert f"{one!r}" in str(exc.value), exc.value
    assert f"{other!r}" in str(exc.value), exc.value


# --- what a well-formed plugin gets -------------------------------------------------------------------------


def test_registrations_are_collected_per_plugin() -> None:
    class Settings_(msgspec.Struct, forbid_unknown_fields=True):
        depth: int = 3

    source = KnowledgeSource(name="k", version="1", description="d", provenance="p", reviewed="2026-12-01")
    plugin = FakePlugin(
        "alpha",
        actions=read("alpha"),
        scopes={"alpha:read": "Read alpha."},
        routes=[route("/v1/alpha/things", "alpha.read")],
        jobs=["alpha.reindex"],
        events=["alpha.thing.created"],
        policies={"authz.rego": deny_module("lumen.ext.alpha")},
        settings=Settings_,
        knowledge=[source],
    )
    loaded = PluginHost(extra=[plugin]).plugins["alpha"]
    assert set(loaded.actions) == {"alpha.read"}
    assert loaded.actions["alpha.read"].plugin == "alpha"  # the host stamps the owner
    assert loaded.scopes == {"alpha:read": "Read alpha."}
    assert loaded.route_paths == ["/v1/alpha/things"]
    assert set(loaded.jobs) == {"alpha.reindex"}
    assert set(loaded.events) == {"alpha.thing.created"}
    assert [p.name for p in loaded.policies] == ["authz.rego"]
    assert loaded.settings_type is Settings_
    assert loaded.knowledge == [source]


def test_a_plugin_cannot_make_its_action_a_platform_one() -> None:
    sneaky = FakePlugin(
        "alpha", actions={"alpha.op": ActionSpec(platform=True, operator=True, plugin="beta")}
    )
    spec = PluginHost(extra=[sneaky]).plugins["alpha"].actions["alpha.op"]
    assert (spec.platform, spec.operator, spec.plugin) == (False, False, "alpha")


# --- duplicates across two plugins name both ----------------------------------------------------------------


def test_duplicate_route_prefix_names_both_plugins() -> None:
    with pytest.raises(PluginError, match=r"route prefix") as exc:
        PluginHost(extra=[with_route("alpha", "shared"), with_route("beta", "shared")])
    assert_names_both(exc, "alpha", "beta")


def test_action_in_another_plugins_namespace_is_refused() -> None:
    # Actions carry their plugin's name, so beta claiming alpha's action fails on the name, naming both.
    with pytest.raises(PluginError, match=r"'beta'") as exc:
        PluginHost(
            extra=[FakePlugin("alpha", actions=read("alpha")), FakePlugin("beta", actions=read("alpha"))]
        )
    assert "alpha.read" in str(exc.value)


def test_duplicate_scope_names_both_plugins() -> None:
    one = FakePlugin("alpha", scopes={"shared:read": "Shared."})
    two = FakePlugin("beta", scopes={"shared:read": "Shared."})
    with pytest.raises(PluginError, match=r"scope 'shared:read'") as exc:
        PluginHost(extra=[one, two])
    assert_names_both(exc, "alpha", "beta")


def test_scope_of_lumens_own_is_refused() -> None:
    with pytest.raises(PluginError, match=r"'alpha'.*'keys:read'"):
        create_app(offline_settings(), plugins=[FakePlugin("alpha", scopes={"keys:read": "Mine now."})])


def test_duplicate_job_names_both_plugins() -> None:
    # A job must carry its plugin's prefix, so the same job name from two plugins fails on the prefix...
    with pytest.raises(PluginError, match=r"'beta'.*alpha.reindex"):
        PluginHost(
            extra=[FakePlugin("alpha", jobs=["alpha.reindex"]), FakePlugin("beta", jobs=["alpha.reindex"])]
        )
    # ...and twice from one plugin, on the clash.
    with pytest.raises(PluginError, match=r"job 'alpha.reindex' is registered by both 'alpha' and 'alpha'"):
        PluginHost(extra=[FakePlugin("alpha", jobs=["alpha.reindex", "alpha.reindex"])])


def test_duplicate_webhook_event_type_names_both_plugins() -> None:
    with pytest.raises(PluginError, match=r"'beta'.*alpha.thing.created"):
        PluginHost(
            extra=[
                FakePlugin("alpha", events=["alpha.thing.created"]),
                FakePlugin("beta", events=["alpha.thing.created"]),
            ]
        )
    with pytest.raises(PluginError, match=r"webhook event type 'alpha.x.y' is registered by both"):
        PluginHost(extra=[FakePlugin("alpha", events=["alpha.x.y", "alpha.x.y"])])


def test_policy_module_in_another_plugins_package_names_both() -> None:
    """Rego merges every module of one package, so a module in another plugin's package is the real
    duplicate; each plugin's modules are held to `lumen.ext.<plugin>`."""
    one = FakePlugin("alpha", policies={"authz.rego": deny_module("lumen.ext.alpha")})
    two = FakePlugin("beta", policies={"authz.rego": deny_module("lumen.ext.alpha")})
    with pytest.raises(PluginError) as exc:
        create_app(offline_settings(), plugins=[one, two])
    assert "'beta'" in str(exc.value)
    assert "lumen.ext.alpha" in str(exc.value)
    assert "lumen.ext.beta" in str(exc.value)


def test_same_policy_file_name_in_two_plugins_is_fine() -> None:
    one = FakePlugin("alpha", policies={"authz.rego": deny_module("lumen.ext.alpha")})
    two = FakePlugin("beta", policies={"authz.rego": deny_module("lumen.ext.beta")})
    app = create_app(offline_settings(), plugins=[one, two])
    names = {m.name for m in app.state.policy_set.modules}
    assert {"alpha/authz.rego", "beta/authz.rego"} <= names


def test_duplicate_policy_module_in_one_plugin_is_refused() -> None:
    class Twice(FakePlugin):
        @hookimpl
        def register_policies(self) -> Sequence[PolicySource]:
            return [*self.policies, *self.policies]

    with pytest.raises(PluginError, match=r"policy module 'alpha/authz.rego'"):
        PluginHost(extra=[Twice("alpha", policies={"authz.rego": deny_module("lumen.ext.alpha")})])


def test_policy_module_cannot_join_the_core_package() -> None:
    grants = "package lumen.authz\n\nimport rego.v1\n\nhas_scope if true\n"
    with pytest.raises(PluginError, match=r"'alpha'.*lumen.authz"):
        create_app(offline_settings(), plugins=[FakePlugin("alpha", policies={"authz.rego": grants})])


def test_policy_module_that_does_not_parse_names_the_plugin() -> None:
    with pytest.raises(PluginError, match=r"'alpha/authz.rego' from 'alpha'"):
        create_app(offline_settings(), plugins=[FakePlugin("alpha", policies={"authz.rego": "package ("})])


def test_two_plugins_with_one_name_are_refused() -> None:
    with pytest.raises(PluginError, match=r"two plugins are named 'alpha'"):
        PluginHost(extra=[FakePlugin("alpha"), FakePlugin("alpha")])


# --- routes -------------------------------------------------------------------------------------------------


def test_route_without_action_names_the_plugin() -> None:
    plugin = FakePlugin("alpha", actions=read("alpha"), routes=[route("/v1/alpha/open", None)])
    with pytest.raises(PluginError, match=r"plugin 'alpha'.*/v1/alpha/open.*None"):
        PluginHost(extra=[plugin])


def test_route_with_unregistered_action_names_the_plugin() -> None:
    plugin = FakePlugin("alpha", actions=read("alpha"), routes=[route("/v1/alpha/x", "alpha.write")])
    with pytest.raises(PluginError, match=r"plugin 'alpha'.*'alpha.write'"):
        PluginHost(extra=[plugin])


def test_route_cannot_borrow_another_plugins_action() -> None:
    beta = FakePlugin("beta", actions=read("beta"), routes=[route("/v1/beta/x", "alpha.read")])
    with pytest.raises(PluginError, match=r"plugin 'beta'.*'alpha.read'"):
        PluginHost(extra=[with_route("alpha"), beta])


def test_route_cannot_name_a_kernel_action() -> None:
    plugin = FakePlugin("alpha", actions=read("alpha"), routes=[route("/v1/alpha/x", "keys.create")])
    with pytest.raises(PluginError, match=r"plugin 'alpha'.*'keys.create'"):
        PluginHost(extra=[plugin])


@pytest.mark.parametrize("prefix", ["keys", "tenants", "audit", "plugins", "policy"])
def test_core_route_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(PluginError, match=rf"plugin 'alpha'.*/v1/{prefix} belongs to Lumen's core"):
        PluginHost(extra=[with_route("alpha", prefix)])


@pytest.mark.parametrize("path", ["/alpha/things", "/v2/alpha/things", "/healthz"])
def test_route_outside_v1_is_refused(path: str) -> None:
    plugin = FakePlugin("alpha", actions=read("alpha"), routes=[route(path, "alpha.read")])
    with pytest.raises(PluginError, match=r"plugin 'alpha'.*must live under /v1/<prefix>"):
        PluginHost(extra=[plugin])


# --- names --------------------------------------------------------------------------------------------------


def test_action_must_carry_the_plugin_name() -> None:
    with pytest.raises(PluginError, match=r"plugin 'alpha': action 'read' must be named alpha.<verb>"):
        PluginHost(extra=[FakePlugin("alpha", actions={"read": ActionSpec()})])
    with pytest.raises(PluginError, match=r"plugin 'alpha'.*'alphabet.read'"):
        PluginHost(extra=[FakePlugin("alpha", actions={"alphabet.read": ActionSpec()})])


@pytest.mark.parametrize("name", ["keys", "tenants", "audit", "plugins", "policy"])
def test_plugin_named_like_a_core_area_is_refused(name: str) -> None:
    with pytest.raises(PluginError, match=rf"'{name}' is one of Lumen's own"):
        PluginHost(extra=[FakePlugin(name)])


@pytest.mark.parametrize("name", ["Alpha", "a", "1alpha", "al-pha", "x" * 41])
def test_badly_formed_plugin_name_is_refused(name: str) -> None:
    with pytest.raises(PluginError, match=r"PluginInfo with a name"):
        PluginHost(extra=[FakePlugin(name)])


def test_object_without_plugin_info_is_refused() -> None:
    with pytest.raises(PluginError, match=r"does not implement lumen_plugin_info"):
        PluginHost(extra=[types.SimpleNamespace(__name__="stray")])


def test_job_and_event_must_carry_the_plugin_name() -> None:
    with pytest.raises(PluginError, match=r"plugin 'alpha': job 'reindex'"):
        PluginHost(extra=[FakePlugin("alpha", jobs=["reindex"])])
    with pytest.raises(PluginError, match=r"plugin 'alpha': event type 'thing.created'"):
        PluginHost(extra=[FakePlugin("alpha", events=["thing.created"])])


# --- settings -----------------------------------------------------------------------------------------------


def test_settings_struct_without_defaults_is_refused() -> None:
    class NoDefault(msgspec.Struct):
        depth: int

    with pytest.raises(PluginError, match=r"plugin 'alpha': every settings field needs a default"):
        PluginHost(extra=[FakePlugin("alpha", settings=NoDefault)])


def test_settings_that_are_not_a_struct_are_refused() -> None:
    with pytest.raises(PluginError, match=r"plugin 'alpha': register_settings"):
        PluginHost(extra=[FakePlugin("alpha", settings=dict)])


# --- the operator's allow-list (LUMEN_PLUGINS) --------------------------------------------------------------


@pytest.fixture
def fake_entry_points(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Two installed plugins, `gamma` and `delta`, as entry points over importable modules."""
    names = ["gamma", "delta"]
    points = []
    for name in names:
        module = types.ModuleType(f"lumen_test_fake_{name}")
        plugin = with_route(name)
        for hook in ("lumen_plugin_info", "register_actions", "register_routes"):
            setattr(module, hook, getattr(plugin, hook))
        monkeypatch.setitem(sys.modules, module.__name__, module)
        points.append(EntryPoint(name=name, value=module.__name__, group=ENTRY_POINT_GROUP))

    def fake(*, group: str) -> list[EntryPoint]:
        return points if group == ENTRY_POINT_GROUP else []

    monkeypatch.setattr(host_module, "entry_points", fake)
    return names


def test_every_installed_plugin_loads_without_an_allow_list(fake_entry_points: list[str]) -> None:
    assert set(PluginHost().plugins) == {"gamma", "delta"}


def test_allow_list_loads_only_the_named_entry_points(fake_entry_points: list[str]) -> None:
    assert set(PluginHost(allow=["delta"]).plugins) == {"delta"}
    assert set(PluginHost(allow=["not_installed"]).plugins) == set()


def test_allow_list_does_not_filter_plugins_given_in_code(fake_entry_points: list[str]) -> None:
    assert set(PluginHost(allow=["delta"], extra=[FakePlugin("alpha")]).plugins) == {"delta", "alpha"}


def test_allow_list_comes_from_lumen_plugins(fake_entry_points: list[str]) -> None:
    app = create_app(offline_settings(LUMEN_PLUGINS="gamma"))
    assert set(app.state.plugins.plugins) == {"gamma"}
    paths = {r.path for r in app.routes}
    assert "/v1/gamma/things" in paths
    assert "/v1/delta/things" not in paths
    assert "delta.read" not in app.state.actions


def test_entry_point_name_must_be_the_plugin_name(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("lumen_test_fake_misnamed")
    module.lumen_plugin_info = FakePlugin("epsilon").lumen_plugin_info  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, module.__name__, module)
    point = EntryPoint(name="zeta", value=module.__name__, group=ENTRY_POINT_GROUP)
    monkeypatch.setattr(host_module, "entry_points", lambda *, group: [point])
    with pytest.raises(PluginError, match=r"'epsilon' is registered under the entry point 'zeta'"):
        PluginHost()


def test_allow_list_over_the_real_installed_plugins() -> None:
    installed = sorted(e.name for e in entry_points(group=ENTRY_POINT_GROUP))
    for name in installed:
        assert set(PluginHost(allow=[name]).plugins) == {name}
    assert set(PluginHost().plugins) == set(installed)
