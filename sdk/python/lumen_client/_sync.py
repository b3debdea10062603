"""`Lumen`: the synchronous client."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx

from lumen_client._base import DEFAULT_BASE_URL, ClientConfig, clean, decode
from lumen_client.errors import APIConnectionError, error_from_response

__all__ = ["Lumen"]


class Lumen:
    """Lumen API client. `http_client` lets you pass your own httpx.Client (proxies, transports)."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        http_client: httpx.Client | None = None,
    ) -> None:
        self._config = ClientConfig(api_key, base_url, max_retries=max_retries, backoff=backoff)
        self._http = http_client or httpx.Client(timeout=timeout)
        self._owns_http = http_client is None
        from lumen_client import resources as r

        self.tenants = r.Tenants(self)
        self.keys = r.Keys(self)
        self.webhooks = r.Webhooks(self)
        self.jobs = r.Jobs(self)
        self.usage = r.Usage(self)
        self.adapters = r.Adapters(self)
        self.chat = r.Chat(self)
        self.interactions = r.Interactions(self)
        self.triage = r.Triage(self)
        self.regulatory = r.Regulatory(self)
        self.qa = r.Qa(self)

    def __enter__(self) -> Lumen:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def _send(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        files: Any = None,
        data: Any = None,
        idempotency_key: str | None = None,
        stream: bool = False,
    ) -> httpx.Response:
        headers = self._config.headers(method, idempotency_key)  # one key for every retry of this call
        attempt = 0
        while True:
            attempt += 1
            try:
                request = self._http.build_request(
                    method,
                    self._config.base_url + path,
                    json=json_body,
                    params=clean(params),
                    files=files,
                    data=data,
                    headers=headers,
                )
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                if not self._config.should_retry(attempt, None):
                    raise APIConnectionError(str(exc)) from exc
                time.sleep(self._config.delay(attempt, None))
                continue
            if not self._config.should_retry(attempt, response):
                return response
            if stream:
                response.close()
            time.sleep(self._config.delay(attempt, response))

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        files: Any = None,
        data: Any = None,
        idempotency_key: str | None = None,
    ) -> Any:
        """Call any endpoint; returns the decoded JSON (None for 204) or raises a typed ProblemError."""
        response = self._send(
            method,
            path,
            json_body=json,
            params=params,
            files=files,
            data=data,
            idempotency_key=idempotency_key,
        )
        return decode(response)

    def paginate(self, path: str, params: dict[str, Any] | None = None) -> Iterator[Any]:
        """Every item of a list endpoint, following `next_cursor` page by page."""
        query = dict(params or {})
        while True:
            page = self.request("GET", path, params=query)
            yield from page.get("items", [])
            cursor = page.get("next_cursor")
            if not cursor:
                return
            query["cursor"] = cursor

    def stream(self, path: str, json: Any, *, idempotency_key: str | None = None) -> Iterator[dict[str, Any]]:
        """POST and read a Server-Sent Events stream: each `data:` line decoded, until `[DONE]`."""
        response = self._send("POST", path, json_body=json, idempotency_key=idempotency_key, stream=True)
        try:
            if response.status_code >= 400:
                response.read()
                raise error_from_response(response)
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    return
                yield json_loads(payload)
        finally:
            response.close()


def json_loads(payload: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(payload)
    return value
