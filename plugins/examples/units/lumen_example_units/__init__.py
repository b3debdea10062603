"""Example Lumen partner plugin: clinical laboratory unit conversion (conventional <-> SI).

Hookimpls only; it imports nothing of Lumen but `lumen.plugins.sdk`, as every partner plugin must. It is off
for every tenant until the tenant enables it (PUT /v1/plugins/units {"enabled": true}).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from lumen.plugins.sdk import (
    ActionSpec,
    KnowledgeSource,
    PluginInfo,
    PolicySource,
    hookimpl,
)
from lumen_example_units.controllers import UnitsController
from lumen_example_units.schemas import UnitsSettings
from lumen_example_units.service import conversion_table

__version__ = "1.0.0"

SCOPE = "units:read"


@hookimpl
def lumen_plugin_info() -> PluginInfo:
    return PluginInfo(
        name="units",
        version=__version__,
        description="Converts clinical laboratory values between conventional and SI units.",
        default_enabled=False,
    )


@hookimpl
def register_routes() -> Sequence[Any]:
    return [UnitsController]


@hookimpl
def register_actions() -> Mapping[str, ActionSpec]:
    return {
        "units.convert": ActionSpec(
            description="Convert a laboratory value between units.", scopes=(SCOPE,), access="read"
        ),
        "units.read": ActionSpec(
            description="List the analytes and units the plugin converts.", scopes=(SCOPE,), access="read"
        ),
    }


@hookimpl
def register_scopes() -> Mapping[str, str]:
    return {SCOPE: "Convert laboratory values and list the supported analytes."}


@hookimpl
def register_policies() -> Sequence[PolicySource]:
    folder = resources.files(__name__) / "policies"
    return [
        PolicySource(name=name, source=(folder / name).read_text(encoding="utf-8"))
        for name in ("units.rego", "units_test.rego")
    ]


@hookimpl
def register_knowledge() -> Sequence[KnowledgeSource]:
    # Loading the table here (once per process, when the app is built) also checks it: a broken file fails
    # start-up, never a request.
    return [conversion_table().knowledge_source()]


@hookimpl
def register_settings() -> type[UnitsSettings]:
    return UnitsSettings
