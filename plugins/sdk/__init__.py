"""The Lumen plugin SDK: what a plugin imports, and all it imports (built-in plugins included).

    from lumen.plugins.sdk import hookimpl, PluginInfo, ActionSpec, PluginContext

    @hookimpl
    def lumen_plugin_info() -> PluginInfo:
        return PluginInfo(name="glossary", version="1.0.0", description="...")

Register the module under the `lumen.plugins` entry-point group in the plugin's pyproject.toml. See
docs/plugins.md for every hook, and `lumen.plugins.sdk.testing` for pytest fixtures that run a plugin
inside a real Lumen.
"""

from lumen.core.audit.service import AuditEntry
from lumen.core.db.base import TenantModel
from lumen.core.http.dependencies import Caller
from lumen.core.http.errors import Conflict, Forbidden, LumenProblem, NotFound, UnprocessableEntity
from lumen.core.http.types import NOT_BLANK_TEXT, TEXT
from lumen.core.policy.actions import ActionSpec
from lumen.plugins.sdk.context import AuditRecord, Context, PluginContext, TenantInfo
from lumen.plugins.sdk.documents import TenantDocument
from lumen.plugins.sdk.hookspecs import hookimpl
from lumen.plugins.sdk.inference import ChatMessage, Generation, ModelServices, Passage
from lumen.plugins.sdk.jobs import JobContext, TenantTransaction
from lumen.plugins.sdk.repository import TenantRepository
from lumen.plugins.sdk.safety import BASE_DISCLAIMER, Citation, SafetyEnvelope, disclaimer_for
from lumen.plugins.sdk.types import (
    CorpusDocument,
    JobSpec,
    KnowledgeSource,
    PatientErasedContext,
    PluginInfo,
    PolicySource,
    StartupContext,
    TenantEventContext,
    WebhookEventType,
)

__all__ = [
    "BASE_DISCLAIMER",
    "NOT_BLANK_TEXT",
    "TEXT",
    "ActionSpec",
    "AuditEntry",
    "AuditRecord",
    "Caller",
    "ChatMessage",
    "Citation",
    "Conflict",
    "Context",
    "CorpusDocument",
    "Forbidden",
    "Generation",
    "JobContext",
    "JobSpec",
    "KnowledgeSource",
    "LumenProblem",
    "ModelServices",
    "NotFound",
    "Passage",
    "PatientErasedContext",
    "PluginContext",
    "PluginInfo",
    "PolicySource",
    "SafetyEnvelope",
    "StartupContext",
    "TenantDocument",
    "TenantEventContext",
    "TenantInfo",
    "TenantModel",
    "TenantRepository",
    "TenantTransaction",
    "UnprocessableEntity",
    "WebhookEventType",
    "disclaimer_for",
    "hookimpl",
]
