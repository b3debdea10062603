"""Every table's model, imported in one place so that the metadata is complete wherever it is needed:
migrations, and processes that never import the controllers (the worker), where a foreign key to `tenants`
must still resolve."""

from __future__ import annotations

from lumen.core.audit import models as audit
from lumen.core.db.base import Base
from lumen.core.http import idempotency
from lumen.core.jobs import models as jobs
from lumen.core.limits import models as limits
from lumen.core.plugins import models as plugins
from lumen.core.policy import models as policy
from lumen.core.webhooks import models as webhooks
from lumen.inference.retrieval import models as retrieval
from lumen.tenants import models as tenants

__all__ = [
    "Base",
    "audit",
    "idempotency",
    "jobs",
    "limits",
    "plugins",
    "policy",
    "retrieval",
    "tenants",
    "webhooks",
]
