"""The safety envelope every clinical answer carries (ARCHITECTURE §6.2), shared by all clinical plugins so
that a patient app reads the same fields from interactions, triage, OTC and Q&A.

A response Struct includes it by inheritance:

    class CheckResult(SafetyEnvelope, kw_only=True):
        interactions: list[Interaction]

and fills it with `envelope(...)`-style keyword arguments. The disclaimer is Lumen's and cannot be removed;
a tenant's own text is appended by `disclaimer_for()`.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

__all__ = ["BASE_DISCLAIMER", "Citation", "SafetyEnvelope", "disclaimer_for"]

BASE_DISCLAIMER = (
    "Lumen gives general medical information, not a diagnosis or a substitute for advice from a doctor, "
    "pharmacist or other qualified professional who knows your situation. If you think it may be an "
    "emergency, call your local emergency number now."
)


class Citation(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Where a statement comes from: a curated knowledge entry or a retrieved passage."""

    source_id: str  # stable id: a knowledge entry id ("ddi:cyp3a4-strong-inhibitor") or "doc:<id>@<version>"
    title: str
    url: str | None = None
    publisher: str | None = None
    locator: str | None = None  # section id, page or span ("21 CFR 211.100(a)", "p. 4", "chars 120-380")
    quote: str | None = None  # the exact passage, when the citation is to retrieved text


class SafetyEnvelope(msgspec.Struct, kw_only=True):
    """Fields every clinical response carries. `confidence` is 0-1 and says how well the curated knowledge
    or retrieved evidence covers the question; `abstained` is true when it was too thin to answer."""

    disclaimer: str
    citations: list[Citation]
    confidence: float
    knowledge_version: str
    abstained: bool = False
    abstain_reason: str | None = None


def disclaimer_for(tenant_text: str | None = None, *extra: str) -> str:
    """Lumen's disclaimer, then any plugin-specific sentences, then the tenant's own text (never instead)."""
    parts: Sequence[str] = [BASE_DISCLAIMER, *extra, *([tenant_text.strip()] if tenant_text else [])]
    return " ".join(p for p in parts if p)
