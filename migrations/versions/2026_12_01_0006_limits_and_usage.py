"""Rate limits and usage: the tenant's plan and its per-tenant overrides. Usage itself is counted in Redis.

Revision ID: 0006_limits_and_usage
Revises: 0005_jobs_webhooks
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from lumen.core.db.rls import enable_tenant_rls

revision: str = "0006_limits_and_usage"
down_revision: str | None = "0005_jobs_webhooks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("tenants", sa.Column("plan", sa.String(32), server_default="standard", nullable=False))

    op.create_table(
        "tenant_limits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("overrides", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenant_limits"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name="fk_tenant_limits_tenant_id_tenants"),
    )
    op.create_index("ix_tenant_limits_tenant_id", "tenant_limits", ["tenant_id"])
    op.create_index("uq_tenant_limits_tenant_id", "tenant_limits", ["tenant_id"], unique=True)
    # The request path reads a tenant's row in its own scope; only the operator (platform scope) sets it.
    for statement in enable_tenant_rls("tenant_limits", platform_access=True):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("tenant_limits")
    op.drop_column("tenants", "plan")
