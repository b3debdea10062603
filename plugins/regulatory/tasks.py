"""The background gap analysis: one job per analysis row (POST /v1/regulatory/gap-analysis answered 202).

It reads the procedure in the tenant's own scope (the uploaded document's pinned version through the SDK, or
the text kept on the row), checks it element by element while moving the job's progress, then stores the
result on the row, drops the kept text, and emits `regulatory.gap_analysis.completed` (counts and ids only,
never the text) with its audit record, all in one transaction. arq delivers at least once: a second run of a
finished analysis changes nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog

from lumen.plugins.regulatory.repository import GapAnalysisRepository
from lumen.plugins.regulatory.service import load_gap_analyzer
from lumen.plugins.sdk import JobContext

__all__ = ["COMPLETED_EVENT", "JOB_NAME", "run_gap_analysis"]

log = structlog.get_logger()

JOB_NAME = "regulatory.gap_analysis"
COMPLETED_EVENT = "regulatory.gap_analysis.completed"


def event_data(row: Any) -> dict[str, Any]:
    return {
        "analysis_id": str(row.id),
        "state": row.state,
        "document_type": row.document_type,
        "jurisdictions": list(row.jurisdictions),
        "document_id": str(row.document_id) if row.document_id else None,
        "document_version": row.document_version,
        "found": row.found,
        "missing": row.missing,
        "score": row.score,
    }


async def run_gap_analysis(ctx: JobContext, analysis_id: str) -> dict[str, Any]:
    ident = uuid.UUID(analysis_id)
    async with ctx.transaction() as tx:
        row = await tx.repository(GapAnalysisRepository).get(ident)
        if row is None or row.state in ("succeeded", "failed"):
            # Deleted with its tenant, or a repeated delivery of a finished job: nothing to redo.
            return {"analysis_id": analysis_id, "state": row.state if row else "gone"}
        row.state = "running"
        text = row.submitted_text
        if row.source == "document":
            assert row.document_id is not None
            document = await tx.document(row.document_id, version=row.document_version)
            text = document.text if document else None
        document_type, jurisdictions = row.document_type, list(row.jurisdictions)
    await ctx.report_progress(0.05, "procedure read")

    result = None
    if text is not None:
        result = await load_gap_analyzer().analyse_in_steps(
            text, document_type, jurisdictions, ctx.report_progress
        )

    async with ctx.transaction() as tx:
        row = await tx.repository(GapAnalysisRepository).get(ident)
        if row is None:
            return {"analysis_id": analysis_id, "state": "gone"}
        row.completed_at = datetime.now(UTC)
        row.submitted_text = None  # the SOP's text is kept no longer than the analysis needs it
        if result is None:
            row.state = "failed"
            row.error = "The document (or the version analysed) was deleted before the analysis ran."
        else:
            row.state = "succeeded"
            row.result = msgspec.to_builtins(result)
            row.found, row.missing, row.score = result.found, result.missing, result.score
        await tx.emit(COMPLETED_EVENT, event_data(row))
        await tx.audit(
            "regulatory.gap_analysis.completed",
            resource_type="regulatory_gap_analysis",
            resource_id=str(row.id),
            details={
                "state": row.state,
                "document_type": row.document_type,
                "missing": row.missing,
            },
        )
        summary = event_data(row)
    log.info("regulatory.gap_analysis_completed", state=summary["state"], missing=summary["missing"])
    await ctx.report_progress(1.0, summary["state"])
    return summary
