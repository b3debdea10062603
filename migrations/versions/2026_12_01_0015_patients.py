"""Patient profiles (encrypted PHI) and the per-tenant wrapped data keys.

Revision ID: 0015_patients
Revises: 0014_branding
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from lumen.core.db.rls import enable_tenant_rls

revision: str = "0015_patients"
down_revision: str | None = "0014_branding"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "patient_data_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("kid", sa.String(32), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_patient_data_keys"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], ondelete="CASCADE", name="fk_patient_data_keys_tenant_id_tenants"
        ),
        sa.UniqueConstraint("tenant_id", name="uq_patient_data_keys_tenant_id"),
    )
    op.create_index("ix_patient_data_keys_tenant_id", "patient_data_keys", ["tenant_id"])
    op.create_table(
        "patients",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("external_ref_hash", sa.LargeBinary(32), nullable=True),
        sa.Column("profile", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_patients"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], ondelete="CASCADE", name="fk_patients_tenant_id_tenants"
        ),
    )
    op.create_index("ix_patients_tenant_id", "patients", ["tenant_id"])
    op.create_index(
        "uq_patients_tenant_id_external_ref_hash",
        "patients",
        ["tenant_id", "external_ref_hash"],
        unique=True,
        postgresql_where=sa.text("external_ref_hash IS NOT NULL"),
    )
    for table in ("patient_data_keys", "patients"):
        for statement in enable_tenant_rls(table):
            op.execute(statement)


def downgrade() -> None:
    op.drop_table("patients")
    op.drop_table("patient_data_keys")
