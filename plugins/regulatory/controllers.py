"""The regulatory routes: the requirements catalog (search and lookup), grounded questions and SOP gap
analysis.

Catalog reads are curated, non-personal text and are not audited per request; /ask and /gap-analysis are
audited as domain events with counts only. Neither a question nor a procedure's text is ever logged or put in
an audit record (an SOP is a tenant's confidential document).
"""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from lumen.plugins.regulatory.schemas import (
    JURISDICTIONS,
    AskRequest,
    AskResult,
    GapAnalysisRequest,
    GapAnalysisResult,
    RegulatorySettings,
    RequirementOut,
    RequirementPage,
)
from lumen.plugins.regulatory.service import (
    MAX_DOCUMENT_BYTES,
    ask,
    load_catalog,
    load_gap_analyzer,
)
from lumen.plugins.sdk import Context, LumenProblem, NotFound, PluginContext

__all__ = ["RegulatoryController"]

Query = Annotated[
    str | None,
    QueryParameter(
        max_length=300,
        description="Words to rank requirements by (any wording: 'batch record review', 'media fill', "
        "'211.192'). Without it, the catalog in order.",
    ),
]
JurisdictionParam = Annotated[
    str | None,
    QueryParameter(
        max_length=20,
        # Documents what the controller accepts (any case, spaces around commas), so clients can validate.
        pattern=r"^ *([Uu][SsKk]|[Ee][Uu]|[Ii][Cc][Hh]) *(, *([Uu][SsKk]|[Ee][Uu]|[Ii][Cc][Hh]) *)*$",
        description="Only these jurisdictions, comma-separated: US, EU, UK, ICH.",
    ),
]
Instrument = Annotated[
    str | None,
    QueryParameter(
        max_length=100,
        description="Only entries whose instrument contains this text, e.g. 'Part 211', 'Annex 11', 'Q9'.",
    ),
]
Limit = Annotated[int, QueryParameter(ge=1, le=50, description="How many requirements at most.")]
Offset = Annotated[int, QueryParameter(ge=0, le=10_000, description="Skip this many (for paging).")]
RequirementParam = Annotated[
    str,
    PathParameter(
        max_length=100,
        description="The requirement's stable id, e.g. `us-21cfr-211.192` (the catalog is shared by every "
        "tenant, so this names a catalog entry, not a tenant's object).",
    ),
]


def _settings(ctx: PluginContext) -> RegulatorySettings:
    return ctx.settings if isinstance(ctx.settings, RegulatorySettings) else RegulatorySettings()


def _jurisdictions(raw: str | None) -> list[str]:
    if raw is None:
        return []
    values = [v.strip().upper() for v in raw.split(",") if v.strip()]
    unknown = [v for v in values if v not in JURISDICTIONS]
    if unknown or not values:
        raise LumenProblem(
            f"jurisdiction: expected a comma-separated list of {', '.join(JURISDICTIONS)}",
            slug="validation-error",
        )
    return values


class RegulatoryController(Controller):
    path = "/v1/regulatory"
    tags = ["regulatory"]

    @get(
        "/requirements",
        operation_id="searchRegulatoryRequirements",
        summary="Search the requirements catalog (ranked by relevance to q), or list it",
        opt={"action": "regulatory.read"},
    )
    async def search(
        self,
        ctx: Context,
        q: Query = None,
        jurisdiction: JurisdictionParam = None,
        instrument: Instrument = None,
        limit: Limit = 10,
        offset: Offset = 0,
    ) -> RequirementPage:
        catalog = load_catalog()
        jurisdictions = _jurisdictions(jurisdiction)
        if q is not None and q.strip():
            # The whole ranking (a few hundred entries) so that `total` counts every match.
            ranking = len(catalog.entries)
            hits = catalog.search(q, jurisdictions=jurisdictions, instrument=instrument, limit=ranking)
            total = len(hits)
            items = [catalog.out(h.requirement, h.score) for h in hits[offset : offset + limit]]
        else:
            entries = catalog.filtered(jurisdictions, instrument)
            total = len(entries)
            items = [catalog.out(e) for e in entries[offset : offset + limit]]
        return RequirementPage(items=items, total=total, knowledge_version=catalog.version)

    @get(
        "/requirements/{requirement:str}",
        operation_id="getRegulatoryRequirement",
        summary="One requirement of the catalog, with its source",
        opt={"action": "regulatory.read"},
    )
    async def requirement(self, ctx: Context, requirement: RequirementParam) -> RequirementOut:
        catalog = load_catalog()
        entry = catalog.get(requirement)
        if entry is None:
            raise NotFound(
                "The catalog has no requirement with this id; search with "
                "GET /v1/regulatory/requirements?q=..."
            )
        return catalog.out(entry)

    @post(
        "/ask",
        operation_id="askRegulatoryQuestion",
        summary="Answer a regulatory question from cited requirements, or abstain",
        opt={"action": "regulatory.ask"},
        status_code=200,
    )
    async def ask(self, ctx: Context, data: JSONBody[AskRequest]) -> AskResult:
        result = await ask(
            load_catalog(),
            data.question,
            data.jurisdictions,
            _settings(ctx),
            retrieve=ctx.retrieve,
            generate=ctx.generate,
        )
        ctx.audit(
            "regulatory.ask",
            resource_type="regulatory_question",
            details={
                "jurisdictions": result.jurisdictions,
                "abstained": result.abstained,
                "citations": [c.source_id for c in result.citations],
                "answer_source": result.answer_source,
            },
        )
        return result

    @post(
        "/gap-analysis",
        operation_id="analyseProcedureGaps",
        summary="Check a procedure against the elements its type requires, citing the requirements",
        opt={"action": "regulatory.analyse"},
        status_code=200,
    )
    async def gap_analysis(self, ctx: Context, data: JSONBody[GapAnalysisRequest]) -> GapAnalysisResult:
        size = len(data.document.encode("utf-8"))
        if size > MAX_DOCUMENT_BYTES:
            raise LumenProblem(
                f"document: {size} bytes is over the {MAX_DOCUMENT_BYTES}-byte limit of a synchronous gap "
                "analysis; split the procedure or send its main body.",
                slug="payload-too-large",
            )
        if not data.document.strip():
            raise LumenProblem("document: the procedure text is blank", slug="validation-error")
        result = load_gap_analyzer().analyse(data.document, data.document_type, data.jurisdictions)
        ctx.audit(
            "regulatory.gap_analysis",
            resource_type="procedure",
            details={
                "document_type": result.document_type,
                "jurisdictions": result.jurisdictions,
                "elements": len(result.elements),
                "missing": result.missing,
            },
        )
        return result
