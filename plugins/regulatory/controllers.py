"""The regulatory routes: the requirements catalog (search and lookup), grounded questions (the catalog
plus the tenant's own uploaded documents) and SOP gap analysis, at once or as a background job whose result
is kept (GET /v1/regulatory/gap-analyses/{id}).

Catalog reads are curated, non-personal text and are not audited per request; /ask, /gap-analysis and reads
of a kept analysis are audited as domain events with counts and ids only. Neither a question nor a
procedure's text is ever logged or put in an audit record (an SOP is a tenant's confidential document).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
from litestar import Controller, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, PathParameter, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_202_ACCEPTED

from lumen.plugins.regulatory.models import RegulatoryGapAnalysis
from lumen.plugins.regulatory.repository import GapAnalysisRepository
from lumen.plugins.regulatory.schemas import (
    JURISDICTIONS,
    AskRequest,
    AskResult,
    GapAnalysisAccepted,
    GapAnalysisPage,
    GapAnalysisRecord,
    GapAnalysisRequest,
    GapAnalysisResult,
    RegulatorySettings,
    RequirementOut,
    RequirementPage,
)
from lumen.plugins.regulatory.service import (
    MAX_BACKGROUND_BYTES,
    MAX_DOCUMENT_BYTES,
    ask,
    load_catalog,
    load_gap_analyzer,
)
from lumen.plugins.regulatory.tasks import JOB_NAME
from lumen.plugins.sdk import Context, LumenProblem, NotFound, PluginContext, UnprocessableEntity

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


PageLimit = Annotated[int, QueryParameter(ge=1, le=100, description="Page size.")]
Cursor = Annotated[
    str | None, QueryParameter(max_length=200, description="`next_cursor` of the previous page.")
]

_GAP_DOC = (
    "Send the procedure's text in `document`, or the id of one of the tenant's uploaded documents "
    "(POST /v1/documents) in `document_id` (with `version` to pin one; else the newest). By default a "
    f"text up to {MAX_DOCUMENT_BYTES} bytes is analysed at once (200 with the result), while a "
    "`document_id` or a larger text runs as a background job (202 with the analysis id and the job id: "
    "GET /v1/jobs/{job_id} shows progress, GET /v1/regulatory/gap-analyses/{id} the kept result, and the "
    "`regulatory.gap_analysis.completed` webhook announces it). `background: true` always queues a job, "
    "`false` always answers at once."
)


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
        description=_GAP_DOC,
        opt={"action": "regulatory.analyse"},
        status_code=HTTP_200_OK,
        responses={
            HTTP_202_ACCEPTED: ResponseSpec(
                data_container=GapAnalysisAccepted,
                generate_examples=False,
                description="The analysis runs as a job; its result is kept at `links.result`.",
            )
        },
    )
    async def gap_analysis(
        self, ctx: Context, data: JSONBody[GapAnalysisRequest]
    ) -> Response[GapAnalysisResult]:
        if (data.document is None) == (data.document_id is None):
            raise UnprocessableEntity(
                "document, document_id: send exactly one: the procedure's text in `document`, or the id of "
                "an uploaded document (POST /v1/documents) in `document_id`",
                slug="validation-error",
            )
        if data.version is not None and data.document_id is None:
            raise UnprocessableEntity("version: only with document_id", slug="validation-error")
        title: str | None = None
        version: int | None = None
        if data.document is not None:
            field, text = "document", data.document
            if not text.strip():
                raise LumenProblem("document: the procedure text is blank", slug="validation-error")
            size = len(text.encode("utf-8"))
            background = size > MAX_DOCUMENT_BYTES if data.background is None else data.background
        else:
            assert data.document_id is not None
            field = "document_id"
            document = await ctx.document(data.document_id, version=data.version)  # another tenant's: 404
            text, title, version = document.text, document.title, document.version
            if not text.strip():
                raise UnprocessableEntity("document_id: the document has no text to analyse")
            size = len(text.encode("utf-8"))
            background = True if data.background is None else data.background
        limit = MAX_BACKGROUND_BYTES if background else MAX_DOCUMENT_BYTES
        if size > limit:
            raise LumenProblem(
                f"{field}: {size} bytes is over the {limit}-byte limit of a "
                + ("background" if background else "synchronous")
                + " gap analysis"
                + (
                    "; split the procedure or send its main body."
                    if background
                    else "; send it with `background: true`, or split the procedure."
                ),
                slug="payload-too-large",
            )
        if not background:
            result = load_gap_analyzer().analyse(text, data.document_type, data.jurisdictions)
            ctx.audit(
                "regulatory.gap_analysis",
                resource_type="procedure",
                resource_id=str(data.document_id) if data.document_id else None,
                details={
                    "document_type": result.document_type,
                    "jurisdictions": result.jurisdictions,
                    "elements": len(result.elements),
                    "missing": result.missing,
                    "source": field,
                },
            )
            return Response(result, status_code=HTTP_200_OK)
        asked: list[str] = list(dict.fromkeys(data.jurisdictions)) or list(JURISDICTIONS)
        row = await ctx.repository(GapAnalysisRepository).add(
            RegulatoryGapAnalysis(
                state="queued",
                document_type=data.document_type,
                jurisdictions=asked,
                source="text" if data.document is not None else "document",
                document_id=data.document_id,
                document_version=version,
                document_title=title,
                submitted_text=data.document,
                document_chars=len(text),
            )
        )
        job_id = await ctx.enqueue(JOB_NAME, {"analysis_id": str(row.id)}, track=True)
        row.job_id = uuid.UUID(job_id)
        ctx.audit(
            "regulatory.gap_analysis.queued",
            resource_type="regulatory_gap_analysis",
            resource_id=str(row.id),
            details={"document_type": row.document_type, "jurisdictions": asked, "source": row.source},
        )
        accepted = GapAnalysisAccepted(
            id=row.id,
            state=row.state,
            job_id=row.job_id,
            document_type=row.document_type,
            jurisdictions=asked,
            source="text" if row.source == "text" else "document",
            document_id=row.document_id,
            document_version=row.document_version,
            document_chars=row.document_chars,
            links={"job": f"/v1/jobs/{job_id}", "result": f"{self.path}/gap-analyses/{row.id}"},
        )
        # The 200 schema stays the result's (no breaking change); the 202 body is documented in `responses`.
        queued: Response[Any] = Response(accepted, status_code=HTTP_202_ACCEPTED)
        return queued

    @get(
        "/gap-analyses",
        operation_id="listProcedureGapAnalyses",
        summary="The tenant's background gap analyses, oldest first (without their results)",
        opt={"action": "regulatory.analyse"},
    )
    async def list_analyses(
        self, ctx: Context, limit: PageLimit = 20, cursor: Cursor = None
    ) -> GapAnalysisPage:
        rows, next_cursor = await ctx.repository(GapAnalysisRepository).page(cursor=cursor, limit=limit)
        return GapAnalysisPage(items=[_record(r, with_result=False) for r in rows], next_cursor=next_cursor)

    @get(
        "/gap-analyses/{analysis_id:uuid}",
        operation_id="getProcedureGapAnalysis",
        summary="One background gap analysis: its state and, once it succeeded, its result",
        opt={"action": "regulatory.analyse"},
    )
    async def get_analysis(self, ctx: Context, analysis_id: FromPath[uuid.UUID]) -> GapAnalysisRecord:
        row = await ctx.repository(GapAnalysisRepository).get(analysis_id)
        if row is None:
            raise NotFound("analysis_id: no such gap analysis")
        ctx.audit(
            "regulatory.gap_analysis.read",
            resource_type="regulatory_gap_analysis",
            resource_id=str(row.id),
            details={"state": row.state},
        )
        return _record(row, with_result=True)


def _record(row: RegulatoryGapAnalysis, *, with_result: bool) -> GapAnalysisRecord:
    result = (
        msgspec.convert(row.result, GapAnalysisResult) if with_result and row.result is not None else None
    )
    return GapAnalysisRecord(
        id=row.id,
        state=row.state,  # type: ignore[arg-type]
        job_id=row.job_id,
        document_type=row.document_type,
        jurisdictions=list(row.jurisdictions),
        source="text" if row.source == "text" else "document",
        document_id=row.document_id,
        document_version=row.document_version,
        document_title=row.document_title,
        document_chars=row.document_chars,
        found=row.found,
        missing=row.missing,
        score=row.score,
        error=row.error,
        created_at=row.created_at,
        completed_at=row.completed_at,
        result=result,
    )
