"""The triage interview table. An interview keeps the structured state only (finding ids, answers, patient
age/sex/pregnancy, measurements), never the complaint text: nothing in it is free text a patient wrote."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Float, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from lumen.plugins.sdk import TenantModel

__all__ = ["TriageInterview"]


class TriageInterview(TenantModel):
    __tablename__ = "triage_interviews"

    # The tenant's own reference for the patient (an opaque id, never a name).
    patient_ref: Mapped[str | None] = mapped_column(String(100), index=True)
    status: Mapped[str] = mapped_column(String(16), default="in_progress")
    age: Mapped[float | None] = mapped_column(Float)
    sex: Mapped[str | None] = mapped_column(String(8))
    pregnant: Mapped[bool | None] = mapped_column(Boolean)
    # PatientState.to_stored(): findings present/absent/unknown, measurements, duration.
    state: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    asked: Mapped[list[str]] = mapped_column(JSONB, default=list)
    current_question: Mapped[str | None] = mapped_column(String(80))
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    knowledge_version: Mapped[str] = mapped_column(String(40))
