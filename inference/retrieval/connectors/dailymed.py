"""DailyMed Structured Product Labeling (https://dailymed.nlm.nih.gov/dailymed/app-support-web-services.cfm):
the SPL XML of a label by its set id."""

from __future__ import annotations

import httpx

from lumen.inference.retrieval.connectors.base import FetchedDocument, get_bytes
from lumen.inference.retrieval.parsing import InvalidDocument, parse

__all__ = ["SPL_URL", "fetch_spl", "parse_spl_document"]

SPL_URL = "https://dailymed.nlm.nih.gov/dailymed/services/v2/spls/{set_id}.xml"


def parse_spl_document(data: bytes, set_id: str | None = None) -> FetchedDocument:
    parsed = parse(data, "application/xml")
    if parsed.format != "spl":
        raise InvalidDocument("not a DailyMed SPL document")
    set_id = set_id or parsed.metadata.get("set_id") or "unknown"
    return FetchedDocument(
        source="dailymed",
        source_id=f"dailymed-spl-{set_id}",
        title=parsed.title or f"SPL {set_id}",
        content_type="application/xml",
        data=data,
        source_url=f"https://dailymed.nlm.nih.gov/dailymed/drugInfo.cfm?setid={set_id}",
        document_type="drug-label",
        effective_date=parsed.metadata.get("effective_date"),
        metadata={k: v for k, v in parsed.metadata.items() if k in ("set_id", "spl_version")},
    )


async def fetch_spl(client: httpx.AsyncClient, set_id: str) -> FetchedDocument:
    return parse_spl_document(await get_bytes(client, SPL_URL.format(set_id=set_id)), set_id)
