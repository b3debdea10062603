"""Redis key names for limits and usage. Every key starts with its tenant's prefix (ARCHITECTURE §3).

`lumen:t:{<tenant uuid>}:` - the braces are a Redis Cluster hash tag: all of one tenant's keys hash to one
slot, so the multi-key Lua scripts run unchanged on a cluster, and no key ever names two tenants.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

__all__ = ["key_rule", "tenant_prefix", "tenant_rule", "threshold_marker", "today", "usage_hash"]


def tenant_prefix(tenant_id: uuid.UUID) -> str:
    return f"lumen:t:{{{tenant_id}}}:"


def tenant_rule(tenant_id: uuid.UUID, unit: str) -> str:
    """GCRA state of a per-tenant per-minute limit; unit is "req" or "tok"."""
    return f"{tenant_prefix(tenant_id)}rl:{unit}"


def key_rule(tenant_id: uuid.UUID, key_id: uuid.UUID, unit: str) -> str:
    return f"{tenant_prefix(tenant_id)}rl:key:{key_id}:{unit}"


def usage_hash(tenant_id: uuid.UUID, day: date) -> str:
    """The tenant's usage counters for one UTC day (and its quota counters)."""
    return f"{tenant_prefix(tenant_id)}usage:{day.isoformat()}"


def threshold_marker(tenant_id: uuid.UUID, day: date, kind: str, share: float) -> str:
    """Set (NX) when the tenant first crosses `share` of its daily `kind` quota that day."""
    return f"{tenant_prefix(tenant_id)}usage:{day.isoformat()}:threshold:{kind}:{share:g}"


def today() -> date:
    return datetime.now(UTC).date()
