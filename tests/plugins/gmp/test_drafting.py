"""Model drafting of narrative sections, with a scripted stand-in for the inference pool (the pool is its own
component; here only the plugin's marking of drafted text is under test): drafted text stays marked as
machine-drafted until a person edits the section or the document is approved."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx
import pytest
from litestar import Litestar

from lumen.core.app import create_app
from lumen.core.settings import Settings
from lumen.plugins.sdk import ChatMessage, Generation, Passage
from tests.conftest import create_tenant
from tests.plugins.gmp.conftest import make_document, make_team, sign, transition


class ScriptedModels:
    """Answers every generation with a fixed sentence naming the section it was asked for."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    async def generate(self, tenant_id: uuid.UUID, messages: Sequence[ChatMessage], **_: Any) -> Generation:
        prompt = messages[-1].content
        self.prompts.append(prompt)
        section = prompt.split("Section: ", 1)[1].split(" (", 1)[0]
        return Generation(
            text=f"Drafted {section} text.",
            model="lumen-base",
            prompt_tokens=10,
            completion_tokens=5,
            finish_reason="stop",
        )

    async def embed(self, tenant_id: uuid.UUID, texts: Sequence[str]) -> list[list[float]]:
        raise NotImplementedError

    async def retrieve(
        self,
        tenant_id: uuid.UUID,
        query: str,
        *,
        corpora: Sequence[str] | None = None,
        filters: Mapping[str, Any] | None = None,
        k: int = 5,
    ) -> list[Passage]:
        raise NotImplementedError


@pytest.fixture(scope="module")
async def drafting(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, ScriptedModels]]:
    app: Litestar = create_app(settings)
    models = ScriptedModels()
    app.state.models = models
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://lumen.test"
    ) as http:
        yield http, models


async def test_empty_narrative_sections_are_drafted_and_marked(
    drafting: tuple[httpx.AsyncClient, ScriptedModels],
) -> None:
    client, models = drafting
    tenant = await create_tenant(client)
    team = await make_team(client, tenant)
    doc = await make_document(
        client, tenant, team.author, sections={"procedure": "1. Written by a person."}, draft_narratives=True
    )
    assert doc["drafting"]["performed"] is True
    sections = {s["id"]: s for s in doc["sections"]}
    assert sections["purpose"]["text"] == "Drafted Purpose text."
    assert sections["purpose"]["machine_drafted"] is True
    assert sections["procedure"]["machine_drafted"] is False  # written by a person, left alone
    assert doc["machine_drafted"] is True
    assert "Cleaning of tablet press TP-3" in models.prompts[0]  # drafted from the structured fields


async def test_editing_a_drafted_section_clears_its_mark(
    drafting: tuple[httpx.AsyncClient, ScriptedModels],
) -> None:
    client, _ = drafting
    tenant = await create_tenant(client)
    team = await make_team(client, tenant)
    doc = await make_document(client, tenant, team.author, sections={}, draft_narratives=True)
    edit = {"signer_id": team.author.id, "sections": {"purpose": "Reworded by the author."}}
    edited = (await client.patch(f"/v1/gmp/documents/{doc['id']}", json=edit, headers=tenant.headers)).json()
    sections = {s["id"]: s for s in edited["sections"]}
    assert sections["purpose"]["machine_drafted"] is False
    assert sections["responsibilities"]["machine_drafted"] is True


async def test_approval_clears_the_marks_and_the_history_keeps_them(
    drafting: tuple[httpx.AsyncClient, ScriptedModels],
) -> None:
    client, _ = drafting
    tenant = await create_tenant(client)
    team = await make_team(client, tenant)
    doc = await make_document(client, tenant, team.author, sections={}, draft_narratives=True)
    await transition(client, tenant, doc["id"], "in_review", team.author)
    await sign(client, tenant, doc["id"], team.qa, "approved")
    approved = (await transition(client, tenant, doc["id"], "approved", team.qa)).json()
    assert approved["machine_drafted"] is False
    history = (await client.get(f"/v1/gmp/documents/{doc['id']}/history", headers=tenant.headers)).json()
    created = history["entries"][0]
    assert set(created["details"]["machine_drafted_sections"]) == {"purpose", "responsibilities", "procedure"}
    approval = next(e for e in history["entries"] if e["details"].get("to") == "approved")
    assert set(approval["details"]["machine_drafted_sections_approved"]) == {
        "purpose",
        "responsibilities",
        "procedure",
    }
