"""Alembic environment: runs on the connection `lumen.core.db.migrate` passes in (the owner role)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from lumen.core.db.models import Base  # every model, so the metadata is complete

target_metadata = Base.metadata
config = context.config


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations with `lumen db upgrade`, which supplies the owner connection")
    # Two processes starting at once must not both migrate.
    connection.execute(text("SELECT pg_advisory_xact_lock(7406251)"))
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported; run `lumen db upgrade`")
run_migrations_online()
