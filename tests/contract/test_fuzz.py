"""schemathesis over every operation of a live `lumen serve` (bench/fuzz_api.py), with few examples per
operation so CI stays within minutes: `python -m pytest -m fuzz tests/contract`. The full run (100+ examples
per operation) is `python bench/fuzz_api.py --max-examples 100`."""

from __future__ import annotations

import os

import pytest

from bench.fuzz_api import run

pytestmark = pytest.mark.fuzz


def test_no_server_errors_or_schema_violations_on_any_operation() -> None:
    examples = int(os.environ.get("LUMEN_FUZZ_EXAMPLES", "10"))
    result = run(examples, extra=["--phases", "examples,fuzzing"], seed=20261201)
    assert result["junit"]["tests"] >= 90, result["output"][-3000:]
    assert result["exit_code"] == 0, result["output"][-8000:] + result["server_log_tail"]
