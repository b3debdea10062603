"""Idempotency-Key on creating POSTs (Stripe's semantics), on POST /v1/keys, against the real database.

Same key + same request replays the stored answer (`Idempotent-Replayed: true`) and creates nothing more;
same key + a different request is 422 idempotency-key-reused; keys are per tenant; failed requests are
not remembered; concurrent duplicates collapse into one; records expire after 24 h; the platform
operator's routes are not tenant-scoped and ignore the header.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import TenantHandle, assert_problem, bearer, platform_headers

KEYS = "/v1/keys"
REPLAYED = "idempotent-replayed"


def idem(tenant: TenantHandle, key: str) -> dict[str, str]:
    return {**tenant.headers, "idempotency-key": key}


def new_key() -> str:
    return str(uuid.uuid4())


def new_body(name: str = "idempotent") -> dict[str, Any]:
    return {"name": f"{name}-{secrets.token_hex(3)}", "scopes": ["keys:read"]}


async def key_ids(client: httpx.AsyncClient, tenant: TenantHandle) -> list[str]:
    r = await client.get(f"{KEYS}?limit=200", headers=tenant.headers)
    assert r.status_code == 200, r.text
    assert r.json()["next_cursor"] is None
    return [k["id"] for k in r.json()["items"]]


async def test_same_key_same_body_replays_the_identical_response(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    key, body = new_key(), new_body()
    before = await key_ids(client, tenant_a)
    first = await client.post(KEYS, json=body, headers=idem(tenant_a, key))
    assert first.status_code == 201, first.text
    assert REPLAYED not in first.headers
    second = await client.post(KEYS, json=body, headers=idem(tenant_a, key))
    assert second.status_code == 201, second.text
    assert second.headers[REPLAYED] == "true"
    assert second.headers["content-type"] == first.headers["content-type"]
    assert second.content == first.content  # byte for byte: same id, same secret, same timestamps
    assert second.json()["id"] == first.json()["id"]
    assert second.json()["key"] == first.json()["key"]
    # A third time still replays, and exactly one key was created.
    third = await client.post(KEYS, json=body, headers=idem(tenant_a, key))
    assert third.headers[REPLAYED] == "true"
    assert third.content == first.content
    after = await key_ids(client, tenant_a)
    assert sorted(set(after) - set(before)) == [first.json()["id"]]
    assert len(after) == len(before) + 1


async def test_same_key_different_body_is_422_reused(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    key = new_key()
    first = await client.post(KEYS, json=new_body(), headers=idem(tenant_a, key))
    assert first.status_code == 201, first.text
    before = await key_ids(client, tenant_a)
    r = await client.post(KEYS, json=new_body("different"), headers=idem(tenant_a, key))
    assert_problem(r, 422, "idempotency-key-reused")
    assert REPLAYED not in r.headers
    # A different path (and body) with the same key is a different request too.
    r = await client.post(
        f"{KEYS}/{tenant_a.key_id}/rotate", json={"overlap_seconds": 60}, headers=idem(tenant_a, key)
    )
    assert_problem(r, 422, "idempotency-key-reused")
    # So is the same path with a different query string.
    r = await client.post(
        f"{KEYS}?x=1",
        content=first.request.content,
        headers={**idem(tenant_a, key), "content-type": "application/json"},
    )
    assert_problem(r, 422, "idempotency-key-reused")
    assert await key_ids(client, tenant_a) == before


async def test_the_same_key_in_another_tenant_is_independent(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    key, body = new_key(), new_body()
    a = await client.post(KEYS, json=body, headers=idem(tenant_a, key))
    b = await client.post(KEYS, json=body, headers=idem(tenant_b, key))
    assert a.status_code == b.status_code == 201, (a.text, b.text)
    assert REPLAYED not in a.headers
    assert REPLAYED not in b.headers
    assert a.json()["id"] != b.json()["id"]
    assert a.json()["tenant_id"] == str(tenant_a.id)
    assert b.json()["tenant_id"] == str(tenant_b.id)
    # Each tenant now replays its own answer, never the other's.
    again_b = await client.post(KEYS, json=body, headers=idem(tenant_b, key))
    assert again_b.headers[REPLAYED] == "true"
    assert again_b.content == b.content
    # And B with a different body is "reused" only against B's own record.
    assert_problem(
        await client.post(KEYS, json=new_body(), headers=idem(tenant_b, key)), 422, "idempotency-key-reused"
    )
    assert b.json()["id"] not in await key_ids(client, tenant_a)


@pytest.mark.parametrize(
    ("bad", "status"),
    [
        pytest.param({"name": "x", "scopes": ["no-such-scope"]}, 422, id="service-rejects-422"),
        pytest.param({"name": "x", "scopes": "admin"}, 400, id="decoding-rejects-400"),
        pytest.param(
            {"name": "x", "scopes": ["admin"], "expires_at": "2020-01-01T00:00:00Z"},
            422,
            id="expiry-in-the-past-422",
        ),
    ],
)
async def test_a_failed_request_is_not_stored_so_a_corrected_retry_runs(
    client: httpx.AsyncClient, tenant_a: TenantHandle, bad: dict[str, Any], status: int
) -> None:
    key = new_key()
    before = await key_ids(client, tenant_a)
    r = await client.post(KEYS, json=bad, headers=idem(tenant_a, key))
    assert_problem(r, status)
    # The same bad request again runs again (not a replay of the failure).
    r = await client.post(KEYS, json=bad, headers=idem(tenant_a, key))
    assert_problem(r, status)
    assert REPLAYED not in r.headers
    # Corrected, with the same key: it runs and succeeds.
    good = new_body()
    r = await client.post(KEYS, json=good, headers=idem(tenant_a, key))
    assert r.status_code == 201, r.text
    assert REPLAYED not in r.headers
    created = r.json()["id"]
    # From now on the key belongs to the corrected request.
    r = await client.post(KEYS, json=good, headers=idem(tenant_a, key))
    assert r.headers[REPLAYED] == "true"
    assert r.json()["id"] == created
    r = await client.post(KEYS, json=bad, headers=idem(tenant_a, key))
    assert_problem(r, 422, "idempotency-key-reused")
    assert sorted(set(await key_ids(client, tenant_a)) - set(before)) == [created]


async def test_concurrent_duplicates_create_exactly_one_key(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    key, body = new_key(), new_body("concurrent")
    before = await key_ids(client, tenant_a)
    answers = await asyncio.gather(
        *[client.post(KEYS, json=body, headers=idem(tenant_a, key)) for _ in range(5)]
    )
    assert [r.status_code for r in answers] == [201] * 5, [r.text for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    assert len({r.json()["key"] for r in answers}) == 1
    assert len({r.content for r in answers}) == 1
    assert sum(r.headers.get(REPLAYED) == "true" for r in answers) == 4
    after = await key_ids(client, tenant_a)
    assert sorted(set(after) - set(before)) == [answers[0].json()["id"]]


async def _age_record(owner_engine: AsyncEngine, tenant: TenantHandle, key: str, hours: int) -> None:
    async with owner_engine.begin() as conn:
        # The owner is subject to FORCE ROW LEVEL SECURITY too: act within the tenant.
        await conn.execute(
            text("SELECT set_config('lumen.tenant_id', :tenant, true)"), {"tenant": str(tenant.id)}
        )
        result = await conn.execute(
            text(
                "UPDATE idempotency_keys SET created_at = now() - make_interval(hours => :hours) "
                "WHERE tenant_id = :tenant AND key = :key"
            ),
            {"hours": hours, "tenant": tenant.id, "key": key},
        )
        assert result.rowcount == 1


async def test_an_expired_record_lets_the_key_be_reused(
    client: httpx.AsyncClient, tenant_a: TenantHandle, owner_engine: AsyncEngine
) -> None:
    key = new_key()
    first = await client.post(KEYS, json=new_body("old"), headers=idem(tenant_a, key))
    assert first.status_code == 201, first.text

    # 23 hours on, the record still holds: a different body is refused.
    await _age_record(owner_engine, tenant_a, key, 23)
    assert_problem(
        await client.post(KEYS, json=new_body("too-soon"), headers=idem(tenant_a, key)),
        422,
        "idempotency-key-reused",
    )

    # Past the 24 h TTL the key is free: a new request runs (it would be 422 otherwise).
    await _age_record(owner_engine, tenant_a, key, 25)
    body = new_body("fresh")
    second = await client.post(KEYS, json=body, headers=idem(tenant_a, key))
    assert second.status_code == 201, second.text
    assert REPLAYED not in second.headers
    assert second.json()["id"] != first.json()["id"]
    # The fresh record is the one replayed now.
    third = await client.post(KEYS, json=body, headers=idem(tenant_a, key))
    assert third.headers[REPLAYED] == "true"
    assert third.json()["id"] == second.json()["id"]


async def test_an_expired_record_with_the_same_body_runs_afresh(
    client: httpx.AsyncClient, tenant_a: TenantHandle, owner_engine: AsyncEngine
) -> None:
    key, body = new_key(), new_body()
    first = await client.post(KEYS, json=body, headers=idem(tenant_a, key))
    assert first.status_code == 201, first.text
    await _age_record(owner_engine, tenant_a, key, 25)
    second = await client.post(KEYS, json=body, headers=idem(tenant_a, key))
    assert second.status_code == 201, second.text
    assert REPLAYED not in second.headers
    assert second.json()["id"] != first.json()["id"]


@pytest.mark.parametrize("key", ["k" * 256, "k" * 300, "", "   "], ids=["256", "300", "empty", "blank"])
async def test_a_bad_idempotency_key_is_400(
    client: httpx.AsyncClient, tenant_a: TenantHandle, key: str
) -> None:
    before = await key_ids(client, tenant_a)
    r = await client.post(KEYS, json=new_body(), headers=idem(tenant_a, key))
    body = assert_problem(r, 400)
    assert "Idempotency-Key" in body["detail"]
    assert await key_ids(client, tenant_a) == before


async def test_a_255_character_key_is_accepted(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    key, body = "k" * 254 + secrets.choice("abcdef"), new_body()
    first = await client.post(KEYS, json=body, headers=idem(tenant_a, key))
    assert first.status_code == 201, first.text
    second = await client.post(KEYS, json=body, headers=idem(tenant_a, key))
    assert second.headers[REPLAYED] == "true"
    assert second.content == first.content


async def test_a_post_without_the_header_is_not_deduplicated(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    body = new_body()
    before = await key_ids(client, tenant_a)
    first = await client.post(KEYS, json=body, headers=tenant_a.headers)
    second = await client.post(KEYS, json=body, headers=tenant_a.headers)
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert REPLAYED not in first.headers
    assert REPLAYED not in second.headers
    assert first.json()["id"] != second.json()["id"]
    assert first.json()["key"] != second.json()["key"]
    assert len(await key_ids(client, tenant_a)) == len(before) + 2


async def test_the_operator_create_tenant_route_ignores_the_idempotency_key(
    client: httpx.AsyncClient,
) -> None:
    """POST /v1/tenants is the platform operator's, not tenant-scoped: the header is ignored (documented)."""
    key = new_key()
    headers = {**platform_headers(), "idempotency-key": key}
    slug = "idem-" + secrets.token_hex(5)
    first = await client.post("/v1/tenants", json={"slug": slug, "name": "One"}, headers=headers)
    assert first.status_code == 201, first.text
    # Same key, same body: not a replay; it runs again and the slug now conflicts.
    again = await client.post("/v1/tenants", json={"slug": slug, "name": "One"}, headers=headers)
    assert_problem(again, 409, "conflict")
    assert REPLAYED not in again.headers
    # Same key, different body: not "reused"; it simply creates another tenant.
    other = await client.post("/v1/tenants", json={"slug": slug + "-2", "name": "Two"}, headers=headers)
    assert other.status_code == 201, other.text
    assert REPLAYED not in other.headers
    assert other.json()["id"] != first.json()["id"]


async def test_another_key_cannot_replay_a_response(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.post(KEYS, json={"name": "reader", "scopes": ["keys:read"]}, headers=tenant_a.headers)
    assert r.status_code == 201, r.text
    reader = bearer(r.json()["key"])
    key, body = new_key(), {"name": "new admin", "scopes": ["admin"]}
    assert_problem(await client.post(KEYS, json=body, headers=reader), 403, "forbidden")
    created = await client.post(KEYS, json=body, headers=idem(tenant_a, key))
    assert created.status_code == 201, created.text
    # The read-only key repeats the admin's request with the same Idempotency-Key. The caller's key is part
    # of the request, so this is a different request (422), never a replay of the admin key's secret.
    replay = await client.post(KEYS, json=body, headers={**reader, "idempotency-key": key})
    assert created.json()["key"] not in replay.text
    assert_problem(replay, 422, "idempotency-key-reused")


@pytest.mark.parametrize("case", ["reused", "bad-key"])
async def test_idempotency_problems_carry_the_request_id(
    client: httpx.AsyncClient, tenant_a: TenantHandle, case: str
) -> None:
    # Problems raised inside middleware are rendered outside RequestContextMiddleware; they still carry it.
    key = new_key()
    if case == "reused":
        assert (await client.post(KEYS, json=new_body(), headers=idem(tenant_a, key))).status_code == 201
        r = await client.post(KEYS, json=new_body(), headers=idem(tenant_a, key))
        assert_problem(r, 422, "idempotency-key-reused")
    else:
        r = await client.post(KEYS, json=new_body(), headers=idem(tenant_a, "k" * 300))
        assert_problem(r, 400)
    assert "x-request-id" in r.headers


async def test_stored_responses_are_sealed(
    client: httpx.AsyncClient, tenant_a: TenantHandle, owner_engine: AsyncEngine
) -> None:
    """The table never holds a new key's secret in the clear; the identical request still replays it."""
    key = new_key()
    created = await client.post(KEYS, json=new_body(), headers=idem(tenant_a, key))
    assert created.status_code == 201
    secret = created.json()["key"].encode()
    async with owner_engine.begin() as conn:
        await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(tenant_a.id)})
        stored = (
            await conn.execute(text("SELECT response_body FROM idempotency_keys WHERE key = :k"), {"k": key})
        ).scalar_one()
    assert secret not in stored
    assert b'"key"' not in stored
