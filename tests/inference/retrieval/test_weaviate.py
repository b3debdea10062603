"""Contract tests of the Weaviate backend against a real Weaviate: the same behaviour as the embedded
backend (own documents found with citations, never another tenant's, deletion erases, shared corpora
unioned in) plus tenant activity states. They run when LUMEN_WEAVIATE_URL is set and are skipped otherwise
(no Weaviate server can run on the development machines)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import httpx
import pytest
from litestar import Litestar

from lumen.core.app import create_app
from lumen.core.jobs.worker import build_worker
from lumen.core.settings import Settings
from tests.conftest import create_tenant, platform_headers
from tests.inference.retrieval.conftest import new_title, search, until_ready, upload_text
from tests.inference.retrieval.test_corpora import CorpusPlugin

WEAVIATE_URL = os.environ.get("LUMEN_WEAVIATE_URL")
pytestmark = pytest.mark.skipif(not WEAVIATE_URL, reason="set LUMEN_WEAVIATE_URL to run against Weaviate")


@pytest.fixture(scope="module")
async def weaviate_app(settings: Settings) -> AsyncIterator[Litestar]:
    configured = settings.with_overrides(weaviate_url=WEAVIATE_URL)
    app = create_app(configured, plugins=[CorpusPlugin()])
    await app.state.retrieval.sync_corpora()
    worker = build_worker(configured)
    task = asyncio.create_task(worker.async_run())
    yield app
    await worker.close()
    task.cancel()
    for hook in app.on_shutdown:
        await hook()  # type: ignore[call-arg]


@pytest.fixture(scope="module")
async def api(weaviate_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=weaviate_app), base_url="http://t"
    ) as http:
        yield http


async def test_backend_is_weaviate(weaviate_app: Litestar) -> None:
    assert weaviate_app.state.retrieval.backend.name == "weaviate"


async def test_own_document_found_and_invisible_to_another_tenant(api: httpx.AsyncClient) -> None:
    owner, intruder = await create_tenant(api), await create_tenant(api)
    doc = "## 4.2 Rinse\nThe zorblax vessel is rinsed three times before the quarvine swab test."
    created = await upload_text(api, owner, new_title(), doc)
    await until_ready(api, owner, created["id"])
    top = (await search(api, owner, "how is the zorblax vessel rinsed", corpora=["tenant"]))[0]
    assert top["section_id"] == "4.2" and doc[top["start"] : top["end"]] == top["text"]
    assert await search(api, intruder, "zorblax quarvine", corpora=["tenant"]) == []


async def test_shared_corpus_is_unioned_in(api: httpx.AsyncClient) -> None:
    tenant = await create_tenant(api)
    passages = await search(api, tenant, "data not altered during migration", k=3)
    assert passages[0]["corpus"] == "regulatory" and passages[0]["section_id"] == "EU GMP Annex 11 §4.8"


async def test_new_version_replaces_the_old_in_weaviate(api: httpx.AsyncClient) -> None:
    tenant = await create_tenant(api)
    title = new_title()
    first = await upload_text(
        api, tenant, title, "The glimmerstone kiln is fired at 800 degrees.", "text/plain"
    )
    await until_ready(api, tenant, first["id"])
    await upload_text(api, tenant, title, "The glimmerstone kiln is fired at 950 degrees.", "text/plain")
    await until_ready(api, tenant, first["id"], version=2)
    assert [p["version"] for p in await search(api, tenant, "glimmerstone kiln", corpora=["tenant"])] == [2]


async def test_document_and_tenant_deletion_erase_weaviate_objects(
    api: httpx.AsyncClient, weaviate_app: Litestar
) -> None:
    tenant = await create_tenant(api)
    created = await upload_text(
        api, tenant, new_title(), "The wobbleflange gasket is torqued to 12 Nm.", "text/plain"
    )
    await until_ready(api, tenant, created["id"])
    assert (await api.delete(f"/v1/documents/{created['id']}", headers=tenant.headers)).status_code == 204
    assert await search(api, tenant, "wobbleflange", corpora=["tenant"]) == []
    again = await upload_text(api, tenant, new_title(), "The quillback pump is primed daily.", "text/plain")
    await until_ready(api, tenant, again["id"])
    assert (await api.delete(f"/v1/tenants/{tenant.id}", headers=platform_headers())).status_code == 204
    collection = (await weaviate_app.state.retrieval.backend._collections()).get("LumenTenantChunks")
    assert await collection.tenants.get_by_name(str(tenant.id)) is None


async def test_an_inactive_shard_is_activated_for_a_query(
    api: httpx.AsyncClient, weaviate_app: Litestar
) -> None:
    from weaviate.classes.tenants import Tenant, TenantActivityStatus

    tenant = await create_tenant(api)
    created = await upload_text(
        api, tenant, new_title(), "The snorkelwhip valve leaks at 3 bar.", "text/plain"
    )
    await until_ready(api, tenant, created["id"])
    collection = (await weaviate_app.state.retrieval.backend._collections()).get("LumenTenantChunks")
    await collection.tenants.update(
        Tenant(name=str(tenant.id), activity_status=TenantActivityStatus.INACTIVE)
    )
    assert await search(api, tenant, "snorkelwhip valve", corpora=["tenant"])
