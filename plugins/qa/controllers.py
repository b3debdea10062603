"""POST /v1/qa/ask (JSON, or SSE with `"stream": true`) and POST /v1/qa/ask/stream (always SSE).

The question and the answer are never logged or stored: the audit record names the action, the patient id
when one was given (as a PHI read) and which guards fired.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import msgspec
import structlog
from litestar import Controller, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from lumen.plugins.qa.schemas import Answer, AskRequest, QaSettings
from lumen.plugins.qa.service import CORPUS, Patient, load_engine
from lumen.plugins.sdk import ChatMessage, Generation, Passage, PluginContext

__all__ = ["QaController", "answer_question"]

log = structlog.get_logger()

Ctx = NamedDependency[PluginContext]


def _settings(ctx: PluginContext) -> QaSettings:
    return ctx.settings if isinstance(ctx.settings, QaSettings) else QaSettings()


async def answer_question(ctx: PluginContext, data: AskRequest) -> Answer:
    """The whole Q&A path for one request (also what tests drive)."""
    settings = _settings(ctx)
    patient = None
    locale = data.locale
    if data.patient_id is not None:
        profile = await ctx.patient(data.patient_id)
        patient = Patient.from_profile(profile)
        locale = locale or profile.get("locale")

    async def generate(messages: Sequence[ChatMessage], max_tokens: int) -> Generation:
        return await ctx.generate(messages, max_tokens=max_tokens, temperature=0.0)

    async def retrieve(query: str, k: int) -> list[Passage]:
        return await ctx.retrieve(query, corpora=[CORPUS], k=k)

    started = time.perf_counter()
    answer = await load_engine().answer(
        ctx,
        data.question,
        settings=settings,
        patient=patient,
        locale=locale,
        generate=generate,
        retrieve=retrieve,
    )
    ctx.audit(
        "qa.ask",
        resource_type="qa_answer",
        details={
            "kind": answer.kind,
            "abstained": answer.abstained,
            "guards": answer.guards,
            "citations": len(answer.citations),  # how many, not which: the topic would say what was asked
            "patient": data.patient_id is not None,
        },
    )
    log.info(
        "qa.question_answered",
        kind=answer.kind,
        abstained=answer.abstained,
        guards=answer.guards,
        generated=answer.generated,
        seconds=round(time.perf_counter() - started, 3),
    )
    return answer


def _event(name: str, data: object) -> str:
    return f"event: {name}\ndata: {msgspec.json.encode(data).decode()}\n\n"


def _sse(answer: Answer) -> Response[bytes]:
    """The events as one text/event-stream body. The answer is complete and checked before any byte is sent
    (the guards need the whole text), so nothing is gained by holding the connection open per chunk; a
    client reads it with any SSE parser."""
    envelope = msgspec.to_builtins(answer)
    parts = [_event("meta", {k: v for k, v in envelope.items() if k != "answer"})]
    words = answer.answer.split(" ")
    for start in range(0, len(words), 8):
        chunk = " ".join(words[start : start + 8]) + (" " if start + 8 < len(words) else "")
        parts.append(_event("delta", {"text": chunk}))
    parts.append(_event("done", envelope))
    return Response(
        "".join(parts).encode(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store"},
    )


# The answer as server-sent events (`"stream": true`, or /ask/stream), for the OpenAPI document: the schema of
# one event (its `event` name and its `data`, a JSON document).
SSE_CONTENT = {
    "text/event-stream": {
        "schema": {
            "type": "object",
            "description": "`meta` (the envelope without the answer), one or more `delta` ({text}), then "
            "`done` (the whole Answer).",
            "required": ["event", "data"],
            "properties": {
                "event": {"enum": ["meta", "delta", "done"]},
                "data": {
                    "type": "string",
                    "contentMediaType": "application/json",
                    "contentSchema": {"type": "object"},
                },
            },
        }
    }
}


class QaController(Controller):
    path = "/v1/qa"
    tags = ["qa"]

    @post(
        "/ask",
        operation_id="askQuestion",
        summary="Ask a medical question: a cited answer, emergency guidance, or an abstention",
        opt={"action": "qa.ask", "openapi_response_content": SSE_CONTENT},
        status_code=200,
    )
    async def ask(self, ctx: Ctx, data: JSONBody[AskRequest]) -> Answer | Response[bytes]:
        answer = await answer_question(ctx, data)
        if data.stream:
            return _sse(answer)
        return answer

    @post(
        "/ask/stream",
        operation_id="askQuestionStream",
        summary="Ask a medical question, answered as server-sent events (meta, delta..., done)",
        opt={"action": "qa.ask", "openapi_response_content": SSE_CONTENT},
        status_code=200,
        media_type="text/event-stream",
    )
    async def ask_stream(self, ctx: Ctx, data: JSONBody[AskRequest]) -> Response[bytes]:
        return _sse(await answer_question(ctx, data))
