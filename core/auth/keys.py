"""The API key format: recognisable by scanners, checksummed, stored only as a hash.

    lm_live_<30 random base62><6 base62 CRC32 checksum>      (lm_test_... for test-mode keys)

The type prefix lets secret scanners (GitHub, GitGuardian) spot a leaked key; the checksum lets Lumen reject
a mistyped or made-up key without touching the database. The first 8 random characters form the indexed,
non-secret `prefix` shown in listings; the full key is hashed with SHA-256 and compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib
from dataclasses import dataclass

__all__ = [
    "GeneratedKey",
    "InvalidKeyFormat",
    "ParsedKey",
    "generate_key",
    "hash_key",
    "keys_match",
    "parse_key",
]

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_RANDOM_LEN = 30  # ~178 bits
_CHECKSUM_LEN = 6
_PREFIX_RANDOM_LEN = 8
_KEY_RE = re.compile(r"^lm_(live|test)_([0-9A-Za-z]{36})$")


class InvalidKeyFormat(ValueError):
    """Not a Lumen key, or its checksum does not match."""


@dataclass(frozen=True, slots=True)
class ParsedKey:
    mode: str
    prefix: str
    secret_hash: bytes


@dataclass(frozen=True, slots=True)
class GeneratedKey:
    key: str  # shown to the user exactly once
    mode: str
    prefix: str
    secret_hash: bytes


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rem = divmod(number, 62)
        chars.append(_ALPHABET[rem])
    return "".join(reversed(chars))


def _checksum(head: str) -> str:
    return _base62(zlib.crc32(head.encode()), _CHECKSUM_LEN)


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def keys_match(stored_hash: bytes, presented_hash: bytes) -> bool:
    """Constant-time comparison of two SHA-256 digests."""
    return hmac.compare_digest(stored_hash, presented_hash)


def generate_key(mode: str = "live") -> GeneratedKey:
    if mode not in ("live", "test"):
        raise ValueError(f"unknown key mode {mode!r}")
    random_part = "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_LEN))
    head = f"lm_{mode}_{random_part}"
    key = head + _checksum(head)
    return GeneratedKey(
        key=key, mode=mode, prefix=head[: len(f"lm_{mode}_") + _PREFIX_RANDOM_LEN], secret_hash=hash_key(key)
    )


def parse_key(key: str) -> ParsedKey:
    """Check shape and checksum; raise InvalidKeyFormat for anything that cannot be a real key."""
    match = _KEY_RE.match(key)
    if not match:
        raise InvalidKeyFormat("not a Lumen API key")
    mode, body = match.groups()
    head = f"lm_{mode}_{body[:_RANDOM_LEN]}"
    if not hmac.compare_digest(_checksum(head), body[_RANDOM_LEN:]):
        raise InvalidKeyFormat("API key checksum does not match")
    return ParsedKey(
        mode=mode, prefix=head[: len(f"lm_{mode}_") + _PREFIX_RANDOM_LEN], secret_hash=hash_key(key)
    )
