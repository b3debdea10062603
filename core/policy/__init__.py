"""Authorization by Rego policy: the kernel's and the plugins' `.rego` files, decided in-process (regorus) or
by an OPA server, behind one interface that fails closed.

    policy_set = core_policy_set()          # + plugins' add_module / add_action
    engine = create_engine(settings, policy_set)
    decision = await engine.decide(PolicyInput(principal=..., action="keys.create", tenant=...))
    decision.allow, decision.reasons, decision.obligations, decision.id   # id goes into the audit record
"""

from typing import TYPE_CHECKING

from lumen.core.policy.actions import KERNEL_ACTIONS, ActionSpec
from lumen.core.policy.bundle import build_bundle
from lumen.core.policy.decision import Decision, PolicyInput, PrincipalInput, TenantInput
from lumen.core.policy.engine import InProcessEngine, PolicyEngine, create_engine
from lumen.core.policy.policy_set import PolicyModule, PolicySet, core_policy_set
from lumen.core.policy.rego_tests import RegoTestResult, run_rego_tests

if TYPE_CHECKING:
    from lumen.core.policy.opa import OpaEngine

__all__ = [
    "KERNEL_ACTIONS",
    "ActionSpec",
    "Decision",
    "InProcessEngine",
    "OpaEngine",
    "PolicyEngine",
    "PolicyInput",
    "PolicyModule",
    "PolicySet",
    "PrincipalInput",
    "RegoTestResult",
    "TenantInput",
    "build_bundle",
    "core_policy_set",
    "create_engine",
    "run_rego_tests",
]


def __getattr__(name: str) -> object:
    # OpaEngine pulls in aiohttp; import it only when someone asks for it.
    if name == "OpaEngine":
        from lumen.core.policy.opa import OpaEngine

        return OpaEngine
    raise AttributeError(name)
