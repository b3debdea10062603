"""The OPA engine: its wire protocol and its failures against real local sockets, and (when LUMEN_OPA_URL is
set) a contract test against a real OPA server that must decide exactly as the in-process engine does."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from lumen.core.policy import InProcessEngine, PolicyInput, PolicySet
from lumen.core.policy.opa import OpaEngine
from tests.core.policy.conftest import OTHER_TENANT, platform_request, tenant_request

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Receiver:
    """A real HTTP/1.1 listener on 127.0.0.1 that records requests and answers with a fixed response."""

    def __init__(self, status: int = 200, body: Any = None, *, silent: bool = False) -> None:
        self.status, self.body, self.silent = status, body, silent
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode().split("\r\n")
            headers = dict(line.split(": ", 1) for line in header_lines if ": " in line)
            body = await reader.readexactly(int(headers.get("Content-Length", "0")))
            self.requests.append((request_line, json.loads(body or b"{}")))
            if self.silent:
                await asyncio.sleep(30)  # accepts, reads, never answers
                return
            payload = json.dumps(self.body).encode() if self.body is not None else b""
            writer.write(
                f"HTTP/1.1 {self.status} X\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> Receiver:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.close()


@pytest.fixture
async def receiver_factory() -> AsyncIterator[Callable[..., Awaitable[Receiver]]]:
    started: list[Receiver] = []

    async def start(*args: Any, **kwargs: Any) -> Receiver:
        receiver = await Receiver(*args, **kwargs).__aenter__()
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        await receiver.__aexit__()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens there


# --- the wire protocol --------------------------------------------------------------------------------------


async def test_asks_opa_for_the_decision_document_with_the_input(
    receiver_factory: Callable[..., Awaitable[Receiver]],
) -> None:
    answer = {"result": {"allow": True, "reasons": ["scope admin grants keys.list"], "obligations": ["x"]}}
    receiver = await receiver_factory(200, answer)
    engine = OpaEngine(receiver.url, policy_version="abc")
    request = tenant_request("keys.list", "admin")
    try:
        decision = await engine.decide(request)
    finally:
        await engine.aclose()
    assert decision.allow and decision.reasons == ["scope admin grants keys.list"]
    assert decision.obligations == ["x"] and decision.engine == "opa" and decision.policy_version == "abc"
    (request_line, body), *_ = receiver.requests
    assert request_line == "POST /v1/data/lumen/authz/decision HTTP/1.1"
    assert body == {"input": request.to_dict()}


# --- fail closed --------------------------------------------------------------------------------------------


async def test_unreachable_opa_denies_with_the_reason() -> None:
    engine = OpaEngine(f"http://127.0.0.1:{_closed_port()}")
    decision = await engine.decide(platform_request("tenants.create"))
    await engine.aclose()
    assert not decision.allow and decision.obligations == []
    assert decision.reasons[0].startswith("policy engine error (opa at http://127.0.0.1:")
    assert "ClientConnectorError" in decision.reasons[0]


async def test_a_silent_opa_times_out_and_denies(
    receiver_factory: Callable[..., Awaitable[Receiver]],
) -> None:
    receiver = await receiver_factory(silent=True)
    engine = OpaEngine(receiver.url, timeout_s=0.2)
    started = time.monotonic()
    decision = await engine.decide(platform_request("tenants.create"))
    elapsed = time.monotonic() - started
    await engine.aclose()
    assert not decision.allow
    assert decision.reasons[0].endswith("timed out after 0.2 s")
    assert elapsed < 2  # the deadline holds, whatever the client library does


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (500, {"code": "internal_error"}, "ClientResponseError"),
        (200, {}, "no data.lumen.authz.decision"),
        (200, {"result": {"allow": "yes"}}, "data.lumen.authz.decision is malformed"),
        (200, {"result": None}, "data.lumen.authz.decision is undefined"),
    ],
)
async def test_a_bad_answer_denies(
    receiver_factory: Callable[..., Awaitable[Receiver]], status: int, body: Any, expected: str
) -> None:
    receiver = await receiver_factory(status, body)
    engine = OpaEngine(receiver.url)
    decision = await engine.decide(platform_request("tenants.create"))
    await engine.aclose()
    assert not decision.allow and expected in decision.reasons[0]


def test_an_opa_url_with_a_path_is_refused() -> None:
    with pytest.raises(ValueError, match="no path"):
        OpaEngine("http://opa:8181/v1/data")


# --- contract: a real OPA server ----------------------------------------------------------------------------

OPA_URL = os.environ.get("LUMEN_OPA_URL")


def _contract_requests() -> list[PolicyInput]:
    return [
        platform_request("tenants.create"),
        platform_request("keys.create"),
        platform_request("tenants.explode"),
        tenant_request("keys.list", "keys:read"),
        tenant_request("keys.create", "keys:read"),
        tenant_request("keys.create", "admin", tenant_id=OTHER_TENANT),
        tenant_request("tenants.delete", "admin"),
        tenant_request("interactions.check", "interactions:check"),
        tenant_request("interactions.check", "admin", enabled_plugins=()),
        tenant_request("keys.create", "admin", policy_data={"deny_actions": ["keys.create"]}),
        tenant_request("keys.rotate", "ops", policy_data={"scope_grants": {"keys.rotate": ["ops"]}}),
        tenant_request("webhooks.deliver", "admin", policy_data={"include_phi_in_webhooks": True}),
        tenant_request(
            "triage.assess", "keys:read", tenant_id=OTHER_TENANT, policy_data={"deny_actions": ["x"]}
        ),
    ]


@pytest.fixture(scope="module")
async def opa(policy_set: PolicySet) -> AsyncIterator[OpaEngine]:
    """An OPA server (LUMEN_OPA_URL) loaded with the test policy set."""
    assert OPA_URL is not None
    engine = OpaEngine(OPA_URL, timeout_s=2.0)
    await engine.push(policy_set)
    yield engine
    await engine.aclose()


@pytest.mark.skipif(
    OPA_URL is None, reason="LUMEN_OPA_URL is not set: no OPA server to run the contract against"
)
class TestOpaContract:
    """Push the policy set through OPA's REST API, then ask OPA and regorus the same questions."""

    async def test_pushed_policies_carry_the_policy_version(
        self, opa: OpaEngine, policy_set: PolicySet
    ) -> None:
        decision = await opa.decide(platform_request("tenants.create"))
        assert decision.allow and decision.policy_version == policy_set.version

    @pytest.mark.parametrize("index", range(len(_contract_requests())))
    async def test_opa_decides_like_the_in_process_engine(
        self, opa: OpaEngine, policy_set: PolicySet, index: int
    ) -> None:
        request = _contract_requests()[index]
        expected = InProcessEngine(policy_set).decide_now(request)
        actual = await opa.decide(request)
        assert (actual.allow, actual.reasons, actual.obligations) == (
            expected.allow,
            expected.reasons,
            expected.obligations,
        )


async def test_credentials_in_the_opa_url_never_reach_a_reason() -> None:
    engine = OpaEngine(f"http://lumen:hunter2@127.0.0.1:{_closed_port()}")
    assert engine.url.startswith("http://127.0.0.1:")
    decision = await engine.decide(platform_request("tenants.create"))
    await engine.aclose()
    assert not decision.allow and "hunter2" not in decision.reasons[0]
