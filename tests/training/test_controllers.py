"""The training API without a worker: datasets (JSON and JSONL), run requests and their refusals,
cancellation of a queued run, and tenant isolation."""

from __future__ import annotations

import httpx

from tests.conftest import TenantHandle, assert_problem


def chat(q: str, a: str) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


EXAMPLES = [chat(f"What is the code word {i}?", "The code word is LUMENTEST.") for i in range(12)]


async def make_dataset(
    client: httpx.AsyncClient, tenant: TenantHandle, name: str = "codeword"
) -> dict[str, object]:
    r = await client.post(
        "/v1/training/datasets", json={"name": name, "examples": EXAMPLES}, headers=tenant.headers
    )
    assert r.status_code == 201, r.text
    body: dict[str, object] = r.json()
    return body


async def test_a_json_dataset_is_validated_split_and_versioned(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    first = await make_dataset(client, tenant_a)
    second = await make_dataset(client, tenant_a)
    assert (first["version"], second["version"]) == (1, 2)
    assert first["train_examples"] == 11 and first["eval_examples"] == 1
    assert first["report"]["accepted"] == 12  # type: ignore[index]


async def test_a_jsonl_upload_reports_rejected_and_redacted_lines(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    lines = [f'{{"instruction": "Define term {i}.", "response": "Term {i} is a word."}}' for i in range(5)]
    lines.append('{"instruction": "Reach me at pat@example.com", "response": "Noted."}')
    lines.append('{"instruction": "Define term 1.", "response": "Term 1 is a word."}')
    lines.append('{"instruction": "No answer"}')
    r = await client.post(
        "/v1/training/datasets",
        params={"name": "glossary"},
        content="\n".join(lines).encode(),
        headers={**tenant_a.headers, "content-type": "application/jsonl"},
    )
    assert r.status_code == 201, r.text
    report = r.json()["report"]
    assert report["accepted"] == 6
    assert report["redacted"] == [{"index": 5, "kinds": ["email"]}]
    assert [x["index"] for x in report["rejected"]] == [6, 7]
    assert "pat@example.com" not in r.text


async def test_phi_reject_mode_refuses_a_dataset_left_too_small(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    rows = [chat(f"My NHS number is 943 476 5919, question {i}", "See your GP.") for i in range(5)]
    r = await client.post(
        "/v1/training/datasets",
        json={"name": "phi", "examples": rows, "phi": "reject"},
        headers=tenant_a.headers,
    )
    problem = assert_problem(r, 422, "validation-error")
    assert "phi: nhs_number found" in problem["detail"]
    assert "943" not in r.text


async def test_hostile_dataset_requests_are_clear_4xx(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    h = tenant_a.headers
    r = await client.post(
        "/v1/training/datasets", json={"name": "x", "examples": EXAMPLES, "extra": 1}, headers=h
    )
    assert "extra" in assert_problem(r, 422)["detail"]
    r = await client.post("/v1/training/datasets", json={"name": "../etc", "examples": EXAMPLES}, headers=h)
    assert "name" in assert_problem(r, 422)["detail"]
    r = await client.post(
        "/v1/training/datasets", content=b"{broken", headers={**h, "content-type": "application/json"}
    )
    assert_problem(r, 422)
    r = await client.post("/v1/training/datasets", content=b"a,b", headers={**h, "content-type": "text/csv"})
    assert r.status_code == 415 or r.status_code == 400 or r.status_code == 422, r.text
    r = await client.post(
        "/v1/training/datasets",
        params={"name": "x"},
        content=b'{"instruction": "a", "response": "b"}\n\xff\xfe',
        headers={**h, "content-type": "application/jsonl"},
    )
    assert "UTF-8" in assert_problem(r, 422)["detail"]
    r = await client.post(
        "/v1/training/datasets",
        params={"name": "Robert'); DROP TABLE training_datasets;--"},
        content=b'{"instruction": "a", "response": "b"}',
        headers={**h, "content-type": "application/jsonl"},
    )
    assert "name" in assert_problem(r, 422)["detail"]


async def test_datasets_stay_in_their_tenant(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    dataset = await make_dataset(client, tenant_a, name="private")
    assert (
        await client.get(f"/v1/training/datasets/{dataset['id']}", headers=tenant_b.headers)
    ).status_code == 404
    listed = (await client.get("/v1/training/datasets", headers=tenant_b.headers)).json()["items"]
    assert dataset["id"] not in [d["id"] for d in listed]
    r = await client.post("/v1/training/runs", json={"dataset": dataset["id"]}, headers=tenant_b.headers)
    assert "dataset" in assert_problem(r, 422)["detail"]


async def test_a_run_is_queued_as_a_job_and_can_be_cancelled(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    dataset = await make_dataset(client, tenant_a)
    r = await client.post(
        "/v1/training/runs",
        json={"dataset": dataset["id"], "hyperparameters": {"max_steps": 3}},
        headers=tenant_a.headers,
    )
    assert r.status_code == 202, r.text
    run = r.json()
    assert run["status"] == "queued" and run["name"] == "codeword" and run["adapter"] is None
    job = (await client.get(f"/v1/jobs/{run['job_id']}", headers=tenant_a.headers)).json()
    assert job["name"] == "training.run" and job["state"] == "queued"
    r = await client.post(f"/v1/training/runs/{run['id']}/cancel", headers=tenant_a.headers)
    assert r.json()["status"] == "cancelled"
    assert_problem(await client.post(f"/v1/training/runs/{run['id']}/cancel", headers=tenant_a.headers), 409)


async def test_run_requests_outside_the_allowed_ranges_name_the_field(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    dataset = await make_dataset(client, tenant_a)
    h = tenant_a.headers
    for hyper, field in (
        ({"max_steps": 501}, "max_steps"),
        ({"rank": 65}, "rank"),
        ({"learning_rate": 1.0}, "learning_rate"),
        ({"target_modules": ["lm_head"]}, "target_modules"),
        ({"epochs": 3}, "epochs"),
    ):
        r = await client.post(
            "/v1/training/runs", json={"dataset": dataset["id"], "hyperparameters": hyper}, headers=h
        )
        assert field in assert_problem(r, 400 if field == "epochs" else r.status_code)["detail"], r.text
        assert r.status_code in (400, 422)
    r = await client.post(
        "/v1/training/runs", json={"dataset": dataset["id"], "base_model": "gpt-4"}, headers=h
    )
    assert "base_model" in assert_problem(r, 422)["detail"]


async def test_qlora_without_a_gpu_is_refused_clearly(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    dataset = await make_dataset(client, tenant_a)
    r = await client.post(
        "/v1/training/runs", json={"dataset": dataset["id"], "method": "qlora"}, headers=tenant_a.headers
    )
    assert "qlora needs a GPU" in assert_problem(r, 422)["detail"]


async def test_runs_stay_in_their_tenant(
    client: httpx.AsyncClient, tenant_a: TenantHandle, tenant_b: TenantHandle
) -> None:
    dataset = await make_dataset(client, tenant_a)
    run = (
        await client.post("/v1/training/runs", json={"dataset": dataset["id"]}, headers=tenant_a.headers)
    ).json()
    assert (await client.get(f"/v1/training/runs/{run['id']}", headers=tenant_b.headers)).status_code == 404
    assert (
        await client.post(f"/v1/training/runs/{run['id']}/cancel", headers=tenant_b.headers)
    ).status_code == 404
    assert run["id"] not in [
        r["id"] for r in (await client.get("/v1/training/runs", headers=tenant_b.headers)).json()["items"]
    ]
    r = await client.post("/v1/training/adapters/codeword/rollback", json={}, headers=tenant_b.headers)
    assert_problem(r, 404)
