"""The OPA server engine: asks `POST /v1/data/lumen/authz/decision` through `opa-python-client`.

In production OPA serves a bundle built from the same PolicySet (`build_bundle`), so it decides exactly as
the in-process engine would; `push` loads a PolicySet through the REST API instead, for development and for
the contract tests. A slow or unreachable OPA must not hold a request: each decision has a hard deadline
(250 ms by default) and no retries, and every failure is a deny that says what failed.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import structlog
from opa_client import AsyncOpaClient

from lumen.core.policy._regorus import error_text
from lumen.core.policy.decision import Decision, PolicyInput
from lumen.core.policy.engine import (
    DECISION_PACKAGE,
    PolicyEngine,
    fail_closed,
    new_decision_id,
    parse_decision,
)
from lumen.core.policy.policy_set import DATA_ROOT, PolicySet

__all__ = ["OpaEngine"]

log = structlog.get_logger()


class OpaEngine(PolicyEngine):
    name = "opa"

    def __init__(
        self,
        url: str,
        timeout_s: float = 0.25,
        *,
        policy_version: str = "unknown",
        token: str | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
            raise ValueError(f"OPA URL {url!r} must look like http://host:8181 (no path)")
        port = parts.port or (443 if parts.scheme == "https" else 8181)
        self.url = f"{parts.scheme}://{parts.hostname}:{port}"  # no userinfo: it shows in reasons and logs
        self.timeout_s = timeout_s
        # The revision of the bundle OPA is expected to serve (the PolicySet's version).
        self.policy_version = policy_version
        self._client_args: dict[str, Any] = {
            "host": parts.hostname,
            "port": port,
            "ssl": parts.scheme == "https",
            "token": token,
        }
        self._client: AsyncOpaClient | None = None
        self._lock: asyncio.Lock | None = None

    async def decide(self, input: PolicyInput) -> Decision:
        decision_id = new_decision_id()
        try:
            async with asyncio.timeout(self.timeout_s):
                client = await self._connected()
                answer = await client.query_rule(input.to_dict(), DECISION_PACKAGE, "decision")
            if not isinstance(answer, dict) or "result" not in answer:
                raise ValueError("OPA has no data.lumen.authz.decision (is the bundle loaded?)")
            return parse_decision(
                answer["result"],
                decision_id=decision_id,
                engine=self.name,
                policy_version=self.policy_version,
            )
        except TimeoutError:
            failure = f"timed out after {self.timeout_s:g} s"
        except Exception as exc:  # connection refused, HTTP 5xx, bad JSON, malformed decision...
            failure = f"{type(exc).__name__}: {error_text(exc)}"
        log.error(
            "policy.engine_failed",
            decision_id=decision_id,
            action=input.action,
            engine=self.name,
            error=failure,
        )
        return fail_closed(
            decision_id,
            f"policy engine error (opa at {self.url}): {failure}",
            engine=self.name,
            policy_version=self.policy_version,
        )

    async def push(self, policy_set: PolicySet, timeout_s: float = 10.0) -> None:
        """Load `policy_set` into OPA through its REST API (data first, then every decision module).

        For development and contract tests: production OPA pulls the bundle and refuses writes to its roots.
        """
        async with AsyncOpaClient(**self._client_args, retries=0, timeout=timeout_s) as client:
            await client.update_or_create_data(policy_set.data[DATA_ROOT], DATA_ROOT)
            for module in policy_set.modules:
                await client.update_policy_from_string(
                    module.source, f"{DATA_ROOT}/{module.name}", rego_compat=False
                )
        self.policy_version = policy_set.version
        log.info("policy.pushed_to_opa", url=self.url, policy_version=policy_set.version)

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close_connection()

    async def _connected(self) -> AsyncOpaClient:
        if self._client is None:
            if self._lock is None:
                self._lock = asyncio.Lock()
            async with self._lock:
                if self._client is None:
                    client = AsyncOpaClient(**self._client_args, retries=0, timeout=self.timeout_s)
                    await client.__aenter__()  # opens the aiohttp session on the running loop
                    self._client = client
        return self._client
