"""Helpers for the GMP tests: signers with roles, documents from templates, signing, transitions."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import httpx

from tests.conftest import TenantHandle

PASSWORD = "correct horse battery staple"


@dataclass
class Signer:
    id: str
    user_id: str
    full_name: str
    password: str = PASSWORD
    session: str | None = None


async def make_signer(
    client: httpx.AsyncClient, tenant: TenantHandle, roles: list[str], name: str | None = None
) -> Signer:
    user_id = "u" + secrets.token_hex(4)
    full_name = name or f"Person {user_id.upper()}"
    r = await client.post(
        "/v1/gmp/signers",
        json={"user_id": user_id, "full_name": full_name, "roles": roles, "password": PASSWORD},
        headers=tenant.headers,
    )
    assert r.status_code == 201, r.text
    return Signer(id=r.json()["id"], user_id=user_id, full_name=full_name)


SOP_FIELDS = {
    "title": "Cleaning of tablet press TP-3",
    "department": "Solid dose manufacturing",
    "scope": "Tablet press TP-3 in suite B after each product changeover.",
    "review_period_months": 24,
}
SOP_SECTIONS = {
    "purpose": "Describe how TP-3 is cleaned between products to prevent cross-contamination.",
    "responsibilities": "Operators clean; supervisors check; QA approves the procedure.",
    "procedure": "1. Disassemble. 2. Wash with detergent. 3. Rinse. 4. Dry. 5. Record on form F-12.",
}


async def make_document(
    client: httpx.AsyncClient, tenant: TenantHandle, author: Signer, **overrides: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "template": "sop",
        "author_signer_id": author.id,
        "fields": dict(SOP_FIELDS),
        "sections": dict(SOP_SECTIONS),
    }
    body.update(overrides)
    r = await client.post("/v1/gmp/documents", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def sign(
    client: httpx.AsyncClient, tenant: TenantHandle, doc_id: str, signer: Signer, meaning: str
) -> httpx.Response:
    body: dict[str, Any] = {"meaning": meaning, "signer_id": signer.id, "password": signer.password}
    if signer.session:
        body["signing_session"] = signer.session
    else:
        body["user_id"] = signer.user_id
    r = await client.post(f"/v1/gmp/documents/{doc_id}/signatures", json=body, headers=tenant.headers)
    if r.status_code == 201:
        signer.session = r.json()["signing_session"]
    return r


async def transition(
    client: httpx.AsyncClient,
    tenant: TenantHandle,
    doc_id: str,
    to: str,
    signer: Signer,
    reason: str | None = None,
) -> httpx.Response:
    body: dict[str, Any] = {"to": to, "signer_id": signer.id}
    if reason:
        body["reason"] = reason
    return await client.post(f"/v1/gmp/documents/{doc_id}/transitions", json=body, headers=tenant.headers)


@dataclass
class Team:
    author: Signer
    reviewer: Signer
    approver: Signer
    qa: Signer


async def make_team(client: httpx.AsyncClient, tenant: TenantHandle) -> Team:
    return Team(
        author=await make_signer(client, tenant, ["author"], "Alice Author"),
        reviewer=await make_signer(client, tenant, ["reviewer"], "Rob Reviewer"),
        approver=await make_signer(client, tenant, ["approver"], "Ann Approver"),
        qa=await make_signer(client, tenant, ["qa"], "Quinn Quality"),
    )


async def effective_document(client: httpx.AsyncClient, tenant: TenantHandle, team: Team) -> dict[str, Any]:
    """A document taken all the way to effective by a proper team."""
    doc = await make_document(client, tenant, team.author)
    assert (await sign(client, tenant, doc["id"], team.author, "authored")).status_code == 201
    assert (await transition(client, tenant, doc["id"], "in_review", team.author)).status_code == 200
    assert (await sign(client, tenant, doc["id"], team.reviewer, "reviewed")).status_code == 201
    assert (await sign(client, tenant, doc["id"], team.qa, "approved")).status_code == 201
    r = await transition(client, tenant, doc["id"], "approved", team.qa)
    assert r.status_code == 200, r.text
    r = await transition(client, tenant, doc["id"], "effective", team.qa)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result
