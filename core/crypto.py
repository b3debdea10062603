"""Sealing small secrets at rest with AES-256-GCM under keys derived from the instance secret.

Each sealed value has its own key, HMAC-SHA256(instance secret, purpose | context), so a value sealed for
one purpose or one row cannot be opened as another. Rotating the instance secret makes old values
unreadable (callers treat that as "gone", never as plaintext).
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = ["Sealer"]

_NONCE = 12


class Sealer:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the instance secret must be at least 32 bytes")
        self._secret = secret

    def _key(self, purpose: str, context: bytes) -> bytes:
        return hmac.new(self._secret, purpose.encode() + b"\0" + context, hashlib.sha256).digest()

    def seal(self, purpose: str, context: bytes, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + AESGCM(self._key(purpose, context)).encrypt(nonce, plaintext, None)

    def open(self, purpose: str, context: bytes, sealed: bytes) -> bytes | None:
        """The plaintext, or None if it was sealed for something else or under another instance secret."""
        try:
            return AESGCM(self._key(purpose, context)).decrypt(sealed[:_NONCE], sealed[_NONCE:], None)
        except (InvalidTag, ValueError):
            return None
