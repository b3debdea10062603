"""`AsyncLumen`: the asynchronous client (the same surface as Lumen, awaited)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx

from lumen_client._base import DONE, ClientBase, RequestParts, decode, next_page, sse_data
from lumen_client.errors import error_from_response

__all__ = ["AsyncLumen"]


class AsyncLumen(ClientBase[httpx.AsyncClient]):
    """Lumen API client (asynchronous: the same surface as Lumen, awaited)."""

    _http_class = httpx.AsyncClient

    async def __aenter__(self) -> AsyncLumen:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def _send(self, parts: RequestParts, *, stream: bool = False) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._http.send(parts.build(self._http), stream=stream)
            except httpx.TransportError as exc:
                await asyncio.sleep(self._config.wait_after_error(attempt, exc))
                continue
            wait = self._config.wait_after(attempt, response)
            if wait is None:
                return response
            if stream:
                await response.aclose()
            await asyncio.sleep(wait)

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
        parts = RequestParts(
            self._config,
            method,
            path,
            json_body=json,
            params=params,
            files=files,
            data=data,
            idempotency_key=idempotency_key,
        )
        return decode(await self._send(parts))

    async def paginate(self, path: str, params: dict[str, Any] | None = None) -> AsyncIterator[Any]:
        """Every item of a list endpoint, following `next_cursor` page by page."""
        query = dict(params or {})
        more = True
        while more:
            page = await self.request("GET", path, params=query)
            for item in page.get("items", []):
                yield item
            more = next_page(page, query)

    async def stream(
        self, path: str, json: Any, *, idempotency_key: str | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """POST and read a Server-Sent Events stream: each `data:` line decoded, until `[DONE]`."""
        parts = RequestParts(self._config, "POST", path, json_body=json, idempotency_key=idempotency_key)
        response = await self._send(parts, stream=True)
        try:
            if response.status_code >= 400:
                await response.aread()
                raise error_from_response(response)
            async for line in response.aiter_lines():
                event = sse_data(line)
                if event is DONE:
                    return
                if event is not None:
                    yield event
        finally:
            await response.aclose()
