"""The regulatory plugin as a plugin (plugins/regulatory/__init__.py): installed through Lumen's own entry
point, on by default, its actions and scopes, its knowledge sources, and the platform-shared "regulatory"
corpus it ships through register_corpora."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

import lumen.plugins.regulatory as regulatory_plugin
from lumen.core.plugins.host import ENTRY_POINT_GROUP, PluginHost
from lumen.plugins.regulatory.schemas import RegulatorySettings
from lumen.plugins.regulatory.service import load_catalog
from lumen.plugins.sdk import StartupContext


def test_installed_through_lumens_own_entry_point() -> None:
    [entry] = [e for e in entry_points(group=ENTRY_POINT_GROUP) if e.name == "regulatory"]
    assert entry.value == "lumen.plugins.regulatory"


def test_registrations() -> None:
    plugin = PluginHost(allow=["regulatory"]).plugins["regulatory"]
    assert plugin.info.default_enabled is True
    assert set(plugin.actions) == {"regulatory.read", "regulatory.ask", "regulatory.analyse"}
    assert all(a.plugin == "regulatory" and not a.phi for a in plugin.actions.values())
    assert set(plugin.scopes) == {"regulatory:read", "regulatory:ask", "regulatory:analyse"}
    assert plugin.settings_type is RegulatorySettings
    assert sorted(plugin.route_paths) == [
        "/v1/regulatory/ask",
        "/v1/regulatory/gap-analyses",
        "/v1/regulatory/gap-analyses/{analysis_id:uuid}",
        "/v1/regulatory/gap-analysis",
        "/v1/regulatory/requirements",
        "/v1/regulatory/requirements/{requirement:str}",
    ]
    assert set(plugin.jobs) == {"regulatory.gap_analysis"}
    assert set(plugin.events) == {"regulatory.gap_analysis.completed"}
    names = {k.name: k for k in plugin.knowledge}
    assert names["regulatory-requirements"].entries == len(load_catalog().entries)
    assert names["regulatory-gap-elements"].entries >= 56


def test_the_catalog_is_shipped_as_the_shared_regulatory_corpus() -> None:
    plugin = PluginHost(allow=["regulatory"]).plugins["regulatory"]
    catalog = load_catalog()
    documents = plugin.corpora
    assert len(documents) == len(catalog.entries)
    assert {d.corpus for d in documents} == {"regulatory"}
    assert len({d.source_id for d in documents}) == len(documents)
    for document in documents:
        entry = catalog.entries[document.source_id]
        assert document.section_id == entry.section_id
        assert document.jurisdiction == entry.jurisdiction
        assert document.document_type == entry.document_type
        assert document.effective_date == entry.effective_date.isoformat()
        assert document.source_url == entry.source.url
        assert entry.summary in document.text  # a citation's quote is an exact span of the corpus text


def test_settings_defaults() -> None:
    assert RegulatorySettings() == RegulatorySettings(model_phrasing=True, min_coverage=0.4)


def test_startup_validates_the_knowledge(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(regulatory_plugin, "load_catalog", lambda: calls.append("catalog"))
    monkeypatch.setattr(regulatory_plugin, "load_gap_analyzer", lambda: calls.append("elements"))
    regulatory_plugin.startup(StartupContext(plugin="regulatory", settings=None))
    assert calls == ["catalog", "elements"]
