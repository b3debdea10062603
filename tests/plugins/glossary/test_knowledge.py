"""The glossary's curated knowledge (plugins/glossary/knowledge/terms.json): complete, sourced, reviewed,
informational; and a broken file stops start-up with a message that names the entry."""

from __future__ import annotations

import ast
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from lumen.plugins.glossary.service import Glossary, GlossaryKnowledgeError, load_glossary

PLUGIN = Path(__file__).parents[3] / "plugins" / "glossary"
KNOWLEDGE = PLUGIN / "knowledge" / "terms.json"
PUBLISHERS = {
    "MedlinePlus, U.S. National Library of Medicine",
    "National Cancer Institute",
    "NHS (National Health Service, England)",
}


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(KNOWLEDGE.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def glossary() -> Glossary:
    return load_glossary()


def test_the_packaged_file_loads(glossary: Glossary) -> None:
    assert glossary.name == "glossary"
    assert re.fullmatch(r"\d{4}\.\d{2}\.\d+", glossary.version)
    assert len(glossary.entries) >= 120


def test_every_entry_names_its_public_source(glossary: Glossary) -> None:
    for entry in glossary.entries.values():
        assert entry.source.url.startswith("https://"), entry.slug
        assert entry.source.publisher in PUBLISHERS, entry.slug
        assert entry.source.title, entry.slug
        assert entry.source.id, entry.slug


def test_every_entry_is_reviewed(glossary: Glossary) -> None:
    assert {entry.reviewed for entry in glossary.entries.values()} == {date(2026, 12, 1)}
    assert glossary.reviewed == date(2026, 12, 1)


def test_no_definition_diagnoses(glossary: Glossary) -> None:
    """ARCHITECTURE §6.5: informational, never "you have"."""
    for entry in glossary.entries.values():
        for text in (entry.plain, entry.detail):
            assert "you have" not in text.lower(), entry.slug
            assert "you've" not in text.lower(), entry.slug


def test_every_entry_has_both_reading_levels(glossary: Glossary) -> None:
    for entry in glossary.entries.values():
        assert entry.plain.strip() and entry.detail.strip(), entry.slug
        assert entry.plain != entry.detail, entry.slug


def test_see_also_points_at_other_entries(glossary: Glossary) -> None:
    for entry in glossary.entries.values():
        for other in entry.see_also:
            assert other in glossary.entries and other != entry.slug, (entry.slug, other)


def test_file_covers_the_main_kinds_of_term(glossary: Glossary) -> None:
    for slug in ("anemia", "asthma", "fever", "complete-blood-count", "statin", "kidneys", "benign"):
        assert slug in glossary.entries


def test_the_plugin_imports_only_the_sdk() -> None:
    """ARCHITECTURE §5: a built-in plugin imports `lumen.plugins.sdk`, exactly as a partner's would."""
    for path in PLUGIN.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                if name.startswith("lumen."):
                    assert name.startswith(("lumen.plugins.sdk", "lumen.plugins.glossary")), (path.name, name)


# --- a broken file fails, naming the entry ------------------------------------------------------------------


def _broken(raw: dict[str, Any], index: int, **changes: Any) -> bytes:
    doc = json.loads(json.dumps(raw))
    for key, value in changes.items():
        if value is None:
            del doc["entries"][index][key]
        else:
            doc["entries"][index][key] = value
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        pytest.param({"source": None}, "source", id="no-source"),
        pytest.param({"reviewed": None}, "reviewed", id="no-review-date"),
        pytest.param({"reviewed": "someday"}, "reviewed", id="bad-review-date"),
        pytest.param({"plain": "Short."}, "plain", id="too-short"),
        pytest.param(
            {"plain": "Anemia is common. If you have it, rest a lot and eat well."},
            "you have",
            id="diagnostic-wording",
        ),
        pytest.param({"see_also": ["no-such-term"]}, "no-such-term", id="dangling-see-also"),
        pytest.param({"colour": "red"}, "colour", id="unknown-field"),
        pytest.param({"slug": "Not A Slug"}, "slug", id="bad-slug"),
    ],
)
def test_broken_entry_is_named(raw: dict[str, Any], changes: dict[str, Any], says: str) -> None:
    index = next(i for i, e in enumerate(raw["entries"]) if e["slug"] == "anemia")
    with pytest.raises(GlossaryKnowledgeError) as exc:
        Glossary.from_json(_broken(raw, index, **changes), origin="terms.json")
    message = str(exc.value)
    assert f"entries[{index}]" in message, message
    assert says in message, message
    if changes.get("slug") is None:
        assert "'anemia'" in message, message


def test_broken_source_url_is_named(raw: dict[str, Any]) -> None:
    source = {**raw["entries"][0]["source"], "url": "http://insecure.example/page"}
    with pytest.raises(GlossaryKnowledgeError, match=r"entries\[0\].*url"):
        Glossary.from_json(_broken(raw, 0, source=source))


def test_duplicate_slug_is_named(raw: dict[str, Any]) -> None:
    doc = json.loads(json.dumps(raw))
    doc["entries"].append(doc["entries"][0])
    with pytest.raises(GlossaryKnowledgeError, match=r"slug '.+' is already used by entries\[0\]"):
        Glossary.from_json(json.dumps(doc).encode())


def test_one_source_id_for_two_pages_is_refused(raw: dict[str, Any]) -> None:
    source = {**raw["entries"][1]["source"], "id": raw["entries"][0]["source"]["id"]}
    with pytest.raises(GlossaryKnowledgeError, match=r"entries\[1\].*used elsewhere for a different page"):
        Glossary.from_json(_broken(raw, 1, source=source))


def test_file_that_is_not_json_is_refused() -> None:
    with pytest.raises(GlossaryKnowledgeError, match=r"terms\.json"):
        Glossary.from_json(b"{not json", origin="terms.json")


def test_file_without_entries_is_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(GlossaryKnowledgeError, match="no entries"):
        Glossary.from_json(json.dumps({**raw, "entries": []}).encode())


def test_loading_from_a_path(tmp_path: Path, raw: dict[str, Any]) -> None:
    path = tmp_path / "terms.json"
    path.write_bytes(_broken(raw, 0, plain="x"))
    with pytest.raises(GlossaryKnowledgeError, match=re.escape(str(path))):
        load_glossary(path)
