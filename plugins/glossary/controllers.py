"""GET /v1/glossary/terms and GET /v1/glossary/terms/{slug}: the glossary for a tenant's patient app.

Reads of curated, non-personal text: not audited per request, and the search text is never logged (a
patient's query can say more about them than the answer does).
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import PathParameter, QueryParameter

from lumen.plugins.glossary.schemas import SLUG_PATTERN, GlossarySettings, TermOut, TermPage
from lumen.plugins.glossary.service import Glossary, load_glossary
from lumen.plugins.sdk import NotFound, PluginContext

__all__ = ["GlossaryController"]

Ctx = NamedDependency[PluginContext]
Query = Annotated[
    str | None,
    QueryParameter(
        max_length=100,
        description="Words to find in terms and synonyms (any case, accents, US or UK spelling). Without it, "
        "the glossary A to Z.",
    ),
]
Limit = Annotated[int, QueryParameter(ge=1, le=50, description="How many terms at most.")]
Cursor = Annotated[
    str | None,
    QueryParameter(
        max_length=80, pattern=SLUG_PATTERN, description="`next_cursor` of the previous A-Z page."
    ),
]
SlugParam = Annotated[str, PathParameter(max_length=100, description="The term's slug, e.g. `anemia`.")]


def _settings(ctx: PluginContext) -> GlossarySettings:
    return ctx.settings if isinstance(ctx.settings, GlossarySettings) else GlossarySettings()


def _glossary() -> Glossary:
    return load_glossary()


class GlossaryController(Controller):
    path = "/v1/glossary"
    tags = ["glossary"]

    @get(
        "/terms",
        operation_id="searchGlossaryTerms",
        summary="Search the plain-language glossary, or list it A to Z",
        opt={"action": "glossary.read"},
    )
    async def search(self, ctx: Ctx, q: Query = None, limit: Limit = 10, cursor: Cursor = None) -> TermPage:
        glossary, settings = _glossary(), _settings(ctx)
        if q is None:
            entries, next_cursor = glossary.browse(after=cursor, limit=limit)
            return glossary.page(entries, settings, next_cursor=next_cursor)
        return glossary.page(glossary.search(q, limit=limit), settings)

    @get(
        "/terms/{slug:str}",
        operation_id="getGlossaryTerm",
        summary="One term, explained in plain language",
        opt={"action": "glossary.read"},
    )
    async def term(self, ctx: Ctx, slug: SlugParam) -> TermOut:
        glossary = _glossary()
        entry = glossary.get(slug)
        if entry is None:
            raise NotFound(
                "The glossary has no term with this slug; search with GET /v1/glossary/terms?q=..."
            )
        return glossary.render(entry, _settings(ctx))
