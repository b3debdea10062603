"""Dataset validation (training/datasets.py): schema, lengths, duplicates, the PHI scan, the split."""

from __future__ import annotations

import pytest

from lumen.training.datasets import (
    MAX_CONTENT_CHARS,
    DatasetError,
    parse_jsonl,
    scan_phi,
    validate_examples,
)


def chat(q: str, a: str) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


GOOD = [chat(f"What is item {i}?", f"It is item {i}.") for i in range(10)]


@pytest.mark.parametrize(
    ("text", "kind", "placeholder"),
    [
        ("Write to jane.doe@example.org for results.", "email", "[EMAIL]"),
        ("Call me on 07700 900123 tomorrow.", "phone", "[PHONE]"),
        ("Phone +1 (415) 555-0132 after six.", "phone", "[PHONE]"),
        ("Her NHS number is 943 476 5919.", "nhs_number", "[NHS_NUMBER]"),
        ("SSN 123-45-6789 on file.", "ssn", "[SSN]"),
        ("DOB: 12/03/1961, seen today.", "date_of_birth", "[DATE_OF_BIRTH]"),
        ("He was born on 4 March 1950.", "date_of_birth", "[DATE_OF_BIRTH]"),
    ],
)
def test_obvious_identifiers_are_found_and_redacted(text: str, kind: str, placeholder: str) -> None:
    cleaned, kinds = scan_phi(text)
    assert kind in kinds
    assert placeholder in cleaned


def test_clinical_numbers_are_not_mistaken_for_identifiers() -> None:
    text = "Take 500 mg every 4-6 hours, at most 4 g in 24 hours; BP 120/80; since 2019."
    assert scan_phi(text) == (text, [])


def test_ten_digits_failing_the_nhs_check_digit_are_not_an_nhs_number() -> None:
    _, kinds = scan_phi("Batch 943 476 5918 released.")
    assert "nhs_number" not in kinds


def test_redact_mode_keeps_the_example_and_reports_the_kinds_not_the_text() -> None:
    rows = [*GOOD, chat("My email is a.patient@example.com, what now?", "Rest and fluids.")]
    result = validate_examples(rows, phi="redact")
    texts = [m["content"] for r in result.train + result.eval for m in r["messages"]]
    assert any("[EMAIL]" in t for t in texts)
    assert not any("a.patient@example.com" in t for t in texts)
    assert result.report["redacted"] == [{"index": 10, "kinds": ["email"]}]
    assert "example.com" not in str(result.report)


def test_reject_mode_leaves_the_example_out_with_the_reason() -> None:
    rows = [*GOOD, chat("SSN 123-45-6789, which dose?", "Ask your pharmacist.")]
    result = validate_examples(rows, phi="reject")
    assert result.report["accepted"] == 10
    assert result.report["rejected"] == [{"index": 10, "reason": "phi: ssn found"}]


def test_duplicates_are_rejected_ignoring_case_and_spacing() -> None:
    rows = [*GOOD, chat("what is  ITEM 3?", "It is item 3.")]
    result = validate_examples(rows)
    assert result.report["duplicates"] == 1
    assert result.report["rejected"][0]["reason"] == "duplicate of an earlier example"


@pytest.mark.parametrize(
    ("example", "reason"),
    [
        ({"messages": [{"role": "user", "content": "Hi"}]}, "last message must be the assistant"),
        ({"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}, "role"),
        ({"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "y"}]}, "content"),
        ({"messages": [{"role": "assistant", "content": "y"}]}, "at least one user"),
        ({"messages": "hello"}, "non-empty list"),
        ({"prompt": "x", "completion": "y"}, "needs `messages`"),
        ({"messages": [], "extra": 1}, "unknown field"),
        ("just a string", "JSON object"),
        (chat("x" * (MAX_CONTENT_CHARS + 1), "y"), "longer than"),
        ({"instruction": "Summarise.", "response": ""}, "response"),
    ],
)
def test_a_malformed_example_is_rejected_with_a_reason_naming_the_problem(
    example: object, reason: str
) -> None:
    result = validate_examples([*GOOD, example])
    assert result.report["rejected_count"] == 1
    assert reason in result.report["rejected"][0]["reason"]


def test_instruction_pairs_become_chat_examples() -> None:
    rows = [
        {"instruction": f"Define term {i}.", "input": "Briefly.", "response": f"Term {i} means x."}
        for i in range(5)
    ]
    result = validate_examples(rows)
    first = (result.train + result.eval)[0]["messages"]
    assert [m["role"] for m in first] == ["user", "assistant"]
    assert first[0]["content"].endswith("Briefly.")


def test_the_split_is_deterministic_and_disjoint() -> None:
    a = validate_examples(GOOD, eval_fraction=0.2)
    b = validate_examples(GOOD, eval_fraction=0.2)
    assert (len(a.train), len(a.eval)) == (8, 2)
    assert a.train == b.train and a.eval == b.eval and a.sha256 == b.sha256
    assert not [r for r in a.eval if r in a.train]


def test_too_few_usable_examples_is_an_error() -> None:
    with pytest.raises(DatasetError, match="at least 4"):
        validate_examples([*GOOD[:3], {"bad": 1}])


def test_too_many_examples_is_an_error() -> None:
    with pytest.raises(DatasetError, match="at most 5"):
        validate_examples(GOOD, max_examples=5)


def test_jsonl_names_the_bad_line() -> None:
    with pytest.raises(DatasetError, match="line 2"):
        parse_jsonl(b'{"instruction": "a", "response": "b"}\n{not json\n')
