"""openFDA drug labels (https://open.fda.gov/apis/drug/label/): JSON, one label per result, each section a
list of strings (indications_and_usage, warnings_and_cautions...)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from lumen.inference.retrieval.connectors.base import FetchedDocument, get_bytes
from lumen.inference.retrieval.parsing import InvalidDocument, parse_openfda_label

__all__ = ["LABEL_URL", "fetch_labels", "parse_labels"]

LABEL_URL = "https://api.fda.gov/drug/label.json"


def parse_labels(data: bytes) -> list[FetchedDocument]:
    """An openFDA drug/label response → one document per label."""
    try:
        body = json.loads(data)
    except json.JSONDecodeError as exc:
        raise InvalidDocument(f"openFDA response is not JSON ({exc.msg})") from None
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise InvalidDocument("openFDA response has no results list")
    documents = []
    for label in results:
        parsed = parse_openfda_label(label)  # validates it is a label
        set_id = str(label.get("set_id") or label.get("id"))
        documents.append(
            FetchedDocument(
                source="openfda",
                source_id=f"openfda-label-{set_id}",
                title=parsed.title or f"Drug label {set_id}",
                content_type="application/json",
                data=json.dumps(label).encode(),
                source_url=f"{LABEL_URL}?search=set_id:{set_id}",
                document_type="drug-label",
                effective_date=parsed.metadata.get("effective_date"),
                metadata={"set_id": set_id, "version": label.get("version")},
            )
        )
    return documents


async def fetch_labels(
    client: httpx.AsyncClient, search: str, *, limit: int = 10, api_key: str | None = None
) -> list[FetchedDocument]:
    """Labels matching an openFDA search expression, e.g. `openfda.generic_name:"amoxicillin"`."""
    params: dict[str, Any] = {"search": search, "limit": max(1, min(limit, 100))}
    if api_key:
        params["api_key"] = api_key
    return parse_labels(await get_bytes(client, LABEL_URL, params))
