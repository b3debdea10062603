"""What requests leave in the trail, and what a customer can check offline."""

from __future__ import annotations

import httpx
import msgspec

from lumen.core.audit.export import verify_export
from lumen.core.settings import Settings
from tests.conftest import TenantHandle, assert_problem, bearer, create_tenant, platform_headers


async def _events(client: httpx.AsyncClient, tenant: TenantHandle, **params: str) -> list[dict[str, object]]:
    r = await client.get("/v1/audit", params=params, headers=tenant.headers)
    assert r.status_code == 200, r.text
    items: list[dict[str, object]] = r.json()["items"]
    return items


async def test_state_change_is_recorded_with_request_id(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.post(
        "/v1/keys", json={"name": "audited", "scopes": ["keys:read"]}, headers=tenant_a.headers
    )
    assert r.status_code == 201
    request_id = r.headers["x-request-id"]
    [event] = await _events(client, tenant_a, request_id=request_id)
    assert event["action"] == "keys.create"
    assert event["outcome"] == "success"
    assert event["resource_type"] == "api_key"
    assert event["resource_id"] == r.json()["id"]
    assert event["actor_key_id"] == str(tenant_a.key_id)
    assert event["changed_fields"] == ["name", "scopes"]
    # Field names only: neither the values nor the issued secret are in the record.
    assert "audited" not in str(event)
    assert r.json()["key"] not in str(event)


async def test_reads_of_non_patient_data_are_not_recorded(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.get("/v1/keys", headers=tenant_a.headers)
    assert await _events(client, tenant_a, request_id=r.headers["x-request-id"]) == []


async def test_denied_request_is_recorded_though_it_rolled_back(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    reader = await client.post(
        "/v1/keys", json={"name": "r", "scopes": ["keys:read", "audit:read"]}, headers=tenant_a.headers
    )
    r = await client.post(
        "/v1/keys", json={"name": "x", "scopes": ["admin"]}, headers=bearer(reader.json()["key"])
    )
    assert_problem(r, 403)
    [event] = await _events(client, tenant_a, request_id=r.headers["x-request-id"])
    assert event["outcome"] == "denied"
    assert event["action"] == "keys.create"


async def test_failed_validation_leaves_no_success_record(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.post("/v1/keys", json={"name": "x", "scopes": ["nope"]}, headers=tenant_a.headers)
    assert r.status_code == 422
    assert await _events(client, tenant_a, request_id=r.headers["x-request-id"]) == []


async def test_operator_actions_form_the_platform_chain(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    r = await client.get(
        "/v1/audit",
        params={"action": "tenants.create", "resource_id": str(tenant.id)},
        headers=platform_headers(),
    )
    [event] = r.json()["items"]
    assert event["tenant_id"] is None
    assert event["actor_kind"] == "platform"
    verify = (await client.get("/v1/audit/verify", headers=platform_headers())).json()
    assert verify["ok"] is True


async def test_tenant_sees_only_its_chain(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    await client.post("/v1/keys", json={"name": "a", "scopes": ["admin"]}, headers=tenant_a.headers)
    for event in await _events(client, tenant_b, limit="200"):
        assert event["tenant_id"] == str(tenant_b.id)


async def test_verify_endpoint(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    for i in range(3):
        await client.post("/v1/keys", json={"name": f"k{i}", "scopes": ["admin"]}, headers=tenant_a.headers)
    report = (await client.get("/v1/audit/verify", headers=tenant_a.headers)).json()
    assert report == {"ok": True, "checked": 3, "first_bad": None}


async def test_export_verifies_offline_and_detects_tampering(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    for i in range(3):
        await client.post("/v1/keys", json={"name": f"k{i}", "scopes": ["admin"]}, headers=tenant_a.headers)
    r = await client.get("/v1/audit/export", headers=tenant_a.headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/x-ndjson")
    lines = r.content.splitlines()
    assert len(lines) == 4  # three records and the checkpoint
    public = (await client.get("/.well-known/lumen-audit-key")).json()
    assert public["algorithm"] == "Ed25519"
    report = verify_export(lines, public["public_key"])
    assert report.ok, report.first_bad
    assert report.checked == 3

    edited = msgspec.json.decode(lines[1])
    edited["action"] = "keys.revoke"
    tampered = [lines[0], msgspec.json.encode(edited), lines[2], lines[3]]
    assert verify_export(tampered, public["public_key"]).first_bad["seq"] == 2  # type: ignore[index]
    assert not verify_export(lines[:3], public["public_key"]).ok  # checkpoint cut off
    assert not verify_export([lines[0], lines[2], lines[3]], public["public_key"]).ok  # record dropped
    other_key = "A" * 43 + "="
    assert not verify_export(lines, other_key).ok


async def test_audit_needs_its_scope(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    reader = await client.post(
        "/v1/keys", json={"name": "r", "scopes": ["keys:read"]}, headers=tenant_a.headers
    )
    assert_problem(await client.get("/v1/audit", headers=bearer(reader.json()["key"])), 403)


async def test_export_after_retention_still_verifies(
    client: httpx.AsyncClient, tenant_a: TenantHandle, settings: Settings
) -> None:
    from lumen.core.audit.service import purge_before
    from lumen.core.db.base import utcnow
    from lumen.core.db.session import Database
    from lumen.core.tenancy.context import Scope

    for i in range(2):
        await client.post("/v1/keys", json={"name": f"old{i}", "scopes": ["admin"]}, headers=tenant_a.headers)
    cutoff = utcnow()
    await client.post("/v1/keys", json={"name": "new", "scopes": ["admin"]}, headers=tenant_a.headers)
    owner = Database(settings.database, url=settings.database.owner_url)
    try:
        async with owner.transaction(Scope.tenant(tenant_a.id)) as session:
            assert await purge_before(session, tenant_a.id, cutoff) == 2
    finally:
        await owner.dispose()
    lines = (await client.get("/v1/audit/export", headers=tenant_a.headers)).content.splitlines()
    public = (await client.get("/.well-known/lumen-audit-key")).json()["public_key"]
    report = verify_export(lines, public)
    assert report.ok, report.first_bad
    assert report.checked == 1
    assert msgspec.json.decode(lines[-1])["checkpoint"]["base_seq"] == 2
    # Dropping the first kept record is still caught, anchor or not.
    assert not verify_export(lines[1:], public).ok
