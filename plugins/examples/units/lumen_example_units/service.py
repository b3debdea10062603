"""Unit conversion from a curated table, never from a model: the same input always gives the same number,
and every number names the published fact it comes from (ARCHITECTURE §6.1).

Each analyte has exactly two units (SI and conventional) and one relation between them, written as its
source states it (`to = from x multiply + add`); the reverse direction is derived, so the table holds one
fact per analyte and cannot disagree with itself. Input errors name the query parameter at fault.
"""

from __future__ import annotations

import functools
import math
from importlib import resources

import msgspec

from lumen.plugins.sdk import KnowledgeSource
from lumen_example_units.schemas import Analyte, ConversionKnowledge

__all__ = ["Conversion", "ConversionTable", "InvalidParameter", "conversion_table"]

KNOWLEDGE_FILE = "conversions.json"


class InvalidParameter(ValueError):
    """Bad input; `parameter` is the query parameter to name in the answer."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


class Conversion(msgspec.Struct, frozen=True, kw_only=True):
    analyte: str
    value: float
    from_unit: str
    to_unit: str
    result: float
    factor: float
    offset: float
    entry: Analyte


def _unit_key(unit: str) -> str:
    """Spellings people type for one unit: any case, spaces, `u`, `µ` (U+00B5) or `μ` (U+03BC) for micro."""
    text = "".join(unit.split()).casefold()  # casefold turns the micro sign into the Greek mu
    return "μ" + text[1:] if text.startswith("u") else text


def _analyte_key(name: str) -> str:
    return "_".join(name.strip().casefold().replace("-", " ").split())


def _tidy(number: float) -> float:
    """Ten significant digits: 1/18.016 prints as 0.05550621669, not with binary noise."""
    return float(f"{number:.10g}") + 0.0


class ConversionTable:
    def __init__(self, knowledge: ConversionKnowledge) -> None:
        self.knowledge = knowledge
        self._units: dict[str, dict[str, str]] = {}
        for key, entry in knowledge.analytes.items():
            if key != _analyte_key(key):
                raise ValueError(f"analyte {key!r}: keys are lower-case words joined by `_`")
            units = {entry.si, entry.conventional}
            if len(units) != 2 or {entry.relation.from_, entry.relation.to} != units:
                raise ValueError(f"analyte {key!r}: the relation must link its SI and conventional units")
            self._units[key] = {_unit_key(u): u for u in units}

    @classmethod
    def from_json(cls, raw: bytes) -> ConversionTable:
        return cls(msgspec.json.decode(raw, type=ConversionKnowledge))

    @property
    def version(self) -> str:
        return self.knowledge.version

    def analytes(self) -> dict[str, Analyte]:
        return dict(sorted(self.knowledge.analytes.items()))

    def knowledge_source(self) -> KnowledgeSource:
        k = self.knowledge
        return KnowledgeSource(
            name=k.name,
            version=k.version,
            description=k.description,
            provenance=k.provenance,
            reviewed=k.reviewed,
            entries=len(k.analytes),
        )

    def _entry(self, analyte: str) -> tuple[str, Analyte]:
        key = _analyte_key(analyte)
        entry = self.knowledge.analytes.get(key)
        if entry is None:
            raise InvalidParameter(
                "analyte", f"unknown analyte {analyte!r}; GET /v1/units/analytes lists the supported ones"
            )
        return key, entry

    def _unit(self, analyte: str, entry: Analyte, unit: str, parameter: str) -> str:
        found = self._units[analyte].get(_unit_key(unit))
        if found is None:
            raise InvalidParameter(
                parameter, f"{unit!r} is not a unit of {analyte} (use {entry.conventional} or {entry.si})"
            )
        return found

    def convert(
        self,
        analyte: str,
        value: float,
        from_unit: str,
        to_unit: str | None,
        *,
        default_system: str = "SI",
        decimals: int = 2,
    ) -> Conversion:
        """Convert `value`, the result rounded to `decimals`; `to_unit` None means `default_system`'s unit."""
        key, entry = self._entry(analyte)
        source_unit = self._unit(key, entry, from_unit, "from")
        if to_unit is None:
            target_unit = entry.si if default_system == "SI" else entry.conventional
        else:
            target_unit = self._unit(key, entry, to_unit, "to")
        if not math.isfinite(value) or value < 0:
            raise InvalidParameter("value", f"must be a finite number of at least 0, not {value!r}")
        relation = entry.relation
        if source_unit == target_unit:
            factor, offset = 1.0, 0.0
        elif source_unit == relation.from_:
            factor, offset = relation.multiply, relation.add
        else:
            factor, offset = 1 / relation.multiply, -relation.add / relation.multiply
        result = value * factor + offset
        if result < 0:  # only an affine relation (HbA1c) gets here: below the equation's range
            raise InvalidParameter(
                "value", f"{value} {source_unit} is below the range of {key}'s conversion (result < 0)"
            )
        return Conversion(
            analyte=key,
            value=value,
            from_unit=source_unit,
            to_unit=target_unit,
            result=round(result, decimals) + 0.0,  # + 0.0: never answer -0.0
            factor=_tidy(factor),
            offset=_tidy(offset),
            entry=entry,
        )


@functools.cache
def conversion_table() -> ConversionTable:
    """The table shipped in the package, loaded and checked once per process."""
    raw = (resources.files("lumen_example_units") / "knowledge" / KNOWLEDGE_FILE).read_bytes()
    return ConversionTable.from_json(raw)
