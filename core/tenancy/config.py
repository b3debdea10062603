"""What the request path needs to know about a tenant besides its key: which plugins it has enabled, its
plugin settings and its policy data. Cached per worker for a few seconds; changes invalidate it at once in
every worker (lumen.core.tenancy.invalidation)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from lumen.core.db.session import Database
from lumen.core.tenancy.cache import TenantCache
from lumen.core.tenancy.context import Scope
from lumen.core.tenancy.invalidation import InvalidationBus

__all__ = ["TenantConfig", "TenantConfigCache"]


@dataclass(frozen=True)
class TenantConfig:
    enabled_plugins: frozenset[str]
    plugin_settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    policy_data: Mapping[str, Any] = field(default_factory=dict)
    policy_version: int = 0


class TenantConfigCache(TenantCache[TenantConfig]):
    def __init__(
        self,
        db: Database,
        *,
        plugin_defaults: Mapping[str, bool],
        ttl_seconds: float = 5.0,
        bus: InvalidationBus | None = None,
    ) -> None:
        super().__init__(ttl_seconds=ttl_seconds, bus=bus)
        self._db = db
        self._defaults = dict(plugin_defaults)

    async def load(self, tenant_id: uuid.UUID) -> TenantConfig:
        from lumen.core.plugins.models import TenantPlugin
        from lumen.core.policy.models import TenantPolicyVersion

        async with self._db.transaction(Scope.tenant(tenant_id)) as session:
            rows = (
                await session.scalars(select(TenantPlugin).where(TenantPlugin.tenant_id == tenant_id))
            ).all()
            policy = (
                await session.scalars(
                    select(TenantPolicyVersion)
                    .where(TenantPolicyVersion.tenant_id == tenant_id)
                    .order_by(TenantPolicyVersion.version.desc())
                    .limit(1)
                )
            ).one_or_none()
        chosen = {row.plugin: row for row in rows}
        enabled = frozenset(
            name
            for name, default in self._defaults.items()
            if (chosen[name].enabled if name in chosen else default)
        )
        return TenantConfig(
            enabled_plugins=enabled,
            plugin_settings={name: dict(row.settings) for name, row in chosen.items()},
            policy_data=dict(policy.data) if policy else {},
            policy_version=policy.version if policy else 0,
        )
