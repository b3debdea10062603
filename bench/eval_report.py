"""Run every evaluation harness that exists and write one Markdown report with a PNG chart per harness.

    python bench/eval_report.py [--pubmedqa-limit N] [--only triage,ddi] [--out bench/results/report]

Harnesses (each its own process, printing its own table and writing bench/results/<name>.json):

  triage, triage-holdout  bench/triage_eval.py on bench/triage_vignettes.jsonl and the held-out vignettes
  ddi                     bench/ddi_eval.py (ONC lists in ../shared/benchmarks/ddi; skips without them)
  retrieval               `run_retrieval_eval()` wherever the retrieval issue puts it (bench/*.py or
                          inference/retrieval/*.py); skipped with a line saying so when it is not installed
  regulatory              bench/regulatory_eval.py (its retrieval recall@5/MRR, gap analysis)
  pubmedqa                bench/pubmedqa_eval.py --limit N (LUMEN_INFERENCE_URLS, else the local CPU engine)

The figures in the report are read from the JSON each harness wrote during this run (a result file older
than the run counts as no result), with the JSON key each one came from; the chart draws the same figures.
Writes <out>/report.md and <out>/<harness>.png, and prints the report's path.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import inspect
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
RETRIEVAL_FUNCTION = "run_retrieval_eval"


@dataclass(frozen=True)
class Figure:
    """One headline number: where it is in the harness's JSON and whether it is a 0-1 fraction or a %."""

    label: str
    key: str  # dotted path into the result JSON
    percent: bool = False  # the JSON already holds a percentage (0-100)


@dataclass
class Harness:
    name: str
    title: str
    result: Path
    command: Callable[[argparse.Namespace], list[str] | None]  # None: not installed here (why in `missing`)
    figures: list[Figure] = field(default_factory=list)  # empty: every 0-1 number found (at most 12)
    missing: str = ""


def lookup(result: Any, key: str) -> Any:
    value = result
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def found_fractions(result: Any, prefix: str = "") -> list[Figure]:
    """Every number in [0, 1] in the result (nested keys joined with '.'), for harnesses with no declared
    figures (the retrieval harness, whose shape this report does not know in advance)."""
    out: list[Figure] = []
    if isinstance(result, dict):
        for key, value in result.items():
            path = f"{prefix}{key}"
            if isinstance(value, bool) or "." in str(key):
                continue
            if isinstance(value, int | float) and 0 <= value <= 1 and not str(key).endswith("seconds"):
                out.append(Figure(path, path))
            elif isinstance(value, dict) and prefix.count(".") < 2:
                out.extend(found_fractions(value, path + "."))
    return out[:12]


def as_percent(figure: Figure, value: float) -> float:
    return float(value) if figure.percent else 100.0 * float(value)


def fmt(value: float) -> str:
    return f"{value:.1f}%"


def chart(title: str, rows: list[tuple[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 0.45 * max(3, len(rows)) + 1.2))
    labels = [label for label, _ in rows]
    values = [value for _, value in rows]
    ax.barh(labels, values, color="#3b6ea5")
    ax.set_xlim(0, 100)
    ax.set_xlabel("%")
    ax.invert_yaxis()
    ax.set_title(title, fontsize=10)
    for i, value in enumerate(values):
        inside = value > 85
        x = value - 1 if inside else value + 1
        ax.text(
            x,
            i,
            fmt(value),
            va="center",
            ha="right" if inside else "left",
            fontsize=8,
            color="white" if inside else "black",
        )
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --- the retrieval harness: found by its function name, run in a child process -----------------------------


def find_retrieval_eval() -> str | None:
    """`path/to/file.py:run_retrieval_eval` for the first file that defines it, bench/ first."""
    pattern = re.compile(rf"^(async\s+)?def {RETRIEVAL_FUNCTION}\(", re.MULTILINE)
    candidates = sorted(HERE.glob("*.py")) + sorted((ROOT / "inference" / "retrieval").rglob("*.py"))
    for path in candidates:
        if path.name == Path(__file__).name:
            continue
        try:
            if pattern.search(path.read_text(encoding="utf-8")):
                return f"{path}:{RETRIEVAL_FUNCTION}"
        except OSError:
            continue
    return None


def call_function(target: str, out: Path) -> None:
    """Import `file.py:function`, call it with no arguments (awaiting it if async) and write its result as
    JSON; a module inside the lumen package is imported by its package name, a bench/ one by its path."""
    file, name = target.rsplit(":", 1)
    path = Path(file).resolve()
    if path.is_relative_to(HERE):
        sys.path.insert(0, str(HERE))
        spec = importlib.util.spec_from_file_location(path.stem, path)
        if spec is None or spec.loader is None:
            raise SystemExit(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        module = importlib.import_module("lumen." + ".".join(path.relative_to(ROOT).with_suffix("").parts))
    result = getattr(module, name)()
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    if not isinstance(result, dict):
        import msgspec

        result = msgspec.to_builtins(result)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1, default=str))
    for figure in found_fractions(result):
        print(f"{figure.label:<40} {lookup(result, figure.key):.3f}")


async def _await(awaitable: Any) -> Any:
    return await awaitable


# --- the harnesses --------------------------------------------------------------------------------------


def harnesses(results: Path) -> list[Harness]:
    py = sys.executable
    triage_figures = [
        Figure("3-level accuracy", "level3_accuracy"),
        Figure("exact 5-level accuracy", "exact_level_accuracy"),
        Figure("emergent recall", "recall_3_level.emergent.recall"),
        Figure("under-triage rate", "under_triage_rate"),
        Figure("over-triage rate", "over_triage_rate"),
    ]
    retrieval = find_retrieval_eval()
    return [
        Harness(
            "triage",
            "Triage (bench/triage_vignettes.jsonl)",
            results / "triage_eval.json",
            lambda a: [py, "bench/triage_eval.py", "--out", str(results / "triage_eval.json")],
            triage_figures,
        ),
        Harness(
            "triage-holdout",
            "Triage, held-out vignettes (bench/triage_vignettes_holdout.jsonl)",
            results / "triage_eval_holdout.json",
            lambda a: [
                py,
                "bench/triage_eval.py",
                "--data",
                "bench/triage_vignettes_holdout.jsonl",
                "--out",
                str(results / "triage_eval_holdout.json"),
            ],
            triage_figures,
        ),
        Harness(
            "ddi",
            "Drug interactions (ONC high-priority and non-interruptive lists)",
            results / "ddi_eval.json",
            lambda a: [py, "bench/ddi_eval.py", "--out", str(results / "ddi_eval.json")],
            [
                Figure("ONC high priority flagged major+ (of all)", "onc_high_priority.share_of_all", True),
                Figure(
                    "ONC non-interruptive flagged major+ (of recognised)",
                    "onc_non_interruptive.share_of_recognised",
                    True,
                ),
                Figure("negative controls flagged moderate+", "negative_controls.share", True),
                Figure("ONC drug names recognised", "coverage.share", True),
            ],
        ),
        Harness(
            "retrieval",
            "Retrieval (run_retrieval_eval)",
            results / "retrieval_eval.json",
            lambda a: (
                None
                if retrieval is None
                else [py, "bench/eval_report.py", "--call", retrieval, "--call-out", str(a.retrieval_out)]
            ),
            [],
            missing=(
                "Skipped: no retrieval evaluation harness is installed in this build (no "
                f"`{RETRIEVAL_FUNCTION}()` in bench/*.py or inference/retrieval/). The regulatory harness "
                "below reports recall@5 and MRR of retrieval on the regulatory question set."
            ),
        ),
        Harness(
            "regulatory",
            "Regulatory assistant (retrieval and SOP gap analysis)",
            results / "regulatory_eval.json",
            lambda a: [py, "bench/regulatory_eval.py", "--out", str(results / "regulatory_eval.json")],
            [
                Figure("retrieval recall@5", "retrieval.recall@5"),
                Figure("retrieval MRR", "retrieval.mrr"),
                Figure("retrieval recall@5 (held out)", "retrieval_holdout.recall@5"),
                Figure("retrieval MRR (held out)", "retrieval_holdout.mrr"),
                Figure("gap analysis precision", "gap_analysis.precision"),
                Figure("gap analysis recall", "gap_analysis.recall"),
                Figure("gap analysis recall (unseen SOPs)", "gap_analysis_unseen.recall"),
            ],
        ),
        Harness(
            "pubmedqa",
            "PubMedQA PQA-L test split",
            results / "pubmedqa.json",
            lambda a: [
                py,
                "bench/pubmedqa_eval.py",
                "--out",
                str(results / "pubmedqa.json"),
                *(["--limit", str(a.pubmedqa_limit)] if a.pubmedqa_limit else []),
            ],
            [Figure("accuracy", "accuracy"), Figure("macro-F1", "macro_f1")],
        ),
    ]


def section(harness: Harness, args: argparse.Namespace) -> tuple[list[str], bool]:
    """The harness's Markdown section, and whether it produced figures."""
    lines = [f"## {harness.name}: {harness.title}", ""]
    command = harness.command(args)
    if command is None:
        print(f"{harness.name}: skipped (not installed)")
        return [*lines, harness.missing, ""], False
    shown = " ".join(["python", *command[1:]]).replace(str(ROOT) + "/", "")
    print(f"{harness.name}: {shown}", flush=True)
    started = time.time()
    run = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    took = time.time() - started
    lines += [f"`{shown}` exited {run.returncode} in {took:.0f} s.", ""]
    output = run.stdout.strip().splitlines()
    lines += ["```", *(output[-25:] or ["(no output)"]), "```", ""]
    fresh = harness.result.exists() and harness.result.stat().st_mtime >= started - 1
    if run.returncode != 0 or not fresh:
        skipped = next((line for line in output if line.lower().startswith("skipped")), None)
        if run.returncode == 0 and skipped:
            lines += [f"Skipped: {skipped.split(':', 1)[-1].strip()}", ""]
        else:
            tail = (run.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1][:300]
            lines += [f"No result from this run (exit {run.returncode}): {tail}", ""]
        return lines, False
    result = json.loads(harness.result.read_text())
    figures = harness.figures or found_fractions(result)
    rows: list[tuple[str, float]] = []
    table = ["| figure | value | JSON key |", "|---|---|---|"]
    for figure in figures:
        value = lookup(result, figure.key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        pct = as_percent(figure, value)
        rows.append((figure.label, pct))
        table.append(f"| {figure.label} | {fmt(pct)} | `{figure.key}` |")
    if harness.name == "pubmedqa":
        lines += [
            f"{result.get('questions')} questions, model {result.get('model')} ({result.get('endpoint')}); "
            f"gold labels {result.get('gold')}, predicted {result.get('predicted')}.",
            "",
        ]
    if not rows:
        return [*lines, "The result holds no figure to chart.", ""], False
    png = args.out / f"{harness.name}.png"
    chart(f"{harness.name}: {harness.title}", rows, png)
    lines += [*table, "", f"![{harness.name}]({png.name})", ""]
    return lines, True


def main(argv: list[str] | None = None) -> Path | None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pubmedqa-limit", type=int, default=50, help="0: the whole test split")
    parser.add_argument("--out", type=Path, default=RESULTS / "report")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the harnesses write JSON")
    parser.add_argument("--only", default="", help="comma-separated harness names (default: all)")
    parser.add_argument("--call", help=argparse.SUPPRESS)  # internal: run file.py:function, write --call-out
    parser.add_argument("--call-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.call:
        call_function(args.call, args.call_out)
        return None
    args.results = args.results.resolve()
    args.out = args.out.resolve()
    args.retrieval_out = args.results / "retrieval_eval.json"
    args.out.mkdir(parents=True, exist_ok=True)
    args.results.mkdir(parents=True, exist_ok=True)
    chosen = {n.strip() for n in args.only.split(",") if n.strip()}
    every = harnesses(args.results)
    unknown = chosen - {h.name for h in every}
    if unknown:
        parser.error(f"--only: unknown harness {', '.join(sorted(unknown))}")
    lines = [
        "# Lumen evaluation report",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. Every figure below comes from the "
        "JSON its harness wrote in this run (the key is given); charts show the same figures in %.",
        "",
    ]
    summary = ["| harness | result |", "|---|---|"]
    body: list[str] = []
    for harness in every:
        if chosen and harness.name not in chosen:
            continue
        part, ok = section(harness, args)
        body += part
        status = (
            "figures below"
            if ok
            else "skipped: not installed"
            if harness.command(args) is None
            else next((x for x in reversed(part) if x), "")[:160]
        )
        summary.append(f"| {harness.name} | {status} |")
    report = args.out / "report.md"
    report.write_text("\n".join([*lines, *summary, "", *body]) + "\n")
    print(f"wrote {report}")
    return report


if __name__ == "__main__":
    main()
