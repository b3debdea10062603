"""The platform operator's key: taken from LUMEN_PLATFORM_KEY, or generated once into the data dir."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["PLATFORM_KEY_FILE", "ensure_platform_key"]

PLATFORM_KEY_FILE = "platform.key"


def ensure_platform_key(configured: str | None, data_path: Path) -> tuple[str, bool]:
    """Return (key, generated_now). A generated key is written 0600 and must be shown to the user once."""
    if configured:
        return configured, False
    path = data_path / PLATFORM_KEY_FILE
    if path.exists():
        return path.read_text().strip(), False
    data_path.mkdir(parents=True, exist_ok=True)
    key = "lm_platform_" + secrets.token_urlsafe(32)
    # O_EXCL: two processes starting at once cannot both write (and print) a different key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip(), False
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key, True
