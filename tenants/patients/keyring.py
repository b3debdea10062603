"""Envelope encryption for PHI: AES-256-GCM under a per-tenant data key, which is stored only wrapped
(AES-256-GCM again) by a master key from settings (a KMS key in production, a 0600 file here).

A wrapped data key names the master key that wrapped it (`kid`, the first 8 bytes of the master key's
SHA-256 in hex), so rotation needs no downtime: a new master key is added, every data key is re-wrapped
under it while the old one still unwraps, and the old one is retired afterwards. The PHI itself is never
re-encrypted by a master-key rotation, and the HMAC that finds a patient by external reference is keyed by
the data key, so look-ups survive rotation too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import uuid
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lumen.core.keyfiles import read_or_create
from lumen.core.settings import Settings

__all__ = ["MASTER_KEY_FILE", "DataKey", "KeyUnavailable", "MasterKeyring", "new_master_key"]

MASTER_KEY_FILE = "patients-master.key"
_NONCE = 12


class KeyUnavailable(RuntimeError):
    """A wrapped data key whose master key this process does not hold (never shown to callers as PHI)."""


def new_master_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _decode_master(encoded: str) -> bytes:
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except ValueError:
        raise ValueError("LUMEN_PATIENTS__MASTER_KEY must be base64 of 32 random bytes") from None
    if len(raw) != 32:
        raise ValueError("LUMEN_PATIENTS__MASTER_KEY must be base64 of exactly 32 bytes (AES-256)")
    return raw


def key_id(master: bytes) -> str:
    return hashlib.sha256(b"lumen-patients-master\0" + master).hexdigest()[:16]


class DataKey:
    """One tenant's data key, unwrapped: encrypts PHI blobs and keys the external-reference HMAC."""

    def __init__(self, tenant_id: uuid.UUID, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("a data key is 32 bytes")
        self.tenant_id = tenant_id
        self._aead = AESGCM(key)
        self._mac_key = hmac.new(key, b"lumen-patients-lookup", hashlib.sha256).digest()

    def _aad(self, row_id: uuid.UUID, purpose: str) -> bytes:
        # Bound to tenant, row and purpose: a blob copied to another row or tenant does not decrypt.
        return b"|".join((self.tenant_id.bytes, row_id.bytes, purpose.encode()))

    def encrypt(self, row_id: uuid.UUID, purpose: str, plaintext: bytes) -> bytes:
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, self._aad(row_id, purpose))

    def decrypt(self, row_id: uuid.UUID, purpose: str, sealed: bytes) -> bytes:
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], self._aad(row_id, purpose))
        except (InvalidTag, ValueError) as exc:
            raise KeyUnavailable("PHI blob does not open under this tenant's data key") from exc

    def lookup_hash(self, value: str) -> bytes:
        """Keyed HMAC-SHA256 of an identifier: equal values match, the database learns nothing else."""
        return hmac.new(self._mac_key, value.strip().encode(), hashlib.sha256).digest()


class MasterKeyring:
    """The current master key (wraps) and earlier ones (still unwrap, during a rotation)."""

    def __init__(self, current: str, previous: list[str] | None = None, *, path: Path | None = None) -> None:
        self._path = path  # the embedded default's key file, re-read when a data key names an unknown kid
        self._load(current, previous or [])

    def _load(self, current: str, previous: list[str]) -> None:
        master = _decode_master(current)
        self.current_kid = key_id(master)
        self._keys = {self.current_kid: master}
        for encoded in previous:
            old = _decode_master(encoded)
            self._keys.setdefault(key_id(old), old)

    @classmethod
    def from_settings(cls, settings: Settings) -> MasterKeyring:
        configured = settings.patients
        if configured.master_key:
            return cls(configured.master_key, list(configured.previous_master_keys))
        path = settings.data_path / MASTER_KEY_FILE
        read_or_create(path, new_master_key)  # creates it 0600 on first start
        return cls.from_file(path, extra=list(configured.previous_master_keys))

    @classmethod
    def from_file(cls, path: Path, *, extra: list[str] | None = None) -> MasterKeyring:
        # The file holds the current key on its first line and keys being retired on the next ones.
        lines = [line.strip() for line in path.read_text().splitlines() if line.strip()]
        if not lines:
            raise ValueError(f"{path} holds no master key")
        return cls(lines[0], lines[1:] + (extra or []), path=path)

    def _reload(self) -> None:
        if self._path is not None and self._path.exists():
            lines = [line.strip() for line in self._path.read_text().splitlines() if line.strip()]
            if lines:
                known = dict(self._keys)
                self._load(lines[0], lines[1:])
                for kid, key in known.items():
                    self._keys.setdefault(kid, key)

    def wrap(self, tenant_id: uuid.UUID, data_key: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(_NONCE)
        sealed = nonce + AESGCM(self._keys[self.current_kid]).encrypt(nonce, data_key, tenant_id.bytes)
        return self.current_kid, sealed

    def unwrap(self, tenant_id: uuid.UUID, kid: str, wrapped: bytes) -> bytes:
        if kid not in self._keys:
            self._reload()  # another process rotated the key file under us
        master = self._keys.get(kid)
        if master is None:
            raise KeyUnavailable(f"master key {kid} is not configured")
        try:
            return AESGCM(master).decrypt(wrapped[:_NONCE], wrapped[_NONCE:], tenant_id.bytes)
        except (InvalidTag, ValueError) as exc:
            raise KeyUnavailable(f"data key does not unwrap under master key {kid}") from exc

    def knows(self, kid: str) -> bool:
        return kid in self._keys
