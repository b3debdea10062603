"""The in-process engine decides by the core policy (each rule, through the Python API), identically when
compiled and interpreted, on any thread, and fails closed."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from lumen.core.policy import (
    KERNEL_ACTIONS,
    Decision,
    InProcessEngine,
    PolicyInput,
    PolicySet,
    PrincipalInput,
    TenantInput,
    core_policy_set,
    create_engine,
)
from lumen.core.policy.engine import new_decision_id
from lumen.core.policy.opa import OpaEngine
from lumen.core.settings import load_settings
from tests.core.policy.conftest import OTHER_TENANT, TENANT, platform_request, tenant_request

PLATFORM_ACTIONS = [name for name, spec in KERNEL_ACTIONS.items() if spec.platform]
TENANT_ACTIONS = [name for name, spec in KERNEL_ACTIONS.items() if not spec.platform and not spec.operator]
OPERATOR_ACTIONS = [name for name, spec in KERNEL_ACTIONS.items() if spec.operator]


@pytest.fixture(scope="module", params=["compiled", "interpreted"])
def engine(request: pytest.FixtureRequest, policy_set: PolicySet) -> InProcessEngine:
    return InProcessEngine(policy_set, mode=request.param)


def decide(engine: InProcessEngine, request: PolicyInput) -> Decision:
    return engine.decide_now(request)


# --- platform operator --------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", PLATFORM_ACTIONS)
def test_platform_may_do_platform_actions(engine: InProcessEngine, action: str) -> None:
    decision = decide(engine, platform_request(action))
    assert decision.allow
    assert decision.reasons == [f"the platform operator may {action}"]


@pytest.mark.parametrize("action", TENANT_ACTIONS)
def test_platform_may_not_do_tenant_actions(engine: InProcessEngine, action: str) -> None:
    decision = decide(engine, platform_request(action))
    assert not decision.allow
    assert decision.reasons == [f"action {action} is not a platform action"]


# --- tenant keys --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", TENANT_ACTIONS)
def test_admin_may_do_every_tenant_action(engine: InProcessEngine, action: str) -> None:
    decision = decide(engine, tenant_request(action, "admin"))
    assert decision.allow and decision.reasons == [f"scope admin grants {action}"]


@pytest.mark.parametrize(
    ("action", "allowed"),
    [
        ("keys.list", True),
        ("keys.read", True),
        ("keys.create", False),
        ("keys.revoke", False),
        ("keys.rotate", False),
    ],
)
def test_keys_read_scope_reads_but_never_writes(engine: InProcessEngine, action: str, allowed: bool) -> None:
    decision = decide(engine, tenant_request(action, "keys:read"))
    assert decision.allow is allowed
    if not allowed:
        assert decision.reasons == [f"the key lacks a scope for {action} (needs one of: admin)"]


def test_a_key_without_a_granting_scope_is_told_which_would(engine: InProcessEngine) -> None:
    decision = decide(engine, tenant_request("keys.list", "interactions:check"))
    assert not decision.allow
    assert decision.reasons == ["the key lacks a scope for keys.list (needs one of: admin, keys:read)"]


@pytest.mark.parametrize("action", PLATFORM_ACTIONS)
def test_tenant_admin_may_not_do_platform_actions(engine: InProcessEngine, action: str) -> None:
    decision = decide(engine, tenant_request(action, "admin"))
    assert not decision.allow
    assert decision.reasons == [f"action {action} is reserved for the platform operator"]


def test_a_key_never_acts_in_another_tenant(engine: InProcessEngine) -> None:
    decision = decide(engine, tenant_request("keys.list", "admin", tenant_id=OTHER_TENANT))
    assert not decision.allow
    assert decision.reasons == ["the key's tenant is not the request's tenant"]


def test_a_key_with_no_tenant_matches_no_tenant(engine: InProcessEngine) -> None:
    assert not decide(engine, tenant_request("keys.list", "admin", key_tenant=None, tenant_id=None)).allow


# --- unknown and default deny -------------------------------------------------------------------------------


def test_unknown_action_is_denied_by_name(engine: InProcessEngine) -> None:
    for request in (tenant_request("keys.explode", "admin"), platform_request("tenants.explode")):
        decision = decide(engine, request)
        assert not decision.allow
        assert f"unknown action {request.action}" in decision.reasons


def test_an_empty_action_is_unknown(engine: InProcessEngine) -> None:
    assert decide(engine, tenant_request("", "admin")).reasons == ["unknown action "]


# --- plugins ------------------------------------------------------------------------------------------------


def test_plugin_action_is_allowed_while_the_plugin_is_enabled(engine: InProcessEngine) -> None:
    assert decide(engine, tenant_request("interactions.check", "interactions:check")).allow
    decision = decide(engine, tenant_request("interactions.check", "admin", enabled_plugins=()))
    assert not decision.allow
    assert decision.reasons == ["plugin interactions is not enabled for this tenant"]


def test_plugin_scope_grants_only_its_own_actions(engine: InProcessEngine) -> None:
    assert not decide(engine, tenant_request("keys.create", "interactions:check")).allow


def test_plugin_policy_can_deny_but_not_grant() -> None:
    restricted = core_policy_set()
    restricted.add_module(
        "maintenance/authz.rego",
        "package lumen.ext.maintenance\n\nimport rego.v1\n\n"
        'deny contains "keys are frozen during maintenance" if startswith(input.action, "keys.")\n\n'
        'obligations contains "notify_ops" if input.action == "tenants.read"\n',
        origin="maintenance",
    )
    for mode in ("compiled", "interpreted"):
        engine = InProcessEngine(restricted, mode=mode)
        frozen = engine.decide_now(tenant_request("keys.list", "admin"))
        assert not frozen.allow and frozen.reasons == ["keys are frozen during maintenance"]
        assert engine.decide_now(platform_request("tenants.read")).obligations == ["notify_ops"]
        assert not engine.decide_now(tenant_request("tenants.read", "admin")).allow


# --- per-tenant policy data ---------------------------------------------------------------------------------


def test_tenant_policy_data_denies_an_action_even_to_admin(engine: InProcessEngine) -> None:
    data = {"deny_actions": ["keys.create"]}
    decision = decide(engine, tenant_request("keys.create", "admin", policy_data=data))
    assert not decision.allow
    assert decision.reasons == ["action keys.create is denied by the tenant's policy"]
    assert decide(engine, tenant_request("keys.revoke", "admin", policy_data=data)).allow


def test_tenant_policy_data_grants_extra_scopes_per_action(engine: InProcessEngine) -> None:
    data = {"scope_grants": {"keys.rotate": ["ops"]}}
    decision = decide(engine, tenant_request("keys.rotate", "ops", policy_data=data))
    assert decision.allow and decision.reasons == ["scope ops grants keys.rotate"]
    assert not decide(engine, tenant_request("keys.revoke", "ops", policy_data=data)).allow


def test_every_failed_condition_is_a_reason(engine: InProcessEngine) -> None:
    request = tenant_request(
        "triage.assess", "keys:read", tenant_id=OTHER_TENANT, policy_data={"deny_actions": ["triage.assess"]}
    )
    assert decide(engine, request).reasons == [
        "action triage.assess is denied by the tenant's policy",
        "plugin triage is not enabled for this tenant",
        "the key lacks a scope for triage.assess (needs one of: admin, triage:assess)",
        "the key's tenant is not the request's tenant",
    ]


# --- obligations --------------------------------------------------------------------------------------------


def test_phi_read_carries_audit_obligation_and_the_actions_own(engine: InProcessEngine) -> None:
    decision = decide(engine, tenant_request("interactions.check", "interactions:check"))
    assert decision.obligations == ["audit_phi_read", "safety_envelope"]
    assert decision.has_obligation("audit_phi_read")


def test_phi_write_is_not_a_phi_read(engine: InProcessEngine) -> None:
    request = tenant_request("triage.assess", "triage:assess", enabled_plugins=("triage",))
    assert decide(engine, request).obligations == []


def test_webhooks_redact_phi_unless_the_tenant_opts_in(engine: InProcessEngine) -> None:
    opts_in = {"include_phi_in_webhooks": True}
    assert decide(engine, tenant_request("webhooks.deliver", "admin")).obligations == ["redact_phi"]
    assert decide(engine, tenant_request("webhooks.deliver", "admin", policy_data=opts_in)).obligations == []
    assert decide(engine, tenant_request("keys.list", "admin")).obligations == []


def test_tenant_policy_data_adds_obligations(engine: InProcessEngine) -> None:
    data = {"obligations": {"keys.create": ["notify_security"]}}
    assert decide(engine, tenant_request("keys.create", "admin", policy_data=data)).obligations == [
        "notify_security"
    ]


def test_a_deny_carries_no_obligations(engine: InProcessEngine) -> None:
    decision = decide(engine, tenant_request("interactions.check", "keys:read"))
    assert not decision.allow and decision.obligations == []


# --- the decision record ------------------------------------------------------------------------------------


async def test_every_decision_has_its_own_uuid4_and_the_policy_version(
    engine: InProcessEngine, policy_set: PolicySet
) -> None:
    decisions = [await engine.decide(tenant_request("keys.list", "keys:read")) for _ in range(50)]
    assert len({d.id for d in decisions}) == 50
    assert all(uuid.UUID(d.id).version == 4 for d in decisions)
    assert {d.policy_version for d in decisions} == {policy_set.version}
    assert {d.engine for d in decisions} == {engine.name}


def test_decision_ids_are_canonical_random_uuids() -> None:
    ids = [new_decision_id() for _ in range(2000)]
    assert len(set(ids)) == 2000
    for text in ids[:200]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_auto_mode_compiles_the_core_policy(policy_set: PolicySet) -> None:
    assert InProcessEngine(policy_set).name == "regorus-rvm"


def test_a_policy_the_compiler_cannot_take_falls_back_to_the_interpreter() -> None:
    # regorus' compiler cannot yet hoist `some ... in` over a virtual document; its interpreter can.
    policy_set = core_policy_set()
    policy_set.add_module(
        "audit/authz.rego",
        "package lumen.ext.audit\n\nimport rego.v1\n\n"
        "obligations contains name if {\n\tsome rules\n\tsome name in data.lumen.audit[rules].extra\n}\n",
        origin="audit",
    )
    policy_set.add_module(
        "audit/rules.rego",
        "package lumen.audit.reads\n\nimport rego.v1\n\n"
        'extra contains "log_access" if input.action == "tenants.read"\n',
        origin="audit",
    )
    engine = InProcessEngine(policy_set)
    assert engine.name == "regorus-interpreter"
    assert engine.decide_now(platform_request("tenants.read")).obligations == ["log_access"]
    with pytest.raises(ValueError, match="the policies do not compile"):
        InProcessEngine(policy_set, mode="compiled")


def test_input_from_an_auth_principal_is_decided() -> None:
    from lumen.core.auth.principal import Principal

    key = Principal(tenant_id=uuid.UUID(TENANT), key_id=uuid.uuid4(), scopes=frozenset({"keys:read"}))
    request = PolicyInput(
        principal=PrincipalInput.from_principal(key), action="keys.read", tenant=TenantInput(id=TENANT)
    )
    assert request.to_dict()["principal"]["tenant_id"] == TENANT
    assert InProcessEngine(core_policy_set()).decide_now(request).allow
    platform = PrincipalInput.from_principal(Principal.platform())
    assert platform.kind == "platform" and platform.tenant_id is None


# --- one engine, many callers -------------------------------------------------------------------------------


def _mixed_requests() -> list[PolicyInput]:
    requests = [
        tenant_request("keys.list", "keys:read"),
        tenant_request("keys.create", "keys:read"),
        tenant_request("keys.create", "admin", tenant_id=OTHER_TENANT),
        tenant_request("interactions.check", "interactions:check"),
        tenant_request("nope.nothing", "admin"),
        platform_request("tenants.create"),
        platform_request("keys.list"),
    ]
    return requests * 40


def _outcome(decision: Decision) -> tuple[bool, tuple[str, ...], tuple[str, ...]]:
    return decision.allow, tuple(decision.reasons), tuple(decision.obligations)


def test_a_reused_engine_answers_like_a_fresh_one(policy_set: PolicySet) -> None:
    reused = InProcessEngine(policy_set)
    for request in _mixed_requests()[:50]:
        assert _outcome(reused.decide_now(request)) == _outcome(
            InProcessEngine(policy_set).decide_now(request)
        )


def test_compiled_and_interpreted_engines_agree(policy_set: PolicySet) -> None:
    compiled = InProcessEngine(policy_set, mode="compiled")
    interpreted = InProcessEngine(policy_set, mode="interpreted")
    for request in _mixed_requests()[:7]:
        assert _outcome(compiled.decide_now(request)) == _outcome(interpreted.decide_now(request))


@pytest.mark.parametrize("mode", ["compiled", "interpreted"])
def test_threads_share_one_engine_safely(policy_set: PolicySet, mode: str) -> None:
    # regorus objects are bound to the thread that built them: the engine keeps one per thread.
    engine = InProcessEngine(policy_set, mode=mode)  # type: ignore[arg-type]
    requests = _mixed_requests()
    expected = [_outcome(engine.decide_now(r)) for r in requests]
    with ThreadPoolExecutor(max_workers=8) as pool:
        for _ in range(3):
            assert [_outcome(d) for d in pool.map(engine.decide_now, requests)] == expected


async def test_concurrent_tasks_share_one_engine(policy_set: PolicySet) -> None:
    engine = InProcessEngine(policy_set)
    requests = _mixed_requests()
    expected = [_outcome(engine.decide_now(r)) for r in requests]
    assert [_outcome(d) for d in await asyncio.gather(*(engine.decide(r) for r in requests))] == expected


# --- fail closed --------------------------------------------------------------------------------------------


def _with_module(name: str, source: str) -> PolicySet:
    policy_set = core_policy_set()
    policy_set.add_module(name, source, origin="broken-plugin")
    return policy_set


def test_runtime_error_in_a_policy_denies_with_the_error() -> None:
    # The interpreter raises on a builtin error (the compiled RVM, like OPA, makes it undefined).
    broken = _with_module(
        "broken.rego",
        "package lumen.ext.broken\n\nimport rego.v1\n\n"
        'deny contains "never" if to_number(input.action) > 1\n',
    )
    decision = InProcessEngine(broken, mode="interpreted").decide_now(platform_request("tenants.create"))
    assert not decision.allow
    assert decision.reasons[0].startswith("policy engine error (regorus-interpreter): ")
    assert "could not parse string as number" in decision.reasons[0]
    assert "Stack backtrace" not in decision.reasons[0]


def test_conflicting_rule_values_deny() -> None:
    broken = _with_module(
        "broken.rego",
        "package lumen.ext.broken\n\nimport rego.v1\n\n"
        "level := 1 if input.action\n\nlevel := 2 if input.action\n\n"
        'deny contains "never" if level == 3\n',
    )
    decision = InProcessEngine(broken, mode="interpreted").decide_now(platform_request("tenants.create"))
    assert not decision.allow and "rule conflicts with rule" in decision.reasons[0]


def test_runaway_evaluation_is_stopped_and_denies() -> None:
    # The compiled engine's instruction budget is the in-process equivalent of a timeout.
    runaway = _with_module(
        "runaway.rego",
        "package lumen.ext.runaway\n\nimport rego.v1\n\n"
        "pairs := [1 | some x in numbers.range(1, 400); some y in numbers.range(1, 400)]\n\n"
        'deny contains "never" if count(pairs) < 0\n',
    )
    decision = InProcessEngine(runaway, mode="compiled").decide_now(platform_request("tenants.create"))
    assert not decision.allow
    assert decision.reasons[0].startswith("policy engine error (regorus-rvm): ")
    assert "instruction limit" in decision.reasons[0]


@pytest.mark.parametrize("mode", ["compiled", "interpreted"])
def test_a_malformed_decision_denies(mode: str) -> None:
    policy_set = PolicySet()
    policy_set.add_module(
        "authz.rego", 'package lumen.authz\n\nimport rego.v1\n\ndecision := {"allow": "yes", "reasons": []}\n'
    )
    decision = InProcessEngine(policy_set, mode=mode).decide_now(platform_request("tenants.create"))  # type: ignore[arg-type]
    assert not decision.allow
    assert "data.lumen.authz.decision is malformed" in decision.reasons[0]


@pytest.mark.parametrize("mode", ["compiled", "interpreted"])
def test_an_undefined_decision_denies(mode: str) -> None:
    policy_set = PolicySet()
    policy_set.add_module(
        "authz.rego",
        'package lumen.authz\n\nimport rego.v1\n\ndecision := {"allow": true} if input.action == "x"\n',
    )
    decision = InProcessEngine(policy_set, mode=mode).decide_now(platform_request("tenants.create"))  # type: ignore[arg-type]
    assert not decision.allow
    assert decision.reasons[0].endswith("data.lumen.authz.decision is undefined")


def test_an_allow_that_is_not_true_is_a_deny() -> None:
    policy_set = PolicySet()
    policy_set.add_module(
        "authz.rego", 'package lumen.authz\n\nimport rego.v1\n\ndecision := {"allow": 1, "reasons": ["x"]}\n'
    )
    assert not InProcessEngine(policy_set).decide_now(platform_request("tenants.create")).allow


def test_a_bad_input_object_denies_instead_of_raising(policy_set: PolicySet) -> None:
    decision = InProcessEngine(policy_set).decide_now({"action": "keys.list"})  # type: ignore[arg-type]
    assert not decision.allow and decision.reasons[0].startswith("policy engine error")


def test_policies_without_a_decision_package_are_refused_at_start() -> None:
    policy_set = PolicySet()
    policy_set.add_module("other.rego", "package lumen.other\n\nimport rego.v1\n\nx := 1\n")
    with pytest.raises(ValueError, match=r"no policy module defines package lumen\.authz"):
        InProcessEngine(policy_set)


# --- choosing the engine ------------------------------------------------------------------------------------


def test_create_engine_is_in_process_without_an_opa_url(policy_set: PolicySet) -> None:
    engine = create_engine(load_settings({}), policy_set)
    assert isinstance(engine, InProcessEngine) and engine.policy_version == policy_set.version


def test_create_engine_is_opa_with_an_opa_url(policy_set: PolicySet) -> None:
    engine = create_engine(load_settings({"LUMEN_OPA_URL": "http://127.0.0.1:8181"}), policy_set)
    assert isinstance(engine, OpaEngine)
    assert engine.policy_version == policy_set.version and engine.timeout_s == 0.25


@pytest.mark.parametrize("action", OPERATOR_ACTIONS)
def test_operator_actions_are_open_to_the_platform_and_scoped_tenants(
    engine: InProcessEngine, action: str
) -> None:
    assert decide(engine, platform_request(action)).allow
    assert decide(engine, tenant_request(action, KERNEL_ACTIONS[action].scopes[0])).allow
    assert not decide(engine, tenant_request(action, "keys:read")).allow


# --- remembered decisions -------------------------------------------------------------------------------


def test_a_repeated_input_is_answered_from_memory_under_a_fresh_id(policy_set: PolicySet) -> None:
    engine = InProcessEngine(policy_set, memo_size=8)
    request = tenant_request("keys.list", "keys:read")
    first = engine.decide_now(request)
    # What is remembered answers without evaluating: poison the evaluator and ask again.
    engine._evaluate = lambda _: (_ for _ in ()).throw(RuntimeError("evaluated again"))  # type: ignore[method-assign]
    again = engine.decide_now(request)
    assert _outcome(again) == _outcome(first) and again.allow
    assert again.id != first.id
    # A different input is still evaluated (and the poisoned evaluator fails it closed).
    other = engine.decide_now(tenant_request("keys.create", "keys:read"))
    assert not other.allow and "evaluated again" in other.reasons[0]


def test_failures_are_not_remembered(policy_set: PolicySet) -> None:
    engine = InProcessEngine(policy_set, memo_size=8)
    request = tenant_request("keys.list", "keys:read")
    real = engine._evaluate
    engine._evaluate = lambda _: (_ for _ in ()).throw(RuntimeError("engine down"))  # type: ignore[method-assign]
    assert not engine.decide_now(request).allow
    engine._evaluate = real  # type: ignore[method-assign]
    assert engine.decide_now(request).allow


def test_the_memory_is_bounded(policy_set: PolicySet) -> None:
    engine = InProcessEngine(policy_set, memo_size=4)
    for n in range(10):
        request = tenant_request("keys.read", "keys:read")
        request.resource = {"type": "key", "id": str(n)}
        assert engine.decide_now(request).allow
    assert 0 < len(engine._memo) <= 4


def test_a_policy_that_reads_the_clock_is_evaluated_every_time() -> None:
    timed = _with_module(
        "timed.rego",
        'package lumen.ext.timed\n\nimport rego.v1\n\ndeny contains "after hours" if time.now_ns() < 0\n',
    )
    engine = InProcessEngine(timed, memo_size=8)
    engine.decide_now(platform_request("tenants.create"))
    assert engine._memo_size == 0 and engine._memo == {}


def test_the_request_paths_engine_remembers() -> None:
    engine = create_engine(load_settings({}), core_policy_set())
    assert isinstance(engine, InProcessEngine) and engine._memo_size > 0
