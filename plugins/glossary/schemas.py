"""The glossary's shapes: its knowledge file (validated strictly, so a broken entry stops start-up), its
per-tenant settings, and what its routes answer, safety envelope included (ARCHITECTURE §6.2)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

import msgspec

__all__ = [
    "Citation",
    "GlossaryEntry",
    "GlossaryKnowledge",
    "GlossarySettings",
    "SourceOut",
    "SourceRef",
    "TermOut",
    "TermPage",
]

SLUG_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
Slug = Annotated[str, msgspec.Meta(min_length=1, max_length=80, pattern=SLUG_PATTERN)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"\S")]
# A definition is a sentence or two a patient can read at a glance, not an article.
Sentence = Annotated[str, msgspec.Meta(min_length=20, max_length=400)]
HttpsUrl = Annotated[str, msgspec.Meta(max_length=300, pattern=r"^https://[^\s/]+\.[a-z]{2,}/\S*$")]
SourceId = Annotated[str, msgspec.Meta(min_length=3, max_length=120, pattern=r"^[a-z0-9-]+:[a-z0-9:._/-]+$")]


class GlossarySettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a tenant chooses for its patient app (PUT /v1/plugins/glossary {"settings": {...}})."""

    # plain: the short definition only; standard: adds a sentence of detail.
    reading_level: Literal["plain", "standard"] = "plain"
    # The spelling of the displayed term (anemia / anaemia); searches find either spelling regardless.
    locale: Literal["en-US", "en-GB"] = "en-US"


# --- the knowledge file -----------------------------------------------------------------------------------


class SourceRef(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The public page an entry's facts come from (the entry's text is Lumen's own wording)."""

    id: SourceId
    publisher: Name
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    url: HttpsUrl


class GlossaryEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    slug: Slug
    term: Name  # US spelling
    term_en_gb: Name | None = None  # only where British spelling or usage differs
    synonyms: Annotated[list[Name], msgspec.Meta(max_length=20)] = msgspec.field(default_factory=list)
    plain: Sentence
    detail: Sentence
    see_also: Annotated[list[Slug], msgspec.Meta(max_length=10)] = msgspec.field(default_factory=list)
    source: SourceRef
    reviewed: date


class GlossaryKnowledge(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: Name
    version: Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z.+-]+$")]
    description: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    provenance: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
    reviewed: date
    # Entries are converted one by one (service.py) so that an error names the entry, not an index.
    entries: list[dict[str, Any]]


# --- responses --------------------------------------------------------------------------------------------


class SourceOut(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    url: str
    publisher: str


class Citation(msgspec.Struct, frozen=True, kw_only=True):
    source_id: str
    title: str
    url: str
    publisher: str


class TermOut(msgspec.Struct, frozen=True, kw_only=True):
    """One term, as the tenant's settings ask for it, inside the safety envelope."""

    term: str
    slug: str
    synonyms: list[str]
    definition: str
    see_also: list[str]
    source: SourceOut
    reviewed: date
    knowledge_version: str
    disclaimer: str
    citations: list[Citation]
    confidence: float  # 1.0: curated text looked up, never generated
    abstained: bool


class TermPage(msgspec.Struct, frozen=True, kw_only=True):
    """Search results (best match first) or, without `q`, the glossary A to Z; an empty list when nothing
    matches, never an invented definition."""

    items: list[TermOut]
    next_cursor: str | None
    knowledge_version: str
    disclaimer: str
    citations: list[Citation]
    confidence: float  # 1.0 when there are results, 0.0 when there are none
    abstained: bool  # true when nothing matched: there is no answer to give
