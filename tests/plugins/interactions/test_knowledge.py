"""The curated knowledge (plugins/interactions/knowledge/*.json): loads, is sourced and dated, and a broken
file stops loading with a message that names the entry."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from typing import Any

import pytest

from lumen.plugins.interactions.service import KNOWLEDGE_FILES, InteractionKnowledgeError, load_knowledge

ROOT = resources.files("lumen.plugins.interactions") / "knowledge"


def _files() -> dict[str, Any]:
    return {name: json.loads((ROOT / f"{name}.json").read_bytes()) for name in KNOWLEDGE_FILES}


def _load(files: dict[str, Any]) -> None:
    load_knowledge({name: json.dumps(content).encode() for name, content in files.items()})


def test_at_least_400_ingredients_with_sources_and_review_dates() -> None:
    knowledge = load_knowledge()
    assert len(knowledge.ingredients) >= 400
    for ing in knowledge.ingredients.values():
        assert ing.sources and ing.reviewed == date(2026, 12, 1), ing.id
    for rule in knowledge.rules:
        assert rule.sources and rule.mechanism and rule.management, rule.id


def test_us_and_uk_names_and_brands_are_indexed() -> None:
    names = load_knowledge().names
    for name, ingredient in [
        ("paracetamol", "acetaminophen"),
        ("albuterol", "salbutamol"),
        ("glibenclamide", "glyburide"),
        ("pethidine", "meperidine"),
        ("nexium", "esomeprazole"),
    ]:
        assert names[name][0] == (ingredient,)


def test_every_citation_resolves_to_an_https_page() -> None:
    knowledge = load_knowledge()
    cited = {s for ing in knowledge.ingredients.values() for s in ing.sources} | {
        s for r in knowledge.rules for s in r.sources
    }
    for source in cited:
        assert knowledge.citation(source).url.startswith("https://"), source


@pytest.mark.parametrize(
    ("file", "change", "message"),
    [
        ("ingredients", lambda e: e[0].update(props=["cyp3a4:made-up"]), "unknown property"),
        ("ingredients", lambda e: e[0].update(classes=["no-such-class"]), "no class"),
        ("ingredients", lambda e: e[0].pop("sources"), "sources"),
        ("ingredients", lambda e: e.append(dict(e[0])), "used twice"),
        ("ingredients", lambda e: e[1].update(brands=["Zocor"]), "Zocor"),
        ("rules", lambda e: e[0].update(b=["drug:unobtainium"]), "unobtainium"),
        ("rules", lambda e: e[0].update(sources=["nobody:said-so"]), "unknown source"),
        ("classes", lambda e: e[0].update(parents=[e[0]["id"]]), "cycle"),
        ("products", lambda e: e[0].update(ingredients=["aspirin", "nothing-here"]), "nothing-here"),
    ],
)
def test_broken_knowledge_stops_loading_naming_the_entry(file: str, change: Any, message: str) -> None:
    files = _files()
    change(files[file]["entries"])
    with pytest.raises(InteractionKnowledgeError, match=message):
        _load(files)


def test_a_missing_file_is_named() -> None:
    files = _files()
    del files["rules"]
    with pytest.raises(InteractionKnowledgeError, match=r"rules\.json is missing"):
        _load(files)
