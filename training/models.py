"""Training tables: a tenant's validated datasets (versioned by name) and its training runs.

Both are tenant-owned under row-level security. A dataset keeps its cleaned examples, already split into
train and eval, and the validation report (what was rejected or redacted and why, never the text itself).
A run records its hyperparameters, progress, gate metrics and, once published, its adapter.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from lumen.core.db.base import TenantModel

__all__ = ["TrainingDataset", "TrainingRun"]


class TrainingDataset(TenantModel):
    __tablename__ = "training_datasets"
    __table_args__ = (
        Index("uq_training_datasets_tenant_id_name_version", "tenant_id", "name", "version", unique=True),
    )

    name: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    # [{"messages": [{"role", "content"}, ...]}, ...] after validation and redaction.
    train: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    eval: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    report: Mapped[dict[str, Any]] = mapped_column(JSONB)
    sha256: Mapped[str] = mapped_column(String(64))


class TrainingRun(TenantModel):
    __tablename__ = "training_runs"

    dataset_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("training_datasets.id", ondelete="RESTRICT"), index=True
    )
    adapter_name: Mapped[str] = mapped_column(String(48))
    base_model: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(8))
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # queued | running | evaluating | published | gate_failed | failed | cancelled
    status: Mapped[str] = mapped_column(String(16), default="queued")
    cancel_requested: Mapped[bool] = mapped_column(default=False)
    job_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    step: Mapped[int] = mapped_column(Integer, default=0)
    losses: Mapped[list[float]] = mapped_column(JSONB, default=list)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    gate: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    error: Mapped[str | None] = mapped_column(String(2000), default=None)
    adapter_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    adapter_version: Mapped[int | None] = mapped_column(Integer, default=None)
