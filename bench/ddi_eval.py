"""How well the interaction checker separates serious interactions from noise, on lists nobody on the team
wrote, plus a negative-control set written from facts.

  ONC high priority   (Phansalkar 2013, ../shared/benchmarks/ddi): share of pairs reported contraindicated
                      or major, overall and per class group. Goal >= 95%.
  ONC non-interruptive (Phansalkar 2012): share reported contraindicated or major. Goal <= 10%.
  negative controls   (bench/ddi_negative_controls.json): commonly co-prescribed pairs with no clinically
                      relevant interaction; share reported moderate or above. Goal <= 5%.
  coverage            share of the drug names in the ONC files the checker recognises.

Shares are over pairs whose two names are both recognised ("of recognised") and over all pairs ("of all",
unrecognised counting as not flagged). The ONC files are evaluation data only: nothing in the product is
copied from them or tuned to a pair in them. Two source typos the benchmark README documents
("Esmoprazole", "Voreconazole") are corrected here, in the evaluation, not in the product's names.

Run from the repository root in the project's virtualenv:

    python bench/ddi_eval.py

Prints a table and writes JSON to bench/results/ddi_eval.json (or `--out PATH`). Skips (exit 0) with a
message when ../shared/benchmarks is absent.
"""

from __future__ import annotations

import csv
import itertools
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from lumen.plugins.interactions.schemas import SEVERITY_RANK
from lumen.plugins.interactions.service import Checker, checker

ROOT = Path(__file__).resolve().parent
BENCHMARKS = ROOT.parent.parent / "shared" / "benchmarks" / "ddi"
NEGATIVES = ROOT / "ddi_negative_controls.json"
RESULTS = ROOT / "results"
SOURCE_TYPOS = {"esmoprazole": "esomeprazole", "voreconazole": "voriconazole"}  # documented in the README
MAJOR = SEVERITY_RANK["major"]
MODERATE = SEVERITY_RANK["moderate"]


def _name(text: str) -> str:
    return SOURCE_TYPOS.get(text.strip().lower(), text.strip())


def _worst(engine: Checker, a: str, b: str) -> tuple[int, bool]:
    """(highest severity rank between the two, both recognised)."""
    ra, rb = engine.resolve(_name(a)), engine.resolve(_name(b))
    if ra is None or rb is None:
        return 0, False
    best = 0
    for x in ra.ids:
        for y in rb.ids:
            if x != y:
                best = max([best, *(SEVERITY_RANK[f.severity] for f in engine.pair(x, y))])
    return best, True


def _pairs(path: Path) -> list[tuple[str, str]]:
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("$")
        if len(parts) >= 3 and parts[0] and parts[2]:
            pairs.append((parts[0], parts[2]))
    return pairs


def _share(hits: int, total: int) -> float:
    return round(100.0 * hits / total, 1) if total else 0.0


def evaluate_list(engine: Checker, pairs: list[tuple[str, str]], threshold: int) -> dict[str, Any]:
    recognised = flagged = 0
    missed: list[str] = []
    for a, b in pairs:
        rank, known = _worst(engine, a, b)
        recognised += known
        if rank >= threshold:
            flagged += 1
        elif known:
            missed.append(f"{a}+{b}")
    return {
        "pairs": len(pairs),
        "recognised": recognised,
        "flagged": flagged,
        "share_of_recognised": _share(flagged, recognised),
        "share_of_all": _share(flagged, len(pairs)),
        "examples_not_flagged": missed[:15],
    }


def evaluate_groups(engine: Checker, path: Path) -> list[dict[str, Any]]:
    groups: dict[str, dict[str, Any]] = defaultdict(lambda: {"pairs": 0, "recognised": 0, "flagged": 0})
    labels: dict[str, str] = {}
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            gid = row["group_id"]
            labels.setdefault(
                gid,
                f"{row['object_class'] or row['object_drug']} x "
                f"{row['precipitant_class'] or row['precipitant_drug']}",
            )
            rank, known = _worst(engine, row["object_drug"], row["precipitant_drug"])
            group = groups[gid]
            group["pairs"] += 1
            group["recognised"] += known
            group["flagged"] += rank >= MAJOR
    return [
        {
            "group": gid,
            "label": labels[gid],
            **g,
            "share_of_recognised": _share(g["flagged"], g["recognised"]),
        }
        for gid, g in sorted(groups.items(), key=lambda item: int(item[0]))
    ]


def evaluate_negatives(engine: Checker) -> dict[str, Any]:
    spec = json.loads(NEGATIVES.read_text(encoding="utf-8"))
    excluded = {frozenset(p[:2]) for p in spec["excluded"]}
    pairs = [p for p in itertools.combinations(spec["drugs"], 2) if frozenset(p) not in excluded]
    pairs += [tuple(p) for p in spec["extra_pairs"]]
    unknown = sorted({n for p in pairs for n in p if engine.resolve(n) is None})
    if unknown:
        raise SystemExit(f"negative controls name drugs the checker does not know: {unknown}")
    flagged = [f"{a}+{b}" for a, b in pairs if _worst(engine, a, b)[0] >= MODERATE]
    return {
        "pairs": len(pairs),
        "flagged_moderate_or_above": len(flagged),
        "share": _share(len(flagged), len(pairs)),
        "flagged": flagged,
    }


def coverage(engine: Checker, files: list[Path]) -> dict[str, Any]:
    names = sorted({_name(n) for f in files for p in _pairs(f) for n in p})
    missing = [n for n in names if engine.resolve(n) is None]
    return {
        "names": len(names),
        "recognised": len(names) - len(missing),
        "share": _share(len(names) - len(missing), len(names)),
        "missing": missing,
    }


def main(out: Path | None = None) -> int:
    if not BENCHMARKS.is_dir():
        print(f"skipped: {BENCHMARKS} is absent (the ONC lists live in ../shared/benchmarks, not in a clone)")
        return 0
    engine = checker()
    high = evaluate_list(engine, _pairs(BENCHMARKS / "ONC_High_Priority_Mapped.csv"), MAJOR)
    quiet = evaluate_list(engine, _pairs(BENCHMARKS / "ONC_Non_Interruptive_Mapped.csv"), MAJOR)
    groups = evaluate_groups(engine, BENCHMARKS / "onc_high_priority_pairs.csv")
    negatives = evaluate_negatives(engine)
    cover = coverage(
        engine, [BENCHMARKS / "ONC_High_Priority_Mapped.csv", BENCHMARKS / "ONC_Non_Interruptive_Mapped.csv"]
    )

    def goal(ok: bool) -> str:
        return "met" if ok else "NOT met"

    print(
        f"Interaction checker evaluation (knowledge {engine.version}, "
        f"{len(engine.knowledge.ingredients)} ingredients)"
    )
    print()
    print(f"{'measure':<44} {'pairs':>6} {'recog.':>6} {'flagged':>7} {'% recog.':>9} {'% all':>7}  goal")
    print(
        f"{'ONC high priority: contraindicated/major':<44} {high['pairs']:>6} {high['recognised']:>6} "
        f"{high['flagged']:>7} {high['share_of_recognised']:>8}% {high['share_of_all']:>6}%  >=95% "
        f"{goal(high['share_of_all'] >= 95)}"
    )
    print(
        f"{'ONC non-interruptive: contraindicated/major':<44} {quiet['pairs']:>6} {quiet['recognised']:>6} "
        f"{quiet['flagged']:>7} {quiet['share_of_recognised']:>8}% {quiet['share_of_all']:>6}%  <=10% "
        f"{goal(quiet['share_of_recognised'] <= 10)}"
    )
    print(
        f"{'negative controls: moderate or above':<44} {negatives['pairs']:>6} {negatives['pairs']:>6} "
        f"{negatives['flagged_moderate_or_above']:>7} {negatives['share']:>8}% "
        f"{negatives['share']:>6}%  <=5% "
        f"{goal(negatives['share'] <= 5)}"
    )
    print(
        f"{'coverage of ONC drug names':<44} {cover['names']:>6} {cover['recognised']:>6} {'':>7} "
        f"{cover['share']:>8}%"
    )
    print()
    print(f"{'ONC high-priority class group':<72} {'pairs':>5} {'recog.':>6} {'flagged':>7} {'%':>6}")
    for g in groups:
        print(
            f"{g['group'] + ' ' + g['label']:<72.72} {g['pairs']:>5} {g['recognised']:>6} {g['flagged']:>7} "
            f"{g['share_of_recognised']:>5}%"
        )
    if cover["missing"]:
        print(f"\nnot recognised: {', '.join(cover['missing'])}")
    if high["examples_not_flagged"]:
        print(f"high priority not flagged (first 15): {', '.join(high['examples_not_flagged'])}")
    if negatives["flagged"]:
        print(f"negative controls flagged: {', '.join(negatives['flagged'])}")
    out = out or RESULTS / "ddi_eval.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "knowledge_version": engine.version,
        "ingredients": len(engine.knowledge.ingredients),
        "onc_high_priority": high,
        "onc_non_interruptive": quiet,
        "onc_high_priority_groups": groups,
        "negative_controls": negatives,
        "coverage": cover,
    }
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    # `--out PATH`: where the JSON goes (bench/eval_report.py passes its results folder).
    sys.exit(main(Path(sys.argv[sys.argv.index("--out") + 1]) if "--out" in sys.argv[1:-1] else None))
