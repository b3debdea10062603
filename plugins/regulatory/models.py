"""The regulatory plugin's table: gap analyses run in the background (a large procedure, or one of the
tenant's uploaded documents), with their result kept for the tenant to read afterwards. Tenant-owned under
row-level security (migration 0018_regulatory). Synchronous analyses store nothing."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from lumen.plugins.sdk import TenantModel

__all__ = ["RegulatoryGapAnalysis"]


class RegulatoryGapAnalysis(TenantModel):
    __tablename__ = "regulatory_gap_analyses"

    state: Mapped[str] = mapped_column(String(16), default="queued")  # queued, running, succeeded, failed
    document_type: Mapped[str] = mapped_column(String(40))
    jurisdictions: Mapped[list[str]] = mapped_column(JSONB, default=list)
    # The procedure: one of the tenant's uploaded documents (pinned to a version), or text sent with the
    # request and kept only until the job has analysed it (an SOP is a tenant's confidential document).
    source: Mapped[str] = mapped_column(String(16))  # "document" or "text"
    document_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    document_version: Mapped[int | None] = mapped_column(Integer, default=None)
    document_title: Mapped[str | None] = mapped_column(String(300), default=None)
    submitted_text: Mapped[str | None] = mapped_column(Text, default=None)
    document_chars: Mapped[int] = mapped_column(Integer)
    job_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB, default=None)
    found: Mapped[int | None] = mapped_column(Integer, default=None)
    missing: Mapped[int | None] = mapped_column(Integer, default=None)
    score: Mapped[float | None] = mapped_column(Float, default=None)
    error: Mapped[str | None] = mapped_column(String(500), default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
