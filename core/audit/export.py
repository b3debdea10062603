"""Offline verification of an audit export: every record's hash, every link, and the signed checkpoint.

A customer runs this (or `lumen audit verify-export FILE`) with the public key from
/.well-known/lumen-audit-key; it needs no access to Lumen.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec

from lumen.core.audit.service import CANONICAL_FIELDS, GENESIS, ChainReport
from lumen.core.audit.signing import verify_signature

__all__ = ["verify_export"]


def _canonical(line: dict[str, Any]) -> bytes:
    data = {name: line.get(name) for name in CANONICAL_FIELDS}
    data["occurred_at"] = datetime.fromisoformat(str(line["occurred_at"])).isoformat(timespec="microseconds")
    return msgspec.json.encode(data, order="sorted")


def verify_export(lines: Iterable[bytes | str], public_key_b64: str) -> ChainReport:
    checked, prev, expected_seq = 0, "", 0
    first: tuple[int, str] | None = None  # (seq, prev_hash) of the first record: checked against the anchor
    checkpoint: dict[str, Any] | None = None
    signature = ""

    def bad(seq: int, reason: str) -> ChainReport:
        return ChainReport(ok=False, checked=checked, first_bad={"seq": seq, "reason": reason})

    for raw in lines:
        if not raw.strip():
            continue
        line = msgspec.json.decode(raw)
        if "checkpoint" in line:
            checkpoint, signature = line["checkpoint"], line["signature"]
            continue
        if checkpoint is not None:
            return bad(int(line.get("seq", 0)), "records after the checkpoint")
        if first is None:
            first = (int(line["seq"]), str(line["prev_hash"]))
            expected_seq, prev = first
        if line["seq"] != expected_seq:
            return bad(expected_seq, f"sequence gap: expected {expected_seq}, found {line['seq']}")
        if line["prev_hash"] != prev:
            return bad(line["seq"], "previous-hash link broken")
        if hashlib.sha256(_canonical(line)).hexdigest() != line["hash"]:
            return bad(line["seq"], "content does not match its hash")
        prev, expected_seq, checked = line["hash"], expected_seq + 1, checked + 1
    if checkpoint is None:
        return bad(expected_seq, "no signed checkpoint: the export is truncated")
    if not verify_signature(public_key_b64, msgspec.json.encode(checkpoint, order="sorted"), signature):
        return bad(expected_seq, "checkpoint signature does not verify with this public key")
    base_seq, base_hash = int(checkpoint.get("base_seq", 0)), str(checkpoint.get("base_hash", GENESIS.hex()))
    if first is not None and first != (base_seq + 1, base_hash):
        return bad(
            first[0], "the first record does not start where the signed checkpoint says the chain starts"
        )
    if checkpoint["count"] != checked or (checkpoint["head_hash"] or base_hash) != (prev or base_hash):
        return bad(expected_seq, "records do not match the signed checkpoint (count or head hash)")
    return ChainReport(ok=True, checked=checked)
