"""The adapter registry: tenants' LoRA adapters and the platform's shared ones.

Revision ID: 0007_inference_adapters
Revises: 0006_limits_and_usage
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from lumen.core.db.rls import PLATFORM_MATCH, TENANT_MATCH

revision: str = "0007_inference_adapters"
down_revision: str | None = "0006_limits_and_usage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "adapters",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("description", sa.String(500), nullable=False, server_default=""),
        sa.Column("base_model", sa.String(200), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("target_modules", sa.String(500), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("critical", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_adapters"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name="fk_adapters_tenant_id_tenants"),
    )
    op.create_index("ix_adapters_tenant_id", "adapters", ["tenant_id"])
    # One name per owner; the platform's shared adapters (tenant NULL) are one owner too.
    op.execute("CREATE UNIQUE INDEX uq_adapters_tenant_id_name ON adapters (tenant_id, name) NULLS NOT DISTINCT")
    own = TENANT_MATCH.format(column="tenant_id")
    # A tenant reads and writes its own rows and only reads the shared ones; the operator writes shared ones.
    op.execute("ALTER TABLE adapters ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE adapters FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY adapters_tenant_isolation ON adapters USING (({own}) OR ({PLATFORM_MATCH} AND "
        f"tenant_id IS NULL)) WITH CHECK (({own}) OR ({PLATFORM_MATCH} AND tenant_id IS NULL))"
    )
    op.execute("CREATE POLICY adapters_shared_read ON adapters FOR SELECT USING (tenant_id IS NULL)")


def downgrade() -> None:
    op.drop_table("adapters")
