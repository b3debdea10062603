"""Part 11 signatures: credentials (§11.200), linking to exact content (§11.70), failed attempts and lockout
(§11.300(d)), signers as tenant members with their own credential (§11.100)."""

from __future__ import annotations

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import TenantHandle, assert_problem, create_tenant
from tests.plugins.gmp.conftest import Signer, make_document, make_signer, make_team, sign, transition


async def test_first_signing_needs_both_components(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    author = await make_signer(client, tenant_a, ["author"])
    doc = await make_document(client, tenant_a, author)
    body = {"meaning": "authored", "signer_id": author.id, "password": author.password}
    problem = assert_problem(
        await client.post(f"/v1/gmp/documents/{doc['id']}/signatures", json=body, headers=tenant_a.headers),
        422,
    )
    assert problem["errors"][0]["key"] == "user_id"


async def test_a_signature_links_to_the_content_hash_and_manifests_name_time_meaning(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    author = await make_signer(client, tenant_a, ["author"], "Dr. Maria Okafor")
    doc = await make_document(client, tenant_a, author)
    r = await sign(client, tenant_a, doc["id"], author, "authored")
    assert r.status_code == 201, r.text
    sig = r.json()["signature"]
    assert sig["content_sha256"] == doc["content_sha256"]
    assert sig["printed_name"] == "Dr. Maria Okafor"
    assert sig["meaning"] == "authored"
    assert sig["signed_at"].endswith(("Z", "+00:00"))
    assert sig["authentication"] == "user_id+password"
    assert sig["valid"] is True
    assert len(r.json()["signing_session"]) >= 40


async def test_within_a_session_the_password_alone_signs(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    author = await make_signer(client, tenant_a, ["author"])
    first = await make_document(client, tenant_a, author)
    second = await make_document(client, tenant_a, author)
    assert (await sign(client, tenant_a, first["id"], author, "authored")).status_code == 201
    assert author.session is not None
    r = await sign(client, tenant_a, second["id"], author, "authored")  # session + password only
    assert r.status_code == 201, r.text
    assert r.json()["signature"]["authentication"] == "session+password"


async def test_an_expired_session_needs_both_components_again(
    client: httpx.AsyncClient, tenant_a: TenantHandle, owner_engine: AsyncEngine
) -> None:
    author = await make_signer(client, tenant_a, ["author"])
    doc = await make_document(client, tenant_a, author)
    assert (await sign(client, tenant_a, doc["id"], author, "authored")).status_code == 201
    async with owner_engine.begin() as conn:
        await conn.execute(
            text("SELECT set_config('lumen.tenant_id', :t, true);"),
            {"t": str(tenant_a.id)},
        )
        await conn.execute(
            text("UPDATE gmp_signers SET session_expires_at = now() - interval '1 minute' WHERE id = :id"),
            {"id": author.id},
        )
    other = await make_document(client, tenant_a, author)
    problem = assert_problem(await sign(client, tenant_a, other["id"], author, "authored"), 403)
    assert problem["errors"][0]["key"] == "signing_session"


async def test_a_session_token_of_another_signer_does_not_sign(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    team = await make_team(client, tenant_a)
    doc = await make_document(client, tenant_a, team.author)
    assert (await sign(client, tenant_a, doc["id"], team.author, "authored")).status_code == 201
    await transition(client, tenant_a, doc["id"], "in_review", team.author)
    thief = Signer(id=team.reviewer.id, user_id="x", full_name="x", session=team.author.session)
    assert_problem(await sign(client, tenant_a, doc["id"], thief, "reviewed"), 403)


async def test_editing_after_signing_invalidates_the_signature_and_leaves_approved(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    team = await make_team(client, tenant_a)
    doc = await make_document(client, tenant_a, team.author)
    await transition(client, tenant_a, doc["id"], "in_review", team.author)
    assert (await sign(client, tenant_a, doc["id"], team.qa, "approved")).status_code == 201
    approved = (await transition(client, tenant_a, doc["id"], "approved", team.qa)).json()
    assert approved["status"] == "approved" and approved["signatures"][0]["valid"] is True
    edit = {"signer_id": team.author.id, "fields": {"scope": "Also TP-4."}, "reason": "Scope widened."}
    r = await client.patch(f"/v1/gmp/documents/{doc['id']}", json=edit, headers=tenant_a.headers)
    edited = r.json()
    assert edited["status"] == "draft"
    assert edited["content_sha256"] != approved["content_sha256"]
    assert [s["valid"] for s in edited["signatures"]] == [False]
    # The stale approval cannot carry the edited content back to approved.
    await transition(client, tenant_a, doc["id"], "in_review", team.author)
    problem = assert_problem(await transition(client, tenant_a, doc["id"], "approved", team.qa), 403)
    assert "approval signature" in problem["detail"]


async def test_a_tampered_signature_record_no_longer_verifies(
    client: httpx.AsyncClient, tenant_a: TenantHandle, owner_engine: AsyncEngine
) -> None:
    author = await make_signer(client, tenant_a, ["author"])
    doc = await make_document(client, tenant_a, author)
    sig = (await sign(client, tenant_a, doc["id"], author, "authored")).json()["signature"]
    async with owner_engine.begin() as conn:
        await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(tenant_a.id)})
        await conn.execute(
            text("UPDATE gmp_signatures SET meaning = 'approved' WHERE id = :id"), {"id": sig["id"]}
        )
    fetched = (await client.get(f"/v1/gmp/documents/{doc['id']}", headers=tenant_a.headers)).json()
    assert fetched["signatures"][0]["meaning"] == "approved"
    assert fetched["signatures"][0]["valid"] is False


async def test_a_signature_cannot_be_copied_to_another_document(
    client: httpx.AsyncClient, tenant_a: TenantHandle, owner_engine: AsyncEngine
) -> None:
    author = await make_signer(client, tenant_a, ["author"])
    first = await make_document(client, tenant_a, author)
    second = await make_document(client, tenant_a, author)
    sig = (await sign(client, tenant_a, first["id"], author, "authored")).json()["signature"]
    async with owner_engine.begin() as conn:
        await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(tenant_a.id)})
        await conn.execute(
            text("UPDATE gmp_signatures SET document_id = :doc, content_sha256 = :hash WHERE id = :id"),
            {"doc": second["id"], "hash": second["content_sha256"], "id": sig["id"]},
        )
    moved = (await client.get(f"/v1/gmp/documents/{second['id']}", headers=tenant_a.headers)).json()
    assert [s["valid"] for s in moved["signatures"]] == [False]


async def test_failed_attempts_are_audited_and_lock_the_signer_with_an_event(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    author = await make_signer(client, tenant_a, ["author"])
    doc = await make_document(client, tenant_a, author)
    wrong = Signer(id=author.id, user_id=author.user_id, full_name="", password="not the password")
    for _ in range(3):
        problem = assert_problem(await sign(client, tenant_a, doc["id"], wrong, "authored"), 403)
        assert "user id or password is wrong" in problem["detail"]
    signer = (await client.get(f"/v1/gmp/signers/{author.id}", headers=tenant_a.headers)).json()
    assert signer["locked"] is True and signer["failed_attempts"] == 3
    # Locked: even the right password is refused until an administrator unlocks.
    problem = assert_problem(await sign(client, tenant_a, doc["id"], author, "authored"), 403)
    assert "locked" in problem["detail"]
    events = (
        await client.get(
            "/v1/webhooks/events", params={"type": "gmp.signer.locked"}, headers=tenant_a.headers
        )
    ).json()["items"]
    assert [e["data"]["signer_id"] for e in events] == [author.id]
    history = (await client.get(f"/v1/gmp/documents/{doc['id']}/history", headers=tenant_a.headers)).json()
    rejected = [e for e in history["entries"] if e["action"] == "gmp.signature.rejected"]
    assert len(rejected) == 3
    assert rejected[-1]["details"]["failures"] == 3
    assert "not the password" not in str(history)
    r = await client.patch(f"/v1/gmp/signers/{author.id}", json={"unlock": True}, headers=tenant_a.headers)
    assert r.json()["locked"] is False
    assert (await sign(client, tenant_a, doc["id"], author, "authored")).status_code == 201


async def test_a_wrong_user_id_counts_as_a_failure(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    author = await make_signer(client, tenant_a, ["author"])
    doc = await make_document(client, tenant_a, author)
    wrong = Signer(id=author.id, user_id="someone-else", full_name="")
    assert_problem(await sign(client, tenant_a, doc["id"], wrong, "authored"), 403)
    signer = (await client.get(f"/v1/gmp/signers/{author.id}", headers=tenant_a.headers)).json()
    assert signer["failed_attempts"] == 1


async def test_signer_user_ids_are_unique_and_passwords_never_returned(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    signer = await make_signer(client, tenant_a, ["qa"])
    body = {
        "user_id": signer.user_id,
        "full_name": "Twin",
        "roles": ["qa"],
        "password": "another long password",
    }
    assert_problem(await client.post("/v1/gmp/signers", json=body, headers=tenant_a.headers), 409)
    listing = await client.get("/v1/gmp/signers", headers=tenant_a.headers)
    assert "password" not in listing.text and "argon2" not in listing.text


async def test_a_short_password_is_refused(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    body = {"user_id": "shorty", "full_name": "Short", "roles": ["qa"], "password": "short"}
    problem = assert_problem(await client.post("/v1/gmp/signers", json=body, headers=tenant_a.headers), 400)
    assert "password" in problem["detail"]


async def test_another_tenants_signer_cannot_sign_here(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    other = await create_tenant(client)
    outsider = await make_signer(client, other, ["qa"])
    author = await make_signer(client, tenant_a, ["author"])
    doc = await make_document(client, tenant_a, author)
    problem = assert_problem(await sign(client, tenant_a, doc["id"], outsider, "authored"), 422)
    assert problem["errors"][0]["key"] == "signer_id"


async def test_signing_needs_the_sign_scope(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    author = await make_signer(client, tenant_a, ["author"])
    doc = await make_document(client, tenant_a, author)
    r = await client.post(
        "/v1/keys", json={"name": "writer", "scopes": ["gmp:write"]}, headers=tenant_a.headers
    )
    writer = {"authorization": f"Bearer {r.json()['key']}"}
    body = {
        "meaning": "authored",
        "signer_id": author.id,
        "user_id": author.user_id,
        "password": author.password,
    }
    r = await client.post(f"/v1/gmp/documents/{doc['id']}/signatures", json=body, headers=writer)
    assert_problem(r, 403, "forbidden")


async def test_a_password_containing_the_user_id_is_refused(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    body = {"user_id": "jdoe", "full_name": "J Doe", "roles": ["qa"], "password": "my-name-is-jdoe-2026"}
    problem = assert_problem(await client.post("/v1/gmp/signers", json=body, headers=tenant_a.headers), 422)
    assert problem["errors"][0]["key"] == "password"
