"""OTC recommendations: only for self-care problems, only after the interactions check.

1. Triage first, through the triage plugin's `triage.assess` service (or a triage result passed in). Anything
   above self-care returns the triage advice instead of products: an emergency is never answered with a
   shopping list.
2. Candidates are the curated products indicated for the recognised complaints.
3. Each candidate is checked against the patient: age limits, pregnancy, conditions, allergies, and then
   every candidate together with the current medicines through the interactions plugin's
   `interactions.check` service. Contraindicated or major interactions exclude it; moderate and minor ones
   are shown with it. If that service is missing, `ctx.service` raises a 503 and nothing is recommended
   (fail closed); if a candidate's ingredient is not recognised by the check while the patient takes other
   medicines, it is excluded as unchecked.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import msgspec
import structlog

from lumen.plugins.otc.schemas import (
    Excluded,
    Option,
    OTCKnowledge,
    OTCSettings,
    PatientIn,
    Product,
    Recommendation,
    RecommendRequest,
    TriageSummary,
)
from lumen.plugins.sdk import Citation, PluginContext, UnprocessableEntity, disclaimer_for

__all__ = ["OTCKnowledgeError", "Recommender", "load_otc"]

log = structlog.get_logger()

KNOWLEDGE_FILE = "otc.json"
LEVEL3 = {
    "emergency_ambulance": "emergent",
    "emergency": "emergent",
    "consultation_24": "non_emergent",
    "consultation": "non_emergent",
    "self_care": "self_care",
}
EXCLUDING_SEVERITIES = {"contraindicated", "major"}
OTC_NOTE = (
    "Over-the-counter options are general label information; read the label, and ask a pharmacist before "
    "using a medicine for the first time or with other medicines."
)


class OTCKnowledgeError(ValueError):
    """The knowledge file cannot be used; the message names the file and the entry."""


def _norm(text: str) -> str:
    return " ".join(text.lower().replace("-", " ").split())


class Recommender:
    def __init__(self, knowledge: OTCKnowledge) -> None:
        self.knowledge = knowledge
        self.version = knowledge.version
        self.products = list(knowledge.products)
        self.sources = {s.id: s for s in knowledge.sources}

    @classmethod
    def from_json(cls, data: bytes, *, origin: str = KNOWLEDGE_FILE) -> Recommender:
        try:
            knowledge = msgspec.json.decode(data, type=OTCKnowledge)
        except msgspec.DecodeError as exc:
            raise OTCKnowledgeError(f"otc knowledge {origin}: {exc}") from exc
        seen: set[str] = set()
        sources = {s.id for s in knowledge.sources}
        for product in knowledge.products:
            if product.id in seen:
                raise OTCKnowledgeError(
                    f"otc knowledge {origin}: products {product.id!r}: the id is used twice"
                )
            seen.add(product.id)
            if product.source not in sources:
                raise OTCKnowledgeError(
                    f"otc knowledge {origin}: products {product.id!r}: unknown source {product.source!r}"
                )
        if "general" not in knowledge.when_to_see:
            raise OTCKnowledgeError(f"otc knowledge {origin}: when_to_see needs a 'general' entry")
        return cls(knowledge)

    # --- the recommendation ---------------------------------------------------------------------------------

    async def recommend(self, ctx: PluginContext, request: RecommendRequest) -> Recommendation:
        if (request.symptoms is None) == (request.triage is None):
            raise UnprocessableEntity(
                "symptoms: give either `symptoms` (text) or `triage` (a triage result)."
            )
        patient = request.patient or PatientIn()
        triage = self._triage(ctx, request, patient)
        level = str(triage["level"])
        complaints = [str(c) for c in triage.get("complaints", [])]
        present = {
            str(f.get("id"))
            for f in triage.get("findings", [])
            if isinstance(f, Mapping) and f.get("present")
        }
        summary = TriageSummary(
            level=level,  # type: ignore[arg-type]
            level3=LEVEL3[level],  # type: ignore[arg-type]
            complaints=complaints,
            red_flags=[str(f.get("id")) for f in triage.get("red_flags", []) if isinstance(f, Mapping)],
        )
        settings = ctx.settings if isinstance(ctx.settings, OTCSettings) else OTCSettings()
        disclaimer = disclaimer_for(settings.disclaimer, OTC_NOTE)
        if level != "self_care":
            advice = str(triage.get("advice") or "")
            if LEVEL3[level] == "emergent" and "emergency" not in advice.lower():
                advice = (
                    f"This may be an emergency: call {settings.emergency_number} or get emergency help now. "
                    f"{advice}"
                ).strip()
            return Recommendation(
                status="refer",
                triage=summary,
                advice=advice or "This needs a clinician rather than over-the-counter medicines.",
                options=[],
                excluded=[],
                see_pharmacist_or_doctor=[
                    "Over-the-counter treatment is not suggested for this: follow the triage advice above."
                ],
                interactions_checked=False,
                unrecognized_medications=[],
                disclaimer=disclaimer,
                citations=[],
                confidence=0.9,
                knowledge_version=self.version,
                abstained=True,
                abstain_reason="The triage level is above self-care.",
            )

        candidates = [p for p in self.products if set(p.indications) & set(complaints)]
        options: list[Option] = []
        excluded: list[Excluded] = []
        kept: list[Product] = []
        for product in candidates:
            reason = self._patient_exclusion(product, patient, present)
            if reason is not None:
                excluded.append(reason)
            else:
                kept.append(product)

        check = ctx.service("interactions.check")  # 503 if the interactions plugin is missing: fail closed
        unrecognized_meds: list[str] = []
        notes_by_product: dict[str, list[str]] = {}
        final: list[Product] = []
        for product in kept:
            report = check(ctx, [product.ingredient, *patient.medications], _patient_for_check(patient))
            if inspect.isawaitable(report):  # the interactions services are async (they read tenant rules)
                report = await report
            verdict = _interaction_verdict(product, report, has_other_medicines=bool(patient.medications))
            for item in report.get("unrecognized", []) or []:
                name = _input_name(item)
                if _norm(name) != _norm(product.ingredient) and name not in unrecognized_meds:
                    unrecognized_meds.append(name)
            if isinstance(verdict, Excluded):
                excluded.append(verdict)
            else:
                notes_by_product[product.id] = verdict
                final.append(product)

        for product in final:
            dose, dose_for = _dose(product, patient.age)
            cautions = list(product.cautions)
            if patient.pregnant and product.pregnancy == "ask":
                cautions.insert(0, "Check with a pharmacist, midwife or doctor before using it in pregnancy.")
            if patient.breastfeeding:
                cautions.append("Ask a pharmacist whether it is suitable while breastfeeding.")
            options.append(
                Option(
                    id=product.id,
                    name=product.name,
                    ingredient=product.ingredient,
                    form=product.form,
                    for_complaints=[c for c in complaints if c in product.indications],
                    dose=dose,
                    dose_for=dose_for,
                    max_daily=product.max_daily,
                    max_days=product.max_days,
                    cautions=cautions,
                    interaction_notes=notes_by_product.get(product.id, []),
                    source_id=product.source,
                )
            )
        when = [self.knowledge.when_to_see[c] for c in complaints if c in self.knowledge.when_to_see]
        when.append(self.knowledge.when_to_see["general"])
        if unrecognized_meds:
            when.insert(
                0,
                "Some current medicines were not recognised by the interactions check: show the full list "
                "to a pharmacist before taking anything new.",
            )
        citations = [
            Citation(source_id=s.id, title=s.title, url=s.url, publisher=s.publisher)
            for s in (self.sources[sid] for sid in dict.fromkeys(o.source_id for o in options))
        ]
        status: Literal["options", "no_options"] = "options" if options else "no_options"
        confidence = 0.85 if options and not unrecognized_meds else 0.5
        return Recommendation(
            status=status,
            triage=summary,
            advice=str(triage.get("advice") or ""),
            options=options,
            excluded=excluded,
            see_pharmacist_or_doctor=when,
            interactions_checked=True,
            unrecognized_medications=unrecognized_meds,
            disclaimer=disclaimer,
            citations=citations,
            confidence=confidence,
            knowledge_version=self.version,
            abstained=not options,
            abstain_reason=None
            if options
            else "No curated over-the-counter option suits this patient and problem.",
        )

    def _triage(self, ctx: PluginContext, request: RecommendRequest, patient: PatientIn) -> Mapping[str, Any]:
        if request.triage is not None:
            return msgspec.to_builtins(request.triage)  # type: ignore[no-any-return]
        assess = ctx.service("triage.assess")
        settings = ctx.settings if isinstance(ctx.settings, OTCSettings) else OTCSettings()
        result: Mapping[str, Any] = assess(
            ctx,
            request.symptoms,
            age=patient.age,
            sex=patient.sex,
            pregnant=patient.pregnant,
            emergency_number=settings.emergency_number,
        )
        return result

    def _patient_exclusion(self, product: Product, patient: PatientIn, present: set[str]) -> Excluded | None:
        def out(kind: str, reason: str) -> Excluded:
            return Excluded(id=product.id, name=product.name, kind=kind, reason=reason)  # type: ignore[arg-type]

        if product.findings_any and present and not (set(product.findings_any) & present):
            return out("symptom", "It does not treat the symptoms described.")
        blocking = sorted(set(product.findings_none) & present)
        if blocking:
            return out(
                "symptom",
                f"Not suitable with these symptoms: {', '.join(b.replace('_', ' ') for b in blocking)}.",
            )
        age = patient.age
        if age is not None and age < product.min_age:
            return out("age", f"Not for anyone under {_age_text(product.min_age)} over the counter.")
        if age is not None and product.max_age is not None and age > product.max_age:
            return out(
                "age",
                f"Not sold over the counter for anyone over {_age_text(product.max_age)}; see a doctor.",
            )
        if patient.pregnant and product.pregnancy == "avoid":
            return out("pregnancy", "Usually avoided in pregnancy; ask a pharmacist, midwife or doctor.")
        conditions = [_norm(c) for c in patient.conditions]
        for contra in product.contraindications:
            if any(_norm(term) in condition for term in contra.terms for condition in conditions):
                return out("condition", f"Not suitable with {contra.condition}: {contra.reason}.")
        allergies = [_norm(a) for a in patient.allergies]
        groups = [_norm(g) for g in (*product.allergy_groups, product.ingredient)]
        for allergy in allergies:
            if any(g in allergy or allergy in g for g in groups):
                return out("allergy", "The patient reports an allergy to this medicine or one of its group.")
        return None


def _patient_for_check(patient: PatientIn) -> dict[str, Any] | None:
    data = {
        k: v
        for k, v in {
            "age": patient.age,
            "sex": patient.sex,
            "pregnant": patient.pregnant,
            "breastfeeding": patient.breastfeeding,
            "conditions": list(patient.conditions),
            "allergies": list(patient.allergies),
        }.items()
        if v not in (None, [])
    }
    return data or None


def _mentions(entry: Mapping[str, Any], ingredient: str) -> bool:
    target = _norm(ingredient)
    values: list[str] = []
    for key in ("drugs", "names"):
        raw = entry.get(key) or []
        if isinstance(raw, str):
            raw = [raw]
        values.extend(_norm(str(v)) for v in raw)
    return any(target == v or target in v or (len(v) > 3 and v in target) for v in values)


def _input_name(item: Any) -> str:
    """An `unrecognized` entry of the interactions report: {input, suggestions}, or a bare name."""
    return str(item.get("input", "")) if isinstance(item, Mapping) else str(item)


def _interaction_verdict(
    product: Product, report: Mapping[str, Any], *, has_other_medicines: bool
) -> Excluded | list[str]:
    unrecognized = {_norm(_input_name(n)) for n in report.get("unrecognized", []) or []}
    if _norm(product.ingredient) in unrecognized and has_other_medicines:
        return Excluded(
            id=product.id,
            name=product.name,
            kind="unchecked",
            reason="The interactions check did not recognise it, so it cannot be cleared with the current "
            "medicines; ask a pharmacist.",
        )
    notes: list[str] = []
    for entry in [*(report.get("interactions") or []), *(report.get("warnings") or [])]:
        if not isinstance(entry, Mapping) or not _mentions(entry, product.ingredient):
            continue
        severity = str(entry.get("severity", "")).lower()
        others = [
            str(n)
            for n in (entry.get("names") or entry.get("drugs") or [])
            if _norm(str(n)) != _norm(product.ingredient)
        ]
        detail = str(
            entry.get("clinical_effect") or entry.get("message") or entry.get("mechanism") or ""
        ).strip()
        with_text = f" with {', '.join(others)}" if others else ""
        if severity in EXCLUDING_SEVERITIES:
            return Excluded(
                id=product.id,
                name=product.name,
                kind="interaction",
                reason=f"A {severity} interaction{with_text}" + (f": {detail}" if detail else "."),
            )
        if severity:
            notes.append(
                f"{severity.capitalize()} interaction{with_text}" + (f": {detail}" if detail else ".")
            )
    return notes


def _dose(product: Product, age: float | None) -> tuple[str, Any]:
    if age is None:
        return product.adult_dose, "adult (age not given)"
    for child in product.child_doses:
        if child.age_min <= age < child.age_max:
            return child.dose, "child"
    if age < 12 and product.child_doses:
        return "Ask a pharmacist for the dose at this age.", "child"
    return product.adult_dose, "adult"


def _age_text(years: float) -> str:
    if years < 1:
        return f"{round(years * 12)} months"
    return f"{years:g} years"


def load_otc(path: Path | None = None) -> Recommender:
    if path is None:
        return _packaged()
    return Recommender.from_json(path.read_bytes(), origin=str(path))


@functools.cache
def _packaged() -> Recommender:
    resource = resources.files("lumen.plugins.otc") / "knowledge" / KNOWLEDGE_FILE
    return Recommender.from_json(resource.read_bytes(), origin=f"knowledge/{KNOWLEDGE_FILE}")
