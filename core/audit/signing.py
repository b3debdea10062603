"""The deployment's Ed25519 key that signs audit export checkpoints, so a customer can verify an export
offline against the public key published at /.well-known/lumen-audit-key."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from lumen.core.keyfiles import read_or_create

__all__ = ["AuditSigner", "load_or_create_signer", "verify_signature"]

KEY_FILE = "audit-signing.key"


class AuditSigner:
    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public_raw = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        # A short, stable id so an export names the key that signed it (and rotation stays visible).
        self.key_id = "ed25519:" + hashlib.sha256(self.public_raw).hexdigest()[:16]

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self._private.sign(message)).decode()

    @property
    def public_key_b64(self) -> str:
        return base64.b64encode(self.public_raw).decode()


def verify_signature(public_key_b64: str, message: bytes, signature_b64: str) -> bool:
    from cryptography.exceptions import InvalidSignature

    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_b64))
    try:
        public.verify(base64.b64decode(signature_b64), message)
    except InvalidSignature:
        return False
    return True


def load_or_create_signer(configured_seed_b64: str | None, data_path: Path) -> AuditSigner:
    """The key from settings (base64 of the 32-byte seed), else from the data dir, created 0600 once."""
    seed_b64 = (
        configured_seed_b64
        or read_or_create(data_path / KEY_FILE, lambda: base64.b64encode(os.urandom(32)).decode())[0]
    )
    return AuditSigner(Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed_b64)))
