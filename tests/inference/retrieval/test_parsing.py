"""Every format is read by a real parser into text plus structure, and hostile or mislabelled files are
refused with the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from lumen.inference.retrieval.chunking import chunk_document
from lumen.inference.retrieval.parsing import (
    DOCX,
    InvalidDocument,
    UnsupportedDocument,
    content_type_for,
    parse,
)
from tests.inference.retrieval.builders import make_docx, make_pdf, make_zip_bomb

SAMPLES = Path(__file__).parent / "samples"


def _chunks(data: bytes, content_type: str, title: str | None = None) -> list:
    parsed = parse(data, content_type)
    chunks = chunk_document(parsed, title=title)
    for chunk in chunks:
        assert parsed.text[chunk.start : chunk.end] == chunk.text  # offsets point at the exact span
    return chunks


def test_plain_text_paragraphs_keep_their_offsets() -> None:
    text = "First paragraph.\n\nSecond paragraph\nstill second.\n"
    parsed = parse(text.encode(), "text/plain")
    assert [text[b.start : b.end] for b in parsed.blocks] == [
        "First paragraph.",
        "Second paragraph\nstill second.",
    ]
    # Short paragraphs of one section share a chunk; the chunk is still an exact slice.
    assert [c.text for c in _chunks(text.encode(), "text/plain")] == [text.strip()]


def test_markdown_headings_become_headings_and_section_ids() -> None:
    md = "# SOP\n\n## 4.2 Rinse\nRinse three times.\n\n## 4.3 Dry\nDry with air.\n"
    chunks = _chunks(md.encode(), "text/markdown")
    assert [(c.heading, c.section_id, c.text) for c in chunks] == [
        ("4.2 Rinse", "4.2", "Rinse three times."),
        ("4.3 Dry", "4.3", "Dry with air."),
    ]


def test_markdown_fenced_code_is_not_a_heading() -> None:
    md = "# Real\n\n```\n# not a heading\n```\n"
    parsed = parse(md.encode(), "text/markdown")
    assert [b.is_heading for b in parsed.blocks] == [True, False]


def test_html_is_read_by_a_parser_without_scripts() -> None:
    html = (
        b"<html><head><title>Guide</title><script>steal()</script><style>p{}</style></head><body>"
        b"<h2>4.1 Scope</h2><p>Applies to <b>all</b> vessels.</p><ul><li>Item one</li></ul></body></html>"
    )
    chunks = _chunks(html, "text/html")
    assert all("steal" not in c.text for c in chunks)
    assert chunks[0].text.startswith("Applies to all vessels.") and chunks[0].section_id == "4.1"


def test_pdf_text_layer_with_page_numbers() -> None:
    pdf = make_pdf([["4.1 Scope", "This procedure covers vessels."], ["4.2 Rinse", "Rinse with water."]])
    chunks = _chunks(pdf, "application/pdf")
    assert [(c.page, c.section_id, c.text) for c in chunks] == [
        (1, "4.1", "This procedure covers vessels."),
        (2, "4.2", "Rinse with water."),
    ]
    assert parse(pdf, "application/pdf").pages == 2


def test_docx_headings_and_eu_gmp_annex_section_ids() -> None:
    docx = make_docx(
        [
            ("EU GMP Annex 11: Computerised Systems", "Title"),
            ("4 Validation", "Heading 1"),
            (
                "4.8 If data are transferred to another format, checks should confirm they are unaltered.",
                None,
            ),
        ]
    )
    chunks = _chunks(docx, DOCX)
    assert [(c.heading, c.section_id) for c in chunks] == [("4 Validation", "EU GMP Annex 11 §4.8")]


def test_ecfr_xml_gives_cfr_paragraph_section_ids() -> None:
    chunks = _chunks((SAMPLES / "ecfr_part211_excerpt.xml").read_bytes(), "application/xml")
    ids = [c.section_id for c in chunks]
    assert ids == ["21 CFR 211.100(a)", "21 CFR 211.100(b)", "21 CFR 211.113(a)", "21 CFR 211.113(b)"]
    assert chunks[0].heading == "§ 211.100 Written procedures; deviations."


def test_dailymed_spl_sections_and_metadata() -> None:
    parsed = parse((SAMPLES / "dailymed_spl_excerpt.xml").read_bytes(), "text/xml")
    assert parsed.metadata["effective_date"] == "2024-03-15" and parsed.metadata["spl_version"] == "7"
    chunks = chunk_document(parsed)
    assert [(c.section_id, c.heading) for c in chunks] == [
        ("1", "1 INDICATIONS AND USAGE"),
        ("5.1", "5.1 Angioedema"),
    ]
    assert "history of angioedema" in chunks[1].text


def test_openfda_label_json_sections() -> None:
    parsed = parse((SAMPLES / "openfda_label_excerpt.json").read_bytes(), "application/json")
    assert parsed.title == "EXAMPLOCILLIN label" and parsed.metadata["effective_date"] == "2023-09-01"
    sections = [c.section_id for c in chunk_document(parsed)]
    assert sections == ["indications_and_usage", "contraindications", "warnings_and_cautions"]


def test_content_type_from_extension_when_generic() -> None:
    assert content_type_for("application/octet-stream", "sop.docx") == DOCX
    with pytest.raises(UnsupportedDocument):
        content_type_for("application/x-msdownload", "setup.exe")


@pytest.mark.parametrize(
    ("data", "content_type", "error", "reason"),
    [
        (make_pdf([["hello"]]), "text/plain", InvalidDocument, "PDF"),
        (b"plain words", "application/pdf", InvalidDocument, "%PDF-"),
        (b"%PDF-1.4\n1 0 obj << /Type /Catalog", "application/pdf", InvalidDocument, "PDF"),
        (b"PK\x03\x04 not really a zip", DOCX, InvalidDocument, "corrupt"),
        (b"\xff\xfe\x00\x01binary", "text/plain", InvalidDocument, "binary"),
        (b"caf\xe9", "text/plain", InvalidDocument, "UTF-8"),
        (b"", "text/plain", InvalidDocument, "empty"),
        (b"   \n\n  ", "text/markdown", InvalidDocument, "no text"),
        (b"<ECFR><DIV8><HEAD>x</HEAD>", "application/xml", InvalidDocument, "malformed"),
        (b"<rss><channel/></rss>", "application/xml", InvalidDocument, "<rss>"),
        (b'{"meta": {}, "results": []}', "application/json", InvalidDocument, "no results"),
        (b'{"hello": "world"}', "application/json", InvalidDocument, "openFDA"),
        (b"{not json", "application/json", InvalidDocument, "malformed"),
    ],
)
def test_mislabelled_or_corrupt_files_are_refused_with_the_reason(
    data: bytes, content_type: str, error: type[Exception], reason: str
) -> None:
    with pytest.raises(error, match=reason):
        parse(data, content_type)


def test_xxe_is_refused() -> None:
    xxe = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><ECFR>&x;</ECFR>'
    with pytest.raises(InvalidDocument, match="entities"):
        parse(xxe, "application/xml")


def test_billion_laughs_is_refused() -> None:
    lol = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        + b"".join(
            b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
            for i in range(1, 10)
        )
        + b"]><ECFR>&lol9;</ECFR>"
    )
    with pytest.raises(InvalidDocument, match="entities"):
        parse(lol, "application/xml")


def test_external_dtd_is_never_fetched() -> None:
    """No entity declarations, but a DOCTYPE pointing elsewhere: parsed without loading it."""
    xml = (
        b'<?xml version="1.0"?><!DOCTYPE ECFR SYSTEM "http://127.0.0.1:1/evil.dtd"><ECFR>'
        b'<DIV8 TYPE="SECTION" N="1.1"><HEAD>\xc2\xa7 1.1 A</HEAD><P>(a) Text.</P></DIV8></ECFR>'
    )
    parsed = parse(xml, "application/xml")
    assert "Text." in parsed.text


def test_zip_bomb_docx_is_refused_before_inflating() -> None:
    with pytest.raises(InvalidDocument, match=r"expands to|zip bomb"):
        parse(make_zip_bomb(), DOCX)


def test_extracted_text_is_bounded() -> None:
    with pytest.raises(InvalidDocument, match="longer than"):
        parse(b"word " * 500_000, "text/plain")
