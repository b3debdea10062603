"""A worker killed with SIGKILL in the middle of a delivery: the delivery still arrives, from another
worker, with the same webhook-id (at-least-once; receivers dedupe on the id)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile

import httpx
import pytest

from lumen.core.settings import Settings
from tests.conftest import attached_env, create_tenant
from tests.core.webhooks.conftest import Receiver

pytestmark = pytest.mark.e2e


LOG = os.path.join(tempfile.gettempdir(), "lumen-worker-crash-test.log")


def _worker(settings: Settings) -> subprocess.Popen[bytes]:
    log = open(LOG, "ab")  # noqa: SIM115 - handed to the child process
    env = attached_env(
        settings,
        LUMEN_WEBHOOKS_ALLOW_PRIVATE="1",
        LUMEN_JOBS__JOB_TIMEOUT_SECONDS="3",
        LUMEN_WEBHOOKS__TIMEOUT_SECONDS="2",
        LUMEN_WEBHOOKS__RETRY_SCHEDULE_SECONDS="0,0.5,0.5,0.5",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "lumen.core.cli", "worker"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


async def test_delivery_survives_a_killed_worker(
    hooks: httpx.AsyncClient, receiver: Receiver, hook_settings: Settings
) -> None:
    tenant = await create_tenant(hooks)
    r = await hooks.post("/v1/webhooks/endpoints", json={"url": receiver.url}, headers=tenant.headers)
    endpoint = r.json()
    receiver.hang_first = 2.5  # the first POST is in flight when the worker dies
    first = _worker(hook_settings)
    try:
        await asyncio.sleep(2)  # connected and subscribed
        sent = await hooks.post(f"/v1/webhooks/endpoints/{endpoint['id']}/test", headers=tenant.headers)
        assert sent.status_code == 202
        await receiver.wait_for(1, within=60)  # a worker process starts (imports, plugins) before it delivers
        os.killpg(
            first.pid, signal.SIGKILL
        )  # mid-delivery: no attempt was recorded, the job was not finished
        first.wait(10)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    second = _worker(hook_settings)
    try:
        # arq hands the job over once its lease lapses: the jobs queue's timeout (3 s here) + 10 s. Training's
        # hour-long timeout is on a queue of its own and must not stretch this lease (lumen.core.jobs.queues).
        got = await receiver.wait_for(2, within=60)
        for _ in range(100):
            event = (
                await hooks.get(f"/v1/webhooks/events/{sent.json()['id']}", headers=tenant.headers)
            ).json()
            if event["deliveries"][0]["state"] == "succeeded":
                break
            await asyncio.sleep(0.1)
    finally:
        os.killpg(second.pid, signal.SIGTERM)
        second.wait(30)
    [delivery] = event["deliveries"]
    assert delivery["state"] == "succeeded"
    assert got[0].headers["webhook-id"] == got[1].headers["webhook-id"] == delivery["message_id"]
    assert [a["status_code"] for a in delivery["attempts"]] == [200]  # the killed attempt left no record
