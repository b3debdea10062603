"""App session tokens: what they carry, and everything that must make one invalid."""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest

from lumen.core.auth.app_tokens import AppTokenSigner
from lumen.core.http.errors import Unauthenticated

SECRET = b"s" * 32
TENANT = uuid.uuid4()


def test_round_trip_gives_a_tenant_principal_without_a_key() -> None:
    signer = AppTokenSigner(SECRET)
    token, expires = signer.issue(TENANT, ["triage:assess", "glossary:read", "triage:assess"])
    principal = signer.verify(token)
    assert principal.tenant_id == TENANT and principal.key_id is None
    assert principal.scopes == {"triage:assess", "glossary:read"}
    assert expires - time.time() == pytest.approx(900, abs=2)


def test_expired_token_is_refused() -> None:
    signer = AppTokenSigner(SECRET, ttl_seconds=60)
    token, _ = signer.issue(TENANT, ["glossary:read"], now=time.time() - 61)
    with pytest.raises(Unauthenticated, match="expired"):
        signer.verify(token)


def test_changed_payload_is_refused() -> None:
    signer = AppTokenSigner(SECRET)
    token, _ = signer.issue(TENANT, ["glossary:read"])
    body, _, signature = token.removeprefix("lm_app_").partition(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["s"] = ["admin"]
    forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    with pytest.raises(Unauthenticated):
        signer.verify(f"lm_app_{forged}.{signature}")


def test_other_secret_is_refused() -> None:
    token, _ = AppTokenSigner(b"o" * 32).issue(TENANT, ["glossary:read"])
    with pytest.raises(Unauthenticated):
        AppTokenSigner(SECRET).verify(token)


def test_admin_scope_is_refused_even_when_signed() -> None:
    signer = AppTokenSigner(SECRET)
    token, _ = signer.issue(TENANT, ["admin"])
    with pytest.raises(Unauthenticated):
        signer.verify(token)


@pytest.mark.parametrize("token", ["lm_app_", "lm_app_x", "lm_app_.", "lm_app_" + "a" * 3000, "lm_live_abc"])
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(Unauthenticated):
        AppTokenSigner(SECRET).verify(token)
