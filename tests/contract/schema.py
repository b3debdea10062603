"""Reading the live OpenAPI document in regression tests: what an operation documents, and whether a real
request or response conforms to it (what schemathesis checks, for one case)."""

from __future__ import annotations

from typing import Any

import httpx
from jsonschema import Draft202012Validator


async def live_document(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        target: Any = doc
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        schema = target
    return schema


def conforms(doc: dict[str, Any], schema: dict[str, Any], instance: Any) -> list[str]:
    """The ways `instance` breaks `schema` (a schema from `doc`, its $refs resolved against it)."""
    validator = Draft202012Validator({**schema, "components": doc.get("components", {})})
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]
