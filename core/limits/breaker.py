"""Fail open, briefly and loudly, when Redis cannot answer.

Limits are not an authorization boundary: authentication, policy and row-level security decide what a
caller may do; limits only share capacity fairly. When Redis is unreachable, refusing every request would
turn a cache outage into a full API outage, so the limiter lets requests through unlimited (and unmetered)
and says so in the log. The abuse this permits is bounded by the outage and by whatever sits in front of
the API (load balancer connection limits). To keep an outage from costing latency on every request (a
connect timeout each time), after a failure Redis is not asked again for `retry_seconds`.
"""

from __future__ import annotations

import time

import structlog

__all__ = ["RedisBreaker"]

log = structlog.get_logger()


class RedisBreaker:
    def __init__(self, retry_seconds: float) -> None:
        self._retry = retry_seconds
        self._down_until = 0.0
        self._tripped = False

    @property
    def open(self) -> bool:
        """True while Redis is presumed down: callers go on without it."""
        return time.monotonic() < self._down_until

    def failed(self, operation: str, exc: BaseException) -> None:
        if not self._tripped:  # once per outage, not once per request
            log.warning(
                "limits.redis_unavailable",
                operation=operation,
                error_type=type(exc).__name__,
                retry_seconds=self._retry,
                effect="requests are not rate limited or metered until Redis answers again",
            )
        self._tripped = True
        self._down_until = time.monotonic() + self._retry

    def succeeded(self) -> None:
        if self._tripped:
            self._tripped = False
            log.info("limits.redis_recovered")
