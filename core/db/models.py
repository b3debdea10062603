"""Every table's model, imported in one place so that the metadata is complete wherever it is needed:
migrations, and processes that never import the controllers (the worker), where a foreign key to `tenants`
must still resolve."""

from __future__ import annotations

import importlib
import importlib.util
from importlib.metadata import entry_points
from types import ModuleType

from lumen.core.audit import models as audit
from lumen.core.db.base import Base
from lumen.core.http import idempotency
from lumen.core.jobs import models as jobs
from lumen.core.limits import models as limits
from lumen.core.plugins import models as plugins
from lumen.core.policy import models as policy
from lumen.core.webhooks import models as webhooks
from lumen.inference.pool import models as inference
from lumen.inference.retrieval import models as retrieval
from lumen.tenants import models as tenants
from lumen.tenants.patients import models as patients
from lumen.training import models as training

__all__ = [
    "Base",
    "audit",
    "idempotency",
    "inference",
    "jobs",
    "limits",
    "patients",
    "plugins",
    "policy",
    "retrieval",
    "tenants",
    "training",
    "webhooks",
]


def _plugin_models() -> list[ModuleType]:
    """Installed plugins' `models` modules (their tables), found through the plugins' own entry points: the
    core never imports a plugin by name."""
    modules = []
    for entry in entry_points(group="lumen.plugins"):
        name = entry.value.split(":")[0] + ".models"
        try:
            spec = importlib.util.find_spec(name)
        except ModuleNotFoundError:
            continue
        if spec is not None:
            modules.append(importlib.import_module(name))
    return modules


PLUGIN_MODELS = _plugin_models()
