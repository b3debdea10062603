"""PolicySet: registration conflicts name both registrants, data paths, versions, the core set."""

from __future__ import annotations

import re

import pytest

from lumen.core.policy import KERNEL_ACTIONS, ActionSpec, PolicySet, core_policy_set

MODULE = 'package lumen.ext.audit\n\nimport rego.v1\n\ndeny contains "no" if input.action == "x"\n'


def test_duplicate_module_names_both_registrants() -> None:
    policy_set = core_policy_set()
    policy_set.add_module("audit.rego", MODULE, origin="audit-plugin")
    with pytest.raises(
        ValueError, match=re.escape("'audit.rego' from 'copycat' is already registered by 'audit-plugin'")
    ):
        policy_set.add_module("audit.rego", MODULE, origin="copycat")


def test_core_modules_cannot_be_replaced_by_a_plugin() -> None:
    with pytest.raises(
        ValueError, match=re.escape("'authz.rego' from 'evil' is already registered by 'core'")
    ):
        core_policy_set().add_module("authz.rego", "package lumen.authz\n\ndecision := 1\n", origin="evil")


def test_duplicate_action_names_both_registrants() -> None:
    policy_set = core_policy_set()
    with pytest.raises(
        ValueError,
        match=re.escape("action 'keys.create' from 'interactions' is already registered by 'core'"),
    ):
        policy_set.add_action("keys.create", ActionSpec(scopes=("x",)), origin="interactions")
    policy_set.add_action("interactions.check", ActionSpec(plugin="interactions"), origin="interactions")
    with pytest.raises(
        ValueError, match=re.escape("'interactions.check' from 'otc' is already registered by 'interactions'")
    ):
        policy_set.add_action("interactions.check", ActionSpec(plugin="otc"), origin="otc")


def test_duplicate_data_names_both_registrants() -> None:
    policy_set = PolicySet()
    policy_set.add_data("limits.interactions", {"max_drugs": 20}, origin="interactions")
    with pytest.raises(
        ValueError, match=re.escape("'limits.interactions' from 'qa' is already registered by 'interactions'")
    ):
        policy_set.add_data("limits.interactions", {"max_drugs": 5}, origin="qa")
    with pytest.raises(
        ValueError, match=re.escape("'limits' from 'qa' is already registered by 'interactions'")
    ):
        policy_set.add_data("limits", {}, origin="qa")  # the whole document over someone's key


def test_a_key_under_a_whole_document_conflicts() -> None:
    policy_set = PolicySet()
    policy_set.add_data("plans", {"pro": {"seats": 5}}, origin="billing")
    with pytest.raises(
        ValueError, match=re.escape("'plans.free' from 'qa' is already registered by 'billing'")
    ):
        policy_set.add_data("plans.free", {"seats": 1}, origin="qa")


def test_data_path_key_keeps_its_dots() -> None:
    policy_set = PolicySet()
    policy_set.add_data("actions.keys.create", {"scopes": ["admin"]})
    policy_set.add_data("settings", {"strict": True})
    assert policy_set.data == {
        "lumen": {"actions": {"keys.create": {"scopes": ["admin"]}}, "settings": {"strict": True}}
    }


@pytest.mark.parametrize("path", ["", ".x", "bad-name", "x.", "1x"])
def test_malformed_data_paths_are_refused(path: str) -> None:
    with pytest.raises(ValueError, match=re.escape("is not `document` or `document.key`")):
        PolicySet().add_data(path, 1)


def test_data_must_be_json() -> None:
    with pytest.raises(ValueError, match=re.escape("is not JSON")):
        PolicySet().add_data("x", object())


def test_data_cannot_shadow_a_policy_package() -> None:
    policy_set = core_policy_set()
    with pytest.raises(ValueError, match=re.escape("collides with package lumen.authz")):
        policy_set.add_data("authz.allow", True, origin="evil")
    other = PolicySet()
    other.add_data("ext", {}, origin="x")
    with pytest.raises(
        ValueError, match=re.escape("collides with the data document lumen.ext registered by 'x'")
    ):
        other.add_module("audit.rego", MODULE, origin="audit")


def test_a_module_that_does_not_parse_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"'bad\.rego' from 'qa' does not parse: .*bad\.rego:\d+:\d+"):
        PolicySet().add_module("bad.rego", "package lumen.bad\n\nallow if {\n", origin="qa")


def test_modules_live_under_lumen() -> None:
    with pytest.raises(ValueError, match=re.escape("package example.authz is outside `lumen`")):
        PolicySet().add_module("x.rego", "package example.authz\n\nx := 1\n", origin="qa")
    with pytest.raises(ValueError, match=re.escape("must end in .rego")):
        PolicySet().add_module("x.txt", MODULE)


def test_a_package_root_keeps_decision_modules_inside_it() -> None:
    """Rego merges every module of one package: a plugin's module in `lumen.authz` could add grants."""
    policy_set = core_policy_set()
    root = "lumen.ext.audit"
    policy_set.add_module("audit/a.rego", MODULE, origin="audit", package_root=root)
    below = MODULE.replace("lumen.ext.audit", "lumen.ext.audit.extra")
    policy_set.add_module("audit/b.rego", below, origin="audit", package_root=root)
    for package in ("lumen.authz", "lumen.ext.other", "lumen.ext.auditx"):
        with pytest.raises(ValueError, match=re.escape(f"from 'audit': package {package} must be {root}")):
            policy_set.add_module(
                "audit/c.rego", MODULE.replace("lumen.ext.audit", package), origin="audit", package_root=root
            )


def test_a_package_root_leaves_rego_unit_tests_alone() -> None:
    """Unit tests never take part in decisions, so they may sit outside `lumen.ext` (where the core policy
    would otherwise iterate them)."""
    source = "package lumen.audit_test\n\nimport rego.v1\n\ntest_nothing if true\n"
    core_policy_set().add_module("audit/a_test.rego", source, origin="audit", package_root="lumen.ext.audit")


def test_version_covers_modules_and_data_but_not_tests() -> None:
    base = core_policy_set().version
    assert base == core_policy_set().version and len(base) == 16
    with_module = core_policy_set()
    with_module.add_module("audit.rego", MODULE, origin="audit")
    with_data = core_policy_set()
    with_data.add_data("limits", {"x": 1})
    with_test = core_policy_set()
    with_test.add_module("audit_test.rego", "package lumen.audit_test\n\nimport rego.v1\n\ntest_x if true\n")
    assert len({base, with_module.version, with_data.version}) == 3
    assert with_test.version == base


def test_core_set_has_the_policy_its_tests_and_the_kernel_actions() -> None:
    policy_set = core_policy_set()
    assert [m.name for m in policy_set.modules] == ["authz.rego"]
    assert [m.name for m in policy_set.test_modules] == ["authz_test.rego"]
    assert policy_set.modules[0].package == "lumen.authz" and policy_set.modules[0].origin == "core"
    actions = policy_set.actions
    assert set(actions) == set(KERNEL_ACTIONS)
    assert {name for name, spec in actions.items() if spec["platform"]} == {
        "tenants.create",
        "tenants.list",
        "tenants.read",
        "tenants.update",
        "tenants.delete",
        "tenants.keys.create",
        "tenants.limits.read",
        "tenants.limits.update",
    }
    assert actions["keys.list"]["scopes"] == ["keys:read"] and actions["keys.read"]["scopes"] == ["keys:read"]
    assert all(actions[a]["scopes"] == [] for a in ("keys.create", "keys.revoke", "keys.rotate"))
