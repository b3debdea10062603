"""Background regulatory gap analyses and their results (tenant-owned, row-level security).

Revision ID: 0018_regulatory
Revises: 0019_patient_accounts
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from lumen.core.db.rls import enable_tenant_rls

revision: str = "0018_regulatory"
down_revision: str | None = "0019_patient_accounts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
TABLE = "regulatory_gap_analyses"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("document_type", sa.String(40), nullable=False),
        sa.Column("jurisdictions", postgresql.JSONB(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=True),
        sa.Column("document_version", sa.Integer(), nullable=True),
        sa.Column("document_title", sa.String(300), nullable=True),
        sa.Column("submitted_text", sa.Text(), nullable=True),
        sa.Column("document_chars", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("result", postgresql.JSONB(), nullable=True),
        sa.Column("found", sa.Integer(), nullable=True),
        sa.Column("missing", sa.Integer(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("completed_at", TS, nullable=True),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{TABLE}"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], ondelete="CASCADE", name=f"fk_{TABLE}_tenant_id_tenants"
        ),
    )
    op.create_index(f"ix_{TABLE}_tenant_id", TABLE, ["tenant_id"])
    for statement in enable_tenant_rls(TABLE):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table(TABLE)
