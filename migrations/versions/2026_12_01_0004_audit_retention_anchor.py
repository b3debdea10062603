"""Audit retention anchor: where a purged chain now starts (base_seq) and what it links to (base_hash).

Revision ID: 0004_audit_retention_anchor
Revises: 0003_plugins_policy_data
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_audit_retention_anchor"
down_revision: str | None = "0003_plugins_policy_data"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_heads", sa.Column("base_seq", sa.BigInteger(), server_default="0", nullable=False))
    op.add_column(
        "audit_heads",
        sa.Column(
            "base_hash",
            sa.LargeBinary(32),
            server_default=sa.text("'\\x" + "00" * 32 + "'::bytea"),
            nullable=False,
        ),
    )


def downgrade() -> None:
    op.drop_column("audit_heads", "base_hash")
    op.drop_column("audit_heads", "base_seq")
