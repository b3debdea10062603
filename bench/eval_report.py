"""Run every evaluation harness that exists and write one Markdown report with a PNG chart per harness.

    python bench/eval_report.py [--pubmedqa-limit N] [--out bench/results/report]

Harnesses: bench/triage_eval.py, bench/ddi_eval.py, bench/regulatory_eval.py, bench/pubmedqa_eval.py (each
prints its own table and writes bench/results/<name>.json). A harness that fails or skips is listed as such;
the report charts the numeric metrics (0-1) of each JSON result.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
HARNESSES = [
    ("triage", "triage_eval.py", "triage_eval.json"),
    ("ddi", "ddi_eval.py", "ddi_eval.json"),
    ("regulatory", "regulatory_eval.py", "regulatory_eval.json"),
    ("pubmedqa", "pubmedqa_eval.py", "pubmedqa.json"),
]


def metrics(result: Any, prefix: str = "") -> dict[str, float]:
    """Numeric scores in [0, 1] anywhere in the result (nested keys joined with '.'), at most 12."""
    found: dict[str, float] = {}
    if isinstance(result, dict):
        for key, value in result.items():
            name = f"{prefix}{key}"
            if isinstance(value, bool):
                continue
            if isinstance(value, int | float) and 0 <= value <= 1 and not key.endswith("seconds"):
                found[name] = float(value)
            elif isinstance(value, dict) and prefix.count(".") < 2:
                found.update(metrics(value, name + "."))
    return dict(list(found.items())[:12])


def chart(name: str, values: dict[str, float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 0.45 * max(3, len(values)) + 1))
    labels = list(values)
    ax.barh(labels, [values[k] for k in labels], color="#3b6ea5")
    ax.set_xlim(0, 1)
    ax.invert_yaxis()
    ax.set_title(name)
    for i, k in enumerate(labels):
        ax.text(min(values[k] + 0.01, 0.9), i, f"{values[k]:.3f}", va="center", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pubmedqa-limit", type=int, default=50)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "report")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Lumen evaluation report",
        "",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
    ]
    for name, script, result_file in HARNESSES:
        path = HERE / script
        lines += [f"## {name}", ""]
        if not path.exists():
            lines += ["Harness not present in this build.", ""]
            continue
        command = [sys.executable, str(path)]
        if name == "pubmedqa":
            command += ["--limit", str(args.pubmedqa_limit)]
        started = time.perf_counter()
        run = subprocess.run(command, capture_output=True, text=True, cwd=HERE.parent)
        took = time.perf_counter() - started
        lines += [
            f"`{' '.join(['python', f'bench/{script}', *command[2:]])}` "
            f"exited {run.returncode} in {took:.0f} s.",
            "",
        ]
        lines += ["```", *(run.stdout.strip().splitlines()[-25:] or ["(no output)"]), "```", ""]
        result = HERE / "results" / result_file
        if run.returncode != 0 or not result.exists():
            tail = (run.stderr.strip().splitlines() or [""])[-1][:300]
            lines += [f"No result: {tail}", ""]
            continue
        values = metrics(json.loads(result.read_text()))
        if values:
            png = args.out / f"{name}.png"
            chart(name, values, png)
            lines += [f"![{name}]({png.name})", ""]
    report = args.out / "report.md"
    report.write_text("\n".join(lines) + "\n")
    print(f"wrote {report}")


if __name__ == "__main__":
    main()
