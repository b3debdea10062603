"""Real PostgreSQL and Redis servers started from wheels when no URLs are configured (ARCHITECTURE §4)."""

from lumen.core.embedded.services import EmbeddedServices

__all__ = ["EmbeddedServices"]
