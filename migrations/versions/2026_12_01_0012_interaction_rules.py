"""Interaction rules of a tenant's own (formulary and local-policy rules for the interactions plugin).

Revision ID: 0012_interaction_rules
Revises: 0011_gmp
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from lumen.core.db.rls import enable_tenant_rls

revision: str = "0012_interaction_rules"
down_revision: str | None = "0011_gmp"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "interaction_rules",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("rule", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_interaction_rules"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], ondelete="CASCADE", name="fk_interaction_rules_tenant_id_tenants"
        ),
    )
    op.create_index("ix_interaction_rules_tenant_id", "interaction_rules", ["tenant_id"])
    for statement in enable_tenant_rls("interaction_rules"):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("interaction_rules")
