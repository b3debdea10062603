"""register_hookspecs: one plugin declares a hook, others implement it (plugins/sdk/hookspecs.py). The other
hooks are exercised by the host's and the request path's tests (tests/core/plugins/)."""

from __future__ import annotations

from collections.abc import Sequence

import pluggy
import pytest

from lumen.core.plugins.host import PluginError, PluginHost
from lumen.plugins.sdk import PluginInfo, hookimpl
from lumen.plugins.sdk.hookspecs import hookspec


class FormularySpecs:
    """The hooks the `formulary` plugin lets others implement."""

    @hookspec
    def formulary_additions(self, region: str) -> Sequence[str]:  # type: ignore[empty-body]
        """Drug names another plugin adds to the formulary of `region`."""


class Formulary:
    @hookimpl
    def lumen_plugin_info(self) -> PluginInfo:
        return PluginInfo(name="formulary", version="1.0.0")

    @hookimpl
    def register_hookspecs(self) -> Sequence[object]:
        return [FormularySpecs]


class Supplier:
    @hookimpl
    def lumen_plugin_info(self) -> PluginInfo:
        return PluginInfo(name="supplier", version="1.0.0")

    @hookimpl
    def formulary_additions(self, region: str) -> Sequence[str]:
        return ["amoxicillin"] if region == "eu" else []


class MisfitSupplier:
    @hookimpl
    def lumen_plugin_info(self) -> PluginInfo:
        return PluginInfo(name="misfit", version="1.0.0")

    @hookimpl
    def formulary_additions(self, region: str, country: str) -> Sequence[str]:
        return [country]


@pytest.mark.parametrize("order", ["declarer first", "implementer first"])
def test_a_plugin_can_declare_hooks_that_others_implement(order: str) -> None:
    plugins = [Formulary(), Supplier()]
    host = PluginHost(extra=plugins if order == "declarer first" else plugins[::-1])
    assert host.pm.hook.formulary_additions(region="eu") == [["amoxicillin"]]
    assert host.pm.hook.formulary_additions(region="us") == [[]]
    assert "register_hookspecs" in host.implemented_hooks(host.plugins["formulary"])
    assert "formulary_additions" in host.implemented_hooks(host.plugins["supplier"])


def test_an_implementation_that_does_not_fit_the_declared_hook_fails_start_up() -> None:
    with pytest.raises((PluginError, pluggy.PluginValidationError)) as caught:
        PluginHost(extra=[Formulary(), MisfitSupplier()])
    assert "misfit" in str(caught.value)
    assert "country" in str(caught.value)
