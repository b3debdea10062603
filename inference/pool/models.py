"""The adapter registry: LoRA adapters a tenant uploaded (or the platform shares with every tenant).

The files live in the adapter store (a folder every replica can read: the data dir here, a shared volume in
production); the row records where, what base model and rank, and the archive's SHA-256. A row with no
tenant is a platform-shared adapter: every tenant may use it, only the platform operator may change it.
"""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from lumen.core.db.base import TimestampedModel

__all__ = ["Adapter"]


class Adapter(TimestampedModel):
    __tablename__ = "adapters"

    # NULL: shared by the platform with every tenant (row-level security lets tenants read, not write, those).
    tenant_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), index=True, nullable=True
    )
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(500), default="")
    base_model: Mapped[str] = mapped_column(String(200))
    rank: Mapped[int] = mapped_column(Integer)
    target_modules: Mapped[str] = mapped_column(String(500))  # comma-separated, as adapter_config names them
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(1024))
    # Critical adapters are pinned on the replicas that load them: never unloaded to make room for others.
    critical: Mapped[bool] = mapped_column(Boolean, default=False)

    @property
    def served_name(self) -> str:
        """The adapter's name on the replicas: unique across tenants, never the tenant's own name."""
        return f"a-{self.id.hex}"
