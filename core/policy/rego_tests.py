"""Runs the Rego unit tests that policies ship (OPA's convention), with the in-process interpreter.

Every rule named `test_*` in a `*_test.rego` module is a test: it passes when it evaluates to `true`, and
fails when it is false, undefined or raises. Tests see the decision modules and the PolicySet's data, as
`opa test` would with the same files, and override either with `with input as` / `with data.x as`. This
backs `lumen policy test`, which CI runs. The interpreter (not the RVM compiler) runs them because tests
depend on `with`, which only the interpreter supports.
"""

from __future__ import annotations

import json
import time
from typing import Any

import msgspec

from lumen.core.policy._regorus import error_text, new_engine
from lumen.core.policy.policy_set import PolicyModule, PolicySet

__all__ = ["RegoTestResult", "run_rego_tests"]


class RegoTestResult(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # "data.lumen.authz_test.test_unknown_action_is_denied"
    passed: bool
    error: str | None = None  # why it failed: "evaluated to false", "undefined", or the engine's error
    module: str = ""
    duration_ms: float = 0.0


def run_rego_tests(policy_set: PolicySet) -> list[RegoTestResult]:
    """Evaluate every test rule of the set's test modules; one result per test, in file order."""
    modules = [(m.name, m.source) for m in (*policy_set.modules, *policy_set.test_modules)]
    try:
        engine = new_engine(modules, policy_set.data)
    except Exception as exc:
        return [RegoTestResult(name="(load)", passed=False, error=error_text(exc))]
    results: list[RegoTestResult] = []
    for module in policy_set.test_modules:
        try:
            names = _test_rules(module)
        except Exception as exc:
            results.append(
                RegoTestResult(
                    name=f"data.{module.package}", passed=False, error=error_text(exc), module=module.name
                )
            )
            continue
        for rule in names:
            results.append(_run_one(engine, f"data.{module.package}.{rule}", module.name))
    return results


def _run_one(engine: Any, path: str, module: str) -> RegoTestResult:
    started = time.perf_counter()
    error: str | None
    try:
        value = engine.clone().eval_rule(path)  # a clone per test: no state carries over between tests
        error = None if value is True else ("undefined" if value is None else f"evaluated to {value!r}")
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # includes pyo3's PanicException
        error = error_text(exc)
    return RegoTestResult(
        name=path,
        passed=error is None,
        error=error,
        module=module,
        duration_ms=(time.perf_counter() - started) * 1e3,
    )


def _test_rules(module: PolicyModule) -> list[str]:
    """Names of the module's `test_*` rules (functions excluded), in source order, from regorus' AST."""
    ast = json.loads(new_engine([(module.name, module.source)], {}).get_ast_as_json())
    names: list[str] = []
    for rule in ast[0]["ast"]["rules"]:
        head = rule.get("Spec", {}).get("head", {})
        if "Func" in head or len(head) != 1:
            continue
        (kind,) = head.values()
        name = kind.get("refr", {}).get("Var", {}).get("value")
        if isinstance(name, str) and name.startswith("test_") and name not in names:
            names.append(name)
    return names
