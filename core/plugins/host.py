"""The plugin host: one pluggy PluginManager per app, plugins loaded through the `lumen.plugins` entry
points (built-in plugins too), their registrations collected and checked at start-up.

Start-up fails, naming both plugins, when two claim the same route prefix, action, scope, job, webhook event
type or policy module; and naming the plugin when a route names no action or an action it did not register,
or when the plugin takes the name of one of the kernel's own areas (`keys`, `audit`...), which would make its
actions look like the kernel's.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

import msgspec
import pluggy
import structlog
from litestar import Router
from litestar.routes import HTTPRoute

from lumen.core.auth.scopes import ScopeRegistry
from lumen.core.policy.actions import KERNEL_ACTIONS, ActionSpec
from lumen.core.policy.policy_set import DATA_ROOT, PolicySet, core_policy_set
from lumen.plugins.sdk import hookspecs
from lumen.plugins.sdk.jobs import parse_cron
from lumen.plugins.sdk.types import (
    CorpusDocument,
    JobSpec,
    KnowledgeSource,
    PatientErasedContext,
    PluginInfo,
    PolicySource,
    StartupContext,
    TenantEventContext,
    WebhookEventType,
)

__all__ = [
    "CORE_ROUTE_PREFIXES",
    "ENTRY_POINT_GROUP",
    "RESERVED_NAMES",
    "LoadedPlugin",
    "PluginError",
    "PluginHost",
]

log = structlog.get_logger()

ENTRY_POINT_GROUP = "lumen.plugins"
# The kernel's own prefixes; no plugin may take them.
CORE_ROUTE_PREFIXES = frozenset(
    {
        "/v1/tenants",
        "/v1/keys",
        "/v1/audit",
        "/v1/plugins",
        "/v1/policy",
        "/v1/webhooks",
        "/v1/jobs",
        "/v1/usage",
        "/v1/limits",
        "/v1/chat",
        "/v1/models",
        "/v1/adapters",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/documents",
        "/v1/search",
        "/v1/patients",
    }
)
_NAME = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
# A plugin's name prefixes its actions, jobs and events; the kernel's own areas are not available.
RESERVED_NAMES = frozenset(
    {prefix.split("/")[2] for prefix in CORE_ROUTE_PREFIXES}
    | {action.split(".")[0] for action in KERNEL_ACTIONS}
)


class PluginError(ValueError):
    """A plugin cannot be loaded as it is; the message names the plugin(s) and the problem."""


@dataclass
class LoadedPlugin:
    info: PluginInfo
    module: object
    hooks: list[str] = field(default_factory=list)
    routers: list[Router] = field(default_factory=list)
    route_paths: list[str] = field(default_factory=list)
    actions: dict[str, ActionSpec] = field(default_factory=dict)
    scopes: dict[str, str] = field(default_factory=dict)
    policies: list[PolicySource] = field(default_factory=list)
    jobs: dict[str, JobSpec] = field(default_factory=dict)
    events: dict[str, WebhookEventType] = field(default_factory=dict)
    knowledge: list[KnowledgeSource] = field(default_factory=list)
    services: dict[str, Any] = field(default_factory=dict)
    corpora: list[CorpusDocument] = field(default_factory=list)
    settings_type: type[msgspec.Struct] | None = None

    @property
    def name(self) -> str:
        return self.info.name


class PluginHost:
    def __init__(self, *, allow: Sequence[str] = (), extra: Iterable[object] = ()) -> None:
        """`allow`: the operator's allow-list (LUMEN_PLUGINS; empty means every installed plugin).
        `extra`: plugin objects registered directly (tests, embedding)."""
        self.pm = pluggy.PluginManager(hookspecs.PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.plugins: dict[str, LoadedPlugin] = {}
        self.tenant_deleted_listeners: list[Callable[[Any], Awaitable[None]]] = []
        candidates: list[tuple[str | None, object]] = []
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            if allow and entry.name not in allow:
                continue
            candidates.append((entry.name, entry.load()))
        candidates.extend((None, obj) for obj in extra)
        for entry_name, module in candidates:
            self._register(entry_name, module)
        try:
            for plugin in self.plugins.values():  # plugins may add hookspecs for one another first
                for specs in self._call(plugin, "register_hookspecs") or ():
                    self.pm.add_hookspecs(specs)
            # A hook implementation that matches no hookspec (a misspelt `register_route`) is an error,
            # not a silently ignored function.
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = self.pm.get_name(exc.plugin) or repr(exc.plugin)
            raise PluginError(f"plugin {name!r}: {exc}") from exc
        owners: dict[tuple[str, str], str] = {}
        for plugin in self.plugins.values():
            self._collect(plugin, owners)

    # --- loading --------------------------------------------------------------------------------------------

    def _register(self, entry_name: str | None, module: object) -> None:
        impl = getattr(module, "lumen_plugin_info", None)
        label = entry_name or getattr(module, "__name__", repr(module))
        if impl is None:
            raise PluginError(f"plugin {label!r} does not implement lumen_plugin_info()")
        info = impl()
        if not isinstance(info, PluginInfo) or not _NAME.match(info.name):
            raise PluginError(
                f"plugin {label!r}: lumen_plugin_info() must return a PluginInfo with a name "
                f"matching {_NAME.pattern}"
            )
        if info.name in RESERVED_NAMES:
            raise PluginError(f"plugin {label!r}: the name {info.name!r} is one of Lumen's own areas")
        if entry_name is not None and entry_name != info.name:
            raise PluginError(
                f"plugin {info.name!r} is registered under the entry point {entry_name!r}; "
                "the two names must be the same"
            )
        if info.name in self.plugins:
            raise PluginError(f"two plugins are named {info.name!r}")
        self.pm.register(module, name=info.name)
        self.plugins[info.name] = LoadedPlugin(info=info, module=module)

    def _call(self, plugin: LoadedPlugin, hook: str, **kwargs: Any) -> Any:
        caller = getattr(self.pm.hook, hook, None)
        if caller is None:
            return None
        for impl in caller.get_hookimpls():
            if impl.plugin is plugin.module:
                if hook not in plugin.hooks:
                    plugin.hooks.append(hook)
                return impl.function(**kwargs)
        return None

    def _claim(self, owners: dict[tuple[str, str], str], kind: str, name: str, plugin: LoadedPlugin) -> None:
        holder = owners.get((kind, name))
        if holder is not None:
            raise PluginError(f"{kind} {name!r} is registered by both {holder!r} and {plugin.name!r}")
        owners[(kind, name)] = plugin.name

    def _collect(self, plugin: LoadedPlugin, owners: dict[tuple[str, str], str]) -> None:
        name = plugin.name
        self._call(plugin, "lumen_plugin_info")
        for action, spec in (self._call(plugin, "register_actions") or {}).items():
            if not action.startswith(name + "."):
                raise PluginError(f"plugin {name!r}: action {action!r} must be named {name}.<verb>")
            self._claim(owners, "action", action, plugin)
            plugin.actions[action] = msgspec.structs.replace(
                spec, plugin=name, platform=False, operator=False
            )
        plugin.scopes = dict(self._call(plugin, "register_scopes") or {})
        for scope in plugin.scopes:
            self._claim(owners, "scope", scope, plugin)
        for source in self._call(plugin, "register_policies") or ():
            self._claim(owners, "policy module", f"{name}/{source.name}", plugin)
            plugin.policies.append(source)
        for job in self._call(plugin, "register_jobs") or ():
            if not job.name.startswith(name + "."):
                raise PluginError(f"plugin {name!r}: job {job.name!r} must be named {name}.<job>")
            self._claim(owners, "job", job.name, plugin)
            if job.cron is not None:
                try:
                    parse_cron(job.cron)
                except ValueError as exc:
                    raise PluginError(f"plugin {name!r}: job {job.name!r}: {exc}") from exc
            plugin.jobs[job.name] = job
        for event in self._call(plugin, "register_webhook_events") or ():
            if not event.name.startswith(name + "."):
                raise PluginError(f"plugin {name!r}: event type {event.name!r} must start with {name}.")
            self._claim(owners, "webhook event type", event.name, plugin)
            plugin.events[event.name] = event
        plugin.knowledge = list(self._call(plugin, "register_knowledge") or ())
        plugin.corpora = list(self._call(plugin, "register_corpora") or ())
        for document in plugin.corpora:
            self._claim(owners, "corpus document", f"{document.corpus}/{document.source_id}", plugin)
        for service, function in (self._call(plugin, "register_services") or {}).items():
            if not service.startswith(name + ".") or not callable(function):
                raise PluginError(
                    f"plugin {name!r}: service {service!r} must be a callable named {name}.<service>"
                )
            self._claim(owners, "service", service, plugin)
            plugin.services[service] = function
        settings_type = self._call(plugin, "register_settings")
        if settings_type is not None:
            if not (isinstance(settings_type, type) and issubclass(settings_type, msgspec.Struct)):
                raise PluginError(f"plugin {name!r}: register_settings() must return a msgspec.Struct type")
            try:
                settings_type()
            except TypeError as exc:
                raise PluginError(f"plugin {name!r}: every settings field needs a default ({exc})") from exc
            plugin.settings_type = settings_type
        routes = list(self._call(plugin, "register_routes") or ())
        if routes:
            router = Router(path="/", route_handlers=routes, opt={"plugin": name})
            for route in router.routes:
                self._check_route(plugin, route, owners)
            plugin.routers.append(router)

    def _check_route(self, plugin: LoadedPlugin, route: Any, owners: dict[tuple[str, str], str]) -> None:
        name = plugin.name
        parts = route.path.split("/")
        prefix = "/".join(parts[:3])
        if len(parts) < 3 or parts[1] != "v1" or not parts[2]:
            raise PluginError(f"plugin {name!r}: route {route.path} must live under /v1/<prefix>")
        if prefix in CORE_ROUTE_PREFIXES:
            raise PluginError(f"plugin {name!r}: route prefix {prefix} belongs to Lumen's core")
        holder = owners.get(("route prefix", prefix))
        if holder is not None and holder != name:
            raise PluginError(f"route prefix {prefix!r} is registered by both {holder!r} and {name!r}")
        owners[("route prefix", prefix)] = name
        plugin.route_paths.append(route.path)
        if not isinstance(route, HTTPRoute):
            return
        for handler in route.route_handlers:
            action = handler.opt.get("action")
            if handler.http_methods == {"OPTIONS"}:
                continue
            if action not in plugin.actions:
                raise PluginError(
                    f"plugin {name!r}: {sorted(handler.http_methods)} {route.path} names action "
                    f"{action!r}, which the plugin does not register"
                )

    # --- what the app needs -------------------------------------------------------------------------------

    def assemble(self) -> tuple[ScopeRegistry, dict[str, ActionSpec], PolicySet]:
        """The kernel's scopes, actions and policies plus every plugin's: what the app decides with (and
        what `lumen policy test` tests)."""
        scopes = ScopeRegistry()
        actions: dict[str, ActionSpec] = dict(KERNEL_ACTIONS)
        policy_set = core_policy_set()
        for plugin in self.plugins.values():
            for scope, description in plugin.scopes.items():
                if scope in scopes:
                    raise PluginError(f"plugin {plugin.name!r}: scope {scope!r} is one of Lumen's own")
                scopes.register(scope, description)
            for action, spec in plugin.actions.items():
                if action in actions:
                    raise PluginError(f"plugin {plugin.name!r}: action {action!r} is one of Lumen's own")
                actions[action] = spec
                policy_set.add_action(action, spec, origin=plugin.name)
            for source in plugin.policies:
                try:
                    policy_set.add_module(
                        f"{plugin.name}/{source.name}",
                        source.source,
                        origin=plugin.name,
                        package_root=f"{DATA_ROOT}.ext.{plugin.name}",
                    )
                except ValueError as exc:  # a parse error or a package outside the plugin's own
                    raise PluginError(str(exc)) from exc
        return scopes, actions, policy_set

    @property
    def routers(self) -> list[Router]:
        return [router for plugin in self.plugins.values() for router in plugin.routers]

    @property
    def corpora(self) -> list[CorpusDocument]:
        """Every plugin's platform-corpus documents, for retrieval to ingest."""
        return [document for plugin in self.plugins.values() for document in plugin.corpora]

    @property
    def services(self) -> dict[str, Any]:
        """Every plugin's services by name (`<plugin>.<service>`), for `PluginContext.service()`."""
        return {name: fn for plugin in self.plugins.values() for name, fn in plugin.services.items()}

    @property
    def defaults(self) -> Mapping[str, bool]:
        return {name: plugin.info.default_enabled for name, plugin in self.plugins.items()}

    def implemented_hooks(self, plugin: LoadedPlugin) -> list[str]:
        return sorted(
            name
            for name in dir(self.pm.hook)
            if not name.startswith("_")
            and any(impl.plugin is plugin.module for impl in getattr(self.pm.hook, name).get_hookimpls())
        )

    async def _each(self, hook: str, make: Any, *, contain: bool) -> None:
        for plugin in self.plugins.values():
            try:
                result = self._call(plugin, hook, context=make(plugin.name))
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                if not contain:
                    raise
                # After a commit the change stands; a plugin's follow-up failing is logged, not raised.
                log.error("plugins.hook_failed", plugin=plugin.name, hook=hook, error_type=type(exc).__name__)

    async def startup(self, settings: Any) -> None:
        await self._each(
            "startup", lambda name: StartupContext(plugin=name, settings=settings), contain=False
        )

    async def tenant_provisioned(self, tenant_id: Any) -> None:
        await self._each(
            "tenant_provisioned",
            lambda name: TenantEventContext(plugin=name, tenant_id=tenant_id),
            contain=True,
        )

    async def patient_erased(self, session: Any, tenant_id: Any, patient_id: Any) -> None:
        """Each plugin deletes what it keeps about the patient, in the erasing request's transaction; a
        failure fails the erasure (contain=False), so nothing is left half-erased."""
        from lumen.plugins.sdk.jobs import TenantTransaction

        def make(name: str) -> PatientErasedContext:
            plugin = self.plugins[name]
            tx = TenantTransaction(
                session, tenant_id, plugin=name, jobs=plugin.jobs.keys(), events=plugin.events.keys()
            )
            return PatientErasedContext(
                plugin=name, tenant_id=tenant_id, patient_id=patient_id, transaction=tx
            )

        await self._each("patient_erased", make, contain=False)

    async def tenant_deleted(self, tenant_id: Any) -> None:
        await self._each(
            "tenant_deleted", lambda name: TenantEventContext(plugin=name, tenant_id=tenant_id), contain=True
        )
        # Kernel parts that keep tenant data outside PostgreSQL (a Weaviate retrieval backend) erase it too.
        for listener in self.tenant_deleted_listeners:
            try:
                await listener(tenant_id)
            except Exception as exc:
                log.error("plugins.tenant_deleted_listener_failed", error_type=type(exc).__name__)
