"""The plugin's Rego unit tests (policies/units_test.rego) pass against the whole policy of a real app."""

from __future__ import annotations

from litestar import Litestar

from lumen.plugins.sdk.testing import rego_test_results


def test_rego_unit_tests_pass(lumen_app: Litestar) -> None:
    results = rego_test_results(lumen_app, "units")
    assert len(results) >= 5
    assert [r.name for r in results if not r.passed] == [], [r.error for r in results if not r.passed]
