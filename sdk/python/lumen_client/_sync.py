"""`Lumen`: the synchronous client."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx

from lumen_client._base import DONE, ClientBase, RequestParts, decode, next_page, sse_data
from lumen_client.errors import error_from_response

__all__ = ["Lumen"]


class Lumen(ClientBase[httpx.Client]):
    """Lumen API client (synchronous)."""

    _http_class = httpx.Client

    def __enter__(self) -> Lumen:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def _send(self, parts: RequestParts, *, stream: bool = False) -> httpx.Response:
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.send(parts.build(self._http), stream=stream)
            except httpx.TransportError as exc:
                time.sleep(self._config.wait_after_error(attempt, exc))
                continue
            wait = self._config.wait_after(attempt, response)
            if wait is None:
                return response
            if stream:
                response.close()
            time.sleep(wait)

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
        return decode(self._send(parts))

    def paginate(self, path: str, params: dict[str, Any] | None = None) -> Iterator[Any]:
        """Every item of a list endpoint, following `next_cursor` page by page."""
        query = dict(params or {})
        more = True
        while more:
            page = self.request("GET", path, params=query)
            yield from page.get("items", [])
            more = next_page(page, query)

    def stream(self, path: str, json: Any, *, idempotency_key: str | None = None) -> Iterator[dict[str, Any]]:
        """POST and read a Server-Sent Events stream: each `data:` line decoded, until `[DONE]`."""
        parts = RequestParts(self._config, "POST", path, json_body=json, idempotency_key=idempotency_key)
        response = self._send(parts, stream=True)
        try:
            if response.status_code >= 400:
                response.read()
                raise error_from_response(response)
            for line in response.iter_lines():
                event = sse_data(line)
                if event is DONE:
                    return
                if event is not None:
                    yield event
        finally:
            response.close()
