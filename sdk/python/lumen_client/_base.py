"""What the sync and async clients share: configuration, headers, retry decisions, response handling."""

from __future__ import annotations

import email.utils
import random
import time
import uuid
from typing import Any

import httpx

from lumen_client.errors import error_from_response

__all__ = ["DEFAULT_BASE_URL", "RETRY_STATUSES", "ClientConfig"]

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
