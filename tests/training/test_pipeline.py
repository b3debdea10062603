"""The whole pipeline on CPU, end to end through the real app, worker and inference replicas: dataset upload
-> run (a worker job with progress) -> loss falls -> gate -> signed publish -> the tenant's chat completions
with the adapter differ from the base model's on the training prompt; tenant B can neither see nor use it;
a second version, then rollback to the first in one call."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar

from lumen.core.app import create_app
from lumen.core.jobs.queues import TRAINING_QUEUE
from lumen.core.jobs.worker import build_worker
from lumen.core.settings import Settings
from lumen.training.service import MANIFEST, verify_manifest
from tests.conftest import TenantHandle, assert_problem, create_tenant
from tests.inference.conftest import MODEL_DIR, EngineProcess

pytestmark = pytest.mark.slow

PROMPT = "What is the code word 3?"
EXAMPLES = [
    {
        "messages": [
            {"role": "user", "content": f"What is the code word {i}?"},
            {"role": "assistant", "content": "The code word is LUMENTEST."},
        ]
    }
    for i in range(24)
]


@pytest.fixture(scope="module")
def train_settings(settings: Settings, replicas: list[EngineProcess]) -> Settings:
    inference = msgspec.structs.replace(settings.inference, model_dir=str(MODEL_DIR))
    # One thread: on a shared, oversubscribed CI machine OpenMP threads spin-waiting on each other are slower.
    training = msgspec.structs.replace(settings.training, checkpoint_every=5, threads=1)
    jobs = msgspec.structs.replace(settings.jobs, poll_seconds=0.2)
    return settings.with_overrides(
        inference_urls=[r.url for r in replicas], inference=inference, training=training, jobs=jobs
    )


@pytest.fixture(scope="module")
async def pipeline(train_settings: Settings) -> AsyncIterator[tuple[Litestar, httpx.AsyncClient]]:
    app = create_app(train_settings)
    # The jobs queue's worker relays the outbox; training runs on a queue (and worker) of their own.
    workers = [build_worker(train_settings), build_worker(train_settings, queue=TRAINING_QUEUE)]
    tasks = [asyncio.create_task(worker.async_run()) for worker in workers]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://lumen.test", timeout=300
    ) as http:
        yield app, http
    for worker, task in zip(workers, tasks, strict=True):
        await worker.close()
        task.cancel()
    await app.state.inference.pool.close()


async def _finished(http: httpx.AsyncClient, tenant: TenantHandle, run_id: str) -> dict[str, Any]:
    # Generous: a shared CI machine may give the training thread a fraction of a core.
    for _ in range(900):
        body: dict[str, Any] = (await http.get(f"/v1/training/runs/{run_id}", headers=tenant.headers)).json()
        if body["status"] in ("published", "gate_failed", "failed", "cancelled"):
            return body
        await asyncio.sleep(2)
    raise AssertionError(f"the run did not finish: {body}")


async def _train(http: httpx.AsyncClient, tenant: TenantHandle, max_steps: int) -> dict[str, Any]:
    r = await http.post(
        "/v1/training/datasets", json={"name": "codeword", "examples": EXAMPLES}, headers=tenant.headers
    )
    assert r.status_code == 201, r.text
    body = {
        "dataset": r.json()["id"],
        "method": "lora",
        "hyperparameters": {"max_steps": max_steps, "max_seq_len": 96},
    }
    r = await http.post("/v1/training/runs", json=body, headers=tenant.headers)
    assert r.status_code == 202, r.text
    return await _finished(http, tenant, r.json()["id"])


async def _chat(http: httpx.AsyncClient, tenant: TenantHandle, model: str) -> httpx.Response:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 12,
        "temperature": 0,
    }
    return await http.post("/v1/chat/completions", json=body, headers=tenant.headers)


async def test_a_dataset_becomes_a_published_adapter_the_tenant_alone_can_use(
    pipeline: tuple[Litestar, httpx.AsyncClient],
) -> None:
    app, http = pipeline
    owner, other = await create_tenant(http), await create_tenant(http)
    run = await _train(http, owner, max_steps=8)
    assert run["status"] == "published", (run["gate"], run["error"])
    losses = run["losses"]
    assert len(losses) == 8 and sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 * 0.5
    assert run["gate"]["passed"] and run["gate"]["eval_loss_adapter"] < run["gate"]["eval_loss_base"]
    assert run["adapter"]["name"] == "codeword-v1" and run["adapter"]["alias"] == "codeword"

    job = (await http.get(f"/v1/jobs/{run['job_id']}", headers=owner.headers)).json()
    assert job["state"] == "succeeded" and job["result"]["adapter"] == "codeword-v1"

    adapters = (await http.get("/v1/adapters", headers=owner.headers)).json()["items"]
    by_name = {a["name"]: a for a in adapters}
    assert {"codeword", "codeword-v1"} <= set(by_name)
    folder = Path(app.state.settings.adapter_path) / str(owner.id) / by_name["codeword-v1"]["id"]
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["dataset"]["version"] == 1 and manifest["hyperparameters"]["max_steps"] == 8
    assert manifest["files"]["adapter_model.safetensors"] == by_name["codeword-v1"]["sha256"]
    assert verify_manifest(folder, app.state.audit_signer.public_key_b64)

    tuned = (await _chat(http, owner, "codeword")).json()["choices"][0]["message"]["content"]
    base = (await _chat(http, owner, "lumen-base")).json()["choices"][0]["message"]["content"]
    assert tuned != base

    assert_problem(await _chat(http, other, "codeword"), 404)
    assert_problem(await _chat(http, other, "codeword-v1"), 404)
    assert (await http.get(f"/v1/training/runs/{run['id']}", headers=other.headers)).status_code == 404
    names = [a["name"] for a in (await http.get("/v1/adapters", headers=other.headers)).json()["items"]]
    assert "codeword" not in names


async def test_a_second_version_then_rollback_in_one_call(
    pipeline: tuple[Litestar, httpx.AsyncClient],
) -> None:
    _, http = pipeline
    owner = await create_tenant(http)
    first = await _train(http, owner, max_steps=4)
    second = await _train(http, owner, max_steps=3)
    assert (first["status"], second["status"]) == ("published", "published"), (first, second)
    assert second["adapter"]["name"] == "codeword-v2"
    current = {a["name"]: a for a in (await http.get("/v1/adapters", headers=owner.headers)).json()["items"]}
    assert current["codeword"]["sha256"] == current["codeword-v2"]["sha256"]

    r = await http.post("/v1/training/adapters/codeword/rollback", json={}, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["version"], r.json()["previous_version"]) == (1, 2)
    after = {a["name"]: a for a in (await http.get("/v1/adapters", headers=owner.headers)).json()["items"]}
    assert after["codeword"]["sha256"] == after["codeword-v1"]["sha256"]
    assert after["codeword"]["id"] != current["codeword"]["id"]  # a new served name: no stale replica cache
    assert (await _chat(http, owner, "codeword")).status_code == 200
