"""The regulatory plugin's curated knowledge (plugins/regulatory/knowledge/): the requirements catalog is
complete for the instruments the issue names, every entry is sourced and reviewed, ids and sections are
unique; the gap elements cite only catalog entries; and a broken file stops start-up naming the entry."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from lumen.plugins.regulatory.service import (
    Catalog,
    GapAnalyzer,
    RegulatoryKnowledgeError,
    load_catalog,
    load_gap_analyzer,
)

KNOWLEDGE = Path(__file__).parents[3] / "plugins" / "regulatory" / "knowledge"
CATALOG = KNOWLEDGE / "requirements.json"
ELEMENTS = KNOWLEDGE / "gap_elements.json"

# Instrument -> the fewest entries the catalog may have for it (issue 9's list, clause by clause).
MINIMUM_PER_INSTRUMENT = {
    "21 CFR Part 210": 3,
    "21 CFR Part 211": 55,
    "21 CFR Part 11": 15,
    "FDA Guidance: Data Integrity and Compliance With Drug CGMP (2018)": 10,
    "FDA Guidance: Process Validation (2011)": 6,
    "FDA Guidance: Investigating OOS Test Results (2022)": 8,
    "FDA Guidance: Sterile Drug Products Produced by Aseptic Processing (2004)": 8,
    **{f"EU GMP Part I Chapter {n}": 1 for n in range(1, 10)},
    "EU GMP Annex 1": 10,
    "EU GMP Annex 11": 12,
    "EU GMP Annex 15": 8,
    "EU GMP Annex 16": 3,
    "EU Good Distribution Practice Guidelines (2013/C 343/01)": 6,
    "MHRA GxP Data Integrity Guidance (2018)": 8,
    "ICH Q7": 10,
    "ICH Q8(R2)": 4,
    "ICH Q9(R1)": 5,
    "ICH Q10": 5,
    "ICH Q12": 3,
    "ICH E6(R3)": 5,
}
PART_211_SUBPARTS = {
    "A": ["211.1"],
    "B": ["211.22", "211.25", "211.28", "211.34"],
    "C": ["211.42", "211.44", "211.46", "211.48", "211.50", "211.52", "211.56", "211.58"],
    "D": ["211.63", "211.65", "211.67", "211.68", "211.72"],
    "E": ["211.80", "211.82", "211.84", "211.86", "211.87", "211.89", "211.94"],
    "F": ["211.100", "211.101", "211.103", "211.105", "211.110", "211.111", "211.113", "211.115"],
    "G": ["211.122", "211.125", "211.130", "211.132", "211.134", "211.137"],
    "H": ["211.142", "211.150"],
    "I": ["211.160", "211.165", "211.166", "211.167", "211.170", "211.173", "211.176"],
    "J": ["211.180", "211.182", "211.184", "211.186", "211.188", "211.192", "211.194", "211.196", "211.198"],
    "K": ["211.204", "211.208"],
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(CATALOG.read_text(encoding="utf-8"))
    return data


def test_the_packaged_catalog_loads(catalog: Catalog) -> None:
    assert catalog.name == "regulatory-requirements"
    assert len(catalog.entries) >= 250


def test_counts_per_instrument(catalog: Catalog) -> None:
    counts = Counter(e.instrument for e in catalog.entries.values())
    short = {i: (counts.get(i, 0), n) for i, n in MINIMUM_PER_INSTRUMENT.items() if counts.get(i, 0) < n}
    assert not short, short
    assert {e.jurisdiction for e in catalog.entries.values()} == {"US", "EU", "UK", "ICH"}
    assert sum(1 for e in catalog.entries.values() if e.jurisdiction == "UK") >= 15


def test_every_subpart_of_part_211_is_covered_section_by_section(catalog: Catalog) -> None:
    sections = " ".join(e.section_id for e in catalog.entries.values())
    missing = [s for subpart in PART_211_SUBPARTS.values() for s in subpart if f"21 CFR {s}" not in sections]
    assert not missing


@pytest.mark.parametrize("section", ["11.10", "11.30", "11.50", "11.70", "11.100", "11.200", "11.300"])
def test_part_11_key_sections(catalog: Catalog, section: str) -> None:
    assert any(e.section_id.startswith(f"21 CFR {section}") for e in catalog.entries.values())


def test_every_entry_is_sourced_and_reviewed(catalog: Catalog) -> None:
    for entry in catalog.entries.values():
        assert entry.source.url.startswith("https://"), entry.id
        assert entry.source.publisher and entry.source.title, entry.id
        assert entry.reviewed == date(2026, 12, 1), entry.id
        assert entry.effective_date <= date(2026, 12, 1), entry.id
        assert len(entry.keywords) >= 2, entry.id
    assert catalog.reviewed == date(2026, 12, 1)


def test_ids_and_sections_are_unique_and_stable(raw: dict[str, Any]) -> None:
    ids = [e["id"] for e in raw["entries"]]
    sections = [e["section_id"] for e in raw["entries"]]
    assert len(ids) == len(set(ids))
    assert len(sections) == len(set(sections))
    assert "us-21cfr-211.192" in ids and "eu-gmp-annex11-4.8" in ids


def test_summaries_are_concrete_several_sentences(catalog: Catalog) -> None:
    for entry in catalog.entries.values():
        assert entry.summary.count(".") >= 1 and len(entry.summary) >= 80, entry.id
    long_ones = sum(1 for e in catalog.entries.values() if e.summary.count(". ") >= 1)
    assert long_ones / len(catalog.entries) > 0.8


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "requirements.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_a_duplicate_id_names_the_entry(tmp_path: Path, raw: dict[str, Any]) -> None:
    data = {**raw, "entries": [raw["entries"][0], {**raw["entries"][1], "id": raw["entries"][0]["id"]}]}
    with pytest.raises(RegulatoryKnowledgeError, match=r"entries\[1\].*already used by entries\[0\]"):
        load_catalog(_write(tmp_path, data))


def test_an_unsourced_entry_names_the_entry(tmp_path: Path, raw: dict[str, Any]) -> None:
    broken = {k: v for k, v in raw["entries"][3].items() if k != "source"}
    with pytest.raises(RegulatoryKnowledgeError, match=rf"entries\[0\] \('{broken['id']}'\).*source"):
        load_catalog(_write(tmp_path, {**raw, "entries": [broken]}))


def test_an_http_source_is_refused(tmp_path: Path, raw: dict[str, Any]) -> None:
    entry = raw["entries"][0]
    broken = {**entry, "source": {**entry["source"], "url": "http://www.ecfr.gov/x"}}
    with pytest.raises(RegulatoryKnowledgeError, match="url"):
        load_catalog(_write(tmp_path, {**raw, "entries": [broken]}))


def test_an_id_in_the_wrong_jurisdiction_is_refused(tmp_path: Path, raw: dict[str, Any]) -> None:
    broken = {**raw["entries"][0], "jurisdiction": "EU"}
    with pytest.raises(RegulatoryKnowledgeError, match="must start with its jurisdiction"):
        load_catalog(_write(tmp_path, {**raw, "entries": [broken]}))


def test_gap_elements_cover_every_type_and_cite_catalog_entries() -> None:
    analyzer = load_gap_analyzer()
    catalog = load_catalog()
    assert set(analyzer.types) == {
        "deviation",
        "capa",
        "change_control",
        "cleaning_validation",
        "data_integrity",
        "complaint_handling",
        "oos",
    }
    for document_type in analyzer.types:
        elements = analyzer.elements_for(document_type)
        assert len(elements) >= 8, document_type
        for element in elements:
            assert all(r in catalog.entries for r in element.requirements), element.id


def test_a_gap_element_citing_an_unknown_requirement_is_refused(tmp_path: Path) -> None:
    data = json.loads(ELEMENTS.read_text(encoding="utf-8"))
    data["document_types"]["capa"][0]["requirements"] = ["us-21cfr-999.999"]
    path = tmp_path / "gap_elements.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(RegulatoryKnowledgeError, match=r"capa/sources.*us-21cfr-999.999"):
        load_gap_analyzer(path)


def test_a_broken_pattern_is_refused(tmp_path: Path) -> None:
    data = json.loads(ELEMENTS.read_text(encoding="utf-8"))
    data["document_types"]["oos"][0]["patterns"] = ["(unclosed"]
    path = tmp_path / "gap_elements.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(RegulatoryKnowledgeError, match="pattern"):
        GapAnalyzer.from_json(path.read_bytes(), load_catalog())
