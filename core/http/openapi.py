"""The published OpenAPI document: Litestar's generated one, completed in one place.

Litestar describes routes and their msgspec schemas. This adds what every operation shares and Litestar
cannot know: the problem+json error responses (RFC 9457, one per status, with the stable type slugs of
PROBLEM_TYPES), `security: []` on the public paths, and OpenAPI 3.1's `webhooks` section generated from the
registered event types. Everything is derived from the live app, so routes added by any plugin are covered
without a list to maintain. `lumen openapi --write/--check` keeps docs/openapi.json in step.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar.openapi.plugins import JsonRenderPlugin, ScalarRenderPlugin, SwaggerRenderPlugin

from lumen.core.auth.middleware import PUBLIC_PATHS
from lumen.core.http.errors import PROBLEM_TYPES, type_uri

__all__ = [
    "COMMON_ERRORS",
    "DOC_PATH",
    "LumenJsonRender",
    "LumenScalarRender",
    "LumenSwaggerRender",
    "breaking_changes",
    "finalize",
    "openapi_document",
]

DOC_PATH = Path("docs/openapi.json")
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

# Status -> (description, type slugs it may carry). Every authenticated operation documents all of these;
# the public ones (probes, problem types) only those that can happen without a key.
COMMON_ERRORS: dict[int, tuple[str, list[str]]] = {
    400: ("The request could not be read or is not valid.", ["bad-request", "validation-error"]),
    401: ("No API key, or one that is unknown, expired or revoked.", ["unauthenticated"]),
    403: (
        "The key may not do this.",
        ["forbidden", "tenant-suspended", "platform-key-required", "tenant-key-required"],
    ),
    404: ("Not found (another tenant's object is also a 404).", ["not-found"]),
    409: ("Conflicts with the current state.", ["conflict", "idempotency-key-in-use"]),
    413: ("The request body is too large.", ["payload-too-large"]),
    415: ("The request body is not application/json.", ["unsupported-media-type"]),
    422: (
        "Well-formed but cannot be processed.",
        ["unprocessable", "validation-error", "idempotency-key-reused"],
    ),
    429: ("Rate limit or quota exceeded; retry after `Retry-After` seconds.", ["rate-limited"]),
    503: ("A service Lumen depends on is unavailable; retry later.", ["service-unavailable"]),
}
PUBLIC_ERRORS = (400, 404, 429, 503)

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details. `type` is stable; GET it for a description.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "enum": [type_uri(s) for s in PROBLEM_TYPES]},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "Field-level validation errors.",
            "items": {
                "type": "object",
                "properties": {
                    "key": {"type": "string"},
                    "message": {"type": "string"},
                    "source": {"type": "string"},
                },
            },
        },
        "incident_id": {"type": "string"},
    },
    "additionalProperties": True,
}

WEBHOOK_HEADERS = {
    "webhook-id": "Unique message id; the same on every retry (use it to deduplicate).",
    "webhook-timestamp": "Unix seconds when this attempt was signed; reject old ones.",
    "webhook-signature": "Space-separated `v1,<base64 HMAC-SHA256>` over `{id}.{timestamp}.{body}`.",
}


def _is_public(path: str) -> bool:
    return any(re.search(pattern, path) for pattern in PUBLIC_PATHS)


def _problem_response(status: int) -> dict[str, Any]:
    description, slugs = COMMON_ERRORS[status]
    response: dict[str, Any] = {
        "description": description,
        "content": {
            "application/problem+json": {
                "schema": {"$ref": "#/components/schemas/Problem"},
                "example": {
                    "type": type_uri(slugs[0]),
                    "title": PROBLEM_TYPES[slugs[0]][1],
                    "status": status,
                    "detail": "What went wrong, naming the field where there is one.",
                },
            }
        },
    }
    if status in (429, 503):
        response["headers"] = {
            "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}
        }
    return response


def _webhooks(app: Litestar) -> dict[str, Any]:
    described: dict[str, str] = dict(app.state.get("webhook_event_types", {}))
    schemas: dict[str, dict[str, Any]] = {}
    host = app.state.get("plugins")
    for plugin in getattr(host, "plugins", {}).values():
        for name, event in getattr(plugin, "events", {}).items():
            schemas[name] = dict(event.schema or {})
    webhooks: dict[str, Any] = {}
    for name in sorted(described):
        data_schema = schemas.get(name) or {"type": "object", "additionalProperties": True}
        webhooks[name] = {
            "post": {
                "operationId": "webhook_" + re.sub(r"[^A-Za-z0-9]+", "_", name),
                "summary": described[name],
                "tags": ["webhooks"],
                "parameters": [
                    {
                        "name": h,
                        "in": "header",
                        "required": True,
                        "description": d,
                        "schema": {"type": "string"},
                    }
                    for h, d in WEBHOOK_HEADERS.items()
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["id", "type", "timestamp", "data"],
                                "properties": {
                                    "id": {"type": "string", "format": "uuid"},
                                    "type": {"type": "string", "const": name},
                                    "timestamp": {"type": "string", "format": "date-time"},
                                    "data": data_schema,
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "2XX": {"description": "Received. Anything else is retried with backoff; 410 disables."}
                },
            }
        }
    return webhooks


def _declared_bodies(doc: dict[str, Any], app: Litestar) -> None:
    """What a handler declares that Litestar cannot derive from its signature:

    - `opt={"openapi_request_body": {...}}`, an OpenAPI Request Body object: a handler that reads its body
      itself (multipart uploads, JSON or multipart);
    - `opt={"openapi_response_content": {media type: Media Type object}}`: other media types its success
      response may have (a JSON answer that is server-sent events on request). Litestar describes the
      `Response[...]` that carries them in the return annotation as `{}`, a oneOf branch that matches
      anything (so the JSON document would match two branches); that branch is dropped.
    """
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            body = handler.opt.get("openapi_request_body")
            content = handler.opt.get("openapi_response_content")
            path_format = getattr(route, "path_format", None)
            if not (body or content) or path_format not in doc.get("paths", {}):
                continue
            for method in handler.http_methods:
                operation = doc["paths"][path_format].get(method.lower())
                if operation is None:
                    continue
                if body:
                    operation["requestBody"] = body
                success = operation.get("responses", {}).get(str(handler.status_code))
                if content and success is not None:
                    for media in success.get("content", {}).values():
                        _drop_anything_branch(media)
                    success.setdefault("content", {}).update(content)


def _drop_anything_branch(media: dict[str, Any]) -> None:
    schema = media.get("schema")
    if not isinstance(schema, dict) or not isinstance(schema.get("oneOf"), list):
        return
    branches = [b for b in schema["oneOf"] if b != {}]
    if len(branches) == 1:
        media["schema"] = branches[0]
    elif branches:
        schema["oneOf"] = branches


_CONSTRAINTS = (
    "minLength",
    "maxLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minItems",
    "maxItems",
    "format",
)


def _component_names(cls: type[msgspec.Struct]) -> set[str]:
    """The names Litestar may give the component of `cls`: its class name, or, when two types share it, the
    shortest unique tail of its dotted path joined with "_" ("regulatory_schemas_AskRequest")."""
    parts = [*cls.__module__.split("."), cls.__qualname__.replace(".<locals>.", ".")]
    return {"_".join(parts[i:]) for i in range(len(parts))}


def _structs() -> dict[str, type[msgspec.Struct]]:
    """Every loaded msgspec Struct by each component name it may have; a name two classes share is left out
    (ambiguous)."""
    found: dict[str, type[msgspec.Struct] | None] = {}
    pending: list[type[msgspec.Struct]] = list(msgspec.Struct.__subclasses__())
    seen: set[type[msgspec.Struct]] = set()
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        pending.extend(cls.__subclasses__())
        for name in _component_names(cls):
            found[name] = None if name in found and found[name] is not cls else cls
    return {name: cls for name, cls in found.items() if cls is not None}


def _copy_constraints(target: Any, source: Any) -> None:
    """Constraints msgspec enforces that Litestar's schema left out (notably on list items)."""
    if not isinstance(target, dict) or not isinstance(source, dict):
        return
    branches = target.get("oneOf") or target.get("anyOf")
    source_branches = [b for b in source.get("anyOf", [source]) if b.get("type") != "null"]
    if branches:
        for branch in branches:
            for candidate in source_branches:
                if branch.get("type") and branch.get("type") == candidate.get("type"):
                    _copy_constraints(branch, candidate)
        return
    if len(source_branches) != 1 or "$ref" in target:
        return
    source = source_branches[0]
    if target.get("type") != source.get("type"):
        return
    for key in _CONSTRAINTS:
        if key in source and key not in target:
            target[key] = source[key]
    if "items" in source and isinstance(target.get("items"), dict):
        _copy_constraints(target["items"], source["items"])
    if isinstance(source.get("propertyNames"), dict) and "propertyNames" not in target:
        target["propertyNames"] = source["propertyNames"]
    if isinstance(source.get("additionalProperties"), dict) and isinstance(
        target.get("additionalProperties"), dict
    ):
        _copy_constraints(target["additionalProperties"], source["additionalProperties"])


def _complete_struct_schemas(doc: dict[str, Any]) -> None:
    """Make each component say exactly what its msgspec Struct accepts: the field constraints msgspec checks
    and `additionalProperties: false` where unknown fields are refused (forbid_unknown_fields)."""
    structs = _structs()
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        cls = structs.get(name)
        if cls is None or schema.get("type") != "object" or "properties" not in schema:
            continue
        try:
            generated = msgspec.json.schema(cls)
        except (TypeError, ValueError):  # a field type msgspec cannot describe: leave Litestar's
            continue
        own = generated.get("$defs", {}).get(cls.__name__, {})
        for field, prop in schema["properties"].items():
            _copy_constraints(prop, own.get("properties", {}).get(field))
        if cls.__struct_config__.forbid_unknown_fields:
            schema["additionalProperties"] = False


def finalize(schema: dict[str, Any], app: Litestar) -> dict[str, Any]:
    """Complete Litestar's document (a dict, not changed) with errors, public security and webhooks."""
    doc = copy.deepcopy(schema)
    doc["openapi"] = "3.1.0"
    components = doc.setdefault("components", {})
    components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for path, item in doc.get("paths", {}).items():
        public = _is_public(path)
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            responses = operation.setdefault("responses", {})
            for status in PUBLIC_ERRORS if public else COMMON_ERRORS:
                # Replaces Litestar's own 400 (its ValidationException shape, not what Lumen sends).
                responses[str(status)] = _problem_response(status)
            if public:
                operation["security"] = []
    _declared_bodies(doc, app)
    _complete_struct_schemas(doc)
    doc["webhooks"] = _webhooks(app)
    tags = doc.setdefault("tags", [])
    if not any(t.get("name") == "webhooks" for t in tags):
        tags.append({"name": "webhooks", "description": "Events Lumen POSTs to your endpoints (signed)."})
    doc["x-problem-types"] = {
        slug: {"type": type_uri(slug), "status": status, "title": title}
        for slug, (status, title) in PROBLEM_TYPES.items()
    }
    return doc


def openapi_document(app: Litestar) -> dict[str, Any]:
    """The finished document for this app (built once, then cached on the app's state)."""
    cached: dict[str, Any] | None = app.state.get("openapi_document")
    if cached is None:
        cached = finalize(app.openapi_schema.to_schema(), app)
        app.state["openapi_document"] = cached
    return cached


class LumenJsonRender(JsonRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, openapi_document(request.app))


class LumenScalarRender(ScalarRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, openapi_document(request.app))


class LumenSwaggerRender(SwaggerRenderPlugin):
    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, openapi_document(request.app))


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ---- breaking-change detection -------------------------------------------------------------------------


def _resolve(doc: dict[str, Any], node: Any, depth: int = 0) -> Any:
    while isinstance(node, dict) and "$ref" in node and depth < 20:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            return node
        target: Any = doc
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        node, depth = target, depth + 1
    return node


def _properties(doc: dict[str, Any], schema: Any, depth: int = 0) -> dict[str, Any]:
    """Top-level properties of an object schema (through $ref and allOf)."""
    schema = _resolve(doc, schema)
    if not isinstance(schema, dict) or depth > 5:
        return {}
    props = dict(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        props.update(_properties(doc, part, depth + 1))
    return props


def _required(doc: dict[str, Any], schema: Any) -> set[str]:
    schema = _resolve(doc, schema)
    if not isinstance(schema, dict):
        return set()
    required = set(schema.get("required", []))
    for part in schema.get("allOf", []):
        required |= _required(doc, part)
    return required


def _json_schema(doc: dict[str, Any], holder: Any) -> Any:
    content = (_resolve(doc, holder) or {}).get("content", {})
    for media, body in content.items():
        if "json" in media and "problem" not in media:
            return body.get("schema")
    return None


def breaking_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What a client written against `old` would find broken in `new`: removed paths, operations, success
    response fields or webhooks; new required request fields or parameters."""
    problems: list[str] = []
    new_paths = new.get("paths", {})
    for path, old_item in old.get("paths", {}).items():
        if path not in new_paths:
            problems.append(f"removed path {path}")
            continue
        for method in HTTP_METHODS:
            old_op = old_item.get(method)
            if old_op is None:
                continue
            new_op = new_paths[path].get(method)
            where = f"{method.upper()} {path}"
            if new_op is None:
                problems.append(f"removed operation {where}")
                continue
            for status, old_resp in old_op.get("responses", {}).items():
                if not status.startswith("2"):
                    continue
                new_resp = new_op.get("responses", {}).get(status)
                if new_resp is None:
                    problems.append(f"{where}: removed response {status}")
                    continue
                old_fields = _properties(old, _json_schema(old, old_resp))
                new_fields = _properties(new, _json_schema(new, new_resp))
                problems += [
                    f"{where} {status}: removed response field {f}"
                    for f in old_fields.keys() - new_fields.keys()
                ]
            old_body = _json_schema(old, old_op.get("requestBody"))
            new_body = _json_schema(new, new_op.get("requestBody"))
            if new_body is not None:
                added = _required(new, new_body) - _required(old, old_body)
                problems += [f"{where}: new required request field {f}" for f in sorted(added)]
            old_params = {
                (p.get("in"), p.get("name")) for p in old_op.get("parameters", []) if "$ref" not in p
            }
            for p in new_op.get("parameters", []):
                if (
                    p.get("required")
                    and (p.get("in"), p.get("name")) not in old_params
                    and p.get("in") != "path"
                ):
                    problems.append(f"{where}: new required {p.get('in')} parameter {p.get('name')}")
    for name in old.get("webhooks", {}):
        if name not in new.get("webhooks", {}):
            problems.append(f"removed webhook {name}")
    return problems


def _version(doc: dict[str, Any]) -> tuple[int, ...]:
    raw = str(doc.get("info", {}).get("version", "0"))
    return tuple(int(p) for p in re.findall(r"\d+", raw)) or (0,)


def check(committed: dict[str, Any], live: dict[str, Any]) -> list[str]:
    """Why the committed document may not simply be replaced by the live one (empty: it may). Breaking
    changes need a bumped info.version."""
    problems = breaking_changes(committed, live)
    if problems and _version(live) <= _version(committed):
        return [*problems, f"breaking changes need info.version bumped beyond {committed['info']['version']}"]
    return []
