"""The tenant's branding for its white-labelled patient app (one row per tenant).

Revision ID: 0014_branding
Revises: 0013_retrieval
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from lumen.core.db.rls import enable_tenant_rls

revision: str = "0014_branding"
down_revision: str | None = "0013_retrieval"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenant_branding",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("primary_color", sa.String(7), nullable=False),
        sa.Column("accent_color", sa.String(7), nullable=False),
        sa.Column("logo", sa.Text(), nullable=True),
        sa.Column("support_text", sa.String(300), nullable=True),
        sa.Column("emergency_text", sa.String(300), nullable=True),
        sa.Column("disclaimer", sa.String(1000), nullable=True),
        sa.Column("locale", sa.String(16), nullable=False),
        sa.Column("features", postgresql.ARRAY(sa.String(32)), nullable=False),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenant_branding"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], ondelete="CASCADE", name="fk_tenant_branding_tenant_id_tenants"
        ),
    )
    op.create_index("ix_tenant_branding_tenant_id", "tenant_branding", ["tenant_id"])
    op.create_index("uq_tenant_branding_tenant_id", "tenant_branding", ["tenant_id"], unique=True)
    for statement in enable_tenant_rls("tenant_branding"):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("tenant_branding")
