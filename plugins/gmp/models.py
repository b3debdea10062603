"""GMP tables: tenant templates, controlled documents, signers and their Part 11 signatures, deviations with
extension requests, CAPA with actions, and the per-series document numbering counters. Every table is
tenant-owned under row-level security (migration 0011_gmp)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from lumen.plugins.sdk import TenantModel

__all__ = [
    "GmpCapa",
    "GmpCapaAction",
    "GmpCounter",
    "GmpDeviation",
    "GmpDocument",
    "GmpExtension",
    "GmpSignature",
    "GmpSigner",
    "GmpTemplate",
]


class GmpTemplate(TenantModel):
    """A tenant's own template; each POST of the same key adds a version (built-ins live in knowledge/)."""

    __tablename__ = "gmp_templates"
    __table_args__ = (
        Index("uq_gmp_templates_tenant_id_key_version", "tenant_id", "key", "version", unique=True),
    )

    key: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB)


class GmpCounter(TenantModel):
    """The last number issued in one numbering series (e.g. `DEV-2026`)."""

    __tablename__ = "gmp_counters"
    __table_args__ = (Index("uq_gmp_counters_tenant_id_series", "tenant_id", "series", unique=True),)

    series: Mapped[str] = mapped_column(String(40))
    value: Mapped[int] = mapped_column(Integer, default=0)


class GmpSigner(TenantModel):
    """A tenant member who signs: own user id and password (argon2), never the API key (§11.100, §11.300).
    A signing session (§11.200(a)(1)(i)) is a random token, stored as its SHA-256, valid until it expires."""

    __tablename__ = "gmp_signers"
    __table_args__ = (Index("uq_gmp_signers_tenant_id_user_id", "tenant_id", "user_id", unique=True),)

    user_id: Mapped[str] = mapped_column(String(64))
    full_name: Mapped[str] = mapped_column(String(200))
    title: Mapped[str | None] = mapped_column(String(200), default=None)
    roles: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[datetime | None] = mapped_column(default=None)
    session_token_sha256: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)
    session_expires_at: Mapped[datetime | None] = mapped_column(default=None)


class GmpDocument(TenantModel):
    """One version line of a controlled document. A revision of an effective document is a new row with the
    same `number` and `series_id`; when it becomes effective the row it revises is superseded."""

    __tablename__ = "gmp_documents"
    __table_args__ = (Index("ix_gmp_documents_tenant_id_number", "tenant_id", "number"),)

    number: Mapped[str] = mapped_column(String(40))
    series_id: Mapped[uuid.UUID]
    title: Mapped[str] = mapped_column(String(200))
    template_key: Mapped[str] = mapped_column(String(64))
    template_version: Mapped[int] = mapped_column(Integer)
    template: Mapped[dict[str, Any]] = mapped_column(JSONB)  # the definition the document was made from
    status: Mapped[str] = mapped_column(String(16))
    version_major: Mapped[int] = mapped_column(Integer)
    version_minor: Mapped[int] = mapped_column(Integer)
    change_type: Mapped[str] = mapped_column(String(8), default="major")  # what approval makes of it
    fields: Mapped[dict[str, Any]] = mapped_column(JSONB)
    sections: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)  # [{id, text, machine_drafted}]
    content_sha256: Mapped[str] = mapped_column(String(64))
    author_signer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gmp_signers.id"))
    previous_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("gmp_documents.id", ondelete="SET NULL"), default=None
    )
    approved_at: Mapped[datetime | None] = mapped_column(default=None)
    effective_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)  # superseded or retired


class GmpSignature(TenantModel):
    """An executed electronic signature (§11.50, §11.70): who, when (UTC), what it means, and the SHA-256 of
    the exact content signed. It verifies only while the document's content still has that hash."""

    __tablename__ = "gmp_signatures"

    document_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("gmp_documents.id", ondelete="CASCADE"), index=True
    )
    signer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gmp_signers.id"))
    printed_name: Mapped[str] = mapped_column(String(200))
    meaning: Mapped[str] = mapped_column(String(16))
    version: Mapped[str] = mapped_column(String(16))
    content_sha256: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime]
    authentication: Mapped[str] = mapped_column(String(32))  # "user_id+password" | "session+password"
    record_sha256: Mapped[str] = mapped_column(String(64))  # binds every field above to this document


class GmpDeviation(TenantModel):
    __tablename__ = "gmp_deviations"

    number: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    classification: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime]
    discovered_at: Mapped[datetime]
    due_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")
    description: Mapped[str | None] = mapped_column(Text, default=None)
    reported_by_signer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gmp_signers.id"))
    document_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("gmp_documents.id", ondelete="SET NULL"), default=None
    )
    overdue_notified_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)


class GmpExtension(TenantModel):
    __tablename__ = "gmp_extensions"

    deviation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("gmp_deviations.id", ondelete="CASCADE"), index=True
    )
    requested_by_signer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gmp_signers.id"))
    reason: Mapped[str] = mapped_column(Text)
    previous_due_date: Mapped[date] = mapped_column(Date)
    requested_due_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="requested")
    decided_by_signer_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("gmp_signers.id"), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)


class GmpCapa(TenantModel):
    __tablename__ = "gmp_capas"

    number: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(200))
    deviation_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("gmp_deviations.id", ondelete="SET NULL"), default=None
    )
    owner_signer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gmp_signers.id"))
    status: Mapped[str] = mapped_column(String(24), default="open")
    effectiveness_criteria: Mapped[str] = mapped_column(Text)
    effectiveness_check_due: Mapped[date] = mapped_column(Date)
    effectiveness_notified_at: Mapped[datetime | None] = mapped_column(default=None)
    effectiveness_result: Mapped[str | None] = mapped_column(String(16), default=None)
    effectiveness_summary: Mapped[str | None] = mapped_column(Text, default=None)
    verified_by_signer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("gmp_signers.id"), default=None
    )
    verified_at: Mapped[datetime | None] = mapped_column(default=None)


class GmpCapaAction(TenantModel):
    __tablename__ = "gmp_capa_actions"

    capa_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gmp_capas.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # corrective | preventive
    description: Mapped[str] = mapped_column(Text)
    owner_signer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("gmp_signers.id"))
    due_date: Mapped[date] = mapped_column(Date)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_by_signer_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("gmp_signers.id"), default=None
    )
    completion_note: Mapped[str | None] = mapped_column(Text, default=None)
