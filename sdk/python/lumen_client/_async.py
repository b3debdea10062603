"""`AsyncLumen`: the asynchronous client (the same surface as Lumen, awaited)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from lumen_client._base import DEFAULT_BASE_URL, ClientConfig, clean, decode
from lumen_client.errors import APIConnectionError, error_from_response

__all__ = ["AsyncLumen"]


class AsyncLumen:
    """Lumen API client. `http_client` lets you pass your own httpx.AsyncClient (proxies, transports)."""

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._config = ClientConfig(api_key, base_url, max_retries=max_retries, backoff=backoff)
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http_client is None
        from lumen_client import resources as r

        self.tenants = r.AsyncTenants(self)
        self.keys = r.AsyncKeys(self)
        self.webhooks = r.AsyncWebhooks(self)
        self.jobs = r.AsyncJobs(self)
        self.usage = r.AsyncUsage(self)
        self.adapters = r.AsyncAdapters(self)
        self.chat = r.AsyncChat(self)
        self.interactions = r.AsyncInteractions(self)
        self.triage = r.AsyncTriage(self)
        self.regulatory = r.AsyncRegulatory(self)
        self.qa = r.AsyncQa(self)

    async def __aenter__(self) -> AsyncLumen:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def _send(
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
                response = await self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                if not self._config.should_retry(attempt, None):
                    raise APIConnectionError(str(exc)) from exc
                await asyncio.sleep(self._config.delay(attempt, None))
                continue
            if not self._config.should_retry(attempt, response):
                return response
            if stream:
                await response.aclose()
            await asyncio.sleep(self._config.delay(attempt, response))

    async def request(
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
        response = await self._send(
            method,
            path,
            json_body=json,
            params=params,
            files=files,
            data=data,
            idempotency_key=idempotency_key,
        )
        return decode(response)

    async def paginate(self, path: str, params: dict[str, Any] | None = None) -> AsyncIterator[Any]:
        """Every item of a list endpoint, following `next_cursor` page by page."""
        query = dict(params or {})
        while True:
            page = await self.request("GET", path, params=query)
            for item in page.get("items", []):
                yield item
            cursor = page.get("next_cursor")
            if not cursor:
                return
            query["cursor"] = cursor

    async def stream(
        self, path: str, json: Any, *, idempotency_key: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """POST and read a Server-Sent Events stream: each `data:` line decoded, until `[DONE]`."""
        response = await self._send(
            "POST", path, json_body=json, idempotency_key=idempotency_key, stream=True
        )
        try:
            if response.status_code >= 400:
                await response.aread()
                raise error_from_response(response)
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    return
                yield json_loads(payload)
        finally:
            await response.aclose()


def json_loads(payload: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(payload)
    return value
