"""Rendered copies carry the header, the tenant's branding and the signature manifestation (§11.50), read
back from the PDF with pypdf and from the DOCX with python-docx."""

from __future__ import annotations

import io
from typing import Any

import docx
import httpx
import pytest
from pypdf import PdfReader

from tests.conftest import TenantHandle, assert_problem, create_tenant
from tests.plugins.gmp.conftest import Team, effective_document, make_document, make_signer, make_team


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def docx_text(content: bytes) -> str:
    document = docx.Document(io.BytesIO(content))
    parts = [p.text for p in document.paragraphs]
    parts += [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    parts += [p.text for section in document.sections for p in section.header.paragraphs]
    return "\n".join(parts)


async def _effective(client: httpx.AsyncClient, tenant: TenantHandle) -> tuple[dict[str, Any], Team]:
    team = await make_team(client, tenant)
    return await effective_document(client, tenant, team), team


async def _render(client: httpx.AsyncClient, tenant: TenantHandle, doc_id: str, fmt: str) -> httpx.Response:
    r = await client.get(f"/v1/gmp/documents/{doc_id}/render", params={"format": fmt}, headers=tenant.headers)
    assert r.status_code == 200, r.text
    return r


async def test_pdf_carries_header_branding_and_signature_manifestation(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    doc, team = await _effective(client, tenant_a)
    r = await _render(client, tenant_a, doc["id"], "pdf")
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")
    text = pdf_text(r.content)
    assert tenant_a.slug.upper() in text  # the tenant's name (branding)
    for expected in (
        doc["number"],
        "Version",
        "1.0",
        "EFFECTIVE",
        "Effective date",
        doc["effective_at"][:10],
    ):
        assert expected in text, expected
    for person in (team.author, team.reviewer, team.qa):
        assert person.full_name in text
    for meaning in ("Authored", "Reviewed", "Approved"):
        assert meaning in text
    assert "UTC" in text
    signed_at = doc["signatures"][0]["signed_at"]
    assert signed_at[:10] + " " + signed_at[11:19] in text  # the signing time, to the second, in UTC
    assert doc["content_sha256"] in text.replace("\n", "")


async def test_docx_carries_header_branding_and_signature_manifestation(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    doc, team = await _effective(client, tenant_a)
    r = await _render(client, tenant_a, doc["id"], "docx")
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert f"{doc['number']}_v1.0.docx" in r.headers["content-disposition"]
    text = docx_text(r.content)
    assert tenant_a.slug.upper() in text
    assert doc["number"] in text and "EFFECTIVE" in text
    assert team.qa.full_name in text and team.author.full_name in text
    assert "Approved - I approve this document" in text
    signed_at = doc["signatures"][-1]["signed_at"]
    assert signed_at[:10] + " " + signed_at[11:19] + " UTC" in text
    assert "valid" in text


async def test_markdown_carries_the_same_content(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    doc, team = await _effective(client, tenant_a)
    text = (await _render(client, tenant_a, doc["id"], "md")).text
    assert text.startswith(f"# {tenant_a.slug.upper()}")
    assert f"| Document number | {doc['number']} |" in text
    assert team.reviewer.full_name in text
    assert "us-21cfr-211.100" in text


async def test_a_copy_shows_an_invalidated_signature_and_its_draft_status(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    team = await make_team(client, tenant_a)
    doc = await make_document(client, tenant_a, team.author)
    from tests.plugins.gmp.conftest import sign

    await sign(client, tenant_a, doc["id"], team.author, "authored")
    edit = {"signer_id": team.author.id, "sections": {"purpose": "Changed after signing."}}
    await client.patch(f"/v1/gmp/documents/{doc['id']}", json=edit, headers=tenant_a.headers)
    text = pdf_text((await _render(client, tenant_a, doc["id"], "pdf")).content)
    assert "NOT VALID" in text
    assert "DRAFT: not an effective controlled document" in text


async def test_tenant_branding_setting_names_the_organisation(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    settings = {"branding_name": "Northwind Pharma GmbH", "document_footer": "Confidential - Northwind QA"}
    r = await client.put(
        "/v1/plugins/gmp", json={"enabled": True, "settings": settings}, headers=tenant_a.headers
    )
    assert r.status_code == 200, r.text
    author = await make_signer(client, tenant_a, ["author"])
    doc = await make_document(client, tenant_a, author)
    text = pdf_text((await _render(client, tenant_a, doc["id"], "pdf")).content)
    assert "Northwind Pharma GmbH" in text
    assert "Confidential - Northwind QA" in text


async def test_hostile_text_renders_safely_in_every_format(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    author = await make_signer(client, tenant_a, ["author"], "Zoë <script>alert(1)</script> | **bold**")
    hostile = "Ünïcödé ✓ 漢字 — <img src=x onerror=alert(1)> | # heading ``` ${{7*7}} \\x"
    doc = await make_document(
        client, tenant_a, author, sections={"purpose": hostile * 20, "procedure": "x" * 19_000}
    )
    from tests.plugins.gmp.conftest import sign

    assert (await sign(client, tenant_a, doc["id"], author, "authored")).status_code == 201
    for fmt in ("md", "docx", "pdf"):
        await _render(client, tenant_a, doc["id"], fmt)
    markdown = (await _render(client, tenant_a, doc["id"], "md")).text
    assert "<script>" not in markdown and "\\<script\\>" in markdown


@pytest.mark.parametrize("fmt", ["html", "PDF", "", "pdf;rm"])
async def test_an_unknown_format_is_refused(
    client: httpx.AsyncClient, tenant_a: TenantHandle, fmt: str
) -> None:
    author = await make_signer(client, tenant_a, ["author"])
    doc = await make_document(client, tenant_a, author)
    r = await client.get(
        f"/v1/gmp/documents/{doc['id']}/render", params={"format": fmt}, headers=tenant_a.headers
    )
    problem = assert_problem(r, 400)
    assert "format" in str(problem)


async def test_another_tenant_cannot_render(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    other = await create_tenant(client)
    author = await make_signer(client, tenant_a, ["author"])
    doc = await make_document(client, tenant_a, author)
    r = await client.get(
        f"/v1/gmp/documents/{doc['id']}/render", params={"format": "pdf"}, headers=other.headers
    )
    assert_problem(r, 404)
