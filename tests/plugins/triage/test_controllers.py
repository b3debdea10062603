"""Triage over HTTP (plugins/triage/controllers.py) in the real app: one-shot assessment, interviews (start,
answer, resume, finish), tenant scoping, settings, audit, and hostile input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from lumen.plugins.triage.service import load_triage
from tests.conftest import TenantHandle, assert_problem, bearer

ASSESS = "/v1/triage/assess"
INTERVIEWS = "/v1/triage/interviews"
CHEST = (
    "58-year-old man with crushing central chest pain spreading to his left arm, sweating and nauseous "
    "for the last 40 minutes."
)
COLD = "25-year-old woman with a runny nose, sneezing and a mild sore throat for two days, no fever."


async def _assess(client: httpx.AsyncClient, tenant: TenantHandle, **body: Any) -> dict[str, Any]:
    r = await client.post(ASSESS, json=body, headers=tenant.headers)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


async def _start(client: httpx.AsyncClient, tenant: TenantHandle, **body: Any) -> dict[str, Any]:
    r = await client.post(INTERVIEWS, json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


# --- one-shot -----------------------------------------------------------------------------------------------


async def test_assess_emergency_names_the_red_flag_and_its_span(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    body = await _assess(client, tenant_a, text=CHEST)
    assert body["level"] == "emergency_ambulance"
    assert body["level3"] == "emergent"
    flag = next(f for f in body["red_flags"] if f["id"] == "acs")
    assert CHEST[flag["span"]["start"] : flag["span"]["end"]] == flag["span"]["text"]
    assert "chest pain" in flag["span"]["text"].lower()
    assert "911" in body["advice"]
    assert body["patient"] == {"age": 58.0, "sex": "male", "pregnant": None, "read_from_text": ["age", "sex"]}


async def test_assess_self_care_carries_the_safety_envelope(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    body = await _assess(client, tenant_a, text=COLD)
    assert body["level"] == "self_care"
    assert body["level3"] == "self_care"
    assert body["red_flags"] == []
    assert body["knowledge_version"] == load_triage().version
    assert body["disclaimer"].startswith("Lumen gives general medical information")
    assert body["citations"] and all(c["url"].startswith("https://") for c in body["citations"])
    assert 0 < body["confidence"] <= 1
    assert all(c["label"].startswith("Possibly") for c in body["possible_causes"])
    assert any(r["text"].startswith("No fever") for r in body["reasons"]["against"]) or body["reasons"]["for"]


async def test_given_age_overrides_the_text(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = await _assess(client, tenant_a, text="My son has a fever of 38.4 C.", age=0.1)
    assert body["patient"]["age"] == 0.1
    assert body["level"] == "emergency"
    assert "fever_infant" in [f["id"] for f in body["red_flags"]]


async def test_tenant_emergency_number_is_used(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    r = await client.put(
        "/v1/plugins/triage", json={"settings": {"emergency_number": "999"}}, headers=tenant_a.headers
    )
    assert r.status_code == 200, r.text
    mine = await _assess(client, tenant_a, text=CHEST)
    theirs = await _assess(client, tenant_b, text=CHEST)
    assert "call 999" in mine["advice"] and mine["emergency_number"] == "999"
    assert "call 911" in theirs["advice"] and theirs["emergency_number"] == "911"


async def test_bad_emergency_number_setting_is_refused(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.put(
        "/v1/plugins/triage", json={"settings": {"emergency_number": "call me"}}, headers=tenant_a.headers
    )
    assert r.status_code in (400, 422), r.text
    assert "emergency_number" in r.text


async def test_assess_is_audited_without_the_text(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    await _assess(client, tenant_a, text=CHEST)
    r = await client.get("/v1/audit", headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    records = [rec for rec in r.json()["items"] if rec["action"] == "triage.assessed"]
    assert records, r.text
    assert records[-1]["details"]["level"] == "emergency_ambulance"
    assert "crushing" not in r.text and "chest pain" not in r.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "text"),
        ({"text": ""}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x" * 4001}, "text"),
        ({"text": "cough", "age": -1}, "age"),
        ({"text": "cough", "age": 400}, "age"),
        ({"text": "cough", "sex": "robot"}, "sex"),
        ({"text": "cough", "pregnant": "maybe"}, "pregnant"),
        ({"text": "cough", "extra": 1}, "extra"),
        ({"text": ["cough"]}, "text"),
    ],
)
async def test_bad_input_is_a_4xx_naming_the_field(
    client: httpx.AsyncClient, tenant_a: TenantHandle, body: dict[str, Any], field: str
) -> None:
    r = await client.post(ASSESS, json=body, headers=tenant_a.headers)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert field in r.text


@pytest.mark.parametrize(
    "text",
    [
        "'; DROP TABLE triage_interviews; -- chest pain",
        "<script>alert(1)</script> headache",
        "\u0000\u202e fever \ud83d\ude00" if False else "\u202e fever \U0001f600 \u00e9\u00e8",
        "no " * 1300,
        "((((((((((((((((((((((((((((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)+)",
        "1/1/1/1/1/1 999999999999999999999 °F °C mg/dL mmol/L bpm 120/80/60 sats 100000%",
    ],
)
async def test_hostile_text_is_answered_safely(
    client: httpx.AsyncClient, tenant_a: TenantHandle, text: str
) -> None:
    body = await _assess(client, tenant_a, text=text)
    assert body["level"] in (
        "emergency_ambulance",
        "emergency",
        "consultation_24",
        "consultation",
        "self_care",
    )
    assert "<script>" not in body["advice"]


async def test_unrecognised_text_errs_upward(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = await _assess(client, tenant_a, text="Something is not right with me today.")
    assert body["level"] == "consultation"
    assert body["abstained"] is True
    assert body["reasons"]["for"]


async def test_a_key_without_the_scope_is_refused(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.post(
        "/v1/keys", json={"name": "reader", "scopes": ["keys:read"]}, headers=tenant_a.headers
    )
    assert r.status_code == 201, r.text
    r = await client.post(ASSESS, json={"text": COLD}, headers=bearer(r.json()["key"]))
    assert_problem(r, 403)


async def test_a_scoped_key_can_assess(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.post(
        "/v1/keys", json={"name": "app", "scopes": ["triage:assess"]}, headers=tenant_a.headers
    )
    assert r.status_code == 201, r.text
    r = await client.post(ASSESS, json={"text": COLD}, headers=bearer(r.json()["key"]))
    assert r.status_code == 200, r.text


async def test_disabled_plugin_is_not_found(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    r = await client.put("/v1/plugins/triage", json={"enabled": False}, headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    assert_problem(await client.post(ASSESS, json={"text": COLD}, headers=tenant_a.headers), 404)
    assert (await client.post(ASSESS, json={"text": COLD}, headers=tenant_b.headers)).status_code == 200


# --- interviews ---------------------------------------------------------------------------------------------


async def test_interview_asks_red_flag_questions_first(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    body = await _start(client, tenant_a, text="I have a headache since this morning.", age=30, sex="female")
    assert body["status"] == "in_progress"
    assert any(f["id"] == "headache" and f["present"] for f in body["findings"])
    question = body["next_question"]
    assert question["kind"] in ("red_flag", "patient")
    assert question["id"] == "patient:pregnant" or question["kind"] == "red_flag"


async def test_interview_runs_to_a_result_and_resumes(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    body = await _start(client, tenant_a, text="Headache for a day.", age=40, sex="male", patient_ref="p-123")
    interview_id = body["id"]
    assert body["patient_ref"] == "p-123"
    for _ in range(10):
        if body["status"] == "done":
            break
        # Resume: read the state back, then answer its current question.
        r = await client.get(f"{INTERVIEWS}/{interview_id}", headers=tenant_a.headers)
        assert r.status_code == 200, r.text
        assert r.json()["next_question"] == body["next_question"]
        question = body["next_question"]
        r = await client.post(
            f"{INTERVIEWS}/{interview_id}/answers",
            json={"question_id": question["id"], "answer": "no"},
            headers=tenant_a.headers,
        )
        assert r.status_code == 200, r.text
        body = r.json()
    assert body["status"] == "done"
    assert body["result"]["level"] == "self_care"
    r = await client.get(f"{INTERVIEWS}/{interview_id}", headers=tenant_a.headers)
    assert r.json()["result"] == body["result"]


async def test_interview_yes_to_a_red_flag_raises_the_level(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    body = await _start(client, tenant_a, text="Headache for a day.", age=40, sex="male")
    r = await client.post(
        f"{INTERVIEWS}/{body['id']}/answers",
        json={"question_id": "finding:thunderclap", "answer": "yes"},
        headers=tenant_a.headers,
    )
    if body["next_question"]["id"] != "finding:thunderclap":
        assert_problem(r, 409)
        return
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["status"] == "done"
    assert done["result"]["level"] == "emergency_ambulance"
    assert done["result"]["red_flags"][0]["span"] is None


async def test_answering_the_wrong_question_is_a_conflict(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    body = await _start(client, tenant_a, text="Headache for a day.", age=40, sex="male")
    r = await client.post(
        f"{INTERVIEWS}/{body['id']}/answers",
        json={"question_id": "finding:not_asked", "answer": "yes"},
        headers=tenant_a.headers,
    )
    assert_problem(r, 409)


async def test_age_question_takes_a_number(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = await _start(client, tenant_a, text="My baby has a fever.")
    assert body["next_question"]["id"] == "patient:age"
    url = f"{INTERVIEWS}/{body['id']}/answers"
    r = await client.post(url, json={"question_id": "patient:age", "answer": "yes"}, headers=tenant_a.headers)
    assert_problem(r, 422)
    r = await client.post(url, json={"question_id": "patient:age", "answer": 0.1}, headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "done"
    assert r.json()["result"]["level"] == "emergency"


async def test_finished_interview_takes_no_more_answers(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    body = await _start(client, tenant_a, text=CHEST)
    assert body["status"] == "done"
    assert body["result"]["level3"] == "emergent"
    r = await client.post(
        f"{INTERVIEWS}/{body['id']}/answers",
        json={"question_id": "finding:fever", "answer": "no"},
        headers=tenant_a.headers,
    )
    assert_problem(r, 409)


async def test_interview_keeps_no_free_text(
    client: httpx.AsyncClient, tenant_a: TenantHandle, owner_engine: Any
) -> None:
    from sqlalchemy import text

    body = await _start(client, tenant_a, text="Zebraword headache for a day.", age=40, sex="male")
    async with owner_engine.connect() as conn:
        await conn.execute(text("select set_config('lumen.tenant_id', :t, false)"), {"t": str(tenant_a.id)})
        row = (
            await conn.execute(
                text("select state::text, asked::text from triage_interviews where id = :i"),
                {"i": body["id"]},
            )
        ).one()
    assert "Zebraword" not in row[0] and "headache for a day" not in row[0].lower()


async def test_interviews_are_tenant_scoped(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    body = await _start(client, tenant_a, text="Headache for a day.", age=40, sex="male")
    assert_problem(await client.get(f"{INTERVIEWS}/{body['id']}", headers=tenant_b.headers), 404)
    r = await client.post(
        f"{INTERVIEWS}/{body['id']}/answers",
        json={"question_id": body["next_question"]["id"], "answer": "no"},
        headers=tenant_b.headers,
    )
    assert_problem(r, 404)
    # ...and the owner's interview is untouched.
    r = await client.get(f"{INTERVIEWS}/{body['id']}", headers=tenant_a.headers)
    assert r.json()["answered"] == 0


async def test_unknown_interview_is_not_found(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    assert_problem(
        await client.get(f"{INTERVIEWS}/00000000-0000-4000-8000-000000000000", headers=tenant_a.headers), 404
    )
    assert (await client.get(f"{INTERVIEWS}/not-a-uuid", headers=tenant_a.headers)).status_code in (400, 404)


async def test_interview_is_audited(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = await _start(client, tenant_a, text="Headache for a day.", age=40, sex="male")
    r = await client.get("/v1/audit", headers=tenant_a.headers)
    records = [rec for rec in r.json()["items"] if rec.get("resource_id") == body["id"]]
    assert [rec["action"] for rec in records] == ["triage.interview_started"]
    assert "headache" not in str(records).lower()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"text": "cough", "patient_ref": "Jane Doe; DROP"}, "patient_ref"),
        ({"text": "cough", "patient_ref": "x" * 101}, "patient_ref"),
        ({"text": ""}, "text"),
        ({"text": "cough", "age": "forty"}, "age"),
    ],
)
async def test_bad_interview_input_is_a_4xx_naming_the_field(
    client: httpx.AsyncClient, tenant_a: TenantHandle, body: dict[str, Any], field: str
) -> None:
    r = await client.post(INTERVIEWS, json=body, headers=tenant_a.headers)
    assert 400 <= r.status_code < 500, r.text
    assert field in r.text


@pytest.mark.parametrize(
    "answer",
    [
        {"question_id": "finding:x", "answer": "perhaps"},
        {"question_id": "DROP TABLE", "answer": "yes"},
        {"answer": "yes"},
    ],
)
async def test_bad_answers_are_refused(
    client: httpx.AsyncClient, tenant_a: TenantHandle, answer: dict[str, Any]
) -> None:
    body = await _start(client, tenant_a, text="Headache for a day.", age=40, sex="male")
    r = await client.post(f"{INTERVIEWS}/{body['id']}/answers", json=answer, headers=tenant_a.headers)
    assert 400 <= r.status_code < 500, r.text
