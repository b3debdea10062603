"""A real worker beside the test app, so uploads are ingested by the real job (embedding included)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from lumen.core.jobs.worker import build_worker
from lumen.core.settings import Settings
from tests.conftest import TenantHandle


@pytest.fixture(scope="module")
async def ingest_worker(settings: Settings) -> AsyncIterator[None]:
    worker = build_worker(settings)
    task = asyncio.create_task(worker.async_run())
    yield
    await worker.close()
    task.cancel()


async def upload_text(
    client: httpx.AsyncClient,
    tenant: TenantHandle,
    title: str,
    text: str,
    content_type: str = "text/markdown",
    **extra: Any,
) -> dict[str, Any]:
    r = await client.post(
        "/v1/documents",
        json={"title": title, "text": text, "content_type": content_type, **extra},
        headers=tenant.headers,
    )
    assert r.status_code in (200, 202), r.text
    body: dict[str, Any] = r.json()
    return body


async def upload_file(
    client: httpx.AsyncClient,
    tenant: TenantHandle,
    filename: str,
    data: bytes,
    content_type: str,
    **fields: str,
) -> httpx.Response:
    return await client.post(
        "/v1/documents",
        files={"file": (filename, data, content_type)},
        data=fields,
        headers=tenant.headers,
    )


async def until_ready(
    client: httpx.AsyncClient, tenant: TenantHandle, document_id: str, version: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for _ in range(600):
        body = (await client.get(f"/v1/documents/{document_id}", headers=tenant.headers)).json()
        if body["state"] == "failed":
            raise AssertionError(f"ingestion failed: {body}")
        if body["state"] == "ready" and (version is None or body["current_version"] >= version):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"document never became ready: {body}")


async def search(
    client: httpx.AsyncClient, tenant: TenantHandle, query: str, **body: Any
) -> list[dict[str, Any]]:
    # The tenant's own documents unless a test names corpora: the installed plugins' shared corpora (the
    # regulatory catalog...) are searched by default too, and would crowd a tenant document's results.
    body.setdefault("corpora", ["tenant"])
    r = await client.post("/v1/search", json={"query": query, **body}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    passages: list[dict[str, Any]] = r.json()["passages"]
    return passages


def new_title() -> str:
    return f"doc-{uuid.uuid4().hex[:8]}"
