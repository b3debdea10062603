"""POST /v1/triage/assess, and the interview: POST /v1/triage/interviews, POST .../{interview_id}/answers,
GET .../{interview_id}.

Every call is audited with the level and the ids of the red flags (never the text); the text is never
logged. Interviews are the tenant's rows (404 for anyone else's), resumable from their stored state.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import msgspec
import structlog
from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter

from lumen.plugins.sdk import Conflict, NotFound, PluginContext, UnprocessableEntity
from lumen.plugins.triage.models import TriageInterview
from lumen.plugins.triage.repository import InterviewRepository
from lumen.plugins.triage.schemas import (
    AnswerIn,
    Assessment,
    AssessRequest,
    InterviewIn,
    InterviewOut,
    Question,
    TriageSettings,
)
from lumen.plugins.triage.service import PatientState, Triage, load_triage

__all__ = ["TriageController", "assess_service"]

log = structlog.get_logger()

Ctx = NamedDependency[PluginContext]
InterviewId = Annotated[uuid.UUID, PathParameter(description="The interview's id.")]
MAX_INTERVIEW_QUESTIONS = 8


def _settings(ctx: PluginContext) -> TriageSettings:
    return ctx.settings if isinstance(ctx.settings, TriageSettings) else TriageSettings()


def _audit_details(result: Assessment) -> dict[str, Any]:
    return {
        "level": result.level,
        "red_flags": [f.id for f in result.red_flags],
        "knowledge_version": result.knowledge_version,
    }


def assess_service(
    ctx: PluginContext,
    text: str,
    age: float | None = None,
    sex: str | None = None,
    pregnant: bool | None = None,
    *,
    emergency_number: str | None = None,
) -> dict[str, Any]:
    """The `triage.assess` service other plugins call (see the plugin's docstring for the contract)."""
    try:
        request = msgspec.convert({"text": text, "age": age, "sex": sex, "pregnant": pregnant}, AssessRequest)
        # The caller's context carries the caller's settings, not triage's: the emergency number comes from
        # the argument, else from a caller setting of the same name, else triage's default.
        number = emergency_number or getattr(ctx.settings, "emergency_number", None)
        settings = (
            _settings(ctx)
            if number is None
            else msgspec.convert({"emergency_number": number}, TriageSettings)
        )
    except msgspec.ValidationError as exc:
        raise UnprocessableEntity(f"triage.assess: {exc}") from exc
    triage = load_triage()
    state = triage.read(request.text, age=request.age, sex=request.sex, pregnant=request.pregnant)
    result: dict[str, Any] = msgspec.to_builtins(triage.assess(state, settings))
    return result


class TriageController(Controller):
    path = "/v1/triage"
    tags = ["triage"]

    @post(
        "/assess",
        operation_id="assessSymptoms",
        summary="One-shot triage of a symptom description: level, red flags, reasons, causes, advice",
        opt={"action": "triage.assess"},
        status_code=200,
    )
    async def assess(self, ctx: Ctx, data: JSONBody[AssessRequest]) -> Assessment:
        triage = load_triage()
        age, sex, pregnant = data.age, data.sex, data.pregnant
        if data.patient_id is not None:
            profile = await ctx.patient(data.patient_id)
            age = age if age is not None else profile.get("age")
            sex = (
                sex
                if sex is not None
                else (profile.get("sex") if profile.get("sex") in ("female", "male") else None)
            )
            pregnant = pregnant if pregnant is not None else profile.get("pregnant")
        state = triage.read(data.text, age=age, sex=sex, pregnant=pregnant)
        result = triage.assess(state, _settings(ctx))
        ctx.audit("triage.assessed", resource_type="triage_assessment", details=_audit_details(result))
        log.info("triage.assessed", level=result.level, red_flags=len(result.red_flags))
        return result

    @post(
        "/interviews",
        operation_id="startTriageInterview",
        summary="Start a triage interview from a complaint: findings and the first question",
        opt={"action": "triage.interview"},
        status_code=201,
    )
    async def start(self, ctx: Ctx, data: JSONBody[InterviewIn]) -> InterviewOut:
        triage = load_triage()
        state = triage.read(data.text, age=data.age, sex=data.sex, pregnant=data.pregnant)
        row = TriageInterview(
            patient_ref=data.patient_ref,
            status="in_progress",
            age=state.age,
            sex=state.sex,
            pregnant=state.pregnant,
            state=state.to_stored(),
            asked=[],
            knowledge_version=triage.version,
        )
        _advance(triage, row, state, _settings(ctx))
        await ctx.repository(InterviewRepository).add(row)
        ctx.audit(
            "triage.interview_started",
            resource_type="triage_interview",
            resource_id=str(row.id),
            details={"status": row.status, "findings": len(state.present) + len(state.absent)},
        )
        return _out(triage, row, state)

    @post(
        "/interviews/{interview_id:uuid}/answers",
        operation_id="answerTriageQuestion",
        summary="Answer the interview's current question (yes / no / unknown, or a number)",
        opt={"action": "triage.interview"},
        status_code=200,
    )
    async def answer(self, ctx: Ctx, interview_id: InterviewId, data: JSONBody[AnswerIn]) -> InterviewOut:
        triage = load_triage()
        repository = ctx.repository(InterviewRepository)
        row = await repository.for_update(interview_id)
        if row is None:
            raise NotFound("No triage interview with this id.")
        if row.status == "done":
            raise Conflict("This interview is finished; start a new one to assess again.")
        if data.question_id != row.current_question:
            raise Conflict(
                f"question_id: the current question is {row.current_question!r}; answer that one first."
            )
        if data.question_id == "patient:age":
            if isinstance(data.answer, str) and data.answer != "unknown":
                raise UnprocessableEntity("answer: the age question needs a number of years, or 'unknown'.")
        elif not isinstance(data.answer, str):
            raise UnprocessableEntity("answer: this question needs 'yes', 'no' or 'unknown'.")
        state = _state(row)
        triage.answer(state, data.question_id, data.answer)
        row.asked = [*row.asked, data.question_id]
        row.age, row.sex, row.pregnant = state.age, state.sex, state.pregnant
        _advance(triage, row, state, _settings(ctx))
        row.state = state.to_stored()
        await repository.save()
        ctx.audit(
            "triage.interview_answered",
            resource_type="triage_interview",
            resource_id=str(row.id),
            changed_fields=["state", "asked"],
            details={"status": row.status, "answered": len(row.asked)},
        )
        return _out(triage, row, state)

    @get(
        "/interviews/{interview_id:uuid}",
        operation_id="getTriageInterview",
        summary="An interview's state, and its result once done",
        opt={"action": "triage.read"},
    )
    async def read(self, ctx: Ctx, interview_id: InterviewId) -> InterviewOut:
        triage = load_triage()
        row = await ctx.repository(InterviewRepository).get(interview_id)
        if row is None:
            raise NotFound("No triage interview with this id.")
        ctx.audit("triage.interview_read", resource_type="triage_interview", resource_id=str(row.id))
        return _out(triage, row, _state(row))


def _state(row: TriageInterview) -> PatientState:
    return PatientState.from_stored(row.state, age=row.age, sex=row.sex, pregnant=row.pregnant)


def _next(
    triage: Triage, row: TriageInterview, state: PatientState, settings: TriageSettings
) -> Question | None:
    if len(row.asked) >= MAX_INTERVIEW_QUESTIONS:
        return None
    result = triage.assess(state, settings, asked=row.asked)
    # An emergency that is certain needs no more questions: the answer is to get help now.
    if result.level3 == "emergent" and not any(f.label.startswith("May apply") for f in result.red_flags):
        return None
    questions = triage.questions(
        state, result.level, [triage.complaints[c] for c in result.complaints], asked=row.asked
    )
    return questions[0] if questions else None


def _advance(triage: Triage, row: TriageInterview, state: PatientState, settings: TriageSettings) -> None:
    question = _next(triage, row, state, settings)
    row.current_question = question.id if question else None
    if question is None:
        row.status = "done"
        row.result = msgspec.to_builtins(triage.assess(state, settings, asked=row.asked))


def _out(triage: Triage, row: TriageInterview, state: PatientState) -> InterviewOut:
    next_question = None
    if row.status == "in_progress" and row.current_question:
        questions = {q.id: q for q in _all_questions(triage, row, state)}
        next_question = questions.get(row.current_question)
    return InterviewOut(
        id=row.id,
        status="done" if row.status == "done" else "in_progress",
        patient_ref=row.patient_ref,
        findings=triage.findings_out(state),
        next_question=next_question,
        answered=len(row.asked),
        result=msgspec.convert(row.result, Assessment) if row.result is not None else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _all_questions(triage: Triage, row: TriageInterview, state: PatientState) -> list[Question]:
    result = triage.assess(state, TriageSettings(), asked=row.asked)
    return triage.questions(
        state, result.level, [triage.complaints[c] for c in result.complaints], asked=row.asked
    )
