"""An index for the relay's stalled-delivery sweep: pending deliveries by when their next attempt is due.

The sweep (`lumen.core.webhooks.service.requeue_stalled`, every 30 s in each worker) asks for pending
deliveries overdue by more than a minute. Without an index it read the whole of `webhook_deliveries`, which
keeps every delivery ever made (succeeded and failed rows are the history the API lists). A partial index
over the pending rows only stays as small as the backlog.

Built CONCURRENTLY, outside the migration's transaction: the table is written on every event, and a plain
CREATE INDEX would hold its writes for the length of the build.

Revision ID: 0021_webhook_pending_index
Revises: 0018_regulatory
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_webhook_pending_index"
down_revision: str | None = "0018_regulatory"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_webhook_deliveries_pending_due"


def upgrade() -> None:
    with op.get_context().autocommit_block():
        # A concurrent build that was interrupted leaves an invalid index behind: drop it and build again.
        invalid = (
            op.get_bind()
            .execute(
                sa.text(
                    "SELECT NOT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                    "WHERE c.relname = :name"
                ),
                {"name": INDEX},
            )
            .scalar()
        )
        if invalid:
            op.drop_index(INDEX, "webhook_deliveries", postgresql_concurrently=True)
        op.create_index(
            INDEX,
            "webhook_deliveries",
            ["next_attempt_at"],
            postgresql_where=sa.text("state = 'pending'"),
            postgresql_concurrently=True,
            if_not_exists=True,
        )


def downgrade() -> None:
    with op.get_context().autocommit_block():
        op.drop_index(INDEX, "webhook_deliveries", postgresql_concurrently=True, if_exists=True)
