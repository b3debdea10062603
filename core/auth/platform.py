"""The platform operator's key: taken from LUMEN_PLATFORM_KEY, or generated once into the data dir."""

from __future__ import annotations

import secrets
from pathlib import Path

from lumen.core.keyfiles import read_or_create

__all__ = ["PLATFORM_KEY_FILE", "ensure_platform_key"]

PLATFORM_KEY_FILE = "platform.key"


def ensure_platform_key(configured: str | None, data_path: Path) -> tuple[str, bool]:
    """Return (key, generated_now). A generated key is written 0600 and must be shown to the user once."""
    if configured:
        return configured, False
    return read_or_create(data_path / PLATFORM_KEY_FILE, lambda: "lm_platform_" + secrets.token_urlsafe(32))
