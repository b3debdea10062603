"""Connectors parse each source's real format (sample files written in it) and build the right request;
the fetch runs over httpx against a transport that answers like the source (no network here)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import httpx
import pytest

from lumen.inference.retrieval.connectors.dailymed import fetch_spl, parse_spl_document
from lumen.inference.retrieval.connectors.ecfr import fetch_part, split_sections
from lumen.inference.retrieval.connectors.medlineplus import parse_topics
from lumen.inference.retrieval.connectors.openfda import fetch_labels, parse_labels
from lumen.inference.retrieval.parsing import InvalidDocument

SAMPLES = Path(__file__).parent.parent / "samples"


def _client(answers: dict[str, bytes], seen: list[httpx.Request]) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=answers[request.url.path])

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


def test_ecfr_part_splits_into_sections_with_cfr_ids() -> None:
    sections = split_sections((SAMPLES / "ecfr_part211_excerpt.xml").read_bytes(), as_of="2026-11-30")
    assert [s.source_id for s in sections] == ["us-21cfr-211.100", "us-21cfr-211.113"]
    assert sections[0].section_id == "21 CFR 211.100"
    assert sections[0].title.startswith("21 CFR 211.100 Written procedures")
    assert sections[0].section_ids() == ["21 CFR 211.100(a)", "21 CFR 211.100(b)"]
    corpus = sections[0].as_corpus_document("regulatory")
    assert corpus.effective_date == "2026-11-30" and corpus.source_url.endswith("/part-211/section-211.100")


def test_ecfr_corpus_document_keeps_paragraph_ids_through_markdown() -> None:
    from lumen.inference.retrieval.chunking import chunk_document
    from lumen.inference.retrieval.parsing import parse

    doc = split_sections((SAMPLES / "ecfr_part211_excerpt.xml").read_bytes())[1].as_corpus_document(
        "regulatory"
    )
    chunks = chunk_document(
        parse(doc.text.encode(), "text/markdown"), title=doc.title, section_id=doc.section_id
    )
    assert [c.section_id for c in chunks] == ["21 CFR 211.113(a)", "21 CFR 211.113(b)"]


async def test_ecfr_fetch_asks_for_the_part_as_of_a_date() -> None:
    seen: list[httpx.Request] = []
    answers = {
        "/api/versioner/v1/full/2026-11-30/title-21.xml": (SAMPLES / "ecfr_part211_excerpt.xml").read_bytes()
    }
    async with _client(answers, seen) as client:
        sections = await fetch_part(client, 21, 211, as_of=date(2026, 11, 30))
    assert seen[0].url.params["part"] == "211" and len(sections) == 2


def test_dailymed_spl_document() -> None:
    doc = parse_spl_document((SAMPLES / "dailymed_spl_excerpt.xml").read_bytes())
    assert doc.source_id == "dailymed-spl-7d2f5e1a-0000-4b2c-8d4e-000000000002"
    assert doc.effective_date == "2024-03-15" and doc.section_ids() == ["1", "5.1"]


async def test_dailymed_fetch_by_set_id() -> None:
    seen: list[httpx.Request] = []
    answers = {"/dailymed/services/v2/spls/abc.xml": (SAMPLES / "dailymed_spl_excerpt.xml").read_bytes()}
    async with _client(answers, seen) as client:
        doc = await fetch_spl(client, "abc")
    assert doc.source_id == "dailymed-spl-abc" and "setid=abc" in doc.source_url


def test_openfda_labels() -> None:
    [label] = parse_labels((SAMPLES / "openfda_label_excerpt.json").read_bytes())
    assert label.title == "EXAMPLOCILLIN label" and label.effective_date == "2023-09-01"
    assert label.section_ids() == ["indications_and_usage", "contraindications", "warnings_and_cautions"]
    assert json.loads(label.data)["set_id"] == "9a8b7c6d-0000-4e5f-a1b2-000000000003"


async def test_openfda_fetch_sends_the_search_and_a_bounded_limit() -> None:
    seen: list[httpx.Request] = []
    answers = {"/drug/label.json": (SAMPLES / "openfda_label_excerpt.json").read_bytes()}
    async with _client(answers, seen) as client:
        labels = await fetch_labels(client, 'openfda.generic_name:"amoxicillin"', limit=500)
    assert seen[0].url.params["search"] == 'openfda.generic_name:"amoxicillin"'
    assert seen[0].url.params["limit"] == "100" and len(labels) == 1


def test_medlineplus_topics_english_only_with_the_summary_html() -> None:
    [topic] = parse_topics((SAMPLES / "medlineplus_topics_excerpt.xml").read_bytes())
    assert topic.source_id == "medlineplus-1234" and topic.metadata["also_called"] == ["HBP", "Hypertension"]
    parsed = topic.parse()
    assert "usually has no symptoms" in parsed.text and "<p>" not in parsed.text
    assert [b.is_heading for b in parsed.blocks][:2] == [True, False]


def test_connectors_refuse_the_wrong_format() -> None:
    with pytest.raises(InvalidDocument):
        parse_topics((SAMPLES / "ecfr_part211_excerpt.xml").read_bytes())
    with pytest.raises(InvalidDocument):
        parse_labels(b'{"error": {"code": "NOT_FOUND"}}')
