"""Turning an upload into text plus its structure: headings, section ids, page numbers and the character
offsets of every block, so a chunk (and so a citation) can point at the exact span it came from.

Every format is read by a real parser (pypdf, python-docx, selectolax, lxml) with limits: a file that is not
what it says it is, is corrupt, or would expand beyond the limits raises `InvalidDocument` (→ 422), and a
content type Lumen does not read `UnsupportedDocument` (→ 415), naming the reason; nothing here ever reaches
the network or the file system.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CONTENT_TYPES",
    "MAX_TEXT_CHARS",
    "Block",
    "InvalidDocument",
    "ParsedDocument",
    "UnsupportedDocument",
    "content_type_for",
    "parse",
]

MAX_TEXT_CHARS = 2_000_000
MAX_PDF_PAGES = 2_000
MAX_DOCX_UNCOMPRESSED = 60 * 1024 * 1024
MAX_ZIP_RATIO = 150
MAX_ZIP_MEMBERS = 2_000

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
HTML = "text/html"
MARKDOWN = "text/markdown"
PLAIN = "text/plain"
XML = "application/xml"
JSON = "application/json"

# What a caller may declare -> the format we read it as.
CONTENT_TYPES: dict[str, str] = {
    PDF: PDF,
    DOCX: DOCX,
    HTML: HTML,
    "application/xhtml+xml": HTML,
    MARKDOWN: MARKDOWN,
    "text/x-markdown": MARKDOWN,
    PLAIN: PLAIN,
    XML: XML,
    "text/xml": XML,
    JSON: JSON,
}
_EXTENSIONS = {
    ".pdf": PDF,
    ".docx": DOCX,
    ".html": HTML,
    ".htm": HTML,
    ".md": MARKDOWN,
    ".markdown": MARKDOWN,
    ".txt": PLAIN,
    ".xml": XML,
    ".json": JSON,
}


class UnsupportedDocument(ValueError):
    """The content type is not one Lumen reads (415)."""


class InvalidDocument(ValueError):
    """The declared type is one Lumen reads but the bytes are not that (a PDF declared as text, an XML
    dialect or JSON that is not a label Lumen knows), or are corrupt, hostile, empty or too large once
    extracted (422: the request is well-formed; what it carries cannot be processed)."""


@dataclass(frozen=True, slots=True)
class Block:
    """One paragraph-like span of the document text: `text[start:end]`."""

    start: int
    end: int
    heading: str | None = None  # the nearest heading above it
    section_id: str | None = None
    page: int | None = None
    is_heading: bool = False


@dataclass
class ParsedDocument:
    text: str
    blocks: list[Block]
    format: str
    pages: int | None = None
    title: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def content_type_for(declared: str | None, filename: str | None) -> str:
    """The format to read: the declared media type, or the file extension when the client sent a generic
    one (application/octet-stream)."""
    media = (declared or "").partition(";")[0].strip().lower()
    if media in CONTENT_TYPES:
        return CONTENT_TYPES[media]
    if media in ("", "application/octet-stream") and filename:
        suffix = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        if suffix in _EXTENSIONS:
            return _EXTENSIONS[suffix]
    raise UnsupportedDocument(
        f"content type {media or 'none'!r} is not supported; send one of {', '.join(sorted(CONTENT_TYPES))}"
    )


def parse(data: bytes, content_type: str) -> ParsedDocument:
    """Parse `data` as `content_type` (a key of CONTENT_TYPES, as content_type_for returns)."""
    fmt = CONTENT_TYPES.get(content_type)
    if fmt is None:
        raise UnsupportedDocument(f"content type {content_type!r} is not supported")
    _check_magic(data, fmt)
    parsed = _PARSERS[fmt](data)
    if len(parsed.text) > MAX_TEXT_CHARS:
        raise InvalidDocument(f"the extracted text is longer than {MAX_TEXT_CHARS} characters")
    if not any(not b.is_heading for b in parsed.blocks) and not parsed.blocks:
        raise InvalidDocument("the document contains no text")
    if not parsed.text.strip():
        raise InvalidDocument("the document contains no text")
    return parsed


def _check_magic(data: bytes, fmt: str) -> None:
    """The bytes must be what the caller says they are: a PDF declared as text is refused, not guessed."""
    if not data:
        raise InvalidDocument("the file is empty")
    is_pdf, is_zip = data[:5] == b"%PDF-", data[:4] == b"PK\x03\x04"
    # A supported type whose bytes are something else is unprocessable (422), not an unsupported type (415).
    if fmt == PDF and not is_pdf:
        raise InvalidDocument("declared application/pdf but the file is not a PDF (no %PDF- header)")
    if fmt == DOCX and not is_zip:
        raise InvalidDocument("declared a DOCX but the file is not a ZIP package")
    if fmt not in (PDF, DOCX):
        if is_pdf or is_zip:
            kind = "a PDF" if is_pdf else "a ZIP/DOCX package"
            raise InvalidDocument(f"the file is {kind}, not the declared text type")
        if b"\x00" in data[:8192]:
            raise InvalidDocument("the file is binary, not the declared text type")


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidDocument(f"the text is not valid UTF-8 (byte {exc.start})") from None
    if len(text) > MAX_TEXT_CHARS:
        raise InvalidDocument(f"the text is longer than {MAX_TEXT_CHARS} characters")
    return text.replace("\r\n", "\n").replace("\r", "\n")


class _Builder:
    """Concatenates extracted blocks into one text (blank line between blocks), recording their offsets."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self.blocks: list[Block] = []
        self.heading: str | None = None

    def add(
        self, text: str, *, page: int | None = None, heading: bool = False, section: str | None = None
    ) -> None:
        text = _squash(text)
        if not text:
            return
        if self._parts:
            self._parts.append("\n\n")
            self._length += 2
        start = self._length
        self._parts.append(text)
        self._length += len(text)
        if self._length > MAX_TEXT_CHARS:
            raise InvalidDocument(f"the extracted text is longer than {MAX_TEXT_CHARS} characters")
        if heading:
            self.heading = text
        self.blocks.append(
            Block(
                start, self._length, heading=self.heading, section_id=section, page=page, is_heading=heading
            )
        )

    @property
    def text(self) -> str:
        return "".join(self._parts)


_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200b]+")
_BLANKS = re.compile(r"\n\s*\n+")


def _squash(text: str) -> str:
    text = _SPACES.sub(" ", text.replace("\r", "\n"))
    return _BLANKS.sub("\n", "\n".join(line.strip() for line in text.split("\n"))).strip()


# --- plain text and Markdown: the stored text is the upload itself ----------------------------------------

_PARAGRAPH = re.compile(r"[^\n](?:.|\n(?!\s*\n))*", re.MULTILINE)
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_SETEXT = re.compile(r"^(=+|-+)\s*$")


def _paragraphs(text: str) -> Iterable[tuple[int, int]]:
    for match in _PARAGRAPH.finditer(text):
        start, end = match.start(), match.end()
        while end > start and text[end - 1].isspace():
            end -= 1
        while start < end and text[start].isspace():
            start += 1
        if end > start:
            yield start, end


def _parse_plain(data: bytes) -> ParsedDocument:
    text = _decode(data)
    blocks = [Block(s, e) for s, e in _paragraphs(text)]
    return ParsedDocument(text=text, blocks=blocks, format=PLAIN)


def _parse_markdown(data: bytes) -> ParsedDocument:
    text = _decode(data)
    blocks: list[Block] = []
    heading: str | None = None
    in_fence = False
    paragraph: tuple[int, int] | None = None  # (start, end) of the paragraph being read

    def close() -> None:
        nonlocal paragraph
        if paragraph is not None:
            blocks.append(Block(paragraph[0], paragraph[1], heading=heading))
            paragraph = None

    position = 0
    for line in text.split("\n"):
        line_start, line_end = position, position + len(line)
        position = line_end + 1
        stripped = line.strip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        match = None if in_fence else _MD_HEADING.match(line)
        if match:
            close()
            heading = match.group(2).strip()
            blocks.append(Block(line_start, line_end, heading=heading, is_heading=True))
        elif not stripped and not in_fence:
            close()
        elif _SETEXT.match(line) and paragraph is not None and "\n" not in text[paragraph[0] : paragraph[1]]:
            heading = text[paragraph[0] : paragraph[1]].strip()
            blocks.append(Block(paragraph[0], line_end, heading=heading, is_heading=True))
            paragraph = None
        elif paragraph is None:
            offset = len(line) - len(line.lstrip())
            paragraph = (line_start + offset, line_start + len(line.rstrip()))
        else:
            paragraph = (paragraph[0], line_start + len(line.rstrip()))
    close()
    return ParsedDocument(text=text, blocks=blocks, format=MARKDOWN)


# --- HTML -------------------------------------------------------------------------------------------------

_HTML_BLOCKS = {
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "p",
    "li",
    "pre",
    "blockquote",
    "td",
    "th",
    "dt",
    "dd",
    "caption",
    "figcaption",
}


def _html_blocks(builder: _Builder, html: str) -> str | None:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    for node in tree.css("script, style, noscript, template, iframe, object, svg, head"):
        node.decompose()
    title_node = LexborHTMLParser(html).css_first("title")
    root = tree.body or tree.root
    if root is None:
        return None
    for node in root.traverse(include_text=False):
        tag = node.tag
        if tag not in _HTML_BLOCKS:
            continue
        # The innermost block wins: an <li> holding a <p> is read through its <p>.
        if tag in ("li", "td", "th", "blockquote", "dd") and any(
            child.tag in _HTML_BLOCKS for i, child in enumerate(node.traverse(include_text=False)) if i > 0
        ):
            continue
        builder.add(node.text(separator=""), heading=tag.startswith("h") and len(tag) == 2)
    return title_node.text().strip() if title_node is not None else None


def _parse_html(data: bytes) -> ParsedDocument:
    builder = _Builder()
    title = _html_blocks(builder, _decode(data))
    return ParsedDocument(text=builder.text, blocks=builder.blocks, format=HTML, title=title)


# --- PDF --------------------------------------------------------------------------------------------------


def _parse_pdf(data: bytes) -> ParsedDocument:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise InvalidDocument("the PDF is encrypted; upload it without a password")
        pages = len(reader.pages)
        if pages > MAX_PDF_PAGES:
            raise InvalidDocument(f"the PDF has {pages} pages; at most {MAX_PDF_PAGES} are accepted")
        builder = _Builder()
        for number, page in enumerate(reader.pages, start=1):
            # A PDF has lines, not paragraphs: a blank line or a heading-like line ("4.2 Rinse", "SCOPE")
            # ends the paragraph being read.
            lines: list[str] = []
            for line in (page.extract_text() or "").split("\n"):
                line = line.strip()
                if not line or _looks_like_heading(line):
                    builder.add(" ".join(lines), page=number)
                    lines = []
                    if line:
                        builder.add(line, page=number, heading=True)
                    continue
                lines.append(line)
            builder.add(" ".join(lines), page=number)
    except InvalidDocument:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
        raise InvalidDocument(f"the PDF could not be read ({type(exc).__name__})") from None
    if not builder.blocks:
        raise InvalidDocument("the PDF has no text layer (scanned images are not read)")
    return ParsedDocument(text=builder.text, blocks=builder.blocks, format=PDF, pages=pages)


_NUMBERED = re.compile(r"^(?:§\s*)?\d+(?:\.\d+)*\.?\s+\S")


def _looks_like_heading(line: str) -> bool:
    if len(line) > 80 or line.endswith((".", ",", ";", ":")):
        return False
    return bool(_NUMBERED.match(line)) or (line.isupper() and len(line) > 3)


# --- DOCX -------------------------------------------------------------------------------------------------


def _check_zip(data: bytes) -> None:
    """Refuse zip bombs before python-docx inflates anything."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise InvalidDocument(f"the DOCX package is corrupt ({exc})") from None
    if len(members) > MAX_ZIP_MEMBERS:
        raise InvalidDocument(f"the DOCX package has {len(members)} parts; at most {MAX_ZIP_MEMBERS}")
    total = sum(m.file_size for m in members)
    if total > MAX_DOCX_UNCOMPRESSED:
        raise InvalidDocument(f"the DOCX package expands to {total} bytes; at most {MAX_DOCX_UNCOMPRESSED}")
    compressed = sum(m.compress_size for m in members) or 1
    if total / compressed > MAX_ZIP_RATIO and total > 1_000_000:
        raise InvalidDocument("the DOCX package is compressed suspiciously well (a zip bomb?)")
    if "word/document.xml" not in {m.filename for m in members}:
        raise InvalidDocument("the ZIP package is not a Word document (no word/document.xml)")
    body = archive.read("word/document.xml")[:4096]
    if b"<!ENTITY" in body or b"<!DOCTYPE" in body:
        raise InvalidDocument("the DOCX declares XML entities, which are not accepted")


def _parse_docx(data: bytes) -> ParsedDocument:
    _check_zip(data)
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
        builder = _Builder()
        for paragraph in document.paragraphs:
            style = (paragraph.style.name if paragraph.style is not None else "") or ""
            is_heading = style.lower().startswith(("heading", "title"))
            builder.add(paragraph.text, heading=is_heading)
        for table in document.tables:
            for row in table.rows:
                builder.add(" | ".join(cell.text.strip() for cell in row.cells))
        title = document.core_properties.title or None
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise InvalidDocument(f"the DOCX could not be read ({type(exc).__name__})") from None
    except Exception as exc:  # lxml's XMLSyntaxError and friends from a damaged part
        raise InvalidDocument(f"the DOCX could not be read ({type(exc).__name__})") from None
    return ParsedDocument(text=builder.text, blocks=builder.blocks, format=DOCX, title=title)


# --- XML: eCFR and DailyMed SPL ---------------------------------------------------------------------------


def _xml_root(data: bytes) -> Any:
    """Parse XML with entities, DTDs and the network off; a document declaring entities is refused outright
    (billion laughs, XXE)."""
    from lxml import etree

    head = data[:65536]
    if b"<!ENTITY" in head or b"<!ENTITY" in data:
        raise InvalidDocument("the XML declares entities (<!ENTITY>), which are not accepted")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        return etree.fromstring(data, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise InvalidDocument(f"the XML is malformed (line {exc.lineno}: {exc.msg})") from None


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _itertext(node: Any) -> str:
    return " ".join(t for t in node.itertext() if t and t.strip())


def _parse_xml(data: bytes) -> ParsedDocument:
    root = _xml_root(data)
    name = _local(root.tag)
    if name == "document" and root.tag.startswith("{urn:hl7-org:v3}"):
        return parse_spl(root)
    if name == "ECFR" or re.fullmatch(r"DIV\d", name) or root.find(".//DIV8") is not None:
        return parse_ecfr(root)
    raise InvalidDocument(
        f"XML with root <{name}> is not a format Lumen reads (eCFR XML or DailyMed SPL XML)"
    )


_CFR_SECTION = re.compile(r"§\s*(\d+\.\d+[a-z]?)")


def parse_ecfr(root: Any) -> ParsedDocument:
    """eCFR's XML (the ecfr.gov versioner API): DIV1 TITLE > ... DIV5 PART > DIV6 SUBPART > DIV8 SECTION,
    each with a <HEAD>; paragraphs in <P>. Section ids are `21 CFR 211.100(a)`."""
    builder = _Builder()
    title_node = root if root.get("TYPE") == "TITLE" else root.find(".//DIV1[@TYPE='TITLE']")
    cfr_title = title_node.get("N") if title_node is not None else None
    doc_title = None
    for div in root.iter():
        tag = _local(div.tag)
        if not re.fullmatch(r"DIV\d", tag):
            continue
        head = div.find("HEAD")
        kind = div.get("TYPE", "")
        if head is None:
            continue
        heading_text = _itertext(head)
        if kind == "PART" and doc_title is None:
            doc_title = heading_text
        if kind != "SECTION":
            if kind in ("PART", "SUBPART", "SUBCHAP", "CHAPTER"):
                builder.add(heading_text, heading=True)
            continue
        number = div.get("N") or (m.group(1) if (m := _CFR_SECTION.search(heading_text)) else None)
        base = f"{cfr_title} CFR {number}" if cfr_title and number else (f"§ {number}" if number else None)
        builder.add(heading_text, heading=True, section=base)
        for child in div:
            if _local(child.tag) in ("P", "FP", "NOTE", "EXTRACT", "GPOTABLE"):
                text = _itertext(child)
                builder.add(text, section=_paragraph_section(base, text))
    if not builder.blocks:
        raise InvalidDocument("the eCFR XML contains no sections")
    return ParsedDocument(
        text=builder.text,
        blocks=builder.blocks,
        format="ecfr",
        title=doc_title,
        metadata={"jurisdiction": "US", "document_type": "regulation"},
    )


_PARAGRAPH_MARK = re.compile(r"^\(([a-z]{1,2}|\d{1,2}|[ivx]{1,5})\)(?:\s*\((\d{1,2})\))?")


def _paragraph_section(base: str | None, text: str) -> str | None:
    if base is None:
        return None
    match = _PARAGRAPH_MARK.match(text)
    if match is None or not match.group(1).isalpha() or len(match.group(1)) > 1:
        return base
    return base + f"({match.group(1)})" + (f"({match.group(2)})" if match.group(2) else "")


_V3 = "{urn:hl7-org:v3}"


def parse_spl(root: Any) -> ParsedDocument:
    """DailyMed Structured Product Labeling (HL7 v3): nested <section>s, each with a LOINC <code> and a
    <title> ("5.1 Hepatotoxicity"); text in <paragraph>, <list><item>, <table>."""
    builder = _Builder()
    title_node = root.find(f"{_V3}title")
    doc_title = _itertext(title_node) if title_node is not None else None
    set_id = root.find(f"{_V3}setId")
    version = root.find(f"{_V3}versionNumber")
    effective = root.find(f"{_V3}effectiveTime")
    for section in root.iter(f"{_V3}section"):
        code = section.find(f"{_V3}code")
        heading_node = section.find(f"{_V3}title")
        heading = _itertext(heading_node) if heading_node is not None else None
        if not heading and code is not None:
            heading = (code.get("displayName") or "").title() or None
        number = re.match(r"^(\d+(?:\.\d+)*)\s", heading or "")
        section_id = (
            number.group(1) if number else (f"LOINC {code.get('code')}" if code is not None else None)
        )
        if heading:
            builder.add(heading, heading=True, section=section_id)
        text_node = section.find(f"{_V3}text")
        if text_node is None:
            continue
        for node in text_node.iter(f"{_V3}paragraph", f"{_V3}item", f"{_V3}tr"):
            if node.tag == f"{_V3}item" and node.find(f"{_V3}paragraph") is not None:
                continue
            builder.add(_itertext(node), section=section_id)
    if not builder.blocks:
        raise InvalidDocument("the SPL document contains no sections")
    metadata: dict[str, Any] = {"jurisdiction": "US", "document_type": "drug-label"}
    if set_id is not None and set_id.get("root"):
        metadata["set_id"] = set_id.get("root")
    if version is not None and version.get("value"):
        metadata["spl_version"] = version.get("value")
    if effective is not None and re.fullmatch(r"\d{8}", effective.get("value", "")[:8]):
        value = effective.get("value")[:8]
        metadata["effective_date"] = f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return ParsedDocument(
        text=builder.text, blocks=builder.blocks, format="spl", title=doc_title, metadata=metadata
    )


# --- openFDA drug label JSON ------------------------------------------------------------------------------

# Label fields read, in label order; everything else (ids, openfda metadata, *_table HTML) is skipped.
OPENFDA_SECTIONS = (
    "boxed_warning",
    "indications_and_usage",
    "dosage_and_administration",
    "dosage_forms_and_strengths",
    "contraindications",
    "warnings_and_cautions",
    "warnings",
    "precautions",
    "adverse_reactions",
    "drug_interactions",
    "use_in_specific_populations",
    "pregnancy",
    "lactation",
    "pediatric_use",
    "geriatric_use",
    "overdosage",
    "description",
    "clinical_pharmacology",
    "mechanism_of_action",
    "pharmacokinetics",
    "how_supplied",
    "storage_and_handling",
    "patient_counseling_information",
    "purpose",
    "active_ingredient",
    "inactive_ingredient",
    "do_not_use",
    "ask_doctor",
    "ask_doctor_or_pharmacist",
    "stop_use",
    "when_using",
    "pregnancy_or_breast_feeding",
    "keep_out_of_reach_of_children",
    "directions",
    "other_safety_information",
    "questions",
)


def _parse_json(data: bytes) -> ParsedDocument:
    try:
        body = json.loads(_decode(data))
    except json.JSONDecodeError as exc:
        raise InvalidDocument(f"the JSON is malformed (line {exc.lineno}: {exc.msg})") from None
    return parse_openfda_label(body)


def parse_openfda_label(body: Any) -> ParsedDocument:
    """One label of openFDA's drug/label endpoint: either the API response ({"meta", "results": [label]},
    first result) or a label object. Each label field is a list of strings; it becomes one section."""
    label = body
    if isinstance(body, dict) and isinstance(body.get("results"), list):
        if not body["results"]:
            raise InvalidDocument("the openFDA response has no results")
        label = body["results"][0]
    if not isinstance(label, dict) or not any(k in label for k in OPENFDA_SECTIONS):
        raise InvalidDocument("JSON uploads must be an openFDA drug label (no label sections found)")
    builder = _Builder()
    for name in OPENFDA_SECTIONS:
        values = label.get(name)
        if not isinstance(values, list):
            continue
        heading = name.replace("_", " ").capitalize()
        builder.add(heading, heading=True, section=name)
        for value in values:
            if isinstance(value, str):
                for paragraph in re.split(r"\n\s*\n|(?<=\.)\s{2,}", value):
                    builder.add(paragraph, section=name)
    raw_openfda = label.get("openfda")
    openfda: dict[str, Any] = raw_openfda if isinstance(raw_openfda, dict) else {}
    names = openfda.get("brand_name") or openfda.get("generic_name") or []
    metadata: dict[str, Any] = {"jurisdiction": "US", "document_type": "drug-label"}
    for key in ("set_id", "id", "version"):
        if isinstance(label.get(key), str):
            metadata[key] = label[key]
    effective = label.get("effective_time")
    if isinstance(effective, str) and re.fullmatch(r"\d{8}", effective):
        metadata["effective_date"] = f"{effective[:4]}-{effective[4:6]}-{effective[6:]}"
    title = f"{names[0]} label" if names and isinstance(names[0], str) else None
    return ParsedDocument(
        text=builder.text, blocks=builder.blocks, format="openfda", title=title, metadata=metadata
    )


_PARSERS: dict[str, Callable[[bytes], ParsedDocument]] = {
    PLAIN: _parse_plain,
    MARKDOWN: _parse_markdown,
    HTML: _parse_html,
    PDF: _parse_pdf,
    DOCX: _parse_docx,
    XML: _parse_xml,
    JSON: _parse_json,
}
