"""Fuzz the whole API with schemathesis against a real `lumen serve` (embedded PostgreSQL and Redis) with a
tenant's admin key: every operation in the live OpenAPI document, positive and negative data, the default
checks (no server errors, status codes / content types / headers / bodies conforming to the document,
negative data rejected, positive data accepted...). Prints a table and writes bench/results/fuzz_api.json.

    python bench/fuzz_api.py --max-examples 100      # the full run (minutes)
    python -m pytest -m fuzz tests/contract           # CI: the same harness, fewer examples

Exclusions: none by default. Any operation or check excluded must be listed in EXCLUDED with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.fuzz_auth import mint_key  # noqa: E402
from tests.live_server import Server  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "fuzz_api.json"
CONFIG = ROOT / "bench" / "schemathesis.toml"  # checks' settings, each justified there

# `st run` arguments that narrow the run, each with why. Keep empty unless a finding cannot be fixed.
EXCLUDED: list[tuple[list[str], str]] = []

UNLIMITED = {
    "requests_per_minute": 10_000_000,
    "key_requests_per_minute": 10_000_000,
    "requests_per_day": 1_000_000_000_000,
}


def start_lumen(data_dir: str) -> tuple[Server, str, str]:
    """A fresh `lumen serve`, a tenant without rate limits: (server, platform key, tenant id). The fuzzer's
    tenant admin keys come from bench/fuzz_auth.py."""
    platform_key = "lm_platform_fuzz_" + secrets.token_hex(16)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("LUMEN_")},
        "LUMEN_PLATFORM_KEY": platform_key,
        "LUMEN_LOG_LEVEL": "warning",
    }
    server = Server(data_dir, env, ready_timeout=300)  # a shared, busy machine starts it slowly
    slug = "fuzz-" + secrets.token_hex(4)
    status, tenant = server.request("POST", "/v1/tenants", {"slug": slug, "name": "Fuzz"}, platform_key)
    assert status == 201, tenant
    tenant_id = str(tenant["id"])  # type: ignore[index]
    # The fuzzer sends thousands of requests a minute; it is testing the API, not the rate limiter.
    status, body = server.request(
        "PUT", f"/v1/tenants/{tenant_id}/limits", {"overrides": UNLIMITED}, platform_key
    )
    assert status == 200, body
    return server, platform_key, tenant_id


def revoked_keys(server: Server, platform_key: str, tenant_id: str) -> int:
    """How many of the tenant's keys the run revoked (each one made the fuzzer mint another)."""
    key = mint_key(f"http://127.0.0.1:{server.port}", platform_key, tenant_id)
    revoked, cursor = 0, ""
    while True:
        status, page = server.request("GET", f"/v1/keys?limit=100{cursor}", None, key)
        assert status == 200, page
        revoked += sum(1 for k in page["items"] if k.get("status") == "revoked")  # type: ignore[index]
        if not page.get("next_cursor"):  # type: ignore[union-attr]
            return revoked
        cursor = f"&cursor={page['next_cursor']}"  # type: ignore[index]


def run(
    max_examples: int, *, workers: int = 2, extra: list[str] | None = None, seed: int | None = None
) -> dict[str, Any]:
    data_dir = tempfile.mkdtemp(prefix="lumen-fuzz-")
    report_dir = Path(data_dir) / "report"
    server, platform_key, tenant_id = start_lumen(data_dir)
    try:
        # Fetched with time to spare on a busy machine (st gives a schema URL 10 s), then read from a file.
        status, _, document = server.call("GET", "/schema/openapi.json", timeout=300)
        assert status == 200, document
        schema_path = Path(data_dir) / "openapi.json"
        schema_path.write_text(json.dumps(document))
        command = [
            str(Path(sys.executable).with_name("st")),
            "--config-file",
            str(CONFIG),
            "run",
            str(schema_path),
            "--url",
            f"http://127.0.0.1:{server.port}",
            "--max-examples",
            str(max_examples),
            "--workers",
            str(workers),
            "--mode",
            "all",
            "--report",
            "junit",
            "--report-dir",
            str(report_dir),
            "--no-color",
            "--request-timeout",
            "30",
            "--suppress-health-check",
            "all",
            "--output-truncate",
            "true",
            *(["--seed", str(seed)] if seed is not None else []),
            *[arg for args, _ in EXCLUDED for arg in args],
            *(extra or []),
        ]
        started = time.monotonic()
        log_path = Path(os.environ.get("LUMEN_FUZZ_LOG", Path(data_dir) / "st.log"))
        with log_path.open("w") as log:  # streamed, so a long run can be watched
            done = subprocess.run(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                check=False,
                cwd=data_dir,
                env={
                    **os.environ,
                    "SCHEMATHESIS_HOOKS": "fuzz_auth",  # the tenant admin key (bench/fuzz_auth.py)
                    "PYTHONPATH": os.pathsep.join([str(ROOT / "bench"), os.environ.get("PYTHONPATH", "")]),
                    "LUMEN_FUZZ_BASE_URL": f"http://127.0.0.1:{server.port}",
                    "LUMEN_FUZZ_PLATFORM_KEY": platform_key,
                    "LUMEN_FUZZ_TENANT_ID": tenant_id,
                },
            )
        elapsed = time.monotonic() - started
        output = log_path.read_text()

        return {
            "exit_code": done.returncode,
            "max_examples": max_examples,
            "seconds": round(elapsed, 1),
            "summary": summarise(output),
            "keys_revoked": revoked_keys(server, platform_key, tenant_id),
            "junit": _junit(report_dir),
            "output": output,
            "server_log_tail": server.log.read_text()[-4000:],
        }
    finally:
        server.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


def summarise(output: str) -> dict[str, Any]:
    """The totals `st run` prints at the end (operations, test cases, failures by check)."""
    found: dict[str, Any] = {}
    for label, pattern in {
        "operations": r"API Operations:\s+(\d+) selected / (\d+) total",
        "tested_operations": r"(\d+) tested",
        "test_cases": r"Test cases:\s+(\d+) generated, (\d+) found (\d+) unique failures",
        "test_cases_passed": r"Test cases:\s+(\d+) generated, (\d+) passed",
    }.items():
        match = re.search(pattern, output)
        if match:
            found[label] = [int(g) for g in match.groups()]
    failures = re.findall(r"^\s*[✗x]?\s*(\w+(?:_\w+)+)\s+(\d+)/(\d+)\s*$", output, flags=re.MULTILINE)
    found["checks"] = {name: {"failed_or_passed": int(a), "total": int(b)} for name, a, b in failures}
    return found


def _junit(report_dir: Path) -> dict[str, int]:
    import xml.etree.ElementTree as ET

    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for path in report_dir.glob("*.xml"):
        root = ET.parse(path).getroot()  # noqa: S314 - our own report
        suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
        for suite in suites:
            for field in totals:
                totals[field] += int(suite.get(field, 0))
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None)
    args, extra = parser.parse_known_args()
    result = run(args.max_examples, workers=args.workers, extra=extra, seed=args.seed)
    print(result["output"][-6000:])
    print(f"{'max examples/op':<20}{'operations (junit)':<22}{'failures':<10}{'errors':<8}{'seconds':<8}exit")
    junit = result["junit"]
    print(
        f"{result['max_examples']:<20}{junit['tests']:<22}{junit['failures']:<10}{junit['errors']:<8}"
        f"{result['seconds']:<8}{result['exit_code']}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({k: v for k, v in result.items() if k != "server_log_tail"}, indent=2) + "\n"
    )
    return 0 if result["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
