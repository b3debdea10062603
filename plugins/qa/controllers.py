"""POST /v1/qa/ask (JSON, or SSE with `"stream": true`) and POST /v1/qa/ask/stream (always SSE; the event
shape is STREAM_DESCRIPTION, also in the OpenAPI description).

The question and the answer are never logged or stored: the audit record names the action, the patient id
when one was given (as a PHI read) and which guards fired.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import msgspec
import structlog
from litestar import Controller, Response, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from litestar.response import Stream

from lumen.plugins.qa.schemas import Answer, AskRequest, QaSettings
from lumen.plugins.qa.service import CORPUS, Patient, StreamEvent, load_engine
from lumen.plugins.sdk import ChatMessage, Generation, Passage, PluginContext

__all__ = ["QaController", "answer_question"]

log = structlog.get_logger()

Ctx = NamedDependency[PluginContext]


def _settings(ctx: PluginContext) -> QaSettings:
    return ctx.settings if isinstance(ctx.settings, QaSettings) else QaSettings()


async def _context(ctx: PluginContext, data: AskRequest) -> tuple[Patient | None, str | None]:
    patient = None
    locale = data.locale
    if data.patient_id is not None:
        profile = await ctx.patient(data.patient_id)
        patient = Patient.from_profile(profile)
        locale = locale or profile.get("locale")
    return patient, locale


def _retriever(ctx: PluginContext) -> Callable[[str, int], Awaitable[list[Passage]]]:
    async def retrieve(query: str, k: int) -> list[Passage]:
        return await ctx.retrieve(query, corpora=[CORPUS], k=k)

    return retrieve


def _audit(ctx: PluginContext, data: AskRequest, answer: Answer, *, streamed: bool) -> None:
    ctx.audit(
        "qa.ask",
        resource_type="qa_answer",
        details={
            "kind": answer.kind,
            "abstained": answer.abstained,
            "guards": answer.guards,
            "citations": len(answer.citations),  # how many, not which: the topic would say what was asked
            "patient": data.patient_id is not None,
            "streamed": streamed,
        },
    )


async def answer_question(ctx: PluginContext, data: AskRequest) -> Answer:
    """The whole Q&A path for one request (also what tests drive)."""
    settings = _settings(ctx)
    patient, locale = await _context(ctx, data)

    async def generate(messages: Sequence[ChatMessage], max_tokens: int) -> Generation:
        return await ctx.generate(messages, max_tokens=max_tokens, temperature=0.0)

    started = time.perf_counter()
    answer = await load_engine().answer(
        ctx,
        data.question,
        settings=settings,
        patient=patient,
        locale=locale,
        generate=generate,
        retrieve=_retriever(ctx),
    )
    _audit(ctx, data, answer, streamed=False)
    log.info(
        "qa.question_answered",
        kind=answer.kind,
        abstained=answer.abstained,
        guards=answer.guards,
        generated=answer.generated,
        seconds=round(time.perf_counter() - started, 3),
    )
    return answer


def _event(event: StreamEvent) -> bytes:
    return (
        f"event: {event.event}\ndata: ".encode()
        + msgspec.json.encode({"type": event.event, **event.data})
        + b"\n\n"
    )


async def stream_question(ctx: PluginContext, data: AskRequest) -> Stream:
    """The Q&A path as server-sent events. Every guard that decides before the model (emergency, dosing,
    injection, abstention) runs here, inside the request, before the response starts; the model's
    sentences are then checked and sent one by one (QaEngine.stream)."""
    settings = _settings(ctx)
    patient, locale = await _context(ctx, data)
    started = time.perf_counter()
    engine = load_engine()
    planned = await engine.plan(
        ctx, data.question, settings=settings, patient=patient, locale=locale, retrieve=_retriever(ctx)
    )
    # Audited in the request (the audit record is written when the request ends, before the body streams):
    # the path and the guards decided before the model; the model's outcome is logged when the stream ends.
    _audit(
        ctx,
        data,
        planned if isinstance(planned, Answer) else engine.draft_answer(planned),
        streamed=True,
    )

    def generate_stream(messages: Sequence[ChatMessage], max_tokens: int) -> AsyncIterator[str]:
        return ctx.generate_stream(messages, max_tokens=max_tokens, temperature=0.0)

    async def body() -> AsyncIterator[bytes]:
        first: float | None = None
        last: StreamEvent | None = None
        async for event in engine.stream(planned, generate_stream):
            if event.event == "delta" and first is None:
                first = time.perf_counter() - started
            last = event
            yield _event(event)
        if last is not None:
            log.info(
                "qa.question_answered",
                kind=last.data.get("kind"),
                abstained=last.data.get("abstained"),
                guards=last.data.get("guards"),
                generated=last.data.get("generated"),
                withdrawn=last.event == "withdrawn",
                streamed=True,
                first_delta_seconds=None if first is None else round(first, 3),
                seconds=round(time.perf_counter() - started, 3),
            )

    return Stream(
        body(),
        media_type="text/event-stream",
        headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


STREAM_DESCRIPTION = (
    "Server-sent events, sent as the answer is produced. Each event has an `event:` name and a JSON `data:` "
    "whose `type` repeats the name:\n\n"
    "- `meta` (first): the safety envelope known before the model (kind, citations of the retrieved "
    "passages, confidence, disclaimer, knowledge_version, emergency fields, guards so far), without "
    "`answer`.\n"
    "- `delta` (zero or more): `{text}`, pieces of the answer to append. Every guard that decides before the "
    "model (emergency first, dosing from label facts, prompt injection, abstention) has run before the first "
    "one; text the model wrote is sent one sentence at a time, each only after it passed the output checks "
    "(no diagnosis, no dose or link, no role-play, grounded in and citing only the retrieved passages).\n"
    "- `done` (last): the whole answer envelope, as the JSON form of POST /v1/qa/ask returns it; its "
    "`answer` equals the deltas joined.\n"
    "- `withdrawn` (last, instead of `done`): a check failed after text was sent (a later sentence, the "
    "whole-answer checks, or the model breaking off). Clients MUST discard every delta shown and display "
    "this event's `answer` (the safe, extractive or abstention text) with its citations; `withdrawn` is "
    "true and `guards` says why.\n\n"
    "A stream that ends without `done` or `withdrawn` was cut off: treat the answer as not given."
)


# The answer as server-sent events (`"stream": true`, or /ask/stream), for the OpenAPI document: the schema of
# one event (its `event` name and its `data`, a JSON document).
SSE_CONTENT = {
    "text/event-stream": {
        "schema": {
            "type": "object",
            "description": "`meta` (the envelope without the answer), zero or more `delta` ({text}), then "
            "`done` (the whole Answer) or `withdrawn` (discard the deltas; show its answer).",
            "required": ["event", "data"],
            "properties": {
                "event": {"enum": ["meta", "delta", "done", "withdrawn"]},
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
        description='The answer as JSON; with `"stream": true`, the same answer as server-sent events '
        "(text/event-stream), exactly as POST /v1/qa/ask/stream.\n\n" + STREAM_DESCRIPTION,
        opt={"action": "qa.ask", "stream_after_commit": True, "openapi_response_content": SSE_CONTENT},
        status_code=200,
    )
    async def ask(self, ctx: Ctx, data: JSONBody[AskRequest]) -> Response[Answer]:
        # A Response annotation leaves the media type to the response itself: an `Answer | Stream`
        # annotation would label the event stream application/json.
        if data.stream:
            return await stream_question(ctx, data)  # type: ignore[return-value]
        return Response(await answer_question(ctx, data))

    @post(
        "/ask/stream",
        operation_id="askQuestionStream",
        summary="Ask a medical question, answered as server-sent events (meta, delta..., done or withdrawn)",
        description=STREAM_DESCRIPTION,
        # The request's work (patient read, pre-model guards, audit record) commits when the response
        # starts; the model's sentences then go out as they are checked, not held until the end.
        opt={"action": "qa.ask", "stream_after_commit": True, "openapi_response_content": SSE_CONTENT},
        status_code=200,
        media_type="text/event-stream",
    )
    async def ask_stream(self, ctx: Ctx, data: JSONBody[AskRequest]) -> Stream:
        return await stream_question(ctx, data)
