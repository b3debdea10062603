"""Patient tables. Nothing here is PHI in clear text: the profile is one AES-256-GCM blob, the external
reference only a keyed HMAC, and the tenant's data key is stored wrapped by the master key."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lumen.core.db.base import TenantModel

__all__ = ["Patient", "PatientAppLink", "PatientDataKey"]


class PatientDataKey(TenantModel):
    """The tenant's data key, wrapped by the master key `kid` (one row per tenant)."""

    __tablename__ = "patient_data_keys"
    __table_args__ = (UniqueConstraint("tenant_id", name="uq_patient_data_keys_tenant_id"),)

    kid: Mapped[str] = mapped_column(String(32))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)


class Patient(TenantModel):
    """A patient profile: `profile` is the encrypted JSON of every PHI field (purpose "profile")."""

    __tablename__ = "patients"
    __table_args__ = (
        Index(
            "uq_patients_tenant_id_external_ref_hash",
            "tenant_id",
            "external_ref_hash",
            unique=True,
            postgresql_where="external_ref_hash IS NOT NULL",
        ),
    )

    external_ref_hash: Mapped[bytes | None] = mapped_column(LargeBinary(32), default=None)
    profile: Mapped[bytes] = mapped_column(LargeBinary)


class PatientAppLink(TenantModel):
    """A one-time sign-in link the tenant issued for one patient (POST /v1/patients/{id}/app-links).

    Only the SHA-256 of the code is kept: the code has 256 random bits, so a fast hash is enough, and a
    copy of this table signs no one in. Used once (`used_at`), expires within minutes, and goes with the
    patient (ON DELETE CASCADE)."""

    __tablename__ = "patient_app_links"

    patient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)
