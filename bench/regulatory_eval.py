"""Evaluation of the regulatory plugin (issue 9), run offline against the packaged knowledge:

1. Retrieval: recall@5, hit@5 and MRR of the catalog ranking (the ranking /ask uses when platform retrieval is
   unavailable) on bench/regulatory_questions.jsonl (question -> catalog ids / section ids; the same set
   serves the retrieval issue's recall@5).
2. Citation faithfulness: every citation of every /ask answer is among the retrieved candidates, with no model
   (structured extract), with a model that cites only what it was given, and with a hostile model that
   invents ids and sections (rejected, regenerated once, then the extract).
3. Abstention: off-topic questions (bench/regulatory_offtopic.jsonl) must abstain; in-scope ones must not.
4. Gap analysis: precision and recall of missing-element findings on the SOP fixtures
   (tests/plugins/regulatory/fixtures/sops.json), each SOP written with known omitted elements.

    .venv/bin/python bench/regulatory_eval.py

Prints tables and writes bench/results/regulatory_eval.json (or `--out PATH`).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

from lumen.plugins.regulatory.schemas import RegulatorySettings
from lumen.plugins.regulatory.service import (
    CANDIDATES,
    ask,
    load_catalog,
    load_gap_analyzer,
    rank_for_question,
)
from lumen.plugins.sdk import Generation

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "bench" / "regulatory_questions.jsonl"
# Written after the ranking's vocabulary was settled and never used to change it: an honest unseen check.
HOLDOUT = ROOT / "bench" / "regulatory_questions_holdout.jsonl"
OFFTOPIC = ROOT / "bench" / "regulatory_offtopic.jsonl"
FIXTURES = ROOT / "tests" / "plugins" / "regulatory" / "fixtures"
RESULTS = ROOT / "bench" / "results" / "regulatory_eval.json"


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _gen(text: str) -> Generation:
    return Generation(text=text, model="eval", prompt_tokens=0, completion_tokens=0, finish_reason="stop")


async def faithful_model(messages: Any, **_: Any) -> Generation:
    """Cites the first passage id it was given (what a well-behaved model does)."""
    ids = re.findall(r"^\[([a-z0-9.()-]+)\]", messages[0].content, re.MULTILINE)
    return _gen(f"The passage answers this directly [{ids[0]}].")


async def hostile_model(messages: Any, **_: Any) -> Generation:
    """Invents a citation and a CFR section that were never retrieved."""
    return _gen("Per 21 CFR 211.999 you must do it [us-21cfr-211.999] [eu-gmp-ch99-1.1].")


async def retrieval_table(path: Path = QUESTIONS) -> dict[str, Any]:
    catalog = load_catalog()
    rows = []
    for q in _lines(path):
        hits, _ = await rank_for_question(catalog, q["question"], q["jurisdictions"], None)
        ranked = [h.requirement.id for h in hits]
        top5 = ranked[:5]
        relevant = set(q["relevant"])
        recall = len(relevant & set(top5)) / len(relevant)
        rr = next((1 / (i + 1) for i, r in enumerate(ranked) if r in relevant), 0.0)
        rows.append(
            {
                "id": q["id"],
                "recall@5": recall,
                "hit@5": float(bool(relevant & set(top5))),
                "rr": rr,
                "top5": top5,
                "relevant": sorted(relevant),
            }
        )
    n = len(rows)
    summary = {
        "questions": n,
        "recall@5": round(sum(r["recall@5"] for r in rows) / n, 3),
        "hit@5": round(sum(r["hit@5"] for r in rows) / n, 3),
        "mrr": round(sum(r["rr"] for r in rows) / n, 3),
        "misses": [r for r in rows if r["recall@5"] < 1],
    }
    return summary


async def faithfulness_table() -> dict[str, Any]:
    catalog = load_catalog()
    settings = RegulatorySettings()
    out: dict[str, Any] = {}
    questions = _lines(QUESTIONS)
    for name, model in (
        ("no model (extract)", None),
        ("faithful model", faithful_model),
        ("hostile model", hostile_model),
    ):
        citations = outside = answered = model_answers = 0
        for q in questions:
            hits, _ = await rank_for_question(catalog, q["question"], q["jurisdictions"], None)
            retrieved = {h.requirement.id for h in hits[:CANDIDATES]}
            result = await ask(
                catalog, q["question"], q["jurisdictions"], settings, retrieve=None, generate=model
            )
            if result.abstained:
                continue
            answered += 1
            model_answers += result.answer_source == "model"
            ids = {c.source_id for c in result.citations}
            ids |= {
                m.lower()
                for m in re.findall(r"\b(?:us|eu|uk|ich)-[a-z0-9][a-z0-9.()-]*[a-z0-9]", result.answer)
            }
            citations += len(ids)
            outside += len(ids - retrieved)
        out[name] = {
            "answered": answered,
            "model_answers": model_answers,
            "citations": citations,
            "outside_retrieved": outside,
        }
    return out


async def abstention_table() -> dict[str, Any]:
    catalog = load_catalog()
    settings = RegulatorySettings()
    off = _lines(OFFTOPIC)
    on = _lines(QUESTIONS)
    off_abstained = [
        q["id"]
        for q in off
        if (
            await ask(catalog, q["question"], q["jurisdictions"], settings, retrieve=None, generate=None)
        ).abstained
    ]
    on_abstained = [
        q["id"]
        for q in on
        if (
            await ask(catalog, q["question"], q["jurisdictions"], settings, retrieve=None, generate=None)
        ).abstained
    ]
    return {
        "offtopic": len(off),
        "offtopic_abstained": len(off_abstained),
        "in_scope": len(on),
        "in_scope_abstained": len(on_abstained),
        "in_scope_abstained_ids": on_abstained,
    }


def gap_table(folder: Path = FIXTURES, manifest_name: str = "sops.json") -> dict[str, Any]:
    analyzer = load_gap_analyzer()
    manifest = json.loads((folder / manifest_name).read_text(encoding="utf-8"))
    tp = fp = fn = 0
    rows = []
    for item in manifest:
        text = (folder / item["file"]).read_text(encoding="utf-8")
        result = analyzer.analyse(text, item["document_type"], item["jurisdictions"])
        predicted = {e.id for e in result.elements if e.status == "missing"}
        # An omitted element that no asked jurisdiction requires is not expected to be reported.
        expected = set(item["omitted"]) & {e.id for e in result.elements}
        rows.append(
            {
                "file": item["file"],
                "type": item["document_type"],
                "elements": len(result.elements),
                "expected_missing": len(expected),
                "predicted_missing": len(predicted),
                "false_missing": sorted(predicted - expected),
                "undetected_missing": sorted(expected - predicted),
                "score": result.score,
            }
        )
        tp += len(predicted & expected)
        fp += len(predicted - expected)
        fn += len(expected - predicted)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return {
        "sops": len(rows),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": round(precision, 3),
        "recall": round(recall, 3),
        "rows": rows,
    }


async def main() -> int:
    retrieval = await retrieval_table()
    holdout = await retrieval_table(HOLDOUT)
    faithfulness = await faithfulness_table()
    abstention = await abstention_table()
    gap = gap_table()
    # Written after the element patterns were settled, in other styles, and never used to change them.
    gap_holdout = gap_table(FIXTURES / "holdout", "manifest.json")
    # Written last, after the held-out round had been used to widen the patterns: never used to change them.
    gap_unseen = gap_table(FIXTURES / "unseen", "manifest.json")
    print("Retrieval (catalog ranking, lexical BM25; platform retrieval not fused here)")
    print("| set | questions | recall@5 | hit@5 | MRR |\n|---|---|---|---|---|")
    for name, table in (("evaluation set", retrieval), ("held-out set", holdout)):
        print(
            f"| {name} | {table['questions']} | {table['recall@5']:.3f} | {table['hit@5']:.3f} "
            f"| {table['mrr']:.3f} |"
        )
    for miss in retrieval["misses"] + holdout["misses"]:
        print(f"  miss {miss['id']}: want {miss['relevant']} got {miss['top5']}")
    print("\nCitation faithfulness (/ask over every evaluation question)")
    print("| generator | answered | model answers | citations | outside retrieved |\n|---|---|---|---|---|")
    for name, row in faithfulness.items():
        print(
            f"| {name} | {row['answered']} | {row['model_answers']} | {row['citations']} "
            f"| {row['outside_retrieved']} |"
        )
    print("\nAbstention")
    print("| set | questions | abstained |\n|---|---|---|")
    print(f"| off-topic | {abstention['offtopic']} | {abstention['offtopic_abstained']} |")
    print(f"| in-scope | {abstention['in_scope']} | {abstention['in_scope_abstained']} |")
    for title, table in (("SOP fixtures", gap), ("held-out SOPs", gap_holdout), ("unseen SOPs", gap_unseen)):
        print(f"\nGap analysis ({table['sops']} {title}): missing-element findings")
        print("| SOP | type | elements | omitted | flagged missing | false missing | undetected |")
        print("|---|---|---|---|---|---|---|")
        for r in table["rows"]:
            print(
                f"| {r['file']} | {r['type']} | {r['elements']} | {r['expected_missing']} "
                f"| {r['predicted_missing']} "
                f"| {', '.join(r['false_missing']) or '-'} | {', '.join(r['undetected_missing']) or '-'} |"
            )
        print(
            f"| **total** | | | {table['tp'] + table['fn']} | {table['tp'] + table['fp']} "
            f"| {table['fp']} | {table['fn']} |"
        )
        print(f"precision {table['precision']:.3f}  recall {table['recall']:.3f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "retrieval": retrieval,
                "retrieval_holdout": holdout,
                "faithfulness": faithfulness,
                "abstention": abstention,
                "gap_analysis": gap,
                "gap_analysis_holdout": gap_holdout,
                "gap_analysis_unseen": gap_unseen,
            },
            indent=1,
            default=str,
        ),
        encoding="utf-8",
    )
    return 0


if __name__ == "__main__":
    # `--out PATH`: where the JSON goes (bench/eval_report.py passes its results folder).
    if "--out" in sys.argv[1:-1]:
        RESULTS = Path(sys.argv[sys.argv.index("--out") + 1])
    sys.exit(asyncio.run(main()))
