"""Platform-shared corpora: a plugin's register_corpora documents are ingested once per content hash,
readable by every tenant with the plugin enabled, written only in the platform scope; ctx.retrieve() uses
the same search."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from litestar import Litestar, get
from litestar.params import FromQuery
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from lumen.core.app import create_app
from lumen.core.settings import Settings
from lumen.plugins.sdk import ActionSpec, ChatMessage, Context, CorpusDocument, PluginInfo, hookimpl
from tests.conftest import TenantHandle, assert_problem, create_tenant

# Its own corpus name: the real regulatory plugin's corpus (synced by other tests in the same database)
# ships the same source ids, and syncing one plugin's corpus retires what it does not ship.
PROBE = "probe-regulations"
ANNEX_11_4_8 = (
    "## 4.8 Data migration\nIf data are transferred to another data format or system, validation should "
    "include checks that data are not altered in value and/or meaning during this migration process."
)
CFR_211_100 = (
    "## § 211.100 Written procedures; deviations\n(a) There shall be written procedures for production and "
    "process control designed to assure drug products have the identity, strength, quality and purity they "
    "purport to possess.\n\n(b) Any deviation from the written procedures shall be recorded and justified."
)


class CorpusPlugin:
    def __init__(self, annex_text: str = ANNEX_11_4_8) -> None:
        self.annex_text = annex_text

    @hookimpl
    def lumen_plugin_info(self) -> PluginInfo:
        return PluginInfo(name="corpusprobe", version="1.0.0", default_enabled=True)

    @hookimpl
    def register_corpora(self) -> Sequence[CorpusDocument]:
        return [
            CorpusDocument(
                corpus=PROBE,
                source_id="eu-gmp-annex11-4.8",
                title="EU GMP Annex 11: Computerised Systems",
                text=self.annex_text,
                section_id="EU GMP Annex 11",
                jurisdiction="EU",
                document_type="guidance",
                effective_date="2011-06-30",
                source_url="https://health.ec.europa.eu/document/download/annex11_en.pdf",
            ),
            CorpusDocument(
                corpus=PROBE,
                source_id="us-21cfr-211.100",
                title="21 CFR Part 211",
                text=CFR_211_100,
                jurisdiction="US",
                document_type="regulation",
                effective_date="2008-09-08",
            ),
        ]

    @hookimpl
    def register_actions(self) -> dict[str, ActionSpec]:
        return {"corpusprobe.ask": ActionSpec(description="Ask.", access="read")}

    @hookimpl
    def register_routes(self) -> list[Any]:
        @get("/v1/corpusprobe/ask", opt={"action": "corpusprobe.ask"})
        async def ask(ctx: Context, q: FromQuery[str]) -> dict[str, Any]:
            passages = await ctx.retrieve(q, k=3, filters={"jurisdiction": "US"})
            return {"passages": [{"section_id": p.section_id, "corpus": p.corpus} for p in passages]}

        @get("/v1/corpusprobe/say", opt={"action": "corpusprobe.ask"})
        async def say(ctx: Context) -> dict[str, Any]:
            generated = await ctx.generate([ChatMessage(role="user", content="hi")])
            return {"text": generated.text}

        return [ask, say]


@pytest.fixture(scope="module")
async def corpus_app(settings: Settings) -> AsyncIterator[Litestar]:
    app = create_app(settings.with_overrides(plugins=["glossary"]), plugins=[CorpusPlugin()])
    await app.state.retrieval.sync_corpora()
    yield app
    for hook in app.on_shutdown:
        await hook()  # type: ignore[call-arg]


@pytest.fixture(scope="module")
async def api(corpus_app: Litestar) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=corpus_app), base_url="http://t") as http:
        yield http


async def _search(api: httpx.AsyncClient, tenant: TenantHandle, query: str, **body: Any) -> httpx.Response:
    return await api.post("/v1/search", json={"query": query, **body}, headers=tenant.headers)


async def test_every_tenant_reads_the_shared_corpus_with_its_citation(api: httpx.AsyncClient) -> None:
    for _ in range(2):
        tenant = await create_tenant(api)
        r = await _search(api, tenant, "checks that data are not altered during migration", k=2)
        assert r.status_code == 200, r.text
        assert r.json()["corpora"] == ["tenant", PROBE]
        top = r.json()["passages"][0]
        assert top["corpus"] == PROBE and top["document_id"] == "eu-gmp-annex11-4.8"
        assert top["section_id"] == "EU GMP Annex 11 §4.8" and top["version"] == 1
        assert top["source_url"].startswith("https://health.ec.europa.eu/")


async def test_cfr_paragraphs_get_their_own_section_ids(api: httpx.AsyncClient) -> None:
    tenant = await create_tenant(api)
    r = await _search(api, tenant, "deviation from written procedures recorded and justified", k=1)
    assert r.json()["passages"][0]["section_id"] == "21 CFR 211.100(b)"


async def test_filters_restrict_jurisdiction_and_effective_date(api: httpx.AsyncClient) -> None:
    tenant = await create_tenant(api)
    r = await _search(api, tenant, "written procedures data migration", k=10, filters={"jurisdiction": "US"})
    assert {p["metadata"]["jurisdiction"] for p in r.json()["passages"]} == {"US"}
    r = await _search(
        api, tenant, "written procedures data migration", k=10, filters={"effective_date": "2010-01-01"}
    )
    assert {p["document_id"] for p in r.json()["passages"]} == {"us-21cfr-211.100"}


async def test_sync_is_idempotent_and_a_change_makes_a_new_version(
    settings: Settings, api: httpx.AsyncClient
) -> None:
    app = create_app(settings.with_overrides(plugins=["glossary"]), plugins=[CorpusPlugin()])
    assert (await app.state.retrieval.sync_corpora())["added"] == 0
    changed = create_app(
        settings.with_overrides(plugins=["glossary"]),
        plugins=[CorpusPlugin(ANNEX_11_4_8 + " Zebrafinch checks included.")],
    )
    try:
        assert (await changed.state.retrieval.sync_corpora())["added"] == 1
        tenant = await create_tenant(api)
        r = await _search(api, tenant, "zebrafinch checks", k=1, corpora=[PROBE])
        assert r.json()["passages"][0]["version"] == 2
        restored = create_app(settings.with_overrides(plugins=["glossary"]), plugins=[CorpusPlugin()])
        assert (await restored.state.retrieval.sync_corpora())["reactivated"] == 1  # v1's text again
        r = await _search(api, tenant, "data not altered during migration", k=1, corpora=[PROBE])
        assert r.json()["passages"][0]["version"] == 1
        for other in (app, restored):
            for hook in other.on_shutdown:
                await hook()  # type: ignore[call-arg]
    finally:
        for hook in changed.on_shutdown:
            await hook()  # type: ignore[call-arg]


async def test_a_tenant_without_the_plugin_cannot_read_its_corpus(api: httpx.AsyncClient) -> None:
    tenant = await create_tenant(api)
    r = await api.put("/v1/plugins/corpusprobe", json={"enabled": False}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    r = await _search(api, tenant, "data migration")
    assert r.json()["corpora"] == ["tenant"] and r.json()["passages"] == []
    assert_problem(await _search(api, tenant, "data migration", corpora=[PROBE]), 422)


async def test_ctx_retrieve_searches_for_the_plugin(api: httpx.AsyncClient) -> None:
    tenant = await create_tenant(api)
    r = await api.get("/v1/corpusprobe/ask", params={"q": "deviation recorded"}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    passages = r.json()["passages"]
    assert passages and all(p["corpus"] == PROBE for p in passages)
    assert passages[0]["section_id"].startswith("21 CFR 211.100")


async def test_ctx_generate_is_a_clear_503_until_the_pool_is_configured(api: httpx.AsyncClient) -> None:
    tenant = await create_tenant(api)
    assert_problem(await api.get("/v1/corpusprobe/say", headers=tenant.headers), 503, "service-unavailable")


async def test_shared_corpora_are_written_only_in_the_platform_scope(
    app_engine: AsyncEngine, api: httpx.AsyncClient
) -> None:
    tenant = await create_tenant(api)
    async with app_engine.connect() as conn:
        await conn.execute(text("SELECT set_config('lumen.tenant_id', :t, true)"), {"t": str(tenant.id)})
        assert await conn.scalar(text("SELECT count(*) FROM corpus_chunks")) > 0  # readable
        changed = await conn.execute(text("UPDATE corpus_chunks SET text = 'defaced'"))
        assert changed.rowcount == 0
        deleted = await conn.execute(text("DELETE FROM corpus_documents"))
        assert deleted.rowcount == 0
        with pytest.raises(Exception, match="row-level security"):
            await conn.execute(
                text(
                    "INSERT INTO corpus_documents (id, corpus, source_id, plugin, version, "
                    "content_hash, title, "
                    "content_type, text) VALUES (gen_random_uuid(), 'regulatory', 'fake', 'x', 99, 'h', 't', "
                    "'text/plain', 'forged')"
                )
            )
        await conn.rollback()
