"""Standard Webhooks signatures (https://www.standardwebhooks.com): `whsec_` secrets, v1 = HMAC-SHA256
over `{webhook-id}.{webhook-timestamp}.{body}`, base64. During a secret rotation both secrets sign,
space-separated, so receivers can switch at their own pace. Tests verify with the `standardwebhooks` package.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid

__all__ = ["new_message_id", "new_secret", "sign"]

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def new_message_id() -> str:
    return "msg_" + uuid.uuid4().hex


def sign(secrets_: list[str], message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    signatures = []
    for secret in secrets_:
        key = base64.b64decode(secret.removeprefix(PREFIX))
        digest = hmac.new(key, signed, hashlib.sha256).digest()
        signatures.append("v1," + base64.b64encode(digest).decode())
    return " ".join(signatures)
