"""The glossary as a plugin (plugins/glossary/__init__.py): a built-in, installed through Lumen's own
`lumen.plugins` entry point, on for every tenant by default, registering one read action and its scope."""

from __future__ import annotations

from importlib.metadata import entry_points

import pytest

import lumen.plugins.glossary as glossary_plugin
from lumen.core.plugins.host import ENTRY_POINT_GROUP, PluginHost
from lumen.plugins.glossary.schemas import GlossarySettings
from lumen.plugins.glossary.service import load_glossary
from lumen.plugins.sdk import StartupContext


def test_installed_through_lumens_own_entry_point() -> None:
    [entry] = [e for e in entry_points(group=ENTRY_POINT_GROUP) if e.name == "glossary"]
    assert entry.value == "lumen.plugins.glossary"
    assert entry.dist is not None and entry.dist.name == "lumen"


def test_registrations() -> None:
    plugin = PluginHost(allow=["glossary"]).plugins["glossary"]
    assert plugin.info.default_enabled is True
    assert set(plugin.actions) == {"glossary.read"}
    action = plugin.actions["glossary.read"]
    assert (action.scopes, action.access, action.plugin, action.phi) == (
        ("glossary:read",),
        "read",
        "glossary",
        False,
    )
    assert set(plugin.scopes) == {"glossary:read"}
    assert plugin.settings_type is GlossarySettings
    assert sorted(plugin.route_paths) == ["/v1/glossary/terms", "/v1/glossary/terms/{slug:str}"]
    [knowledge] = plugin.knowledge
    glossary = load_glossary()
    assert (knowledge.name, knowledge.version, knowledge.entries) == (
        "glossary",
        glossary.version,
        len(glossary.entries),
    )
    assert knowledge.reviewed == "2026-12-01"
    assert "MedlinePlus" in knowledge.provenance


def test_settings_default_to_plain_us_english() -> None:
    assert GlossarySettings() == GlossarySettings(reading_level="plain", locale="en-US")


def test_startup_validates_the_knowledge(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[None] = []
    monkeypatch.setattr(glossary_plugin, "load_glossary", lambda: calls.append(None))
    glossary_plugin.startup(StartupContext(plugin="glossary", settings=None))
    assert calls == [None]


def test_the_allow_list_can_leave_it_out() -> None:
    assert "glossary" not in PluginHost(allow=["not_this_one"]).plugins
