"""Alembic environment: runs on the connection `lumen.core.db.migrate` passes in (the owner role)."""

from __future__ import annotations

from alembic import context

from lumen.core.db.models import Base  # every model, so the metadata is complete

target_metadata = Base.metadata
config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations with `lumen db upgrade`, which supplies the owner connection")
    # lumen.core.db.migrate holds a session-level advisory lock around this. Each migration commits on its
    # own, so a migration can step out of its transaction (`op.get_context().autocommit_block()`) for what
    # PostgreSQL will not run inside one: CREATE INDEX CONCURRENTLY on a table in use.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        transaction_per_migration=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported; run `lumen db upgrade`")
run_migrations_online()
