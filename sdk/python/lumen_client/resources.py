"""Resource groups. Each method returns what the client's `request`/`paginate`/`stream` return, so the same
classes serve Lumen (values, iterators) and AsyncLumen (awaitables, async iterators)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "Adapters",
    "Chat",
    "Interactions",
    "Jobs",
    "Keys",
    "Qa",
    "Regulatory",
    "Tenants",
    "Triage",
    "Usage",
    "Webhooks",
]


class _Resource:
    def __init__(self, client: Any) -> None:
        self._c = client


class Tenants(_Resource):
    """Platform operator only (a tenant key gets 403 platform-key-required)."""

    def create(self, slug: str, name: str, **fields: Any) -> Any:
        return self._c.request("POST", "/v1/tenants", json={"slug": slug, "name": name, **fields})

    def list(self, **params: Any) -> Any:
        return self._c.paginate("/v1/tenants", params)

    def get(self, tenant_id: str) -> Any:
        return self._c.request("GET", f"/v1/tenants/{tenant_id}")

    def update(self, tenant_id: str, **fields: Any) -> Any:
        return self._c.request("PATCH", f"/v1/tenants/{tenant_id}", json=fields)

    def create_key(self, tenant_id: str, name: str, scopes: list[str], **fields: Any) -> Any:
        body = {"name": name, "scopes": scopes, **fields}
        return self._c.request("POST", f"/v1/tenants/{tenant_id}/keys", json=body)


class Keys(_Resource):
    def create(self, name: str, scopes: list[str], **fields: Any) -> Any:
        return self._c.request("POST", "/v1/keys", json={"name": name, "scopes": scopes, **fields})

    def list(self, **params: Any) -> Any:
        return self._c.paginate("/v1/keys", params)

    def get(self, key_id: str) -> Any:
        return self._c.request("GET", f"/v1/keys/{key_id}")

    def revoke(self, key_id: str) -> Any:
        return self._c.request("DELETE", f"/v1/keys/{key_id}")

    def rotate(self, key_id: str) -> Any:
        return self._c.request("POST", f"/v1/keys/{key_id}/rotate")


class Webhooks(_Resource):
    def create_endpoint(self, url: str, *, event_types: list[str] | None = None, **fields: Any) -> Any:
        body: dict[str, Any] = {"url": url, **fields}
        if event_types is not None:
            body["event_types"] = event_types
        return self._c.request("POST", "/v1/webhooks/endpoints", json=body)

    def endpoints(self, **params: Any) -> Any:
        return self._c.paginate("/v1/webhooks/endpoints", params)

    def get_endpoint(self, endpoint_id: str) -> Any:
        return self._c.request("GET", f"/v1/webhooks/endpoints/{endpoint_id}")

    def update_endpoint(self, endpoint_id: str, **fields: Any) -> Any:
        return self._c.request("PATCH", f"/v1/webhooks/endpoints/{endpoint_id}", json=fields)

    def delete_endpoint(self, endpoint_id: str) -> Any:
        return self._c.request("DELETE", f"/v1/webhooks/endpoints/{endpoint_id}")

    def test(self, endpoint_id: str) -> Any:
        return self._c.request("POST", f"/v1/webhooks/endpoints/{endpoint_id}/test")

    def events(self, **params: Any) -> Any:
        return self._c.paginate("/v1/webhooks/events", params)


class Jobs(_Resource):
    def get(self, job_id: str) -> Any:
        return self._c.request("GET", f"/v1/jobs/{job_id}")


class Usage(_Resource):
    def get(self, **params: Any) -> Any:
        return self._c.request("GET", "/v1/usage", params=params)


class Adapters(_Resource):
    def upload(self, name: str, archive: bytes, *, filename: str = "adapter.tar.gz", **fields: Any) -> Any:
        data = {
            "name": name,
            **{k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()},
        }
        return self._c.request("POST", "/v1/adapters", files={"file": (filename, archive)}, data=data)

    def list(self, **params: Any) -> Any:
        return self._c.paginate("/v1/adapters", params)

    def get(self, adapter_id: str) -> Any:
        return self._c.request("GET", f"/v1/adapters/{adapter_id}")

    def delete(self, adapter_id: str) -> Any:
        return self._c.request("DELETE", f"/v1/adapters/{adapter_id}")


class Chat(_Resource):
    """OpenAI-compatible chat completions over the tenant's pool (and its adapters, by model name)."""

    def models(self) -> Any:
        return self._c.request("GET", "/v1/models")

    def create(self, messages: list[dict[str, Any]], *, model: str = "lumen-base", **fields: Any) -> Any:
        body = {"model": model, "messages": messages, **fields}
        return self._c.request("POST", "/v1/chat/completions", json=body)

    def stream(self, messages: list[dict[str, Any]], *, model: str = "lumen-base", **fields: Any) -> Any:
        """Chunks (`chat.completion.chunk` dicts) as they are generated."""
        body = {"model": model, "messages": messages, **fields, "stream": True}
        return self._c.stream("/v1/chat/completions", body)


class Interactions(_Resource):
    def check(self, medications: list[str], **fields: Any) -> Any:
        """Interactions among the medications (names, brands or ingredients); `patient=` optional."""
        return self._c.request("POST", "/v1/interactions/check", json={"medications": medications, **fields})


class Triage(_Resource):
    def assess(self, text: str, **fields: Any) -> Any:
        """Triage level for a complaint in free text; age=, sex=, pregnant= optional."""
        return self._c.request("POST", "/v1/triage/assess", json={"text": text, **fields})


class Qa(_Resource):
    """Medical Q&A for patients: cited answers, emergency guidance first, abstention when unsure."""

    def ask(self, question: str, **fields: Any) -> Any:
        """The whole answer and its safety envelope; `patient_id=`, `locale=` optional."""
        return self._c.request("POST", "/v1/qa/ask", json={"question": question, **fields})

    def stream(self, question: str, **fields: Any) -> Any:
        """The answer as it is produced: dicts whose `type` is `meta` (the envelope known before the model),
        `delta` (`text` to append), then `done` (the whole envelope; its `answer` is the deltas joined) or
        `withdrawn` (a later check failed: discard every delta shown and display this event's `answer`)."""
        return self._c.stream("/v1/qa/ask/stream", {"question": question, **fields})


class Regulatory(_Resource):
    def requirements(self, **params: Any) -> Any:
        return self._c.request("GET", "/v1/regulatory/requirements", params=params)

    def requirement(self, requirement: str) -> Any:
        return self._c.request("GET", f"/v1/regulatory/requirements/{requirement}")

    def ask(self, question: str, **fields: Any) -> Any:
        return self._c.request("POST", "/v1/regulatory/ask", json={"question": question, **fields})

    def gap_analysis(self, document_type: str, **fields: Any) -> Any:
        """`document=` (text) or `document_id=` (an uploaded document, `version=` optional); jurisdictions=,
        background=. The result (200), or {id, job_id, links} (202) for a job: see gap_analysis_result."""
        return self._c.request(
            "POST", "/v1/regulatory/gap-analysis", json={"document_type": document_type, **fields}
        )

    def gap_analysis_result(self, analysis_id: str) -> Any:
        return self._c.request("GET", f"/v1/regulatory/gap-analyses/{analysis_id}")
