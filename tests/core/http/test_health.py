from __future__ import annotations

import httpx

from tests.conftest import assert_problem


async def test_healthz_answers_without_a_key(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


async def test_readyz_checks_database_and_redis(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200
    assert r.json()["checks"] == {"database": "ok", "redis": "ok"}


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert len(r.headers["x-request-id"]) >= 16
    r = await client.get("/healthz", headers={"x-request-id": "caller-chosen-1234"})
    assert r.headers["x-request-id"] == "caller-chosen-1234"
    # An id that could smuggle text into logs is replaced, not echoed.
    r = await client.get("/healthz", headers={"x-request-id": 'evil" injected=1'})
    assert r.headers["x-request-id"] != 'evil" injected=1'


async def test_openapi_is_3_1_with_operation_ids(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/schema/openapi.json")).json()
    assert spec["openapi"].startswith("3.1")
    operations = [op for path in spec["paths"].values() for op in path.values() if isinstance(op, dict)]
    assert operations
    assert all(op.get("operationId") for op in operations)
    assert "apiKey" in spec["components"]["securitySchemes"]


async def test_problem_types_are_dereferenceable(client: httpx.AsyncClient) -> None:
    body = assert_problem(await client.get("/v1/keys"), 401, "unauthenticated")
    described = await client.get(body["type"])
    assert described.status_code == 200
    assert described.json()["status"] == 401
    assert_problem(await client.get("/problems/no-such-type"), 404, "not-found")


async def test_unknown_route_is_problem_404(client: httpx.AsyncClient) -> None:
    # Routing precedes authentication: the route table is public (it is in the OpenAPI document).
    assert_problem(await client.get("/v1/nothing-here"), 404, "not-found")
    assert_problem(await client.post("/healthz"), 405, "method-not-allowed")
