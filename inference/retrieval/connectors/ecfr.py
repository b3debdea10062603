"""eCFR (https://www.ecfr.gov/developers/documentation/api/v1): the versioner API's XML of one CFR part as
of a date, split into one document per section (`21 CFR 211.100`), paragraphs keeping their letters."""

from __future__ import annotations

from datetime import date

import httpx

from lumen.inference.retrieval.connectors.base import FetchedDocument, get_bytes
from lumen.inference.retrieval.parsing import _xml_root, parse_ecfr

__all__ = ["PART_URL", "fetch_part", "split_sections"]

PART_URL = "https://www.ecfr.gov/api/versioner/v1/full/{date}/title-{title}.xml"


def split_sections(data: bytes, *, as_of: str | None = None) -> list[FetchedDocument]:
    from lxml import etree

    root = _xml_root(data)
    title_node = root if root.get("TYPE") == "TITLE" else root.find(".//DIV1[@TYPE='TITLE']")
    title = title_node.get("N") if title_node is not None else None
    documents = []
    for section in root.iter("DIV8"):
        if section.get("TYPE") != "SECTION" or not section.get("N"):
            continue
        number = section.get("N")
        # Each section as a document of its own, under its title so the parser names it `21 CFR <n>`.
        wrapper = etree.Element("DIV1", N=title or "", TYPE="TITLE")
        wrapper.append(etree.fromstring(etree.tostring(section)))
        fragment = etree.tostring(wrapper)
        parsed = parse_ecfr(etree.fromstring(fragment))
        head = section.find("HEAD")
        heading = " ".join(head.itertext()).strip() if head is not None else number
        cfr = f"{title} CFR {number}" if title else f"§ {number}"
        part = number.split(".")[0]
        documents.append(
            FetchedDocument(
                source="ecfr",
                source_id=f"us-{title}cfr-{number}" if title else f"us-cfr-{number}",
                title=f"{cfr} {heading.split(None, 2)[-1] if heading.startswith('§') else heading}".strip(),
                content_type="application/xml",
                data=fragment,
                source_url=f"https://www.ecfr.gov/current/title-{title}/part-{part}/section-{number}",
                section_id=cfr,
                document_type="regulation",
                effective_date=as_of,
                metadata={"blocks": len(parsed.blocks)},
            )
        )
    return documents


async def fetch_part(
    client: httpx.AsyncClient, title: int, part: int, *, as_of: date | None = None
) -> list[FetchedDocument]:
    day = (as_of or date.today()).isoformat()
    data = await get_bytes(client, PART_URL.format(date=day, title=title), {"part": str(part)})
    return split_sections(data, as_of=day)
