"""The Rego unit-test runner behind `lumen policy test`."""

from __future__ import annotations

import pytest

from lumen.core.policy import PolicySet, core_policy_set, run_rego_tests

FAILING = """package lumen.broken_test

import rego.v1

import data.lumen.authz

test_platform_may_create_keys if {
	authz.decision.allow with input as {"principal": {"kind": "platform"}, "action": "keys.create"}
}

test_returns_a_number := 3

test_raises if to_number("seven") > 1

test_passes if true

test_is_a_function(x) if x
"""


def test_every_core_rego_test_passes() -> None:
    results = run_rego_tests(core_policy_set())
    assert len(results) >= 10
    assert all(r.name.startswith("data.lumen.authz_test.test_") for r in results)
    assert [r.name for r in results if not r.passed] == []
    assert {r.module for r in results} == {"authz_test.rego"}


def test_failing_tests_are_reported_with_why() -> None:
    policy_set = core_policy_set()
    policy_set.add_module("broken_test.rego", FAILING, origin="qa")
    results = {
        r.name.removeprefix("data.lumen.broken_test."): r
        for r in run_rego_tests(policy_set)
        if r.module == "broken_test.rego"
    }
    assert sorted(results) == [
        "test_passes",
        "test_platform_may_create_keys",
        "test_raises",
        "test_returns_a_number",
    ]
    assert results["test_passes"].passed and results["test_passes"].error is None
    assert not results["test_platform_may_create_keys"].passed
    assert results["test_platform_may_create_keys"].error == "undefined"
    assert results["test_returns_a_number"].error == "evaluated to 3"
    assert not results["test_raises"].passed
    assert "could not parse string as number" in (results["test_raises"].error or "")


def test_a_policy_set_without_tests_runs_none() -> None:
    policy_set = PolicySet()
    policy_set.add_module("authz.rego", "package lumen.authz\n\nimport rego.v1\n\ndecision := {}\n")
    assert run_rego_tests(policy_set) == []


def test_lumen_policy_test_prints_each_test_and_passes() -> None:
    from click.testing import CliRunner

    from lumen.core.cli import main

    result = CliRunner().invoke(main, ["policy", "test"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[-1] == f"{len(lines) - 1} passed, 0 failed"
    assert all(line.startswith("PASS  data.lumen.") for line in lines[:-1])
    # The kernel's tests, and the installed plugins' too (the app decides with both).
    assert any(line.startswith("PASS  data.lumen.authz_test.test_") for line in lines)


def test_lumen_policy_test_exits_1_on_a_failing_test(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    import lumen.core.plugins.host
    from lumen.core.cli import main

    def with_failing_test() -> PolicySet:
        policy_set = core_policy_set()
        policy_set.add_module("broken_test.rego", FAILING, origin="qa")
        return policy_set

    monkeypatch.setattr(lumen.core.plugins.host, "core_policy_set", with_failing_test)
    result = CliRunner().invoke(main, ["policy", "test"])
    assert result.exit_code == 1
    assert "FAIL  data.lumen.broken_test.test_returns_a_number" in result.output
    assert ": evaluated to 3" in result.output
    assert result.output.splitlines()[-1].endswith("passed, 3 failed")
