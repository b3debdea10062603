"""Triage interviews: the structured state of a resumable symptom interview, tenant-owned under RLS.

Revision ID: 0010_triage_interviews
Revises: 0007_inference_adapters
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from lumen.core.db.rls import enable_tenant_rls

revision: str = "0010_triage_interviews"
down_revision: str | None = "0007_inference_adapters"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "triage_interviews",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("patient_ref", sa.String(100), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("age", sa.Float(), nullable=True),
        sa.Column("sex", sa.String(8), nullable=True),
        sa.Column("pregnant", sa.Boolean(), nullable=True),
        sa.Column("state", postgresql.JSONB(), nullable=False),
        sa.Column("asked", postgresql.JSONB(), nullable=False),
        sa.Column("current_question", sa.String(80), nullable=True),
        sa.Column("result", postgresql.JSONB(), nullable=True),
        sa.Column("knowledge_version", sa.String(40), nullable=False),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_triage_interviews"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name="fk_triage_interviews_tenant_id_tenants"),
    )
    op.create_index("ix_triage_interviews_tenant_id", "triage_interviews", ["tenant_id"])
    op.create_index("ix_triage_interviews_patient_ref", "triage_interviews", ["patient_ref"])
    for statement in enable_tenant_rls("triage_interviews"):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("triage_interviews")
