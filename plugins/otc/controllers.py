"""POST /v1/otc/recommend: over-the-counter options for a self-care problem, checked against the patient and
their medicines; triage advice instead for anything more urgent. Audited with the outcome only (status,
level, option ids), never the symptoms or the patient's details."""

from __future__ import annotations

import structlog
from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from lumen.plugins.otc.schemas import Recommendation, RecommendRequest
from lumen.plugins.otc.service import load_otc
from lumen.plugins.sdk import PluginContext

__all__ = ["OTCController"]

log = structlog.get_logger()

Ctx = NamedDependency[PluginContext]


class OTCController(Controller):
    path = "/v1/otc"
    tags = ["otc"]

    @post(
        "/recommend",
        operation_id="recommendOTC",
        summary="Over-the-counter options for a self-care problem, checked for interactions and "
        "contraindications",
        opt={"action": "otc.recommend"},
        status_code=200,
    )
    async def recommend(self, ctx: Ctx, data: JSONBody[RecommendRequest]) -> Recommendation:
        result = await load_otc().recommend(ctx, data)
        ctx.audit(
            "otc.recommended",
            resource_type="otc_recommendation",
            details={
                "status": result.status,
                "level": result.triage.level,
                "options": [o.id for o in result.options],
                "excluded": len(result.excluded),
                "knowledge_version": result.knowledge_version,
            },
        )
        log.info("otc.recommended", status=result.status, options=len(result.options))
        return result
