"""Deviations (classification, dates, default and per-tenant due dates, extensions decided by QA) and CAPA
(actions with owners, effectiveness check by QA)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from tests.conftest import TenantHandle, assert_problem, create_tenant
from tests.plugins.gmp.conftest import Signer, make_signer


def _deviation_body(reporter: Signer, **extra: Any) -> dict[str, Any]:
    aware = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    return {
        "title": "Label roll mix-up on line 4",
        "classification": "critical",
        "occurred_at": (aware - timedelta(hours=2)).isoformat(),
        "discovered_at": aware.isoformat(),
        "reported_by_signer_id": reporter.id,
        **extra,
    }


async def _create(client: httpx.AsyncClient, tenant: TenantHandle, body: dict[str, Any]) -> dict[str, Any]:
    r = await client.post("/v1/gmp/deviations", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def test_a_deviation_is_due_30_days_after_awareness(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    reporter = await make_signer(client, tenant_a, ["author"])
    dev = await _create(client, tenant_a, _deviation_body(reporter))
    assert dev["due_date"] == "2026-12-20"
    assert dev["number"].startswith("DEV-") and dev["classification"] == "critical"
    assert dev["status"] == "open"


async def test_the_due_period_is_a_tenant_setting(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.put(
        "/v1/plugins/gmp",
        json={"enabled": True, "settings": {"deviation_due_days": 15}},
        headers=tenant_a.headers,
    )
    assert r.status_code == 200, r.text
    reporter = await make_signer(client, tenant_a, ["author"])
    dev = await _create(client, tenant_a, _deviation_body(reporter))
    assert dev["due_date"] == "2026-12-05"


async def test_awareness_before_occurrence_is_refused(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    reporter = await make_signer(client, tenant_a, ["author"])
    body = _deviation_body(reporter, occurred_at="2026-11-21T00:00:00+00:00")
    problem = assert_problem(
        await client.post("/v1/gmp/deviations", json=body, headers=tenant_a.headers), 422
    )
    assert problem["errors"][0]["key"] == "discovered_at"


async def test_an_unknown_classification_is_refused(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    reporter = await make_signer(client, tenant_a, ["author"])
    body = _deviation_body(reporter, classification="catastrophic")
    problem = assert_problem(
        await client.post("/v1/gmp/deviations", json=body, headers=tenant_a.headers), 400
    )
    assert "classification" in problem["detail"]


async def test_an_extension_is_requested_and_decided_by_qa_not_the_requester(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    reporter = await make_signer(client, tenant_a, ["author", "qa"])
    qa = await make_signer(client, tenant_a, ["qa"])
    dev = await _create(client, tenant_a, _deviation_body(reporter))
    ask = {
        "requested_by_signer_id": reporter.id,
        "requested_due_date": "2027-01-15",
        "reason": "Lab results pending.",
    }
    r = await client.post(f"/v1/gmp/deviations/{dev['id']}/extensions", json=ask, headers=tenant_a.headers)
    assert r.status_code == 201, r.text
    extension = r.json()["extensions"][0]
    assert extension["status"] == "requested"
    url = f"/v1/gmp/deviations/{dev['id']}/extensions/{extension['id']}/decision"
    own = {"decided_by_signer_id": reporter.id, "approve": True}
    problem = assert_problem(await client.post(url, json=own, headers=tenant_a.headers), 403)
    assert "requested it" in problem["detail"]
    r = await client.post(
        url, json={"decided_by_signer_id": qa.id, "approve": True}, headers=tenant_a.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["due_date"] == "2027-01-15"
    assert r.json()["extensions"][0]["status"] == "approved"


async def test_an_extension_must_move_the_due_date_later(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    reporter = await make_signer(client, tenant_a, ["author"])
    dev = await _create(client, tenant_a, _deviation_body(reporter))
    ask = {"requested_by_signer_id": reporter.id, "requested_due_date": "2026-12-01", "reason": "Earlier?"}
    r = await client.post(f"/v1/gmp/deviations/{dev['id']}/extensions", json=ask, headers=tenant_a.headers)
    assert assert_problem(r, 422)["errors"][0]["key"] == "requested_due_date"


async def test_closing_a_deviation_needs_qa(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    reporter = await make_signer(client, tenant_a, ["author"])
    qa = await make_signer(client, tenant_a, ["qa"])
    dev = await _create(client, tenant_a, _deviation_body(reporter))
    url = f"/v1/gmp/deviations/{dev['id']}/close"
    assert_problem(
        await client.post(url, json={"signer_id": reporter.id, "reason": "Done."}, headers=tenant_a.headers),
        403,
    )
    r = await client.post(
        url, json={"signer_id": qa.id, "reason": "Investigation closed."}, headers=tenant_a.headers
    )
    assert r.json()["status"] == "closed"


async def _capa(
    client: httpx.AsyncClient, tenant: TenantHandle, owner: Signer, **extra: Any
) -> dict[str, Any]:
    today = date.today()
    body = {
        "title": "Segregate label rolls by product",
        "owner_signer_id": owner.id,
        "effectiveness_criteria": "No label mix-up in the next 50 batches.",
        "actions": [
            {
                "kind": "corrective",
                "description": "Quarantine affected rolls.",
                "owner_signer_id": owner.id,
                "due_date": (today + timedelta(days=3)).isoformat(),
            },
            {
                "kind": "preventive",
                "description": "Add a barcode check at the unwinder.",
                "owner_signer_id": owner.id,
                "due_date": (today + timedelta(days=30)).isoformat(),
            },
        ],
        **extra,
    }
    r = await client.post("/v1/gmp/capas", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def test_a_capa_has_owned_actions_and_a_default_effectiveness_date(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    owner = await make_signer(client, tenant_a, ["author"])
    capa = await _capa(client, tenant_a, owner)
    assert capa["effectiveness_check_due"] == (date.today() + timedelta(days=90)).isoformat()
    assert [a["owner_signer_id"] for a in capa["actions"]] == [owner.id, owner.id]
    assert capa["number"].startswith("CAPA-")


async def test_effectiveness_needs_every_action_done_and_qa(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    owner = await make_signer(client, tenant_a, ["author"])
    qa = await make_signer(client, tenant_a, ["qa"])
    capa = await _capa(client, tenant_a, owner)
    check = {"verified_by_signer_id": qa.id, "result": "effective", "summary": "No recurrence."}
    url = f"/v1/gmp/capas/{capa['id']}/effectiveness"
    assert_problem(await client.post(url, json=check, headers=tenant_a.headers), 409)
    for action in capa["actions"]:
        r = await client.post(
            f"/v1/gmp/capas/{capa['id']}/actions/{action['id']}/complete",
            json={"completed_by_signer_id": owner.id, "note": "Done and verified."},
            headers=tenant_a.headers,
        )
        assert r.status_code == 200, r.text
    not_qa = {**check, "verified_by_signer_id": owner.id}
    assert_problem(await client.post(url, json=not_qa, headers=tenant_a.headers), 403)
    r = await client.post(url, json=check, headers=tenant_a.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed" and r.json()["effectiveness_result"] == "effective"


async def test_a_capa_action_owner_must_be_a_signer_of_the_tenant(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    other = await create_tenant(client)
    stranger = await make_signer(client, other, ["qa"])
    owner = await make_signer(client, tenant_a, ["author"])
    body = {
        "title": "x",
        "owner_signer_id": owner.id,
        "effectiveness_criteria": "y",
        "actions": [
            {
                "kind": "corrective",
                "description": "z",
                "owner_signer_id": stranger.id,
                "due_date": "2099-01-01",
            }
        ],
    }
    problem = assert_problem(await client.post("/v1/gmp/capas", json=body, headers=tenant_a.headers), 422)
    assert problem["errors"][0]["key"] == "actions[0].owner_signer_id"


async def test_deviations_and_capas_are_per_tenant(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    other = await create_tenant(client)
    owner = await make_signer(client, tenant_a, ["author"])
    dev = await _create(client, tenant_a, _deviation_body(owner))
    capa = await _capa(client, tenant_a, owner)
    assert_problem(await client.get(f"/v1/gmp/deviations/{dev['id']}", headers=other.headers), 404)
    assert_problem(await client.get(f"/v1/gmp/capas/{capa['id']}", headers=other.headers), 404)
    assert (await client.get("/v1/gmp/deviations", headers=other.headers)).json()["items"] == []
    assert (await client.get("/v1/gmp/capas", headers=other.headers)).json()["items"] == []
