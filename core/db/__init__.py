"""PostgreSQL access: engine and scoped sessions, model bases, row-level security and roles."""

from lumen.core.db.base import Base, TenantModel, TimestampedModel
from lumen.core.db.session import Database

__all__ = ["Base", "Database", "TenantModel", "TimestampedModel"]
