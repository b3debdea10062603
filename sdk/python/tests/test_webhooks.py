"""A real signed delivery from a live Lumen, verified with the client's helper; tampering is refused."""

from __future__ import annotations

import time

import pytest
from conftest import Live, Receiver
from lumen_client import Lumen, sign_webhook, verify_webhook
from lumen_client.errors import WebhookVerificationError


def test_a_delivered_test_event_verifies(live: Live, receiver: Receiver) -> None:
    lumen = Lumen(api_key=live.key, base_url=live.base_url)
    endpoint = lumen.webhooks.create_endpoint(receiver.url, event_types=["webhook.test"])
    lumen.webhooks.test(endpoint["id"])
    assert receiver.arrived.wait(30), "no delivery within 30 s"
    got = receiver.got[0]
    event = verify_webhook(endpoint["secret"], got.body, got.headers)
    assert event["type"] == "webhook.test"
    with pytest.raises(WebhookVerificationError):
        verify_webhook(endpoint["secret"], got.body.replace(b"webhook.test", b"webhook.evil"), got.headers)
    with pytest.raises(WebhookVerificationError):
        verify_webhook("whsec_" + "A" * 32, got.body, got.headers)


def test_old_timestamps_are_refused() -> None:
    secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
    body = b'{"type": "webhook.test", "data": {}}'
    stamp = int(time.time()) - 3600
    headers = {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign_webhook(secret, "msg_1", stamp, body),
    }
    with pytest.raises(WebhookVerificationError):
        verify_webhook(secret, body, headers)
    assert verify_webhook(secret, body, headers, now=stamp + 10)["type"] == "webhook.test"


def test_matches_the_reference_implementation() -> None:
    standardwebhooks = pytest.importorskip("standardwebhooks")
    secret = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"
    body = b'{"type": "x", "data": {"a": 1}}'
    stamp = int(time.time())
    headers = {
        "webhook-id": "msg_2",
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign_webhook(secret, "msg_2", stamp, body),
    }
    assert standardwebhooks.Webhook(secret).verify(body, headers) == {"type": "x", "data": {"a": 1}}
    assert verify_webhook(secret, body, headers)["data"] == {"a": 1}


def test_rotation_accepts_either_secret() -> None:
    old, new = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY", "whsec_" + "WllYV1ZVVFNSUVBPTk1MS0pJSEdGRURD"
    body = b'{"type": "x", "data": {}}'
    stamp = int(time.time())
    headers = {
        "webhook-id": "m",
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign_webhook(new, "m", stamp, body),
    }
    assert verify_webhook([old, new], body, headers)["type"] == "x"
