"""OTC with the real interactions plugin (its `interactions.check` service): these run once that plugin is
installed beside OTC (it is built in parallel), and are skipped until then."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import TenantHandle

pytest.importorskip("lumen.plugins.interactions")

URL = "/v1/otc/recommend"
HEADACHE = "Mild headache after a long day at the screen."


async def _recommend(client: httpx.AsyncClient, tenant: TenantHandle, **patient: object) -> dict[str, object]:
    r = await client.post(URL, json={"symptoms": HEADACHE, "patient": patient}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


async def test_self_care_options_are_checked(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = await _recommend(client, tenant_a, age=35)
    assert body["status"] == "options"
    assert body["interactions_checked"] is True
    assert body["options"]


async def test_warfarin_excludes_nsaids_through_the_interactions_check(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    body = await _recommend(client, tenant_a, age=70, medications=["warfarin"])
    excluded = {e["id"]: e for e in body["excluded"]}  # type: ignore[attr-defined]
    assert excluded["ibuprofen"]["kind"] == "interaction"
    assert "warfarin" in excluded["ibuprofen"]["reason"].lower()
    assert "ibuprofen" not in [o["id"] for o in body["options"]]  # type: ignore[attr-defined]


async def test_mao_inhibitor_excludes_the_decongestant(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.post(
        URL,
        json={
            "symptoms": "Blocked, runny nose and sneezing for 3 days.",
            "patient": {"age": 40, "medications": ["phenelzine"]},
        },
        headers=tenant_a.headers,
    )
    assert r.status_code == 200, r.text
    excluded = {e["id"]: e for e in r.json()["excluded"]}
    assert excluded["pseudoephedrine"]["kind"] in ("interaction", "unchecked")


async def test_second_tenant_gets_its_own_answer(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    mine = await _recommend(client, tenant_a, age=70, medications=["warfarin"])
    theirs = await _recommend(client, tenant_b, age=35)
    assert "ibuprofen" in [o["id"] for o in theirs["options"]]  # type: ignore[attr-defined]
    assert "ibuprofen" not in [o["id"] for o in mine["options"]]  # type: ignore[attr-defined]
