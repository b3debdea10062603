"""POST /v1/otc/recommend: over-the-counter options for a self-care problem, checked against the patient and
their medicines; triage advice instead for anything more urgent. Audited with the outcome only (status,
level, option ids), never the symptoms or the patient's details."""

from __future__ import annotations

import msgspec
import structlog
from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from lumen.plugins.otc.schemas import PatientIn, Recommendation, RecommendRequest
from lumen.plugins.otc.service import load_otc
from lumen.plugins.sdk import PluginContext, UnprocessableEntity

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
        if data.patient_id is not None:
            if data.patient is not None:
                raise UnprocessableEntity("patient_id: give either `patient` or `patient_id`, not both")
            profile = await ctx.patient(data.patient_id)
            patient = msgspec.convert(
                {
                    "age": profile.get("age"),
                    "sex": profile.get("sex") if profile.get("sex") in ("female", "male") else None,
                    "pregnant": profile.get("pregnant"),
                    "breastfeeding": profile.get("pregnancy_status") == "breastfeeding" or None,
                    "conditions": [c[:100] for c in profile.get("condition_names", [])][:30],
                    "allergies": [a[:100] for a in profile.get("allergy_names", [])][:30],
                    "medications": [m[:100] for m in profile.get("medication_names", [])][:40],
                },
                PatientIn,
            )
            data = msgspec.structs.replace(data, patient=patient, patient_id=None)
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
