"""An index on pending webhook deliveries by their next attempt: the relay's stalled-delivery sweep (every
30 s) reads only the overdue pending rows instead of scanning every delivery ever made.

Revision ID: 0021_webhook_pending
Revises: 0018_regulatory
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_webhook_pending"
down_revision: str | None = "0018_regulatory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_webhook_deliveries_pending",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("state = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_pending", table_name="webhook_deliveries")
