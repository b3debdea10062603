"""The outbox (work to do after a commit) and job status rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Float, Integer, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from lumen.core.db.base import TenantModel

__all__ = ["Job", "OutboxMessage"]


class OutboxMessage(TenantModel):
    """Written in the same transaction as the change that causes the work; relayed to arq after commit."""

    __tablename__ = "outbox"

    job: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # arq's job id: enqueuing twice with the same id runs the job once (relay and reconciler may race).
    job_id: Mapped[str] = mapped_column(String(128))
    defer_until: Mapped[datetime | None] = mapped_column(default=None)
    relayed_at: Mapped[datetime | None] = mapped_column(default=None)


class Job(TenantModel):
    """Status of long work a client may watch (GET /v1/jobs/{id})."""

    __tablename__ = "jobs"

    name: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str | None] = mapped_column(String(500), default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    error: Mapped[str | None] = mapped_column(String(2000), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
