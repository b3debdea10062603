"""The scheduled due-date jobs run on the real worker (fanned out per tenant) and their webhooks reach a real
receiver on loopback, signed (verified with the reference `standardwebhooks` package)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from lumen.core.jobs.worker import build_worker
from lumen.core.settings import Settings
from tests.conftest import TenantHandle, create_tenant
from tests.core.webhooks.conftest import Receiver, hook_app, hook_settings, hooks, receiver
from tests.plugins.gmp.conftest import make_signer

__all__ = ["hook_app", "hook_settings", "hooks", "receiver"]


@pytest.fixture
async def scheduler(hook_settings: Settings) -> AsyncIterator[Any]:
    """Starts a worker whose schedules tick once at start-up; stops it after the test."""
    running: list[Any] = []

    async def start() -> None:
        worker = build_worker(hook_settings, run_schedules_at_startup=True)
        running.append((worker, asyncio.create_task(worker.async_run())))

    yield start
    for worker, task in running:
        await worker.close()
        task.cancel()


async def _endpoint(http: httpx.AsyncClient, tenant: TenantHandle, url: str, kinds: list[str]) -> str:
    r = await http.post(
        "/v1/webhooks/endpoints", json={"url": url, "event_types": kinds}, headers=tenant.headers
    )
    assert r.status_code == 201, r.text
    secret: str = r.json()["secret"]
    return secret


async def _deviation(
    http: httpx.AsyncClient, tenant: TenantHandle, signer_id: str, aware_days_ago: int
) -> dict[str, Any]:
    aware = datetime.now(UTC) - timedelta(days=aware_days_ago)
    body = {
        "title": "Temperature excursion in cold room 2",
        "classification": "major",
        "occurred_at": (aware - timedelta(hours=3)).isoformat(),
        "discovered_at": aware.isoformat(),
        "reported_by_signer_id": signer_id,
    }
    r = await http.post("/v1/gmp/deviations", json=body, headers=tenant.headers)
    assert r.status_code == 201, r.text
    result: dict[str, Any] = r.json()
    return result


async def test_an_overdue_deviation_is_announced_once_by_webhook(
    hooks: httpx.AsyncClient, receiver: Receiver, scheduler: Any
) -> None:
    tenant = await create_tenant(hooks)
    secret = await _endpoint(hooks, tenant, receiver.url, ["gmp.deviation.overdue"])
    reporter = await make_signer(hooks, tenant, ["author"])
    late = await _deviation(hooks, tenant, reporter.id, aware_days_ago=40)  # due 30 days after awareness
    on_time = await _deviation(hooks, tenant, reporter.id, aware_days_ago=1)
    assert late["overdue"] is True and on_time["overdue"] is False
    await scheduler()
    [got] = await receiver.wait_for(1, within=60)
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["type"] == "gmp.deviation.overdue"
    assert payload["data"]["deviation_id"] == late["id"]
    assert payload["data"]["days_overdue"] == 10
    # A second tick announces nothing new.
    await scheduler()
    await asyncio.sleep(3)
    assert len(receiver.received) == 1


async def test_a_due_capa_effectiveness_check_is_announced(
    hooks: httpx.AsyncClient, receiver: Receiver, scheduler: Any
) -> None:
    tenant = await create_tenant(hooks)
    secret = await _endpoint(hooks, tenant, receiver.url, ["gmp.capa.effectiveness_check_due"])
    owner = await make_signer(hooks, tenant, ["qa"])
    today = date.today()
    capa = {
        "title": "Prevent cold-room excursions",
        "owner_signer_id": owner.id,
        "effectiveness_criteria": "No excursion in the next 3 months.",
        "effectiveness_check_due": today.isoformat(),
        "actions": [
            {
                "kind": "corrective",
                "description": "Replace the door seal.",
                "owner_signer_id": owner.id,
                "due_date": (today + timedelta(days=7)).isoformat(),
            }
        ],
    }
    r = await hooks.post("/v1/gmp/capas", json=capa, headers=tenant.headers)
    assert r.status_code == 201, r.text
    later = {**capa, "effectiveness_check_due": (today + timedelta(days=30)).isoformat()}
    assert (await hooks.post("/v1/gmp/capas", json=later, headers=tenant.headers)).status_code == 201
    await scheduler()
    [got] = await receiver.wait_for(1, within=60)
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["type"] == "gmp.capa.effectiveness_check_due"
    assert payload["data"]["capa_id"] == r.json()["id"]
    await asyncio.sleep(2)
    assert len(receiver.received) == 1


async def test_a_tenant_with_gmp_turned_off_gets_no_announcements(
    hooks: httpx.AsyncClient, receiver: Receiver, scheduler: Any
) -> None:
    tenant = await create_tenant(hooks)
    await _endpoint(hooks, tenant, receiver.url, ["gmp.deviation.overdue"])
    reporter = await make_signer(hooks, tenant, ["author"])
    await _deviation(hooks, tenant, reporter.id, aware_days_ago=40)
    r = await hooks.put("/v1/plugins/gmp", json={"enabled": False}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    await scheduler()
    await asyncio.sleep(5)
    assert receiver.received == []
