"""Looking terms up and searching them (plugins/glossary/service.py): by term or synonym, whatever the case,
accents or US/UK spelling; best match first; nothing invented when nothing matches."""

from __future__ import annotations

import pytest

from lumen.plugins.glossary.schemas import GlossarySettings
from lumen.plugins.glossary.service import DISCLAIMER, Glossary, fold, load_glossary


@pytest.fixture(scope="module")
def glossary() -> Glossary:
    return load_glossary()


def slugs(glossary: Glossary, query: str, limit: int = 10) -> list[str]:
    return [entry.slug for entry in glossary.search(query, limit=limit)]


@pytest.mark.parametrize(
    ("british", "american"),
    [
        ("anaemia", "anemia"),
        ("oedema", "edema"),
        ("haemoglobin", "hemoglobin"),
        ("diarrhoea", "diarrhea"),
        ("oesophagus", "esophagus"),
        ("leukaemia", "leukemia"),
        ("tumour", "tumor"),
        ("dyspnoea", "dyspnea"),
        ("generalised", "generalized"),
        ("paediatric", "pediatric"),
        ("anaesthetic", "anesthetic"),
    ],
)
def test_british_spelling_folds_to_american(british: str, american: str) -> None:
    assert fold(british) == fold(american) == american


def test_folding_ignores_case_accents_and_punctuation() -> None:
    assert fold("  CROHN\u2019S   Disease ") == "crohns disease"
    assert fold("Sjögren") == "sjogren"
    assert fold("X-ray") == "x ray"
    assert fold("") == ""


@pytest.mark.parametrize(
    ("query", "slug"),
    [
        ("anemia", "anemia"),
        ("Anaemia", "anemia"),
        ("ANEMIA", "anemia"),
        ("oedema", "edema"),
        ("edema", "edema"),
        ("swollen ankles", "edema"),
        ("paracetamol", "acetaminophen"),
        ("acetaminophen", "acetaminophen"),
        ("adrenaline", "epinephrine"),
        ("coeliac disease", "celiac-disease"),
        ("crohns", "crohns-disease"),
        ("Crohn's disease", "crohns-disease"),
        ("piles", "hemorrhoids"),
        ("haemorrhoids", "hemorrhoids"),
        ("high blood pressure", "hypertension"),
        ("heart attack", "heart-attack"),
        ("myocardial infarction", "heart-attack"),
        ("HbA1c", "hba1c"),
        ("full blood count", "complete-blood-count"),
        ("xray", "x-ray"),
        ("x ray", "x-ray"),
        ("gall bladder", "gallbladder"),
        ("non-steroidal anti-inflammatory", "nsaid"),
        ("nonsteroidal", "nsaid"),
        ("water pill", "diuretic"),
        ("ECG", "electrocardiogram"),
        ("EKG", "electrocardiogram"),
        ("tumour", "tumor"),
        ("sleep apnoea", "sleep-apnea"),
        ("ischaemic attack", "transient-ischemic-attack"),
    ],
)
def test_search_finds_by_term_synonym_and_either_spelling(glossary: Glossary, query: str, slug: str) -> None:
    assert slugs(glossary, query)[0] == slug


def test_exact_term_outranks_partial_matches(glossary: Glossary) -> None:
    found = slugs(glossary, "heart")
    assert found[0] == "heart"
    assert {"heart-attack", "heart-failure"} <= set(found)


def test_partial_words_match_from_the_start(glossary: Glossary) -> None:
    assert "hypertension" in slugs(glossary, "hypert")
    assert "anemia" in slugs(glossary, "anae")
    assert "hypertension" not in slugs(glossary, "tension", limit=50)  # inside a word is not a match


def test_search_respects_the_limit(glossary: Glossary) -> None:
    assert len(slugs(glossary, "blood", limit=3)) == 3
    assert len(slugs(glossary, "blood", limit=50)) > 3


@pytest.mark.parametrize("query", ["zzzqqq", "quantum chromodynamics", "   ", "", "!!!", "--"])
def test_no_match_is_an_empty_list(glossary: Glossary, query: str) -> None:
    assert glossary.search(query, limit=10) == []


def test_search_never_matches_definitions(glossary: Glossary) -> None:
    """Only terms and synonyms: a word that appears in a definition is not a reason to return it."""
    assert "anemia" not in slugs(glossary, "oxygen", limit=50)


def test_browse_walks_the_whole_glossary_in_order(glossary: Glossary) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        page, cursor = glossary.browse(after=cursor, limit=37)
        seen.extend(entry.slug for entry in page)
        if cursor is None:
            break
    assert seen == sorted(glossary.entries)


def test_plain_reading_level_shows_the_short_definition(glossary: Glossary) -> None:
    entry = glossary.entries["anemia"]
    out = glossary.render(entry, GlossarySettings(reading_level="plain"))
    assert out.definition == entry.plain


def test_standard_reading_level_adds_the_detail(glossary: Glossary) -> None:
    entry = glossary.entries["anemia"]
    out = glossary.render(entry, GlossarySettings(reading_level="standard"))
    assert out.definition == f"{entry.plain} {entry.detail}"


def test_locale_chooses_the_spelling_shown(glossary: Glossary) -> None:
    entry = glossary.entries["anemia"]
    us = glossary.render(entry, GlossarySettings(locale="en-US"))
    gb = glossary.render(entry, GlossarySettings(locale="en-GB"))
    assert (us.term, gb.term) == ("Anemia", "Anaemia")
    assert us.synonyms[0] == "Anaemia" and gb.synonyms[0] == "Anemia"  # the other spelling stays findable


def test_locale_leaves_terms_spelt_alike_alone(glossary: Glossary) -> None:
    entry = glossary.entries["asthma"]
    assert glossary.render(entry, GlossarySettings(locale="en-GB")).term == "Asthma"
    assert glossary.render(entry, GlossarySettings(locale="en-GB")).synonyms == entry.synonyms


def test_rendered_term_carries_the_safety_envelope(glossary: Glossary) -> None:
    entry = glossary.entries["statin"]
    out = glossary.render(entry, GlossarySettings())
    assert out.disclaimer == DISCLAIMER
    assert out.confidence == 1.0
    assert out.abstained is False
    assert out.knowledge_version == glossary.version
    [citation] = out.citations
    assert citation.source_id == entry.source.id
    assert citation.url == out.source.url == entry.source.url


def test_empty_page_abstains(glossary: Glossary) -> None:
    page = glossary.page([], GlossarySettings())
    assert page.items == []
    assert page.abstained is True
    assert page.confidence == 0.0
    assert page.citations == []
    assert page.disclaimer == DISCLAIMER
