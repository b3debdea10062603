"""The sync client against a live Lumen: calls, typed errors, pagination, idempotency, retries."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from conftest import PLATFORM_KEY, Live
from lumen_client import Lumen, errors


@pytest.fixture
def lumen(live: Live) -> Lumen:
    return Lumen(api_key=live.key, base_url=live.base_url)


def test_calls_a_domain_endpoint(lumen: Lumen) -> None:
    result = lumen.interactions.check(["warfarin", "ibuprofen"])
    assert result["interactions"], result
    assert result["disclaimer"]


def test_triage_and_regulatory(lumen: Lumen) -> None:
    assessment = lumen.triage.assess("crushing chest pain with sweating for twenty minutes", age=58)
    assert assessment["level"].startswith("emergency"), assessment
    found = lumen.regulatory.requirements(q="audit trail electronic records")
    assert found["items"]
    queued = lumen.regulatory.gap_analysis("capa", document="Root cause by 5 whys.", background=True)
    kept = lumen.regulatory.gap_analysis_result(queued["id"])
    assert kept["id"] == queued["id"]
    assert kept["state"] in ("queued", "running", "succeeded")


def test_not_found_is_a_typed_error_with_the_problem_fields(lumen: Lumen) -> None:
    with pytest.raises(errors.NotFound) as caught:
        lumen.keys.get(str(uuid.uuid4()))
    assert caught.value.status == 404
    assert caught.value.type == "/problems/not-found"
    assert caught.value.request_id


def test_validation_error_names_the_field(lumen: Lumen) -> None:
    with pytest.raises(errors.ValidationError) as caught:
        lumen.request("POST", "/v1/keys", json={"name": "x", "scopes": ["admin"], "tenant_id": "t"})
    assert "tenant_id" in caught.value.detail


def test_bad_key_is_unauthenticated(live: Live) -> None:
    with (
        Lumen(api_key="lm_live_" + "0" * 40, base_url=live.base_url) as bad,
        pytest.raises(errors.Unauthenticated),
    ):
        bad.usage.get()


def test_tenant_key_on_a_platform_route_is_its_own_subclass(lumen: Lumen) -> None:
    with pytest.raises(errors.Forbidden) as caught:
        lumen.tenants.create("nope-" + uuid.uuid4().hex[:6], "Nope")
    assert type(caught.value) in (errors.PlatformKeyRequired, errors.Forbidden)
    assert isinstance(caught.value, errors.ProblemError)


def test_pagination_follows_next_cursor(lumen: Lumen) -> None:
    created = {lumen.keys.create(f"page-{n}", ["keys:read"])["id"] for n in range(5)}
    seen = [k["id"] for k in lumen.keys.list(limit=2)]
    assert created <= set(seen)
    assert len(seen) == len(set(seen))


def test_creating_posts_carry_an_idempotency_key_and_replay(lumen: Lumen) -> None:
    key = "sdk-" + uuid.uuid4().hex
    first = lumen.request(
        "POST", "/v1/webhooks/endpoints", json={"url": "https://example.com/a"}, idempotency_key=key
    )
    again = lumen.request(
        "POST", "/v1/webhooks/endpoints", json={"url": "https://example.com/a"}, idempotency_key=key
    )
    assert first["id"] == again["id"]
    with pytest.raises(errors.IdempotencyKeyReused):
        lumen.request(
            "POST", "/v1/webhooks/endpoints", json={"url": "https://example.com/b"}, idempotency_key=key
        )


def test_rate_limited_calls_are_retried_after_retry_after(live: Live) -> None:
    """Lumen's own 429s say to wait tens of seconds; a transport that answers the first attempt with a short
    Retry-After (then passes through to the live server) shows the client waits that long and retries."""
    seen: list[float] = []

    class OnceLimited(httpx.BaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.HTTPTransport()
            self.calls = 0

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            self.calls += 1
            seen.append(time.monotonic())
            if self.calls == 1:
                return httpx.Response(
                    429,
                    headers={"retry-after": "1", "content-type": "application/problem+json"},
                    json={"type": "/problems/rate-limited", "title": "Too many requests", "status": 429},
                )
            return self.inner.handle_request(request)

    transport = OnceLimited()
    client = Lumen(api_key=live.key, base_url=live.base_url, http_client=httpx.Client(transport=transport))
    usage = client.usage.get()
    assert usage is not None
    assert transport.calls == 2
    assert seen[1] - seen[0] >= 0.95


def test_gives_up_with_the_typed_error_after_max_retries(live: Live) -> None:
    status, _ = live.server.request(
        "PUT",
        f"/v1/tenants/{live.tenant_id}/limits",
        {"overrides": {"key_requests_per_minute": 1}},
        PLATFORM_KEY,
    )
    assert status == 200
    try:
        fresh = Lumen(api_key=live.key, base_url=live.base_url).keys.create("limited", ["usage:read"])
        limited = Lumen(api_key=fresh["key"], base_url=live.base_url, max_retries=0)
        limited.usage.get()  # the one request this minute
        started = time.monotonic()
        with pytest.raises(errors.RateLimited) as caught:
            limited.usage.get()
        assert caught.value.retry_after
        assert caught.value.retry_after > 0
        assert time.monotonic() - started < 5
    finally:
        live.server.request("PUT", f"/v1/tenants/{live.tenant_id}/limits", {"overrides": {}}, PLATFORM_KEY)
