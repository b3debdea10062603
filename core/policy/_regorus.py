"""The few things every user of regorus here needs: building an engine, and readable error messages.

regorus (the `gordon-to-regorus` wheel) is Microsoft's Rego interpreter in Rust. Its objects are
*unsendable*: one built on a thread panics if touched from another, so callers build them per thread.
Its errors carry a Rust backtrace when RUST_BACKTRACE is set; that never belongs in a reason or a log.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import regorus

__all__ = ["error_text", "new_engine"]


def new_engine(modules: Iterable[tuple[str, str]], data: Any) -> Any:
    """An interpreter with the given (name, source) modules and data loaded (Rego v1 syntax)."""
    engine = regorus.Engine()
    for name, source in modules:
        engine.add_policy(name, source)
    engine.add_data(data)
    return engine


def error_text(exc: BaseException, limit: int = 500) -> str:
    """The message of a regorus (or any) error on one line, without the Rust backtrace."""
    text = str(exc).split("Stack backtrace:", 1)[0]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    message = " ".join(lines) or type(exc).__name__
    return message if len(message) <= limit else message[: limit - 3] + "..."
