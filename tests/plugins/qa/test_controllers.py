"""POST /v1/qa/ask and its SSE variant over the real app: envelope, patient context, isolation, hostile input,
and no PHI in any log line of the whole request cycle."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

import httpx
import pytest
import structlog

from lumen.core.logging import configure_logging
from lumen.core.settings import LogSettings
from tests.conftest import TenantHandle, assert_problem
from tests.contract.schema import conforms, live_document


async def _patient(client: httpx.AsyncClient, tenant: TenantHandle, **extra: Any) -> str:
    body = {
        "external_ref": "qa-" + secrets.token_hex(4),
        "birth_date": "1960-01-01",
        "medications": ["warfarin"],
    }
    body.update(extra)
    r = await client.post("/v1/patients", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_answer_carries_the_safety_envelope(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.post(
        "/v1/qa/ask", json={"question": "What helps with hay fever?"}, headers=tenant_a.headers
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "education" and body["abstained"] is False
    assert body["disclaimer"].startswith("Lumen gives general medical information")
    assert body["citations"][0]["source_id"] == "patient-education:hay-fever"
    assert body["citations"][0]["url"].startswith("https://")
    assert 0 < body["confidence"] <= 1 and body["knowledge_version"]


async def test_answer_sentences_come_from_the_cited_passages(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    body = (
        await client.post("/v1/qa/ask", json={"question": "What is gout?"}, headers=tenant_a.headers)
    ).json()
    quotes = " ".join(c["quote"] for c in body["citations"])
    for sentence in body["answer"].split(". "):
        assert sentence.rstrip(".") in quotes


async def test_paracetamol_limit_is_stated_from_the_label(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    q = "What is the maximum daily dose of paracetamol for a healthy adult?"
    body = (await client.post("/v1/qa/ask", json={"question": q}, headers=tenant_a.headers)).json()
    assert body["kind"] == "dosing" and "4 g (4,000 mg)" in body["answer"]
    assert body["citations"][0]["url"] == "https://www.nhs.uk/medicines/paracetamol-for-adults/"


async def test_emergency_names_the_tenants_number(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.put(
        "/v1/plugins/qa", json={"settings": {"emergency_number": "999"}}, headers=tenant_a.headers
    )
    assert r.status_code == 200, r.text
    q = "I have crushing chest pain and I'm sweating, which antacid should I take?"
    body = (await client.post("/v1/qa/ask", json={"question": q}, headers=tenant_a.headers)).json()
    assert body["emergency"] is True and body["answer"].startswith(
        "This may be a medical emergency. Call 999"
    )
    assert body["triage_level"] in ("emergency_ambulance", "emergency")


async def test_patient_interactions_are_checked_for_a_dosing_question(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    pid = await _patient(client, tenant_a)
    q = "How much ibuprofen can I take for my knee?"
    body = (
        await client.post("/v1/qa/ask", json={"question": q, "patient_id": pid}, headers=tenant_a.headers)
    ).json()
    assert body["kind"] == "dosing"
    assert "patient_interactions" in body["guards"], body
    assert any("warfarin" in " ".join(i["drugs"]).lower() for i in body["interactions"])
    assert "With your medicines" in body["answer"]


async def test_patient_allergy_and_kidney_function_warn(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    pid = await _patient(client, tenant_a, medications=[], allergies=["ibuprofen"], egfr=25)
    q = "What is the maximum dose of ibuprofen per day?"
    body = (
        await client.post("/v1/qa/ask", json={"question": q, "patient_id": pid}, headers=tenant_a.headers)
    ).json()
    assert {"patient_allergy", "patient_renal"} <= set(body["guards"])
    assert "do not take it" in body["answer"]


async def test_patient_of_another_tenant_is_404(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    pid = await _patient(client, tenant_a)
    r = await client.post(
        "/v1/qa/ask", json={"question": "What is gout?", "patient_id": pid}, headers=tenant_b.headers
    )
    assert_problem(r, 404)


async def test_reading_the_patient_is_audited(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    pid = await _patient(client, tenant_a)
    await client.post(
        "/v1/qa/ask", json={"question": "What is gout?", "patient_id": pid}, headers=tenant_a.headers
    )
    events = (await client.get("/v1/audit", params={"limit": 200}, headers=tenant_a.headers)).json()["items"]
    actions = [(e["action"], e["resource_id"]) for e in events]
    assert ("patients.read", pid) in actions and any(a == "qa.ask" for a, _ in actions)
    assert "gout" not in json.dumps(events).lower()  # the question is never in the audit trail


async def test_a_key_without_patient_scope_cannot_use_patient_id(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    pid = await _patient(client, tenant_a)
    r = await client.post("/v1/keys", json={"name": "qa", "scopes": ["qa:ask"]}, headers=tenant_a.headers)
    headers = {"authorization": f"Bearer {r.json()['key']}"}
    assert (
        await client.post("/v1/qa/ask", json={"question": "What is gout?"}, headers=headers)
    ).status_code == 200
    r = await client.post(
        "/v1/qa/ask", json={"question": "What is gout?", "patient_id": pid}, headers=headers
    )
    assert_problem(r, 403)


@pytest.mark.parametrize(
    "body",
    [
        {"question": ""},
        {"question": "x" * 2001},
        {"question": "gout?", "patient_id": "not-a-uuid"},
        {"question": "gout?", "role": "system"},
        {"question": "gout\x00?"},
        {"question": "gout?", "locale": "en_GB; DROP TABLE"},
        {"question": ["a", "b"]},
    ],
)
async def test_hostile_input_is_a_clear_4xx(
    client: httpx.AsyncClient, tenant_a: TenantHandle, body: Any
) -> None:
    r = await client.post("/v1/qa/ask", json=body, headers=tenant_a.headers)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")


def _events(text: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        out.append((lines["event"], json.loads(lines["data"])))
    return out


async def test_stream_sends_meta_deltas_and_done(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.post("/v1/qa/ask/stream", json={"question": "What is gout?"}, headers=tenant_a.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = _events(r.text)
    assert events[0][0] == "meta" and events[0][1]["citations"]
    assert events[-1][0] == "done"
    streamed = "".join(d["text"] for e, d in events if e == "delta")
    assert streamed == events[-1][1]["answer"]


async def test_stream_flag_on_ask_streams_emergency_first(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    q = "My face is drooping on one side and my speech is slurred"
    r = await client.post("/v1/qa/ask", json={"question": q, "stream": True}, headers=tenant_a.headers)
    events = _events(r.text)
    assert events[0][1]["emergency"] is True
    assert events[1][0] == "delta" and events[1][1]["text"].startswith("This may be a medical emergency")


async def test_no_phi_in_any_log_line(
    client: httpx.AsyncClient,
    tenant_a: TenantHandle,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    canary = "zq" + secrets.token_hex(5)
    caplog.set_level(logging.DEBUG)
    # Restored exactly afterwards: reconfiguring here binds the renderer to this test's captured stderr,
    # which is closed once the test ends.
    saved = structlog.get_config()
    configure_logging(
        LogSettings(level="debug", format="json"), cache_loggers=False
    )  # every event, for this test
    try:
        await _cycle(client, tenant_a, canary)
        with structlog.testing.capture_logs() as captured:
            await _cycle(client, tenant_a, canary)
    finally:
        structlog.configure(**saved)
    out, err = capfd.readouterr()
    everything = json.dumps(captured, default=str) + out + err + caplog.text
    assert "patients.patient_created" in everything, "the request cycle logged (so the check is not vacuous)"
    assert canary not in everything


async def _cycle(client: httpx.AsyncClient, tenant_a: TenantHandle, canary: str) -> None:
    if True:
        pid = await _patient(
            client,
            tenant_a,
            external_ref=f"ref-{canary}-{secrets.token_hex(2)}",
            medications=[f"med{canary}", "warfarin"],
            allergies=[f"allergy{canary}"],
            conditions=[f"cond{canary}"],
        )
        await client.get(f"/v1/patients/{pid}", headers=tenant_a.headers)
        await client.patch(
            f"/v1/patients/{pid}", json={"conditions": [f"other{canary}"]}, headers=tenant_a.headers
        )
        await client.get(f"/v1/patients/{pid}/fhir", headers=tenant_a.headers)
        await client.get(f"/v1/patients/{pid}/export", headers=tenant_a.headers)
        await client.get("/v1/patients", params={"external_ref": f"ref-{canary}"}, headers=tenant_a.headers)
        await client.post(
            "/v1/qa/ask",
            json={"question": f"How much ibuprofen can I take? my code is {canary}", "patient_id": pid},
            headers=tenant_a.headers,
        )
        await client.post(
            "/v1/patients", json={"external_ref": f"ref-{canary}", "sex": "robot"}, headers=tenant_a.headers
        )
        await client.post(
            "/v1/patients/import/fhir",
            json={
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": {"resourceType": "Patient", "birthDate": f"{canary}"}}],
            },
            headers=tenant_a.headers,
        )
        await client.delete(f"/v1/patients/{pid}", headers=tenant_a.headers)


async def test_streamed_answer_is_audited_before_it_streams(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    pid = await _patient(client, tenant_a)
    r = await client.post(
        "/v1/qa/ask/stream", json={"question": "What is gout?", "patient_id": pid}, headers=tenant_a.headers
    )
    assert r.status_code == 200
    assert _events(r.text)[-1][0] == "done"
    events = (await client.get("/v1/audit", params={"limit": 200}, headers=tenant_a.headers)).json()["items"]
    asks = [e for e in events if e["action"] == "qa.ask"]
    assert ("patients.read", pid) in [(e["action"], e["resource_id"]) for e in events]
    assert asks and asks[0]["details"]["streamed"] is True
    assert "gout" not in json.dumps(events).lower()


async def test_stream_for_another_tenants_patient_is_a_404_not_a_stream(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    pid = await _patient(client, tenant_a)
    r = await client.post(
        "/v1/qa/ask/stream", json={"question": "What is gout?", "patient_id": pid}, headers=tenant_b.headers
    )
    assert_problem(r, 404)


async def test_stream_events_name_their_type_in_the_data(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.post(
        "/v1/qa/ask/stream", json={"question": "How do I stop smoking?"}, headers=tenant_a.headers
    )
    events = _events(r.text)
    assert all(data["type"] == name for name, data in events)
    assert events[-1][1]["knowledge_version"] and events[-1][1]["disclaimer"]


# --- the OpenAPI contract (schemathesis findings) ---------------------------------------------------------

DOSE = "What is the maximum daily dose of paracetamol for a healthy adult?"


async def test_the_json_answer_conforms_to_the_documented_schema(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    # The 200 used to be oneOf [Answer, {}]: `{}` matches anything, so every answer matched two branches.
    doc = await live_document(client)
    content = doc["paths"]["/v1/qa/ask"]["post"]["responses"]["200"]["content"]
    assert set(content) == {"application/json", "text/event-stream"}
    r = await client.post("/v1/qa/ask", json={"question": DOSE, "stream": False}, headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    assert conforms(doc, content["application/json"]["schema"], r.json()) == []


async def test_both_ask_routes_document_the_event_stream_they_send(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    doc = await live_document(client)
    for path, body, documented in (("/v1/qa/ask/stream", {"question": DOSE}, {"text/event-stream"}),):
        content = doc["paths"][path]["post"]["responses"]["200"]["content"]
        assert set(content) == documented, path
        r = await client.post(path, json=body, headers=tenant_a.headers)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].partition(";")[0] == "text/event-stream"


async def test_ask_with_stream_true_is_labelled_as_an_event_stream(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.post("/v1/qa/ask", json={"question": DOSE, "stream": True}, headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].partition(";")[0] == "text/event-stream"
