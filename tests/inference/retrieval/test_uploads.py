"""Every format through the API (multipart), and hostile uploads answered with a 4xx naming the reason."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from lumen.inference.retrieval.parsing import DOCX
from tests.conftest import TenantHandle, assert_problem, create_tenant
from tests.inference.retrieval.builders import make_docx, make_pdf, make_zip_bomb
from tests.inference.retrieval.conftest import new_title, search, until_ready, upload_file

pytestmark = pytest.mark.usefixtures("ingest_worker")

SAMPLES = Path(__file__).parent / "samples"


async def _ingest(
    client: httpx.AsyncClient, tenant: TenantHandle, filename: str, data: bytes, ct: str
) -> dict:
    r = await upload_file(client, tenant, filename, data, ct, title=new_title())
    assert r.status_code == 202, r.text
    return await until_ready(client, tenant, r.json()["id"])


async def test_pdf_upload_cites_its_page(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    pdf = make_pdf(
        [
            ["1 Purpose", "General scope of the plan."],
            ["7.3 Sterilisation", "Autoclave the trellimax parts at 121 C."],
        ]
    )
    await _ingest(client, tenant, "plan.pdf", pdf, "application/pdf")
    top = (await search(client, tenant, "trellimax autoclave"))[0]
    assert top["page"] == 2 and top["section_id"] == "7.3"


async def test_docx_upload(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    docx = make_docx(
        [("3 Gowning", "Heading 1"), ("Operators wear sterile plumbrix gowns in grade A.", None)]
    )
    await _ingest(client, tenant, "gowning.docx", docx, "application/octet-stream")
    top = (await search(client, tenant, "plumbrix gowns"))[0]
    assert top["section_id"] == "3" and "plumbrix" in top["text"]


async def test_html_upload(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    html = b"<html><body><h1>Spill response</h1><p>Cover a vintrelle spill with absorbent pads.</p></body>"
    await _ingest(client, tenant, "spill.html", html, "text/html")
    assert "vintrelle" in (await search(client, tenant, "vintrelle spill"))[0]["text"]


@pytest.mark.parametrize(
    ("sample", "content_type", "query", "section_id"),
    [
        (
            "ecfr_part211_excerpt.xml",
            "application/xml",
            "deviation from written procedures recorded",
            "21 CFR 211.100(b)",
        ),
        ("dailymed_spl_excerpt.xml", "text/xml", "angioedema swelling airway", "5.1"),
        (
            "openfda_label_excerpt.json",
            "application/json",
            "hypersensitivity to beta-lactam",
            "contraindications",
        ),
    ],
)
async def test_structured_public_formats(
    client: httpx.AsyncClient, sample: str, content_type: str, query: str, section_id: str
) -> None:
    tenant = await create_tenant(client)
    document = await _ingest(client, tenant, sample, (SAMPLES / sample).read_bytes(), content_type)
    top = (await search(client, tenant, query, k=3))[0]
    assert top["section_id"] == section_id and top["document_id"] == document["id"]


async def test_structured_formats_fill_search_filters(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    await _ingest(
        client, tenant, "label.xml", (SAMPLES / "dailymed_spl_excerpt.xml").read_bytes(), "text/xml"
    )
    hits = await search(
        client, tenant, "angioedema", filters={"jurisdiction": "US", "document_type": "drug-label"}
    )
    assert hits and hits[0]["metadata"]["effective_date"] == "2024-03-15"
    assert await search(client, tenant, "angioedema", filters={"effective_date": "2020-01-01"}) == []
    assert await search(client, tenant, "angioedema", filters={"jurisdiction": "EU"}) == []


@pytest.mark.parametrize(
    ("filename", "data", "content_type", "status", "words"),
    [
        ("x.pdf", make_pdf([["hi"]]), "text/plain", 422, "PDF"),  # a supported type, other bytes
        ("x.pdf", b"%PDF-1.7\n%garbage that is not a pdf", "application/pdf", 422, "PDF"),
        ("x.exe", b"MZ\x90\x00", "application/x-msdownload", 415, "not supported"),
        ("x.docx", make_zip_bomb(), DOCX, 422, "expands"),
        (
            "x.xml",
            b'<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><ECFR>&x;</ECFR>',
            "text/xml",
            422,
            "entities",
        ),
        ("x.xml", b"<ECFR><unclosed>", "text/xml", 422, "malformed"),
        ("x.txt", b"", "text/plain", 422, "empty"),
    ],
)
async def test_hostile_uploads_are_refused_with_the_reason(
    client: httpx.AsyncClient,
    tenant_a: TenantHandle,
    filename: str,
    data: bytes,
    content_type: str,
    status: int,
    words: str,
) -> None:
    r = await upload_file(client, tenant_a, filename, data, content_type, title=new_title())
    body = assert_problem(r, status)
    assert words in body["detail"]


async def test_refused_upload_leaves_nothing_behind(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    r = await upload_file(client, tenant, "x.pdf", b"%PDF-1.7 broken", "application/pdf", title="broken")
    assert r.status_code == 422
    assert (await client.get("/v1/documents", headers=tenant.headers)).json()["items"] == []


async def test_oversized_upload_is_413(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await upload_file(client, tenant_a, "big.txt", b"a" * (21 * 1024 * 1024), "text/plain", title="big")
    assert_problem(r, 413)


async def test_json_body_validation_names_the_field(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    cases = [
        ({"text": "x"}, "title"),
        ({"title": "t", "text": ""}, "text"),
        ({"title": "t", "text": "x", "extra": 1}, "extra"),
        ({"title": "t", "text": "x", "content_type": "image/png"}, "content_type"),
        ({"title": "t", "text": "x", "content_type": "application/pdf"}, "content_type"),
        ({"title": "\u0000", "text": "x"}, "title"),
    ]
    for body, field in cases:
        r = await client.post("/v1/documents", json=body, headers=tenant_a.headers)
        assert 400 <= r.status_code < 500, (body, r.text)
        assert field in r.json()["detail"], (body, r.json())


async def test_other_content_types_are_415(client: httpx.AsyncClient, tenant_a: TenantHandle) -> None:
    r = await client.post(
        "/v1/documents", content=b"hello", headers={**tenant_a.headers, "content-type": "text/plain"}
    )
    assert_problem(r, 415)
