"""Chunks that keep the document's structure: each chunk lies inside one section (so it has one section id,
one heading and one page) and is an exact slice of the version text, `text[start:end]`.

Section ids are read from the structure the parser found and from the text itself:
- CFR: a heading `§ 211.100 Written procedures` under `21 CFR` gives `21 CFR 211.100`, and a paragraph that
  opens with `(a)` gives `21 CFR 211.100(a)`;
- EU GMP annexes: a document or heading naming `Annex 11` turns numbered headings and paragraphs (`4.8 ...`)
  into `EU GMP Annex 11 §4.8`;
- otherwise a numbered heading (`4.2 Rinse`) gives `4.2`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from lumen.inference.retrieval.parsing import Block, ParsedDocument

__all__ = ["MAX_CHUNK_CHARS", "Chunk", "chunk_document"]

MAX_CHUNK_CHARS = 1_000
MIN_CHUNK_CHARS = 200


@dataclass(frozen=True, slots=True)
class Chunk:
    ordinal: int
    start: int
    end: int
    text: str
    heading: str | None
    section_id: str | None
    page: int | None


_CFR_TITLE = re.compile(r"\b(\d{1,2})\s*CFR\b", re.IGNORECASE)
_CFR_HEADING = re.compile(r"(?:§|Sec\.|Section)\s*(\d{1,4}\.\d{1,4}[a-z]?)")
_CFR_PART = re.compile(r"\bPart\s+(\d{1,4})\b", re.IGNORECASE)
_ANNEX = re.compile(r"\bAnnex\s+(\d{1,2})\b", re.IGNORECASE)
_NUMBER = re.compile(r"^(?:§\s*)?(\d{1,3}(?:\.\d{1,3}){0,4})\.?(?=\s|$)")
_PARAGRAPH_MARK = re.compile(r"^\(([a-z])\)(?:\s*\((\d{1,2})\))?")


class _Sections:
    """Follows the document in order, keeping the context a section id is made from."""

    def __init__(self, title: str | None, base: str | None, text: str) -> None:
        self.base = base  # given by the caller (a corpus document's own section id)
        probe = " ".join(filter(None, [title, base, text[:2000]]))
        match = _CFR_TITLE.search(probe)
        self.cfr_title = match.group(1) if match else None
        self.eu_gmp = _is_eu_gmp(probe)
        annex = _ANNEX.search(" ".join(filter(None, [title, base])))
        self.annex: str | None = None
        if annex:
            self.annex = f"{'EU GMP ' if self.eu_gmp else ''}Annex {annex.group(1)}"
        self.cfr_section: str | None = None
        self.numbered: str | None = None

    def heading(self, block_section: str | None, heading: str) -> str | None:
        if block_section:
            self.cfr_section = block_section if " CFR " in block_section else None
            self.numbered = block_section
            return block_section
        annex = _ANNEX.search(heading)
        if annex:
            self.eu_gmp = self.eu_gmp or _is_eu_gmp(heading)
            self.annex = f"{'EU GMP ' if self.eu_gmp else ''}Annex {annex.group(1)}"
        cfr = _CFR_HEADING.search(heading)
        if cfr:
            number = cfr.group(1)
            self.cfr_section = f"{self.cfr_title} CFR {number}" if self.cfr_title else f"§ {number}"
            self.numbered = self.cfr_section
            return self.cfr_section
        number = _NUMBER.match(heading)
        if number:
            self.cfr_section = None
            self.numbered = self._numbered(number.group(1))
            return self.numbered
        return self.numbered or self.base

    def _numbered(self, number: str) -> str:
        if self.annex:
            return f"{self.annex} §{number}"
        if self.base and not _NUMBER.match(self.base):
            return f"{self.base} §{number}"
        return number

    def paragraph(self, block_section: str | None, paragraph: str) -> str | None:
        current = block_section or self.cfr_section or self.numbered or self.base
        if self.cfr_section and (block_section is None or block_section.startswith(self.cfr_section)):
            mark = _PARAGRAPH_MARK.match(paragraph)
            if mark:
                return f"{self.cfr_section}({mark.group(1)})" + (
                    f"({mark.group(2)})" if mark.group(2) else ""
                )
            return block_section or self.cfr_section
        if block_section is None and self.annex:
            number = _NUMBER.match(paragraph)
            if number and "." in number.group(1):
                return self._numbered(number.group(1))
        return current


def _is_eu_gmp(text: str) -> bool:
    return bool(re.search(r"\bEU\b|EudraLex|European|\bGMP\b", text))


def chunk_document(
    parsed: ParsedDocument,
    *,
    title: str | None = None,
    section_id: str | None = None,
    max_chars: int = MAX_CHUNK_CHARS,
) -> list[Chunk]:
    """Group the parsed blocks into chunks of at most `max_chars` that never cross a section boundary."""
    text = parsed.text
    sections = _Sections(title or parsed.title, section_id, text)
    units: list[
        tuple[int, int, str | None, str | None, int | None]
    ] = []  # start, end, heading, section, page
    pending_heading: Block | None = None
    pending_section: str | None = None
    for block in parsed.blocks:
        raw = text[block.start : block.end]
        if block.is_heading:
            # A heading with nothing under it (a part or chapter title) is structure, not a passage.
            pending_section = sections.heading(block.section_id, raw.strip().lstrip("#").strip())
            pending_heading = block
            continue
        section = sections.paragraph(block.section_id, raw.strip())
        pending_heading = None
        for start, end in _split(text, block.start, block.end, max_chars):
            units.append((start, end, block.heading, section, block.page))
    if not units and pending_heading is not None:  # a document of headings only still says something
        units.append(_unit(pending_heading, pending_section))
    return list(_group(text, units, max_chars))


def _unit(block: Block, section: str | None) -> tuple[int, int, str | None, str | None, int | None]:
    return (block.start, block.end, block.heading, section, block.page)


_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


def _split(text: str, start: int, end: int, max_chars: int) -> Iterator[tuple[int, int]]:
    """Pieces of one block no longer than max_chars, cut after a sentence where possible."""
    while end - start > max_chars:
        window = text[start : start + max_chars]
        cuts = [m.end() for m in _SENTENCE_END.finditer(window) if m.end() > max_chars // 3]
        if not cuts:
            cuts = [m.end() for m in re.finditer(r"\s+", window) if m.end() > max_chars // 3]
        cut = start + (cuts[-1] if cuts else max_chars)
        piece_end = cut
        while piece_end > start and text[piece_end - 1].isspace():
            piece_end -= 1
        yield start, piece_end
        start = cut
    if end > start:
        yield start, end


def _group(
    text: str, units: list[tuple[int, int, str | None, str | None, int | None]], max_chars: int
) -> Iterator[Chunk]:
    ordinal = 0
    current: list[tuple[int, int, str | None, str | None, int | None]] = []

    def emit() -> Chunk:
        start, end = current[0][0], current[-1][1]
        _, _, heading, section, page = current[0]
        return Chunk(ordinal, start, end, text[start:end], heading, section, page)

    for unit in units:
        if current:
            start = current[0][0]
            same_place = unit[2:] == current[0][2:]
            if not same_place or unit[1] - start > max_chars:
                yield emit()
                ordinal += 1
                current = []
        current.append(unit)
    if current:
        yield emit()
