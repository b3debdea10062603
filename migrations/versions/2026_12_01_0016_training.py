"""Training: tenant datasets (versioned by name) and training runs, both tenant-owned under RLS.

Revision ID: 0016_training
Revises: 0015_patients
Create Date: 2026-12-01
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from lumen.core.db.rls import enable_tenant_rls

revision: str = "0016_training"
down_revision: str | None = "0015_patients"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ["training_datasets", "training_runs"]


def _common(table: str) -> list[Any]:
    return [
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    op.create_table(
        "training_datasets",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("train", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("eval", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("report", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        *_common("training_datasets"),
    )
    op.create_index(op.f("ix_training_datasets_tenant_id"), "training_datasets", ["tenant_id"], unique=False)
    op.create_index(
        "uq_training_datasets_tenant_id_name_version",
        "training_datasets",
        ["tenant_id", "name", "version"],
        unique=True,
    )
    op.create_table(
        "training_runs",
        sa.Column("dataset_id", sa.Uuid(), nullable=False),
        sa.Column("adapter_name", sa.String(length=48), nullable=False),
        sa.Column("base_model", sa.String(length=200), nullable=False),
        sa.Column("method", sa.String(length=8), nullable=False),
        sa.Column("hyperparameters", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("losses", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("gate", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.String(length=2000), nullable=True),
        sa.Column("adapter_id", sa.Uuid(), nullable=True),
        sa.Column("adapter_version", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["dataset_id"],
            ["training_datasets.id"],
            name=op.f("fk_training_runs_dataset_id_training_datasets"),
            ondelete="RESTRICT",
        ),
        *_common("training_runs"),
    )
    op.create_index(op.f("ix_training_runs_tenant_id"), "training_runs", ["tenant_id"], unique=False)
    op.create_index(op.f("ix_training_runs_dataset_id"), "training_runs", ["dataset_id"], unique=False)
    for table in TABLES:
        for statement in enable_tenant_rls(table):
            op.execute(statement)


def downgrade() -> None:
    for table in reversed(TABLES):
        op.drop_table(table)
