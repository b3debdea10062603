"""One-time sign-in links a tenant issues for its patients' app accounts (hashed codes, single use).

Revision ID: 0019_patient_accounts
Revises: 0020_retrieval_search
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from lumen.core.db.rls import enable_tenant_rls

revision: str = "0019_patient_accounts"
down_revision: str | None = "0020_retrieval_search"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "patient_app_links",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("code_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_patient_app_links"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], ondelete="CASCADE", name="fk_patient_app_links_tenant_id_tenants"
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patients.id"],
            ondelete="CASCADE",
            name="fk_patient_app_links_patient_id_patients",
        ),
        sa.UniqueConstraint("code_hash", name="uq_patient_app_links_code_hash"),
    )
    op.create_index("ix_patient_app_links_tenant_id", "patient_app_links", ["tenant_id"])
    op.create_index("ix_patient_app_links_patient_id", "patient_app_links", ["patient_id"])
    for statement in enable_tenant_rls("patient_app_links"):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("patient_app_links")
