"""Jobs (transactional outbox, job status) and webhooks (endpoints, events, deliveries, attempts).

Revision ID: 0005_jobs_webhooks
Revises: 0004_audit_retention_anchor
Create Date: 2026-12-01
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from lumen.core.db.rls import enable_tenant_rls

revision: str = "0005_jobs_webhooks"
down_revision: str | None = "0004_audit_retention_anchor"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def _base(table: str) -> list[Any]:
    return [
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE", name=f"fk_{table}_tenant_id_tenants"),
    ]


def _tenant_table(table: str, *columns: Any, platform: bool = False) -> None:
    op.create_table(table, *_base(table), *columns)
    op.create_index(f"ix_{table}_tenant_id", table, ["tenant_id"])
    for statement in enable_tenant_rls(table, platform_access=platform):
        op.execute(statement)


def upgrade() -> None:
    # The outbox is read by the relay across tenants (platform scope), written by requests (tenant scope).
    _tenant_table(
        "outbox",
        sa.Column("job", sa.String(128), nullable=False),
        sa.Column("payload", postgresql.JSONB(), nullable=False),
        sa.Column("job_id", sa.String(128), nullable=False),
        sa.Column("defer_until", TS, nullable=True),
        sa.Column("relayed_at", TS, nullable=True),
        platform=True,
    )
    op.create_index("ix_outbox_pending", "outbox", ["created_at"], postgresql_where=sa.text("relayed_at IS NULL"))
    _tenant_table(
        "jobs",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("message", sa.String(500), nullable=True),
        sa.Column("result", postgresql.JSONB(), nullable=True),
        sa.Column("error", sa.String(2000), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("finished_at", TS, nullable=True),
        sa.CheckConstraint("state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')",
                           name="ck_jobs_state"),
        sa.CheckConstraint("progress >= 0 AND progress <= 1", name="ck_jobs_progress"),
    )
    _tenant_table(
        "webhook_endpoints",
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("description", sa.String(500), nullable=False),
        sa.Column("event_types", postgresql.ARRAY(sa.String(128)), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("previous_secret_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("previous_secret_expires_at", TS, nullable=True),
        sa.Column("failing_since", TS, nullable=True),
        sa.Column("disabled_reason", sa.String(200), nullable=True),
    )
    _tenant_table(
        "webhook_events",
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("data", postgresql.JSONB(), nullable=False),
    )
    op.create_index("ix_webhook_events_tenant_id_created_at", "webhook_events", ["tenant_id", "created_at"])
    _tenant_table(
        "webhook_deliveries",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["event_id"], ["webhook_events.id"], ondelete="CASCADE",
                                name="fk_webhook_deliveries_event_id_webhook_events"),
        sa.ForeignKeyConstraint(["endpoint_id"], ["webhook_endpoints.id"], ondelete="CASCADE",
                                name="fk_webhook_deliveries_endpoint_id_webhook_endpoints"),
        sa.CheckConstraint("state IN ('pending', 'succeeded', 'failed')", name="ck_webhook_deliveries_state"),
        platform=True,  # the relay rescues stalled deliveries across tenants
    )
    op.create_index("ix_webhook_deliveries_event_id", "webhook_deliveries", ["event_id"])
    _tenant_table(
        "webhook_attempts",
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("response_excerpt", sa.String(1000), nullable=True),
        sa.Column("error", sa.String(500), nullable=True),
        sa.ForeignKeyConstraint(["delivery_id"], ["webhook_deliveries.id"], ondelete="CASCADE",
                                name="fk_webhook_attempts_delivery_id_webhook_deliveries"),
    )
    op.create_index("ix_webhook_attempts_delivery_id", "webhook_attempts", ["delivery_id"])


def downgrade() -> None:
    for table in ("webhook_attempts", "webhook_deliveries", "webhook_events", "webhook_endpoints", "jobs", "outbox"):
        op.drop_table(table)
