"""Audit trail: append-only, hash-chained records per tenant, and each chain's head.

Revision ID: 0002_audit_trail
Revises: 0001_kernel
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from lumen.core.db.rls import enable_tenant_rls

revision: str = "0002_audit_trail"
down_revision: str | None = "0001_kernel"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)

# The only sanctioned way to remove audit records is the retention job, which runs as the owner inside a
# transaction that first does `SET LOCAL lumen.audit_retention = 'on'` (docs/audit.md). Anything else,
# the owner included, is refused; the application role cannot even try (it has SELECT and INSERT only).
IMMUTABLE_FUNCTION = """
CREATE FUNCTION lumen_audit_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('lumen.audit_retention', true) = 'on' AND TG_OP IN ('DELETE', 'TRUNCATE') THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("occurred_at", TS, nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("actor_key_id", sa.Uuid(), nullable=True),
        sa.Column("actor_member_id", sa.Uuid(), nullable=True),
        sa.Column("action", sa.String(128), nullable=False),
        sa.Column("resource_type", sa.String(64), nullable=True),
        sa.Column("resource_id", sa.String(128), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("policy_decision_id", sa.String(64), nullable=True),
        sa.Column("changed_fields", postgresql.ARRAY(sa.String(128)), nullable=False),
        sa.Column("details", postgresql.JSONB(), nullable=False),
        sa.Column("prev_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
        sa.CheckConstraint("outcome IN ('success', 'denied', 'error')", name="ck_audit_events_outcome"),
    )
    op.create_index("ix_audit_events_tenant_id", "audit_events", ["tenant_id"])
    op.create_index("uq_audit_events_tenant_id_seq", "audit_events", ["tenant_id", "seq"], unique=True,
                    postgresql_nulls_not_distinct=True)
    op.create_index("ix_audit_events_tenant_id_request_id", "audit_events", ["tenant_id", "request_id"])
    for statement in enable_tenant_rls("audit_events", platform_rows="tenant_id IS NULL"):
        op.execute(statement)
    op.execute(IMMUTABLE_FUNCTION)
    op.execute("CREATE TRIGGER audit_events_immutable BEFORE UPDATE OR DELETE ON audit_events "
               "FOR EACH ROW EXECUTE FUNCTION lumen_audit_immutable()")
    op.execute("CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
               "FOR EACH STATEMENT EXECUTE FUNCTION lumen_audit_immutable()")

    op.create_table(
        "audit_heads",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_heads"),
    )
    op.create_index("uq_audit_heads_tenant_id", "audit_heads", ["tenant_id"], unique=True,
                    postgresql_nulls_not_distinct=True)
    for statement in enable_tenant_rls("audit_heads", platform_rows="tenant_id IS NULL"):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("audit_heads")
    op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
    op.execute("DROP TRIGGER IF EXISTS audit_events_immutable ON audit_events")
    op.drop_table("audit_events")
    op.execute("DROP FUNCTION IF EXISTS lumen_audit_immutable()")
