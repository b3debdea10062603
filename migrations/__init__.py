"""Alembic migrations: one revision per change, dated file names. Run by `lumen db upgrade`."""
