"""MedlinePlus health topics (https://medlineplus.gov/xml.html): the health-topic XML, whose
<full-summary> holds escaped HTML. One document per topic, English by default."""

from __future__ import annotations

import html

import httpx

from lumen.inference.retrieval.connectors.base import FetchedDocument, get_bytes
from lumen.inference.retrieval.parsing import InvalidDocument, _xml_root

__all__ = ["SEARCH_URL", "TOPICS_URL", "fetch_topics", "parse_topics", "search_topics"]

TOPICS_URL = "https://medlineplus.gov/xml/mplus_topics_{date}.xml"
SEARCH_URL = "https://wsearch.nlm.nih.gov/ws/query"


def parse_topics(data: bytes, *, language: str | None = "English") -> list[FetchedDocument]:
    root = _xml_root(data)
    if root.tag != "health-topics":
        raise InvalidDocument(f"not a MedlinePlus health-topics file (root <{root.tag}>)")
    documents = []
    for topic in root.iter("health-topic"):
        if language and topic.get("language") != language:
            continue
        summary = topic.findtext("full-summary") or ""
        title = topic.get("title") or "MedlinePlus topic"
        body = f"<html><body><h1>{html.escape(title)}</h1>{summary}</body></html>"
        documents.append(
            FetchedDocument(
                source="medlineplus",
                source_id=f"medlineplus-{topic.get('id')}",
                title=title,
                content_type="text/html",
                data=body.encode(),
                source_url=topic.get("url") or "https://medlineplus.gov/",
                document_type="patient-education",
                metadata={
                    "also_called": [a.text for a in topic.iter("also-called") if a.text],
                    "language": topic.get("language"),
                },
            )
        )
    return documents


async def fetch_topics(client: httpx.AsyncClient, day: str) -> list[FetchedDocument]:
    """The daily health-topics file (`day` as YYYY-MM-DD; MedlinePlus publishes them on weekdays)."""
    return parse_topics(await get_bytes(client, TOPICS_URL.format(date=day)))


async def search_topics(client: httpx.AsyncClient, term: str, *, limit: int = 10) -> bytes:
    """Raw results of the MedlinePlus web service (XML, `nlmSearchResult`)."""
    return await get_bytes(client, SEARCH_URL, {"db": "healthTopics", "term": term, "retmax": str(limit)})
