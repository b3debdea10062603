"""Browser-test failures are reported with Python's own traceback formatting.

Playwright's sync API runs in greenlets, and CPython 3.11 before 3.11.8 miscounts the AST constructor's
recursion depth after such stack switches (gh-106905): pytest's default report, which parses the source of
every frame with `ast.parse`, then dies with "SystemError: AST constructor recursion depth mismatch" and
takes the whole run down as an INTERNALERROR, hiding the real failure. The native format reads no AST.
"""

from __future__ import annotations

import traceback
from typing import Any

import pytest


def _native_repr(excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
    return "".join(traceback.format_exception(excinfo.value))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name == "test_browser.py":
            item.repr_failure = _native_repr  # type: ignore[method-assign]
