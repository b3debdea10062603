"""Policy inputs as the request path builds them, and a policy set with plugin-shaped actions."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from lumen.core.policy import ActionSpec, PolicyInput, PolicySet, PrincipalInput, TenantInput, core_policy_set

TENANT = str(uuid.uuid4())
OTHER_TENANT = str(uuid.uuid4())

# What plugins register through `register_actions`, in the shapes the core policy knows about.
PLUGIN_ACTIONS = {
    "interactions.check": ActionSpec(
        scopes=("interactions:check",),
        plugin="interactions",
        phi=True,
        access="read",
        obligations=("safety_envelope",),
    ),
    "triage.assess": ActionSpec(scopes=("triage:assess",), plugin="triage", phi=True),
    "webhooks.deliver": ActionSpec(scopes=("webhooks:manage",), category="webhooks"),
}


def tenant_request(
    action: str,
    *scopes: str,
    key_tenant: str | None = TENANT,
    tenant_id: str | None = TENANT,
    enabled_plugins: tuple[str, ...] = ("interactions",),
    policy_data: dict[str, Any] | None = None,
) -> PolicyInput:
    return PolicyInput(
        principal=PrincipalInput(
            kind="tenant", tenant_id=key_tenant, key_id=str(uuid.uuid4()), scopes=[*scopes]
        ),
        action=action,
        resource={"type": "api_key"},
        tenant=TenantInput(
            id=tenant_id, plan="pro", enabled_plugins=[*enabled_plugins], policy_data=policy_data or {}
        ),
    )


def platform_request(action: str) -> PolicyInput:
    return PolicyInput(
        principal=PrincipalInput(kind="platform"), action=action, tenant=TenantInput(id=TENANT)
    )


def with_plugin_actions(policy_set: PolicySet) -> PolicySet:
    for name, spec in PLUGIN_ACTIONS.items():
        policy_set.add_action(name, spec, origin=name.split(".")[0])
    return policy_set


@pytest.fixture(scope="module")
def policy_set() -> PolicySet:
    return with_plugin_actions(core_policy_set())
