"""Background gap analyses (plugins/regulatory/tasks.py) end to end on the real app and a real worker: by the
id of a document uploaded to retrieval or as a large text, with progress at GET /v1/jobs/{id}, the result kept
at GET /v1/regulatory/gap-analyses/{id} (tenant-scoped), and a completion event; plus the hostile inputs."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from lumen.plugins.regulatory.service import MAX_DOCUMENT_BYTES, load_gap_analyzer
from tests.conftest import TenantHandle, assert_problem
from tests.inference.retrieval.conftest import new_title, until_ready, upload_text
from tests.plugins.regulatory.conftest import until_job_done

pytestmark = pytest.mark.usefixtures("worker")

BASE = "/v1/regulatory"
FIXTURES = Path(__file__).parent / "fixtures"
CAPA = (FIXTURES / "capa-01.md").read_text()


async def _queue(client: httpx.AsyncClient, tenant: TenantHandle, body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post(f"{BASE}/gap-analysis", json=body, headers=tenant.headers)
    assert r.status_code == 202, r.text
    accepted: dict[str, Any] = r.json()
    return accepted


async def _analysis(client: httpx.AsyncClient, tenant: TenantHandle, analysis_id: str) -> dict[str, Any]:
    r = await client.get(f"{BASE}/gap-analyses/{analysis_id}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _uploaded(client: httpx.AsyncClient, tenant: TenantHandle, body: str = CAPA) -> dict[str, Any]:
    return await upload_text(client, tenant, new_title(), body, "text/markdown")


async def test_an_uploaded_document_is_analysed_as_a_job_with_progress_and_a_kept_result(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    document = await _uploaded(client, tenant_a)
    accepted = await _queue(
        client, tenant_a, {"document_id": document["id"], "document_type": "capa", "jurisdictions": ["EU"]}
    )
    assert accepted["state"] == "queued" and accepted["source"] == "document"
    assert accepted["document_id"] == document["id"] and accepted["document_version"] == 1
    assert accepted["links"]["result"] == f"{BASE}/gap-analyses/{accepted['id']}"

    job = await until_job_done(client, tenant_a, accepted["job_id"])
    assert job["name"] == "regulatory.gap_analysis" and job["state"] == "succeeded"
    assert job["progress"] == 1.0 and job["result"]["analysis_id"] == accepted["id"]

    kept = await _analysis(client, tenant_a, accepted["id"])
    expected = load_gap_analyzer().analyse(CAPA, "capa", ["EU"])
    assert expected.missing >= 1  # the fixture omits elements on purpose
    assert kept["state"] == "succeeded" and kept["completed_at"] and kept["error"] is None
    assert kept["document_title"] == document["title"]
    result = kept["result"]
    assert [(e["id"], e["status"]) for e in result["elements"]] == [
        (e.id, e.status) for e in expected.elements
    ]
    assert (kept["found"], kept["missing"], kept["score"]) == (
        expected.found,
        expected.missing,
        expected.score,
    )
    assert "not a diagnosis" in result["disclaimer"] and result["citations"]
    for element in result["elements"]:
        if element["evidence"]:  # offsets index the uploaded document's text
            span = CAPA[element["evidence"]["start"] : element["evidence"]["end"]]
            assert span.rstrip() == element["evidence"]["text"]


async def test_completion_is_announced_by_an_event_without_the_procedure_text(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    secret = "ACME-SECRET-4471 " + CAPA
    accepted = await _queue(
        client, tenant_a, {"document": secret, "document_type": "capa", "background": True}
    )
    await until_job_done(client, tenant_a, accepted["job_id"])
    params = {"type": "regulatory.gap_analysis.completed"}
    events = (await client.get("/v1/webhooks/events", params=params, headers=tenant_a.headers)).json()
    [event] = [e for e in events["items"] if e["data"]["analysis_id"] == accepted["id"]]
    assert event["data"]["state"] == "succeeded" and event["data"]["missing"] >= 1
    assert "ACME-SECRET" not in json.dumps(event)
    theirs = (await client.get("/v1/webhooks/events", params=params, headers=tenant_b.headers)).json()
    assert all(e["data"]["analysis_id"] != accepted["id"] for e in theirs["items"])


async def test_a_text_over_the_synchronous_limit_becomes_a_job_and_is_not_kept(
    client: httpx.AsyncClient, tenant_a: TenantHandle, owner_engine: AsyncEngine
) -> None:
    large = CAPA + "\n" + ("Filler line of the appendix. " * 12_000)
    assert len(large.encode()) > MAX_DOCUMENT_BYTES
    accepted = await _queue(client, tenant_a, {"document": large, "document_type": "capa"})
    assert accepted["source"] == "text" and accepted["document_chars"] == len(large)
    assert (await until_job_done(client, tenant_a, accepted["job_id"]))["state"] == "succeeded"
    kept = await _analysis(client, tenant_a, accepted["id"])
    assert kept["result"]["document_chars"] == len(large)
    async with owner_engine.begin() as conn:
        await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(tenant_a.id)})
        row = (
            await conn.execute(
                text("SELECT id, submitted_text FROM regulatory_gap_analyses WHERE id = :id"),
                {"id": accepted["id"]},
            )
        ).one()
    stored = row.submitted_text
    assert stored is None  # the SOP's text is dropped once analysed


async def test_a_pinned_version_is_the_one_analysed(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    title = new_title()
    first = await upload_text(client, tenant_a, title, "Deviation procedure draft without much content.")
    await until_ready(client, tenant_a, first["id"])
    await upload_text(client, tenant_a, title, CAPA)
    r = await client.post(
        f"{BASE}/gap-analysis",
        json={"document_id": first["id"], "version": 1, "document_type": "capa", "background": False},
        headers=tenant_a.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["document_chars"] == len("Deviation procedure draft without much content.")
    newest = await _queue(client, tenant_a, {"document_id": first["id"], "document_type": "capa"})
    assert newest["document_version"] == 2


async def test_an_uploaded_document_can_be_analysed_at_once(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    document = await _uploaded(client, tenant_a)
    r = await client.post(
        f"{BASE}/gap-analysis",
        json={"document_id": document["id"], "document_type": "capa", "background": False},
        headers=tenant_a.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["missing"] == load_gap_analyzer().analyse(CAPA, "capa", []).missing


async def test_another_tenants_document_is_a_404_and_queues_nothing(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    document = await _uploaded(client, tenant_a)
    for background in (None, True, False):
        r = await client.post(
            f"{BASE}/gap-analysis",
            json={"document_id": document["id"], "document_type": "capa", "background": background},
            headers=tenant_b.headers,
        )
        assert "document_id" in assert_problem(r, 404)["detail"]
    listed = (await client.get(f"{BASE}/gap-analyses", headers=tenant_b.headers)).json()
    assert listed["items"] == []


async def test_another_tenants_analysis_is_a_404_and_is_not_listed(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    accepted = await _queue(client, tenant_a, {"document": CAPA, "document_type": "capa", "background": True})
    assert_problem(await client.get(f"{BASE}/gap-analyses/{accepted['id']}", headers=tenant_b.headers), 404)
    assert_problem(await client.get(f"{BASE}/gap-analyses/{uuid.uuid4()}", headers=tenant_a.headers), 404)
    mine = (await client.get(f"{BASE}/gap-analyses", headers=tenant_a.headers)).json()
    assert [i["id"] for i in mine["items"]] == [accepted["id"]] and mine["items"][0]["result"] is None
    theirs = (await client.get(f"{BASE}/gap-analyses", headers=tenant_b.headers)).json()
    assert theirs["items"] == []
    # ...nor its job.
    assert_problem(await client.get(f"/v1/jobs/{accepted['job_id']}", headers=tenant_b.headers), 404)


async def test_an_unknown_version_is_a_404_naming_it(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    document = await _uploaded(client, tenant_a)
    r = await client.post(
        f"{BASE}/gap-analysis",
        json={"document_id": document["id"], "version": 7, "document_type": "capa"},
        headers=tenant_a.headers,
    )
    assert "version" in assert_problem(r, 404)["detail"]


async def test_an_uploaded_document_over_the_synchronous_limit_is_413_naming_it(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    document = await _uploaded(client, tenant_a, CAPA + "\n" + "Appendix line. " * 25_000)
    r = await client.post(
        f"{BASE}/gap-analysis",
        json={"document_id": document["id"], "document_type": "capa", "background": False},
        headers=tenant_a.headers,
    )
    assert "document_id" in assert_problem(r, 413)["detail"]


@pytest.mark.parametrize(
    ("payload", "field", "status"),
    [
        # Well-formed bodies that break a rule between fields: 422 (the schema alone cannot say it).
        ({"document_type": "capa"}, "document_id", 422),
        (
            {"document": "Root cause.", "document_id": str(uuid.uuid4()), "document_type": "capa"},
            "document_id",
            422,
        ),
        ({"document": "Root cause.", "version": 2, "document_type": "capa"}, "version", 422),
        # Bodies the schema refuses: 400.
        ({"document_id": "not-a-uuid", "document_type": "capa"}, "document_id", 400),
        ({"document_id": str(uuid.uuid4()), "version": 0, "document_type": "capa"}, "version", 400),
        ({"document": "Root cause.", "document_type": "capa", "background": "yes"}, "background", 400),
        ({"document_id": 12, "document_type": "capa"}, "document_id", 400),
    ],
)
async def test_malformed_requests_are_4xx_naming_the_field(
    client: httpx.AsyncClient, tenant_a: TenantHandle, payload: dict[str, Any], field: str, status: int
) -> None:
    r = await client.post(f"{BASE}/gap-analysis", json=payload, headers=tenant_a.headers)
    assert field in json.dumps(assert_problem(r, status))


async def test_an_unknown_document_id_is_a_404(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.post(
        f"{BASE}/gap-analysis",
        json={"document_id": str(uuid.uuid4()), "document_type": "capa"},
        headers=tenant_a.headers,
    )
    assert_problem(r, 404)


async def test_a_malformed_analysis_id_is_not_a_5xx(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.get(f"{BASE}/gap-analyses/1%27%20OR%201=1", headers=tenant_a.headers)
    assert 400 <= r.status_code < 500
