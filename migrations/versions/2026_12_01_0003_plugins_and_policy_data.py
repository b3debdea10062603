"""Per-tenant plugin enablement/settings and versioned per-tenant policy data.

Revision ID: 0003_plugins_policy_data
Revises: 0002_audit_trail
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from lumen.core.db.rls import enable_tenant_rls

revision: str = "0003_plugins_policy_data"
down_revision: str | None = "0002_audit_trail"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def _tenant_columns() -> list[sa.Column]:  # type: ignore[type-arg]
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "tenant_plugins",
        *_tenant_columns(),
        sa.Column("plugin", sa.String(64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("settings", postgresql.JSONB(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_by_key_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tenant_plugins"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name="fk_tenant_plugins_tenant_id_tenants"),
    )
    op.create_index("ix_tenant_plugins_tenant_id", "tenant_plugins", ["tenant_id"])
    op.create_index("uq_tenant_plugins_tenant_id_plugin", "tenant_plugins", ["tenant_id", "plugin"], unique=True)
    for statement in enable_tenant_rls("tenant_plugins"):
        op.execute(statement)

    op.create_table(
        "tenant_policy_versions",
        *_tenant_columns(),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("data", postgresql.JSONB(), nullable=False),
        sa.Column("created_by_key_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tenant_policy_versions"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name="fk_tenant_policy_versions_tenant_id_tenants"),
    )
    op.create_index("ix_tenant_policy_versions_tenant_id", "tenant_policy_versions", ["tenant_id"])
    op.create_index("uq_tenant_policy_versions_tenant_id_version", "tenant_policy_versions",
                    ["tenant_id", "version"], unique=True)
    for statement in enable_tenant_rls("tenant_policy_versions"):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("tenant_policy_versions")
    op.drop_table("tenant_plugins")
