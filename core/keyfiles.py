"""Secrets Lumen generates for itself on first start (embedded defaults), kept 0600 in the data dir.

Production sets each from settings instead; the files exist so that `lumen serve` needs no set-up. Creation
uses O_EXCL, so several workers starting at once agree on one value.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["read_or_create"]


def read_or_create(path: Path, make: Callable[[], str]) -> tuple[str, bool]:
    """Return (value, created_now)."""
    if path.exists():
        return path.read_text().strip(), False
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip(), False
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value, True
