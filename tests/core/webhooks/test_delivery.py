"""Webhooks end to end: a change commits with its event, the worker delivers it signed to a real receiver
on loopback, and failures are retried, recorded and never lost."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.conftest import TenantHandle, assert_problem, bearer, create_tenant
from tests.core.webhooks.conftest import Receiver

pytestmark = pytest.mark.usefixtures("worker")


async def _endpoint(http: httpx.AsyncClient, tenant: TenantHandle, url: str, **extra: Any) -> dict[str, Any]:
    r = await http.post("/v1/webhooks/endpoints", json={"url": url, **extra}, headers=tenant.headers)
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


async def _event(http: httpx.AsyncClient, tenant: TenantHandle, event_id: str) -> dict[str, Any]:
    r = await http.get(f"/v1/webhooks/events/{event_id}", headers=tenant.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_a_key_change_is_delivered_signed(hooks: httpx.AsyncClient, receiver: Receiver) -> None:
    tenant = await create_tenant(hooks)
    endpoint = await _endpoint(hooks, tenant, receiver.url, event_types=["api_key.created"])
    assert endpoint["secret"].startswith("whsec_")
    r = await hooks.post(
        "/v1/keys", json={"name": "integration", "scopes": ["keys:read"]}, headers=tenant.headers
    )
    assert r.status_code == 201
    [got] = await receiver.wait_for(1)
    payload = Webhook(endpoint["secret"]).verify(got.body, got.headers)  # the reference verifier
    assert payload["type"] == "api_key.created"
    assert payload["data"]["id"] == r.json()["id"]
    assert r.json()["key"] not in got.body.decode()  # never the secret
    listed = (await hooks.get("/v1/webhooks/endpoints", headers=tenant.headers)).json()["items"]
    assert all("secret" not in e or e["secret"] is None for e in listed)  # shown once


async def test_failures_are_retried_with_the_same_webhook_id(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    tenant = await create_tenant(hooks)
    endpoint = await _endpoint(hooks, tenant, receiver.url)
    receiver.script = [500, 500, 500]
    r = await hooks.post(f"/v1/webhooks/endpoints/{endpoint['id']}/test", headers=tenant.headers)
    assert r.status_code == 202
    received = await receiver.wait_for(4)
    assert len({got.headers["webhook-id"] for got in received}) == 1
    for got in received:
        Webhook(endpoint["secret"]).verify(got.body, got.headers)
    event = await _event(hooks, tenant, r.json()["id"])
    for _ in range(40):
        if event["deliveries"][0]["state"] == "succeeded":
            break
        await asyncio.sleep(0.05)
        event = await _event(hooks, tenant, r.json()["id"])
    [delivery] = event["deliveries"]
    assert delivery["state"] == "succeeded"
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 500, 200]


async def test_receiver_down_then_up(hooks: httpx.AsyncClient, receiver: Receiver) -> None:
    tenant = await create_tenant(hooks)
    endpoint = await _endpoint(hooks, tenant, receiver.url)
    receiver.up = False
    r = await hooks.post(f"/v1/webhooks/endpoints/{endpoint['id']}/test", headers=tenant.headers)
    await asyncio.sleep(0.5)
    receiver.up = True
    [got] = await receiver.wait_for(1)
    Webhook(endpoint["secret"]).verify(got.body, got.headers)
    event = await _event(hooks, tenant, r.json()["id"])
    attempts = event["deliveries"][0]["attempts"]
    assert attempts[0]["status_code"] is None
    assert attempts[0]["error"]


async def test_gone_disables_the_endpoint(hooks: httpx.AsyncClient, receiver: Receiver) -> None:
    tenant = await create_tenant(hooks)
    endpoint = await _endpoint(hooks, tenant, receiver.url)
    receiver.script = [410]
    await hooks.post(f"/v1/webhooks/endpoints/{endpoint['id']}/test", headers=tenant.headers)
    await receiver.wait_for(1)
    for _ in range(40):
        state = (await hooks.get(f"/v1/webhooks/endpoints/{endpoint['id']}", headers=tenant.headers)).json()
        if not state["enabled"]:
            break
        await asyncio.sleep(0.05)
    assert state["enabled"] is False
    assert "410" in state["disabled_reason"]
    events = (
        await hooks.get("/v1/webhooks/events", params={"type": "endpoint.disabled"}, headers=tenant.headers)
    ).json()["items"]
    assert events[0]["data"]["endpoint_id"] == endpoint["id"]


async def test_secret_rotation_signs_with_both_during_the_overlap(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    tenant = await create_tenant(hooks)
    endpoint = await _endpoint(hooks, tenant, receiver.url)
    rotated = await hooks.post(
        f"/v1/webhooks/endpoints/{endpoint['id']}/rotate-secret",
        json={"overlap_seconds": 3600},
        headers=tenant.headers,
    )
    assert rotated.status_code == 201
    new_secret = rotated.json()["secret"]
    assert new_secret != endpoint["secret"]
    await hooks.post(f"/v1/webhooks/endpoints/{endpoint['id']}/test", headers=tenant.headers)
    [got] = await receiver.wait_for(1)
    Webhook(endpoint["secret"]).verify(got.body, got.headers)  # receivers not yet switched
    Webhook(new_secret).verify(got.body, got.headers)  # receivers already switched


async def test_replay_keeps_the_webhook_id(hooks: httpx.AsyncClient, receiver: Receiver) -> None:
    tenant = await create_tenant(hooks)
    endpoint = await _endpoint(hooks, tenant, receiver.url)
    r = await hooks.post(f"/v1/webhooks/endpoints/{endpoint['id']}/test", headers=tenant.headers)
    await receiver.wait_for(1)
    replay = await hooks.post(f"/v1/webhooks/events/{r.json()['id']}/replay", headers=tenant.headers)
    assert replay.status_code == 202
    first, second = await receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]


async def test_committed_event_is_delivered_without_a_wake_up(
    hooks: httpx.AsyncClient, receiver: Receiver, hook_app: Any
) -> None:
    """The API dies right after its commit, before it can wake the relay: the sweep delivers anyway."""
    from lumen.core.tenancy.context import Scope
    from lumen.core.webhooks.service import emit

    tenant = await create_tenant(hooks)
    await _endpoint(hooks, tenant, receiver.url)
    async with hook_app.state.db.transaction(Scope.tenant(tenant.id)) as session:
        await emit(session, tenant.id, "webhook.test", {"note": "no wake-up"})  # and no wake_after_commit
    [got] = await receiver.wait_for(1, within=15)
    assert b"no wake-up" in got.body


async def test_a_forged_signature_is_refused_by_the_verifier(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    tenant = await create_tenant(hooks)
    endpoint = await _endpoint(hooks, tenant, receiver.url)
    await hooks.post(f"/v1/webhooks/endpoints/{endpoint['id']}/test", headers=tenant.headers)
    [got] = await receiver.wait_for(1)
    other = (await _endpoint(hooks, tenant, receiver.url))["secret"]
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(got.body, got.headers)


async def test_endpoint_urls_are_checked(
    hooks: httpx.AsyncClient, client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    # The session app runs with production rules: https only.
    r = await client.post(
        "/v1/webhooks/endpoints", json={"url": "http://example.com/hook"}, headers=tenant_a.headers
    )
    assert "https" in assert_problem(r, 422)["detail"]
    r = await client.post(
        "/v1/webhooks/endpoints", json={"url": "https://user:pw@example.com/h"}, headers=tenant_a.headers
    )
    assert_problem(r, 422)
    r = await client.post(
        "/v1/webhooks/endpoints",
        json={"url": "https://example.com/h", "event_types": ["nope"]},
        headers=tenant_a.headers,
    )
    assert "event_types" in assert_problem(r, 422)["detail"]


async def test_scopes(hooks: httpx.AsyncClient) -> None:
    tenant = await create_tenant(hooks)
    r = await hooks.post(
        "/v1/keys", json={"name": "reader", "scopes": ["webhooks:read"]}, headers=tenant.headers
    )
    reader = bearer(r.json()["key"])
    assert (await hooks.get("/v1/webhooks/endpoints", headers=reader)).status_code == 200
    r = await hooks.post("/v1/webhooks/endpoints", json={"url": "https://example.com/h"}, headers=reader)
    assert_problem(r, 403)


async def test_a_delivery_whose_job_was_lost_is_rescued(
    hooks: httpx.AsyncClient, receiver: Receiver, hook_app: Any
) -> None:
    """A pending delivery long past its next attempt (its job exhausted its tries, or Redis lost it) is
    queued again by the relay's rescue sweep."""
    from datetime import timedelta

    from lumen.core.db.base import utcnow
    from lumen.core.tenancy.context import PLATFORM, Scope
    from lumen.core.webhooks.models import WebhookDelivery
    from lumen.core.webhooks.service import emit, requeue_stalled

    tenant = await create_tenant(hooks)
    await _endpoint(hooks, tenant, receiver.url)
    receiver.up = False
    async with hook_app.state.db.transaction(Scope.tenant(tenant.id)) as session:
        event = await emit(session, tenant.id, "webhook.test", {"note": "lost job"})
    await asyncio.sleep(0.3)
    async with hook_app.state.db.transaction(Scope.tenant(tenant.id)) as session:
        # As if every retry's job had vanished: overdue by ten minutes, nothing queued.
        delivery = (
            await session.scalars(
                __import__("sqlalchemy").select(WebhookDelivery).where(WebhookDelivery.event_id == event.id)
            )
        ).one()
        delivery.next_attempt_at = utcnow() - timedelta(minutes=10)
    receiver.up = True
    async with hook_app.state.db.transaction(PLATFORM) as session:
        assert await requeue_stalled(session) >= 1
    from lumen.core.jobs.outbox import wake

    await wake(hook_app.state.redis)
    received = await receiver.wait_for(1, within=30)
    assert all(b"lost job" in got.body for got in received)
    assert len({got.headers["webhook-id"] for got in received}) == 1  # a rescue is the same message


async def test_crossing_a_quota_share_emits_usage_threshold_reached(
    hooks: httpx.AsyncClient, receiver: Receiver
) -> None:
    from tests.core.limits.conftest import set_limits

    tenant = await create_tenant(hooks)
    await set_limits(hooks, tenant.id, requests_per_day=10)
    await _endpoint(hooks, tenant, receiver.url, event_types=["usage.threshold_reached"])
    for _ in range(9):
        await hooks.get("/v1/keys", headers=tenant.headers)
    [got] = await receiver.wait_for(1)
    assert b"usage.threshold_reached" in got.body
    assert b'"quota":"requests"' in got.body


async def test_a_burst_is_sent_in_batches_each_signed_and_recorded_once(
    hooks: httpx.AsyncClient, receiver: Receiver, hook_app: Any, hook_settings: Any
) -> None:
    """70 events to two endpoints commit together: the relay groups the 140 due deliveries into batch jobs,
    each read, sent concurrently and recorded in one go. Every message arrives signed with its endpoint's
    secret, the three that fail are retried on their own with the same webhook-id, and every attempt is
    recorded once."""
    from arq.connections import create_pool

    from lumen.core.jobs.outbox import wake
    from lumen.core.jobs.worker import redis_settings
    from lumen.core.tenancy.context import Scope
    from lumen.core.webhooks.service import DELIVER_BATCH_JOB, emit

    tenant = await create_tenant(hooks)
    secrets = [(await _endpoint(hooks, tenant, receiver.url))["secret"] for _ in range(2)]
    receiver.script = [500, 500, 500]
    async with hook_app.state.db.transaction(Scope.tenant(tenant.id)) as session:
        events = [await emit(session, tenant.id, "webhook.test", {"n": n}) for n in range(70)]
    await wake(hook_app.state.redis)
    received = await receiver.wait_for(143, within=60)
    await asyncio.sleep(0.3)  # nothing beyond at-least-once follows
    assert len(receiver.received) == 143
    by_id: dict[str, list[int]] = {}
    for got in received:
        verified = 0
        for secret in secrets:
            try:
                Webhook(secret).verify(got.body, got.headers)
                verified += 1
            except WebhookVerificationError:
                pass
        assert verified == 1
        by_id.setdefault(got.headers["webhook-id"], []).append(1)
    assert len(by_id) == 140  # one message per (event, endpoint); the 3 retries repeat their webhook-id
    assert sorted(len(v) for v in by_id.values())[-3:] == [2, 2, 2]
    attempts: list[list[int | None]] = []
    for event in events:
        for _ in range(40):
            body = await _event(hooks, tenant, str(event.id))
            if all(d["state"] == "succeeded" for d in body["deliveries"]):
                break
            await asyncio.sleep(0.05)
        assert [d["state"] for d in body["deliveries"]] == ["succeeded", "succeeded"]
        attempts += [[a["status_code"] for a in d["attempts"]] for d in body["deliveries"]]
    assert sorted(attempts, key=len) == [[200]] * 137 + [[500, 200]] * 3, sorted(map(str, attempts))
    arq = await create_pool(redis_settings(hook_settings.redis.url))
    try:
        batches = [r for r in await arq.all_job_results() if r.function == DELIVER_BATCH_JOB]
    finally:
        await arq.aclose()
    assert batches and all(r.success for r in batches)


async def test_an_endpoint_written_in_the_transaction_is_seen_by_the_next_event(
    hooks: httpx.AsyncClient, hook_app: Any
) -> None:
    """emit reads the tenant's endpoints once per transaction; adding or disabling one in the same
    transaction must not leave later events with the old list."""
    import uuid

    from sqlalchemy import func, select

    from lumen.core.tenancy.context import Scope
    from lumen.core.webhooks.models import WebhookDelivery, WebhookEndpoint
    from lumen.core.webhooks.service import emit

    tenant = await create_tenant(hooks)
    async with hook_app.state.db.transaction(Scope.tenant(tenant.id)) as session:
        before = await emit(session, tenant.id, "webhook.test", {"n": 1})  # no endpoint yet
        endpoint = WebhookEndpoint(
            id=uuid.uuid4(), tenant_id=tenant.id, url="https://example.com/h", secret_sealed=b"x"
        )
        session.add(endpoint)
        after = await emit(session, tenant.id, "webhook.test", {"n": 2})
        endpoint.enabled = False
        disabled = await emit(session, tenant.id, "webhook.test", {"n": 3})
        await session.flush()
        counts = {
            name: await session.scalar(
                select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.event_id == e.id)
            )
            for name, e in (("before", before), ("after", after), ("disabled", disabled))
        }
    assert counts == {"before": 0, "after": 1, "disabled": 0}


async def test_the_stalled_sweep_reads_the_index_of_pending_rows(owner_engine: Any) -> None:
    """Migration 0021 built the partial index (concurrently, outside a transaction), it is valid, and the
    sweep's own statement, as compiled for PostgreSQL, is one the planner answers from it."""
    from sqlalchemy import text
    from sqlalchemy.dialects import postgresql

    from lumen.core.db.base import utcnow
    from lumen.core.webhooks.service import stalled_deliveries

    async with owner_engine.connect() as conn:
        valid = (
            await conn.execute(
                text(
                    "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                    "WHERE c.relname = 'ix_webhook_deliveries_pending_due'"
                )
            )
        ).scalar()
        assert valid is True
        statement = stalled_deliveries(utcnow()).compile(
            dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
        )
        await conn.execute(text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(row[0] for row in await conn.execute(text(f"EXPLAIN {statement}")))
        assert "ix_webhook_deliveries_pending_due" in plan, plan
