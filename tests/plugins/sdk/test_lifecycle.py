"""register_hookspecs: one plugin declares a hook, others implement it (plugins/sdk/hookspecs.py). The other
hooks are exercised by the host's and the request path's tests (tests/core/plugins/)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pluggy
import pytest

from lumen.core.auth.principal import Principal
from lumen.core.http.errors import LumenProblem
from lumen.core.plugins.host import PluginError, PluginHost
from lumen.plugins.sdk import CorpusDocument, PluginContext, PluginInfo, hookimpl
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


# --- register_services: one plugin's callable, reached by another through its context ---------------------


class Checker:
    @hookimpl
    def lumen_plugin_info(self) -> PluginInfo:
        return PluginInfo(name="checker", version="1.0.0")

    @hookimpl
    def register_services(self) -> Mapping[str, Any]:
        return {"checker.count": lambda ctx, items: {"tenant": str(ctx.tenant_id), "count": len(items)}}


class Impostor:
    @hookimpl
    def lumen_plugin_info(self) -> PluginInfo:
        return PluginInfo(name="impostor", version="1.0.0")

    @hookimpl
    def register_services(self) -> Mapping[str, Any]:
        return {"checker.count": len}


def _context(host: PluginHost) -> PluginContext:
    principal = Principal(tenant_id=uuid.uuid4(), key_id=uuid.uuid4(), scopes=frozenset(), mode="live")
    return PluginContext(
        plugin="other",
        principal=principal,
        settings=None,
        session=None,  # type: ignore[arg-type]
        audit=None,
        services=host.services,
        hooks=host.pm.hook,
    )


def test_a_service_is_reached_by_name_with_the_callers_context() -> None:
    host = PluginHost(allow=["none"], extra=[Checker()])
    ctx = _context(host)
    assert ctx.service("checker.count")(ctx, [1, 2, 3]) == {"tenant": str(ctx.tenant_id), "count": 3}
    assert "register_services" in host.implemented_hooks(host.plugins["checker"])


def test_a_missing_service_is_a_503_naming_it() -> None:
    ctx = _context(PluginHost(allow=["none"]))
    with pytest.raises(LumenProblem) as raised:
        ctx.service("interactions.check")
    assert raised.value.status_code == 503
    assert "interactions.check" in str(raised.value.detail)


def test_a_service_registered_twice_fails_start_up_naming_both() -> None:
    with pytest.raises(PluginError, match=r"checker.*impostor|impostor.*checker"):
        PluginHost(allow=["none"], extra=[Checker(), Impostor()])


def test_a_service_must_carry_its_plugins_name() -> None:
    class Stray:
        @hookimpl
        def lumen_plugin_info(self) -> PluginInfo:
            return PluginInfo(name="stray", version="1.0.0")

        @hookimpl
        def register_services(self) -> Mapping[str, Any]:
            return {"interactions.check": len}

    with pytest.raises(PluginError, match=r"stray\.<service>"):
        PluginHost(allow=["none"], extra=[Stray()])


def test_the_model_services_are_a_503_until_the_pool_is_wired() -> None:
    ctx = _context(PluginHost(allow=["none"]))
    with pytest.raises(LumenProblem) as raised:
        asyncio.run(ctx.embed(["x"]))
    assert raised.value.status_code == 503


# --- register_corpora: documents of a shared corpus, collected for retrieval --------------------------------


class Library:
    def __init__(self, name: str, source_id: str) -> None:
        self.name, self.source_id = name, source_id

    @hookimpl
    def lumen_plugin_info(self) -> PluginInfo:
        return PluginInfo(name=self.name, version="1.0.0")

    @hookimpl
    def register_corpora(self) -> Sequence[CorpusDocument]:
        return [CorpusDocument(corpus="regulatory", source_id=self.source_id, title="Deviations", text="...")]


def test_corpus_documents_are_collected_from_every_plugin() -> None:
    host = PluginHost(allow=["none"], extra=[Library("lib_a", "us-211.100"), Library("lib_b", "eu-ch8")])
    assert sorted(d.source_id for d in host.corpora) == ["eu-ch8", "us-211.100"]


def test_a_corpus_document_registered_twice_fails_start_up() -> None:
    with pytest.raises(PluginError, match=r"regulatory/us-211\.100"):
        PluginHost(allow=["none"], extra=[Library("lib_a", "us-211.100"), Library("lib_b", "us-211.100")])
