"""`lumen eval report`: every harness runs (PubMedQA on one question, through the real local engine), the
Markdown and one PNG per harness with figures are written, and each figure in the Markdown is the number
the harness wrote to its JSON in that run."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT.parent / "shared" / "benchmarks"
ROW = re.compile(r"^\| (?P<label>[^|]+) \| (?P<value>[0-9.]+)% \| `(?P<key>[^`]+)` \|$")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _report_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eval_report", ROOT / "bench" / "eval_report.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["eval_report"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _sections(markdown: str) -> dict[str, str]:
    parts = re.split(r"^## ", markdown, flags=re.MULTILINE)[1:]
    return {part.split(":", 1)[0]: part for part in parts}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    out = tmp_path_factory.mktemp("report")
    results = tmp_path_factory.mktemp("results")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "lumen.core.cli",
            "eval",
            "report",
            "--pubmedqa-limit",
            "1",
            "--out",
            str(out),
            "--results",
            str(results),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=1800,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return out, results, (out / "report.md").read_text()


@pytest.mark.slow
def test_every_harness_has_a_section_and_a_chart(report: tuple[Path, Path, str]) -> None:
    out, _, markdown = report
    sections = _sections(markdown)
    expected = {"triage", "triage-holdout", "regulatory", "pubmedqa"} | (
        {"ddi"} if (BENCHMARKS / "ddi").is_dir() else set()
    )
    for name in expected:
        assert f"![{name}]({name}.png)" in sections[name], sections.get(name, "")[-800:]
        png = (out / f"{name}.png").read_bytes()
        assert png.startswith(PNG_MAGIC)
        assert len(png) > 2000
    assert "retrieval" in sections  # run when installed, else a line saying it is not


@pytest.mark.slow
def test_figures_in_the_markdown_are_the_harness_results(report: tuple[Path, Path, str]) -> None:
    _, results, markdown = report
    module = _report_module()
    checked = 0
    for harness in module.harnesses(results):
        section = _sections(markdown).get(harness.name, "")
        rows = [m for m in (ROW.match(line) for line in section.splitlines()) if m]
        if not rows:
            continue
        result = json.loads(harness.result.read_text())
        percent = {f.key: f.percent for f in harness.figures}
        for row in rows:
            value = module.lookup(result, row["key"])
            assert isinstance(value, int | float), row["key"]
            expected = value if percent.get(row["key"], False) else 100 * value
            assert float(row["value"]) == pytest.approx(expected, abs=0.051), (harness.name, row["key"])
            checked += 1
    assert checked >= 15


@pytest.mark.slow
def test_pubmedqa_section_states_its_sample(report: tuple[Path, Path, str]) -> None:
    _, results, markdown = report
    pubmedqa = json.loads((results / "pubmedqa.json").read_text())
    assert pubmedqa["questions"] == 1
    assert sum(pubmedqa["gold"].values()) == 1
    assert "1 questions" in _sections(markdown)["pubmedqa"]


def test_a_harness_that_writes_no_fresh_result_is_reported_without_figures(tmp_path: Path) -> None:
    module = _report_module()
    stale = tmp_path / "stale.json"
    stale.write_text(json.dumps({"accuracy": 0.99}))
    old = time.time() - 3600
    os.utime(stale, (old, old))
    harness = module.Harness(
        "stale",
        "A harness that exits without writing",
        stale,
        lambda a: [sys.executable, "-c", "print('nothing written')"],
        [module.Figure("accuracy", "accuracy")],
    )
    args = type("Args", (), {"out": tmp_path})()
    lines, ok = module.section(harness, args)
    assert ok is False
    assert any(line.startswith("No result from this run") for line in lines)
    assert not (tmp_path / "stale.png").exists()
    assert "99.0%" not in "\n".join(lines)


def test_a_harness_that_is_not_installed_is_skipped_with_a_line(tmp_path: Path) -> None:
    module = _report_module()
    harness = module.Harness(
        "retrieval", "Retrieval", tmp_path / "r.json", lambda a: None, [], missing="Skipped: not here."
    )
    lines, ok = module.section(harness, type("Args", (), {"out": tmp_path})())
    assert ok is False
    assert "Skipped: not here." in lines
