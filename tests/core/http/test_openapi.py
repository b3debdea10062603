"""The published OpenAPI document: complete for every operation (whatever plugin added it), committed as
docs/openapi.json, and guarded against breaking changes without a version bump."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar

from lumen.core.http.errors import PROBLEM_TYPES
from lumen.core.http.openapi import (
    COMMON_ERRORS,
    HTTP_METHODS,
    PUBLIC_ERRORS,
    breaking_changes,
    check,
    dumps,
    openapi_document,
)
from tests.contract.schema import resolve

ROOT = Path(__file__).resolve().parents[3]


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in doc["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS
    ]


@pytest.fixture(scope="module")
def doc(app: Litestar) -> dict[str, Any]:
    return openapi_document(app)


async def test_schema_endpoint_serves_the_finished_document(
    doc: dict[str, Any], client: httpx.AsyncClient
) -> None:
    r = await client.get("/schema/openapi.json")
    assert r.status_code == 200
    assert r.json() == json.loads(dumps(doc))
    assert r.json()["openapi"].startswith("3.1")


def test_every_operation_has_a_unique_operation_id_and_a_summary(doc: dict[str, Any]) -> None:
    ids = [op.get("operationId") for _, _, op in _operations(doc)]
    missing = [f"{m.upper()} {p}" for p, m, op in _operations(doc) if not op.get("operationId")]
    assert not missing, missing
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    unsummarised = [f"{m.upper()} {p}" for p, m, op in _operations(doc) if not op.get("summary")]
    assert not unsummarised, unsummarised


def test_every_operation_documents_a_success_response_with_a_schema(doc: dict[str, Any]) -> None:
    bad = []
    for path, method, op in _operations(doc):
        successes = {s: r for s, r in op["responses"].items() if s.startswith("2")}
        if not successes:
            bad.append(f"{method.upper()} {path}: no 2xx")
        for status, response in successes.items():
            if status != "204" and not any("schema" in c for c in response.get("content", {}).values()):
                bad.append(f"{method.upper()} {path}: {status} has no schema")
    assert not bad, bad


def test_every_body_taking_operation_documents_its_request_schema(doc: dict[str, Any]) -> None:
    bad = []
    for path, method, op in _operations(doc):
        body = op.get("requestBody")
        if body is not None and not any("schema" in c for c in body.get("content", {}).values()):
            bad.append(f"{method.upper()} {path}")
    assert not bad, bad


def test_no_success_schema_has_a_branch_that_matches_anything(doc: dict[str, Any]) -> None:
    # `X | Response[...]` made oneOf [X, {}] (POST /v1/qa/ask): every X then matched two branches.
    bad = []
    for path, method, op in _operations(doc):
        for status, response in op["responses"].items():
            for media, content in response.get("content", {}).items():
                schema = content.get("schema", {})
                if {} in schema.get("oneOf", []):
                    bad.append(f"{method.upper()} {path} {status} {media}")
    assert not bad, bad


def test_every_body_that_refuses_unknown_fields_documents_it(app: Litestar, doc: dict[str, Any]) -> None:
    # Including components Litestar names by module because two Structs share a name
    # (regulatory_schemas_AskRequest and qa_schemas_AskRequest).
    checked, bad = [], []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            field = handler.parsed_fn_signature.parameters.get("data")
            struct = getattr(field, "annotation", None)
            if not (isinstance(struct, type) and issubclass(struct, msgspec.Struct)):
                continue
            if not struct.__struct_config__.forbid_unknown_fields:
                continue
            for method in handler.http_methods:
                body = doc["paths"][route.path_format][method.lower()]["requestBody"]
                schema = resolve(doc, body["content"]["application/json"]["schema"])
                checked.append(struct.__qualname__)
                if schema.get("additionalProperties") is not False:
                    bad.append(f"{method} {route.path_format} ({struct.__module__}.{struct.__qualname__})")
    assert len(checked) > 30 and "AskRequest" in checked
    assert not bad, bad


def test_every_operation_documents_the_problem_responses(doc: dict[str, Any]) -> None:
    bad = []
    for path, method, op in _operations(doc):
        public = op.get("security") == []
        expected = PUBLIC_ERRORS if public else tuple(COMMON_ERRORS)
        for status in expected:
            content = op["responses"].get(str(status), {}).get("content", {})
            if "application/problem+json" not in content:
                bad.append(f"{method.upper()} {path}: {status}")
    assert not bad, bad


def test_the_problem_schema_lists_every_problem_type(doc: dict[str, Any]) -> None:
    enum = doc["components"]["schemas"]["Problem"]["properties"]["type"]["enum"]
    assert enum == [f"/problems/{slug}" for slug in PROBLEM_TYPES]


def test_authenticated_operations_use_the_bearer_scheme(doc: dict[str, Any]) -> None:
    scheme = doc["components"]["securitySchemes"]["apiKey"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert doc["security"] == [{"apiKey": []}]
    public = sorted(p for p, _, op in _operations(doc) if op.get("security") == [])
    assert public and all(re.match(r"^/(healthz|readyz|problems/|\.well-known/)", p) for p in public), public


def test_webhooks_describe_every_registered_event_type(app: Litestar, doc: dict[str, Any]) -> None:
    assert set(doc["webhooks"]) == set(app.state.webhook_event_types)
    hook = doc["webhooks"]["api_key.created"]["post"]
    assert {p["name"] for p in hook["parameters"]} == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    body = hook["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["type"]["const"] == "api_key.created"


def test_committed_document_matches_the_live_one(doc: dict[str, Any]) -> None:
    committed = (ROOT / "docs/openapi.json").read_text()
    assert committed == dumps(doc), "docs/openapi.json is out of date: run `lumen openapi --write`"


def test_removing_a_path_is_breaking(doc: dict[str, Any]) -> None:
    new = copy.deepcopy(doc)
    new["paths"].pop("/v1/keys")
    assert "removed path /v1/keys" in breaking_changes(doc, new)


def test_removing_a_response_field_is_breaking(doc: dict[str, Any]) -> None:
    new = copy.deepcopy(doc)
    response = new["paths"]["/v1/keys/{key_id}"]["get"]["responses"]["200"]
    ref = response["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    new["components"]["schemas"][ref]["properties"].pop("name")
    assert "GET /v1/keys/{key_id} 200: removed response field name" in breaking_changes(doc, new)


def test_a_new_required_request_field_is_breaking(doc: dict[str, Any]) -> None:
    new = copy.deepcopy(doc)
    body = new["paths"]["/v1/keys"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema = new["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]]
    schema["required"] = [*schema.get("required", []), "expires_at"]
    assert "POST /v1/keys: new required request field expires_at" in breaking_changes(doc, new)


def test_an_added_optional_field_is_not_breaking(doc: dict[str, Any]) -> None:
    new = copy.deepcopy(doc)
    new["paths"]["/v1/extra"] = {"get": {"operationId": "extra", "responses": {}}}
    assert breaking_changes(doc, new) == []


def test_a_breaking_change_fails_unless_the_version_is_bumped(doc: dict[str, Any]) -> None:
    new = copy.deepcopy(doc)
    new["paths"].pop("/v1/keys")
    assert any("info.version" in p for p in check(doc, new))
    major = int(doc["info"]["version"].split(".")[0])
    new["info"]["version"] = f"{major + 1}.0.0"
    assert check(doc, new) == []
