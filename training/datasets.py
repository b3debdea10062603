"""Validating a tenant's training examples: schema, lengths, duplicates, a PHI scan, and the train/eval split.

Examples come as chat transcripts (`{"messages": [{"role", "content"}, ...]}`, ending with the assistant's
answer, which is what the adapter learns) or as `{"instruction", "input"?, "response"}` pairs, which become
a user turn and an assistant turn. Every example is checked on its own; a bad one is left out and named in the
report with the reason, and the rest go on (a dataset with too few good examples is refused as a whole).

PHI scan: obvious identifiers (e-mail addresses, phone numbers, NHS numbers, US SSNs, dates of birth) are
found by pattern. With `phi="redact"` (the default) they are replaced by a placeholder such as `[EMAIL]`; with
`phi="reject"` the example is left out. This catches the obvious, not everything: names and free-text
identifiers are not detected, so the tenant stays responsible for de-identifying its data. The report names
the kinds found and where, never the text.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "MAX_CONTENT_CHARS",
    "DatasetError",
    "ValidatedDataset",
    "parse_jsonl",
    "scan_phi",
    "validate_examples",
]

MAX_MESSAGES = 64
MAX_CONTENT_CHARS = 8000
MAX_EXAMPLE_CHARS = 32000
MIN_EXAMPLES = 4
MAX_REPORTED = 200
ROLES = ("system", "user", "assistant")


class DatasetError(ValueError):
    """The dataset as a whole cannot be used; the message says why (shown to the caller)."""


# --- PHI ------------------------------------------------------------------------------------------------

_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_SSN = re.compile(r"\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b")
_NHS = re.compile(r"\b\d{3}[ -]?\d{3}[ -]?\d{4}\b")
_PHONE = re.compile(
    r"(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{2,5}\)[\s.-]?|\d{2,5}[\s.-])\d{3,4}[\s.-]?\d{3,4}\b"
)
_DATE = (
    r"(?:\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}|\d{4}-\d{2}-\d{2}"
    r"|\d{1,2}\s+[A-Za-z]{3,9}\.?\s+\d{4}|[A-Za-z]{3,9}\.?\s+\d{1,2},?\s+\d{4})"
)
_DOB = re.compile(
    r"\b(?:d\.?o\.?b\.?|date\s+of\s+birth|born(?:\s+on)?|birth\s*date|birthday)\s*(?:is|was|:|-)?\s*" + _DATE,
    re.IGNORECASE,
)

PHI_KINDS = ("email", "ssn", "nhs_number", "phone", "date_of_birth")


def _nhs_valid(digits: str) -> bool:
    """The NHS number's modulus-11 check digit (NHS Data Dictionary), so ten random digits rarely match."""
    if len(digits) != 10:
        return False
    total = sum(int(d) * (10 - i) for i, d in enumerate(digits[:9]))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(digits[9])


def scan_phi(text: str) -> tuple[str, list[str]]:
    """The text with obvious identifiers replaced by placeholders, and the kinds found (in order)."""
    found: list[str] = []

    def sub(pattern: re.Pattern[str], kind: str, label: str, text: str, check: Any = None) -> str:
        def replace(match: re.Match[str]) -> str:
            if check is not None and not check(match.group(0)):
                return match.group(0)
            found.append(kind)
            return label

        return pattern.sub(replace, text)

    text = sub(_EMAIL, "email", "[EMAIL]", text)
    text = sub(_DOB, "date_of_birth", "[DATE_OF_BIRTH]", text)
    text = sub(_SSN, "ssn", "[SSN]", text)
    text = sub(_NHS, "nhs_number", "[NHS_NUMBER]", text, lambda m: _nhs_valid(re.sub(r"\D", "", m)))
    text = sub(_PHONE, "phone", "[PHONE]", text, lambda m: 9 <= len(re.sub(r"\D", "", m)) <= 15)
    return text, found


# --- examples -------------------------------------------------------------------------------------------


@dataclass
class ValidatedDataset:
    train: list[dict[str, Any]]
    eval: list[dict[str, Any]]
    report: dict[str, Any]
    sha256: str


@dataclass
class _Report:
    received: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)
    redacted: list[dict[str, Any]] = field(default_factory=list)
    rejected_count: int = 0
    redacted_count: int = 0
    duplicates: int = 0

    def reject(self, index: int, reason: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REPORTED:
            self.rejected.append({"index": index, "reason": reason})


def _normalise(raw: Any) -> list[dict[str, str]]:
    """The example as a list of messages, or a ValueError naming what is wrong."""
    if not isinstance(raw, dict):
        raise ValueError("an example must be a JSON object")
    if "messages" in raw:
        extra = set(raw) - {"messages"}
        if extra:
            raise ValueError(f"unknown field {sorted(extra)[0]!r}")
        messages = raw["messages"]
        if not isinstance(messages, list) or not messages:
            raise ValueError("messages: a non-empty list is required")
        if len(messages) > MAX_MESSAGES:
            raise ValueError(f"messages: at most {MAX_MESSAGES}")
        out = []
        for i, m in enumerate(messages):
            if not isinstance(m, dict) or set(m) - {"role", "content"}:
                raise ValueError(f"messages[{i}]: an object with only role and content")
            role, content = m.get("role"), m.get("content")
            if role not in ROLES:
                raise ValueError(f"messages[{i}].role: one of {', '.join(ROLES)}")
            if not isinstance(content, str) or not content.strip():
                raise ValueError(f"messages[{i}].content: a non-empty string is required")
            out.append({"role": role, "content": content})
    elif "instruction" in raw:
        extra = set(raw) - {"instruction", "input", "response"}
        if extra:
            raise ValueError(f"unknown field {sorted(extra)[0]!r}")
        instruction, extra_input, response = raw.get("instruction"), raw.get("input", ""), raw.get("response")
        if not isinstance(instruction, str) or not instruction.strip():
            raise ValueError("instruction: a non-empty string is required")
        if not isinstance(extra_input, str):
            raise ValueError("input: a string")
        if not isinstance(response, str) or not response.strip():
            raise ValueError("response: a non-empty string is required")
        prompt = instruction if not extra_input.strip() else f"{instruction}\n\n{extra_input}"
        out = [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}]
    else:
        raise ValueError("an example needs `messages`, or `instruction` and `response`")
    if out[-1]["role"] != "assistant":
        raise ValueError("the last message must be the assistant's answer (what the adapter learns)")
    if not any(m["role"] == "user" for m in out):
        raise ValueError("an example needs at least one user message")
    for i, m in enumerate(out):
        if len(m["content"]) > MAX_CONTENT_CHARS:
            raise ValueError(f"messages[{i}].content: longer than {MAX_CONTENT_CHARS} characters")
    if sum(len(m["content"]) for m in out) > MAX_EXAMPLE_CHARS:
        raise ValueError(f"the example is longer than {MAX_EXAMPLE_CHARS} characters in all")
    return out


def _key(messages: list[dict[str, str]]) -> str:
    flat = json.dumps([[m["role"], " ".join(m["content"].lower().split())] for m in messages])
    return hashlib.sha256(flat.encode()).hexdigest()


def validate_examples(
    examples: list[Any],
    *,
    phi: Literal["redact", "reject"] = "redact",
    eval_fraction: float = 0.1,
    max_examples: int = 5000,
    seed: int = 0,
) -> ValidatedDataset:
    if len(examples) > max_examples:
        raise DatasetError(f"examples: at most {max_examples} per dataset (got {len(examples)})")
    report = _Report(received=len(examples))
    seen: set[str] = set()
    accepted: list[dict[str, Any]] = []
    for index, raw in enumerate(examples):
        try:
            messages = _normalise(raw)
        except ValueError as exc:
            report.reject(index, f"schema: {exc}")
            continue
        kinds: list[str] = []
        cleaned = []
        for m in messages:
            text, found = scan_phi(m["content"])
            kinds += found
            cleaned.append({"role": m["role"], "content": text})
        if kinds:
            unique = sorted(set(kinds))
            if phi == "reject":
                report.reject(index, f"phi: {', '.join(unique)} found")
                continue
            report.redacted_count += 1
            if len(report.redacted) < MAX_REPORTED:
                report.redacted.append({"index": index, "kinds": unique})
        key = _key(cleaned)
        if key in seen:
            report.duplicates += 1
            report.reject(index, "duplicate of an earlier example")
            continue
        seen.add(key)
        accepted.append({"messages": cleaned})
    if len(accepted) < MIN_EXAMPLES:
        raise DatasetError(
            f"examples: {len(accepted)} usable example(s) after validation; "
            f"at least {MIN_EXAMPLES} are needed "
            f"(rejected: {report.rejected[:5]})"
        )
    order = list(range(len(accepted)))
    random.Random(seed).shuffle(order)  # noqa: S311 - a reproducible split, not a secret
    n_eval = max(1, round(len(accepted) * eval_fraction))
    eval_rows = [accepted[i] for i in sorted(order[:n_eval])]
    train_rows = [accepted[i] for i in sorted(order[n_eval:])]
    digest = hashlib.sha256(json.dumps([train_rows, eval_rows], sort_keys=True).encode()).hexdigest()
    return ValidatedDataset(
        train=train_rows,
        eval=eval_rows,
        report={
            "received": report.received,
            "accepted": len(accepted),
            "rejected_count": report.rejected_count,
            "rejected": report.rejected,
            "redacted_count": report.redacted_count,
            "redacted": report.redacted,
            "duplicates": report.duplicates,
            "phi_mode": phi,
            "train": len(train_rows),
            "eval": len(eval_rows),
        },
        sha256=digest,
    )


def parse_jsonl(body: bytes) -> list[Any]:
    """One JSON value per non-empty line; a line that is not JSON is a DatasetError naming the line."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise DatasetError("body: the JSONL upload must be UTF-8") from None
    rows: list[Any] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except ValueError:
            raise DatasetError(f"body: line {number} is not valid JSON") from None
    if not rows:
        raise DatasetError("body: the JSONL upload holds no examples")
    return rows
