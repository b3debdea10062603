"""Triage evaluation: how often the rule-based triage reaches the right level on written vignettes.

Reports exact 5-level accuracy (where a gold `level` is given), 3-level accuracy (emergent / non_emergent /
self_care), under-triage and over-triage rates on the 3-level scale, per-level recall, and lists every
emergent case triaged below emergent (the goal is none). Runs the engine in-process, exactly as the
`POST /v1/triage/assess` route does, without a server.

    python bench/triage_eval.py                                  # bench/triage_vignettes.jsonl
    python bench/triage_eval.py --data other.jsonl --out bench/results/other.json

The data is JSONL, one case a line: {"text": ..., "level3": ...} at least; optional "level" (5-level gold),
"age", "sex", "pregnant", "id". Prints a table and writes JSON to bench/results/triage_eval.json.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

from lumen.plugins.triage.schemas import LEVEL3, LEVELS, TriageSettings
from lumen.plugins.triage.service import load_triage

HERE = Path(__file__).parent
LEVEL3_ORDER = ["emergent", "non_emergent", "self_care"]


def evaluate(rows: list[dict[str, Any]]) -> dict[str, Any]:
    triage = load_triage()
    settings = TriageSettings()
    cases = []
    for row in rows:
        state = triage.read(row["text"], age=row.get("age"), sex=row.get("sex"), pregnant=row.get("pregnant"))
        result = triage.assess(state, settings)
        gold3 = row.get("level3") or LEVEL3[row["level"]]
        cases.append(
            {
                "id": row.get("id"),
                "gold": row.get("level"),
                "gold3": gold3,
                "got": result.level,
                "got3": result.level3,
                "red_flags": [f.id for f in result.red_flags],
                "complaints": result.complaints,
                "text": row["text"],
            }
        )
    n = len(cases)
    exact = [c for c in cases if c["gold"]]
    order = LEVEL3_ORDER.index
    under = [c for c in cases if order(c["got3"]) > order(c["gold3"])]
    over = [c for c in cases if order(c["got3"]) < order(c["gold3"])]
    recall5 = {}
    for level in LEVELS:
        of = [c for c in exact if c["gold"] == level]
        if of:
            recall5[level] = {"n": len(of), "recall": sum(c["got"] == level for c in of) / len(of)}
    recall3 = {}
    for level in LEVEL3_ORDER:
        of = [c for c in cases if c["gold3"] == level]
        if of:
            recall3[level] = {"n": len(of), "recall": sum(c["got3"] == level for c in of) / len(of)}
    return {
        "knowledge_version": triage.version,
        "cases": n,
        "exact_level_accuracy": (sum(c["got"] == c["gold"] for c in exact) / len(exact)) if exact else None,
        "exact_level_cases": len(exact),
        "level3_accuracy": sum(c["got3"] == c["gold3"] for c in cases) / n,
        "under_triage_rate": len(under) / n,
        "over_triage_rate": len(over) / n,
        "emergent_under_triaged": [c for c in under if c["gold3"] == "emergent"],
        "recall_5_level": recall5,
        "recall_3_level": recall3,
        "confusion_3_level": dict(Counter(f"{c['gold3']}->{c['got3']}" for c in cases)),
        "errors": [c for c in cases if c["got3"] != c["gold3"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE / "triage_vignettes.jsonl")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "triage_eval.json")
    parser.add_argument("--show-errors", action="store_true", help="print every 3-level miss")
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()]
    report = evaluate(rows)
    pct = lambda x: "n/a" if x is None else f"{100 * x:.1f}%"  # noqa: E731
    print(
        f"triage evaluation: {args.data.name}, {report['cases']} cases, "
        f"knowledge {report['knowledge_version']}"
    )
    print("| metric | value |\n|---|---|")
    print(
        f"| exact 5-level accuracy ({report['exact_level_cases']} with a 5-level gold) "
        f"| {pct(report['exact_level_accuracy'])} |"
    )
    print(f"| 3-level accuracy | {pct(report['level3_accuracy'])} |")
    print(f"| under-triage rate (3-level) | {pct(report['under_triage_rate'])} |")
    print(f"| over-triage rate (3-level) | {pct(report['over_triage_rate'])} |")
    print(f"| emergent cases triaged below emergent | {len(report['emergent_under_triaged'])} |")
    print("\n| level | n | recall |\n|---|---|---|")
    for level, row in {**report["recall_5_level"], **report["recall_3_level"]}.items():
        print(f"| {level} | {row['n']} | {pct(row['recall'])} |")
    if args.show_errors:
        for c in report["errors"]:
            print(
                f"  {c['gold3']:>12} -> {c['got3']:<12} {c['got']:<20} {c['red_flags'][:3]} "
                f"{c['complaints'][:3]} | {c['text'][:90]}"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
