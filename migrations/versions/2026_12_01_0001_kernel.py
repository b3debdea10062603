"""Kernel: tenants, API keys, idempotency keys, with row-level security.

Revision ID: 0001_kernel
Revises:
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from lumen.core.db.rls import enable_tenant_rls

revision: str = "0001_kernel"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    tenant_status = postgresql.ENUM("active", "suspended", name="tenant_status")
    key_mode = postgresql.ENUM("live", "test", name="key_mode")

    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), primary_key=True),
        sa.Column("slug", sa.String(63), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", tenant_status, nullable=False),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        sa.UniqueConstraint("slug", name="uq_tenants_slug"),
    )
    # A tenant sees its own row (keyed on id); the operator sees all of them.
    for statement in enable_tenant_rls("tenants", column="id", platform_access=True):
        op.execute(statement)

    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("mode", key_mode, nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("scopes", postgresql.ARRAY(sa.String(64)), nullable=False),
        sa.Column("expires_at", TS, nullable=True),
        sa.Column("revoked_at", TS, nullable=True),
        sa.Column("last_used_at", TS, nullable=True),
        sa.Column("rotated_from_id", sa.Uuid(), nullable=True),
        sa.Column("created_by_key_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name="fk_api_keys_tenant_id_tenants"),
        sa.ForeignKeyConstraint(["rotated_from_id"], ["api_keys.id"], ondelete="SET NULL",
                                name="fk_api_keys_rotated_from_id_api_keys"),
        sa.CheckConstraint("octet_length(secret_hash) = 32", name="ck_api_keys_secret_hash_is_sha256"),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_index("uq_api_keys_prefix", "api_keys", ["prefix"], unique=True)
    # Keys are found by prefix before the tenant is known, so the operator scope may read them.
    for statement in enable_tenant_rls("api_keys", platform_access=True):
        op.execute(statement)

    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("method", sa.String(10), nullable=False),
        sa.Column("path", sa.String(2048), nullable=False),
        sa.Column("status", sa.SmallInteger(), nullable=True),
        sa.Column("response_headers", postgresql.JSONB(), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_idempotency_keys"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], ondelete="CASCADE",
                                name="fk_idempotency_keys_tenant_id_tenants"),
    )
    op.create_index("ix_idempotency_keys_tenant_id", "idempotency_keys", ["tenant_id"])
    op.create_index("uq_idempotency_keys_tenant_id_key", "idempotency_keys", ["tenant_id", "key"], unique=True)
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])
    for statement in enable_tenant_rls("idempotency_keys"):
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_table("api_keys")
    op.drop_table("tenants")
    op.execute("DROP TYPE IF EXISTS key_mode")
    op.execute("DROP TYPE IF EXISTS tenant_status")
