"""Short-lived bearer tokens for a tenant's white-labelled patient app (POST /t/{slug}/session).

The app is a public page: it can hold no secret, so it never carries an API key. Instead it asks for a token
that is signed by this Lumen instance (HMAC-SHA256 under a key derived from the instance secret), names one
tenant, carries only patient-facing scopes, and expires within minutes. Verifying one needs no database
read. docs/patient-app.md has the threat analysis.

Format: ``lm_app_<base64url(JSON payload)>.<base64url(HMAC)>``, payload ``{"t": tenant, "s": scopes,
"e": expiry (unix seconds), "n": nonce}``, plus ``"p": patient id`` when a patient has signed in to the app:
the token may then use that one patient's profile as context (and no other), still with no patient scope.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
import uuid
from collections.abc import Iterable

from lumen.core.auth.principal import Principal
from lumen.core.auth.scopes import ADMIN
from lumen.core.http.errors import Unauthenticated

__all__ = ["APP_TOKEN_PREFIX", "AppTokenSigner"]

APP_TOKEN_PREFIX = "lm_app_"  # noqa: S105 - a prefix, not a secret
_MAX_TOKEN_CHARS = 2048


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class AppTokenSigner:
    def __init__(self, instance_secret: bytes, *, ttl_seconds: int = 900) -> None:
        # A key of its own, so an app token can never be mistaken for anything else the secret signs.
        self._key = hmac.new(instance_secret, b"lumen.app-session.v1", hashlib.sha256).digest()
        self.ttl_seconds = ttl_seconds

    def issue(
        self,
        tenant_id: uuid.UUID,
        scopes: Iterable[str],
        *,
        now: float | None = None,
        patient_id: uuid.UUID | None = None,
        expires_at: int | None = None,
    ) -> tuple[str, int]:
        """(token, expiry in unix seconds). `expires_at` can only shorten the usual life (a patient's
        token never outlives the patient's session)."""
        expires = int(now if now is not None else time.time()) + self.ttl_seconds
        if expires_at is not None:
            expires = min(expires, expires_at)
        claims: dict[str, object] = {
            "t": str(tenant_id),
            "s": sorted(set(scopes)),
            "e": expires,
            "n": _b64(os.urandom(9)),
        }
        if patient_id is not None:
            claims["p"] = str(patient_id)
        payload = json.dumps(claims, separators=(",", ":")).encode()
        body = _b64(payload)
        return f"{APP_TOKEN_PREFIX}{body}.{self._sign(body)}", expires

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def verify(self, token: str, *, now: float | None = None) -> Principal:
        """The app's principal: the tenant, no key, the token's scopes (and its patient, if one signed in).
        401 for anything else."""
        if not token.startswith(APP_TOKEN_PREFIX) or len(token) > _MAX_TOKEN_CHARS:
            raise Unauthenticated("not an app session token")
        body, _, signature = token[len(APP_TOKEN_PREFIX) :].partition(".")
        if not body or not signature or not hmac.compare_digest(self._sign(body), signature):
            raise Unauthenticated("app session token is not valid")
        try:
            payload = json.loads(_unb64(body))
            tenant_id = uuid.UUID(payload["t"])
            scopes = frozenset(str(s) for s in payload["s"])
            expires = int(payload["e"])
            patient_id = uuid.UUID(payload["p"]) if "p" in payload else None
        except (ValueError, KeyError, TypeError):
            raise Unauthenticated("app session token is not valid") from None
        if ADMIN in scopes:  # never minted; refused even if the signing key were misused
            raise Unauthenticated("app session token is not valid")
        if expires <= (now if now is not None else time.time()):
            raise Unauthenticated("app session has expired; start a new one")
        return Principal(tenant_id=tenant_id, key_id=None, scopes=scopes, mode="live", patient_id=patient_id)
