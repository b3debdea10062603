"""What the sync and async clients share: configuration, headers, building requests, retry decisions,
response handling, pagination and server-sent events. Each client only does the I/O (send, sleep, read)."""

from __future__ import annotations

import email.utils
import json
import random
import time
import uuid
from typing import Any, Generic, TypeVar

import httpx

from lumen_client.errors import APIConnectionError, error_from_response

__all__ = ["DEFAULT_BASE_URL", "DONE", "RETRY_STATUSES", "ClientBase", "ClientConfig", "RequestParts"]

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
RETRY_STATUSES = frozenset({429, 503})
USER_AGENT = "lumen-client-python/0.1.0"


class ClientConfig:
    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is required (a tenant key lm_live_... or lm_test_...)")
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff

    def headers(self, method: str, idempotency_key: str | None) -> dict[str, str]:
        headers = {
            "authorization": f"Bearer {self.api_key}",
            "accept": "application/json",
            "user-agent": USER_AGENT,
        }
        # Every POST carries a key, so a retry (ours or the caller's) never creates twice.
        if method.upper() == "POST":
            headers["idempotency-key"] = idempotency_key or str(uuid.uuid4())
        return headers

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds before retry `attempt` (1-based): Retry-After when the server gave one, else
        exponential backoff with full jitter."""
        if response is not None:
            after = retry_after(response)
            if after is not None:
                return min(after, self.max_backoff)
        return random.uniform(0, min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))  # noqa: S311

    def should_retry(self, attempt: int, response: httpx.Response | None) -> bool:
        if attempt > self.max_retries:
            return False
        return response is None or response.status_code in RETRY_STATUSES

    def wait_after(self, attempt: int, response: httpx.Response) -> float | None:
        """Seconds to wait before trying again after `response`, or None: it is the answer."""
        return self.delay(attempt, response) if self.should_retry(attempt, response) else None

    def wait_after_error(self, attempt: int, exc: httpx.TransportError) -> float:
        """Seconds to wait before trying again after a connection failure; raises when none are left."""
        if not self.should_retry(attempt, None):
            raise APIConnectionError(str(exc)) from exc
        return self.delay(attempt, None)


Http = TypeVar("Http", httpx.Client, httpx.AsyncClient)


class ClientBase(Generic[Http]):
    """What both clients hold: the configuration, the httpx client, and the resource groups (the same
    classes: their methods hand back what the client's request/paginate/stream return).
    `http_client` lets you pass your own httpx client (proxies, transports)."""

    _http_class: type[Http]

    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        http_client: Http | None = None,
    ) -> None:
        from lumen_client import resources as r

        self._config = ClientConfig(api_key, base_url, max_retries=max_retries, backoff=backoff)
        self._http: Http = http_client or self._http_class(timeout=timeout)
        self._owns_http = http_client is None
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


class RequestParts:
    """One call's request, rebuilt identically for every attempt (one idempotency key for all of them)."""

    def __init__(
        self,
        config: ClientConfig,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: dict[str, Any] | None = None,
        files: Any = None,
        data: Any = None,
        idempotency_key: str | None = None,
    ) -> None:
        self.kwargs: dict[str, Any] = {
            "method": method,
            "url": config.base_url + path,
            "json": json_body,
            "params": clean(params),
            "files": files,
            "data": data,
            "headers": config.headers(method, idempotency_key),
        }

    def build(self, http: httpx.Client | httpx.AsyncClient) -> httpx.Request:
        return http.build_request(**self.kwargs)


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def decode(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise error_from_response(response)
    if response.status_code == 204 or not response.content:
        return None
    return response.json()


def clean(params: dict[str, Any] | None) -> dict[str, Any] | None:
    if params is None:
        return None
    return {k: v for k, v in params.items() if v is not None}


def next_page(page: Any, query: dict[str, Any]) -> bool:
    """After `page`, point `query` at the next one; False when it was the last."""
    cursor = page.get("next_cursor")
    if not cursor:
        return False
    query["cursor"] = cursor
    return True


DONE = object()  # the `[DONE]` that ends a stream


def sse_data(line: str) -> Any:
    """One line of a Server-Sent Events stream: its `data:` decoded, DONE at `[DONE]`, None otherwise."""
    if not line.startswith("data:"):
        return None
    payload = line[5:].strip()
    if payload == "[DONE]":
        return DONE
    value: dict[str, Any] = json.loads(payload)
    return value
