"""Shapes of the units plugin: its knowledge file, its per-tenant settings and its responses (msgspec)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

__all__ = [
    "Analyte",
    "AnalyteOut",
    "AnalytePage",
    "ConversionKnowledge",
    "ConversionOut",
    "Relation",
    "UnitsSettings",
]

System = Literal["SI", "conventional"]


# --- the knowledge file (knowledge/conversions.json) ------------------------------------------------------


class Relation(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`to = from x multiply + add`, written the way the cited source states it."""

    from_: str = msgspec.field(name="from")
    to: str
    multiply: Annotated[float, msgspec.Meta(gt=0)]
    add: float = 0.0


class Analyte(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    si: str
    conventional: str
    relation: Relation
    source: str
    reviewed: str  # ISO date of the last review of this entry


class ConversionKnowledge(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    version: str
    description: str
    provenance: str
    reviewed: str
    analytes: dict[str, Analyte]


# --- per-tenant settings (PUT /v1/plugins/units {"settings": {...}}) --------------------------------------


class UnitsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    # Decimal places of `result`; labs report glucose to 1, creatinine to 0, so 0..6 covers them all.
    decimals: Annotated[int, msgspec.Meta(ge=0, le=6)] = 2
    # The target system when a conversion names no `to` unit.
    default_system: System = "SI"


# --- responses --------------------------------------------------------------------------------------------


class AnalyteOut(msgspec.Struct, kw_only=True):
    analyte: str
    name: str
    si: str
    conventional: str
    units: list[str]
    default_unit: str  # the tenant's default system's unit
    source: str
    reviewed: str


class AnalytePage(msgspec.Struct, kw_only=True):
    items: list[AnalyteOut]
    knowledge_version: str


class ConversionOut(msgspec.Struct, kw_only=True):
    analyte: str
    value: float
    from_: str = msgspec.field(name="from")
    to: str
    result: float  # rounded to the tenant's `decimals`
    factor: float  # result = value x factor + offset, before rounding
    offset: float
    source: str
    reviewed: str
    knowledge_version: str
    # Present when the policy decision obliges it (e.g. a test-mode key): say the number is not for care.
    notice: str | None = None
