"""The glossary itself: curated entries loaded once per process, looked up by slug and searched by term and
synonym.

Deterministic by design (ARCHITECTURE §6.1): every answer is an entry someone wrote and sourced; a search that
matches nothing returns nothing. Matching ignores case, accents and punctuation, and folds British spellings
onto American ones on both sides, so "anaemia" finds "anemia" and "oedema" finds "edema" without listing
every variant as a synonym.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import msgspec

from lumen.plugins.glossary.schemas import (
    Citation,
    GlossaryEntry,
    GlossaryKnowledge,
    GlossarySettings,
    SourceOut,
    TermOut,
    TermPage,
)

__all__ = ["DISCLAIMER", "Glossary", "GlossaryKnowledgeError", "fold", "load_glossary"]

KNOWLEDGE_FILE = "terms.json"

# Non-removable (ARCHITECTURE §6.2): informational, never diagnostic (§6.5).
DISCLAIMER = (
    "General information to help understand a medical word; not medical advice, and it cannot tell whether a "
    "condition applies to a particular person. A doctor, nurse or pharmacist can explain what it means in a "
    "specific situation. In an emergency, call the local emergency number."
)

# Wording a patient-facing definition must never use: it would read as a diagnosis (§6.5).
_DIAGNOSTIC = re.compile(r"\byou(?:'ve| have)\b", re.IGNORECASE)

# British -> American spelling fragments, applied to the query and to every indexed name alike.
_SPELLING = (
    ("aemia", "emia"),  # anaemia, leukaemia, hyperglycaemia, septicaemia
    ("haem", "hem"),  # haemoglobin, haemorrhoids, haematuria
    ("aesth", "esth"),  # anaesthetic, paraesthesia
    ("aetio", "etio"),
    ("paed", "ped"),  # paediatric, orthopaedic
    ("gynaec", "gynec"),
    ("caesar", "cesar"),
    ("faec", "fec"),
    ("leukaem", "leukem"),
    ("ischaem", "ischem"),
    ("leuc", "leuk"),  # leucocyte
    ("oedem", "edem"),
    ("oesoph", "esoph"),
    ("oestr", "estr"),
    ("foet", "fet"),
    ("coeliac", "celiac"),
    ("rrhoea", "rrhea"),  # diarrhoea, gonorrhoea
    ("pnoea", "pnea"),  # apnoea, dyspnoea
    ("tumour", "tumor"),
    ("colour", "color"),
    ("behaviour", "behavior"),
    ("labour", "labor"),
    ("odour", "odor"),
    ("fibre", "fiber"),
    ("centre", "center"),
    ("litre", "liter"),
    ("metre", "meter"),
    ("sulph", "sulf"),
    ("defence", "defense"),
    ("isation", "ization"),  # immunisation, hospitalisation
    ("ised", "ized"),  # generalised, normalised
    ("ising", "izing"),
)
_APOSTROPHES = dict.fromkeys(map(ord, "'\u2019`\u00b4"), None)  # Crohn's -> crohns
_SEPARATORS = re.compile(r"[^0-9a-z]+")


class GlossaryKnowledgeError(ValueError):
    """The knowledge file cannot be used; the message names the file and the entry."""


def fold(text: str, *, american: bool = True) -> str:
    """Search form of a name or query: lower case, no accents or punctuation, American spelling (or, with
    `american=False`, the spelling as written, so that a half-typed "anae" still finds "anaemia")."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    words = _SEPARATORS.sub(" ", bare).split()
    return " ".join(_american(word) if american else word for word in words)


def _american(word: str) -> str:
    for british, american in _SPELLING:
        if british in word:
            word = word.replace(british, american)
    return word


@dataclass(frozen=True)
class _Name:
    text: str  # folded
    compact: str  # folded, without spaces: "x ray" and "xray", "gall bladder" and "gallbladder" meet
    words: tuple[str, ...]
    primary: bool  # the term itself (either spelling), not a synonym


def _names(entry: GlossaryEntry) -> list[_Name]:
    primary = [entry.term, *([entry.term_en_gb] if entry.term_en_gb else [])]
    found: dict[str, _Name] = {}
    for raw, is_primary in [*((n, True) for n in primary), *((n, False) for n in entry.synonyms)]:
        for text in (fold(raw), fold(raw, american=False)):
            if text and text not in found:
                found[text] = _Name(text, text.replace(" ", ""), tuple(text.split()), is_primary)
    return list(found.values())


def _score(query: str, words: Sequence[str], name: _Name) -> int:
    """How well one name matches; 0 for no match. Primary names outrank synonyms at each level."""
    bonus = 5 if name.primary else 0
    compact = query.replace(" ", "")
    if query == name.text or compact == name.compact:
        return 90 + bonus
    if name.text.startswith(query) or name.compact.startswith(compact):
        return 70 + bonus
    if all(any(w.startswith(q) for w in name.words) for q in words):
        return 50 + bonus
    return 0


class Glossary:
    def __init__(self, knowledge: GlossaryKnowledge, entries: Iterable[GlossaryEntry]) -> None:
        self.name = knowledge.name
        self.version = knowledge.version
        self.description = knowledge.description
        self.provenance = knowledge.provenance
        self.reviewed = knowledge.reviewed
        self.entries: dict[str, GlossaryEntry] = {e.slug: e for e in sorted(entries, key=lambda e: e.slug)}
        self._index = [(entry, _names(entry)) for entry in self.entries.values()]

    # --- loading -------------------------------------------------------------------------------------------

    @classmethod
    def from_json(cls, data: bytes, *, origin: str = KNOWLEDGE_FILE) -> Glossary:
        """Validate the whole file; the first problem raises, naming the entry (by slug where it has one)."""
        try:
            knowledge = msgspec.json.decode(data, type=GlossaryKnowledge)
        except msgspec.DecodeError as exc:  # ValidationError included
            raise GlossaryKnowledgeError(f"glossary knowledge {origin}: {exc}") from exc
        entries: list[GlossaryEntry] = []
        seen: dict[str, int] = {}
        sources: dict[str, object] = {}
        for position, raw in enumerate(knowledge.entries):
            label = f"entries[{position}]" + (
                f" ({raw['slug']!r})" if isinstance(raw.get("slug"), str) else ""
            )
            try:
                entry = msgspec.convert(raw, GlossaryEntry)
            except msgspec.ValidationError as exc:
                raise GlossaryKnowledgeError(f"glossary knowledge {origin}: {label}: {exc}") from exc
            problem = _check(entry, seen, sources)
            if problem:
                raise GlossaryKnowledgeError(f"glossary knowledge {origin}: {label}: {problem}")
            seen[entry.slug] = position
            entries.append(entry)
        for entry in entries:
            missing = [s for s in entry.see_also if s not in seen or s == entry.slug]
            if missing:
                raise GlossaryKnowledgeError(
                    f"glossary knowledge {origin}: entries[{seen[entry.slug]}] ({entry.slug!r}): see_also "
                    f"names {', '.join(repr(s) for s in missing)}, which is not another entry"
                )
        if not entries:
            raise GlossaryKnowledgeError(f"glossary knowledge {origin}: it has no entries")
        return cls(knowledge, entries)

    # --- reading -------------------------------------------------------------------------------------------

    def get(self, slug: str) -> GlossaryEntry | None:
        return self.entries.get(slug)

    def search(self, query: str, *, limit: int) -> list[GlossaryEntry]:
        """Entries whose term or a synonym matches, best first; [] for a blank query or no match."""
        queries = {fold(query), fold(query, american=False)} - {""}
        if not queries:
            return []
        scored = []
        for entry, names in self._index:
            best = max(_score(q, q.split(), name) for q in queries for name in names)
            if best:
                scored.append((-best, entry.term.casefold(), entry))
        scored.sort(key=lambda item: (item[0], item[1]))
        return [entry for _, _, entry in scored[:limit]]

    def browse(self, *, after: str | None, limit: int) -> tuple[list[GlossaryEntry], str | None]:
        """A to Z by slug, `limit` at a time, continuing after the slug `after`."""
        ordered = [e for slug, e in self.entries.items() if after is None or slug > after]
        page = ordered[:limit]
        return page, (page[-1].slug if len(ordered) > limit else None)

    # --- rendering -----------------------------------------------------------------------------------------

    def render(self, entry: GlossaryEntry, settings: GlossarySettings) -> TermOut:
        british = settings.locale == "en-GB" and entry.term_en_gb is not None
        shown = entry.term_en_gb if british and entry.term_en_gb else entry.term
        other = [entry.term] if british else ([entry.term_en_gb] if entry.term_en_gb else [])
        definition = entry.plain if settings.reading_level == "plain" else f"{entry.plain} {entry.detail}"
        return TermOut(
            term=shown,
            slug=entry.slug,
            synonyms=[*other, *entry.synonyms],
            definition=definition,
            see_also=list(entry.see_also),
            source=SourceOut(
                title=entry.source.title, url=entry.source.url, publisher=entry.source.publisher
            ),
            reviewed=entry.reviewed,
            knowledge_version=self.version,
            disclaimer=DISCLAIMER,
            citations=[_citation(entry)],
            confidence=1.0,
            abstained=False,
        )

    def page(
        self, entries: Sequence[GlossaryEntry], settings: GlossarySettings, *, next_cursor: str | None = None
    ) -> TermPage:
        items = [self.render(entry, settings) for entry in entries]
        citations = list({c.source_id: c for item in items for c in item.citations}.values())
        return TermPage(
            items=items,
            next_cursor=next_cursor,
            knowledge_version=self.version,
            disclaimer=DISCLAIMER,
            citations=citations,
            confidence=1.0 if items else 0.0,
            abstained=not items,
        )


def _citation(entry: GlossaryEntry) -> Citation:
    source = entry.source
    return Citation(source_id=source.id, title=source.title, url=source.url, publisher=source.publisher)


def _check(entry: GlossaryEntry, seen: dict[str, int], sources: dict[str, object]) -> str | None:
    if entry.slug in seen:
        return f"slug {entry.slug!r} is already used by entries[{seen[entry.slug]}]"
    for field in ("plain", "detail"):
        if _DIAGNOSTIC.search(getattr(entry, field)):
            return f"{field}: a definition must inform, never diagnose (it says 'you have')"
    known = sources.setdefault(entry.source.id, entry.source)
    if known != entry.source:
        return f"source: id {entry.source.id!r} is used elsewhere for a different page"
    return None


def load_glossary(path: Path | None = None) -> Glossary:
    """The glossary from `path`, or the packaged knowledge file (read once per process)."""
    if path is None:
        return _packaged()
    return Glossary.from_json(path.read_bytes(), origin=str(path))


@functools.cache
def _packaged() -> Glossary:
    resource = resources.files("lumen.plugins.glossary") / "knowledge" / KNOWLEDGE_FILE
    return Glossary.from_json(resource.read_bytes(), origin=f"knowledge/{KNOWLEDGE_FILE}")
