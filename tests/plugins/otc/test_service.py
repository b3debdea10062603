"""The OTC recommender (plugins/otc/service.py) with the real triage service and a stand-in for the
interactions plugin's `interactions.check` that follows its documented contract (the real plugin is
exercised in test_interactions.py once it is installed): triage gating, patient exclusions, interaction
exclusions, failing closed, dosing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from lumen.plugins.otc.schemas import OTCSettings, PatientIn, RecommendRequest, TriageIn
from lumen.plugins.otc.service import load_otc
from lumen.plugins.sdk import LumenProblem, UnprocessableEntity
from lumen.plugins.triage.controllers import assess_service

COLD = "Runny nose, sneezing and a blocked nose for 3 days, otherwise well."
HEADACHE = "Mild headache after a long day at the screen."
CHEST = "Crushing chest pain spreading to my left arm and sweating."

# interactions.check contract: pairs it knows, by severity (a stand-in table, not clinical knowledge).
KNOWN = {"ibuprofen", "aspirin", "naproxen", "paracetamol", "warfarin", "sertraline", "pseudoephedrine",
         "phenelzine", "cetirizine", "loratadine", "dextromethorphan", "flurbiprofen", "diclofenac",
         "guaifenesin", "oxymetazoline", "lisinopril"}  # fmt: skip
PAIRS = {
    frozenset({"ibuprofen", "warfarin"}): "major",
    frozenset({"aspirin", "warfarin"}): "major",
    frozenset({"naproxen", "warfarin"}): "major",
    frozenset({"pseudoephedrine", "phenelzine"}): "contraindicated",
    frozenset({"dextromethorphan", "sertraline"}): "moderate",
    frozenset({"ibuprofen", "lisinopril"}): "moderate",
}


def fake_check(
    ctx: Any, medications: Sequence[str], patient: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    names = [m.lower() for m in medications]
    interactions = [
        {
            "drugs": sorted(pair),
            "names": sorted(pair),
            "severity": severity,
            "mechanism": "test",
            "clinical_effect": f"{' and '.join(sorted(pair))} together",
            "management": "test",
        }
        for pair, severity in PAIRS.items()
        if pair <= set(names)
    ]
    return {
        "interactions": interactions,
        "warnings": [],
        "recognized": [n for n in names if n in KNOWN],
        "unrecognized": [n for n in names if n not in KNOWN],
    }


class Ctx:
    """What the recommender uses of a PluginContext: settings and other plugins' services."""

    def __init__(self, *, interactions: bool = True) -> None:
        self.settings = OTCSettings()
        self.calls: list[list[str]] = []
        self._services: dict[str, Any] = {"triage.assess": assess_service}
        if interactions:

            def check(
                ctx: Any, medications: Sequence[str], patient: Mapping[str, Any] | None = None
            ) -> dict[str, Any]:
                self.calls.append(list(medications))
                return fake_check(ctx, medications, patient)

            self._services["interactions.check"] = check

    def service(self, name: str) -> Any:
        if name not in self._services:
            raise LumenProblem(f"This needs the {name!r} service.", slug="service-unavailable")
        return self._services[name]


async def recommend(ctx: Ctx | None = None, **body: Any) -> Any:
    patient = body.pop("patient", None)
    request = RecommendRequest(**body, patient=PatientIn(**patient) if patient is not None else None)
    return await load_otc().recommend(ctx or Ctx(), request)  # type: ignore[arg-type]


def ids(items: Sequence[Any]) -> list[str]:
    return [i.id for i in items]


async def test_emergent_input_returns_emergency_advice_not_products() -> None:
    ctx = Ctx()
    result = await recommend(ctx, symptoms=CHEST)
    assert result.status == "refer"
    assert result.options == []
    assert "emergency" in result.advice.lower()
    assert result.triage.level3 == "emergent"
    assert ctx.calls == []


async def test_consultation_level_returns_the_triage_advice() -> None:
    result = await recommend(symptoms="I've had a cough for 5 weeks.")
    assert result.status == "refer"
    assert result.triage.level == "consultation"
    assert "appointment" in result.advice


async def test_self_care_gets_options_with_label_dosing() -> None:
    result = await recommend(symptoms=HEADACHE, patient={"age": 35})
    assert result.status == "options"
    option = next(o for o in result.options if o.id == "paracetamol")
    assert option.dose_for == "adult"
    assert "4 g" in option.max_daily
    assert result.interactions_checked
    assert result.see_pharmacist_or_doctor
    assert all(c.url.startswith("https://") for c in result.citations)


async def test_every_candidate_goes_through_the_interactions_check() -> None:
    ctx = Ctx()
    result = await recommend(ctx, symptoms=HEADACHE, patient={"age": 35, "medications": ["lisinopril"]})
    checked = {call[0] for call in ctx.calls}
    assert {o.ingredient for o in result.options} <= checked
    assert all(call[1:] == ["lisinopril"] for call in ctx.calls)


async def test_missing_interactions_service_fails_closed() -> None:
    with pytest.raises(LumenProblem) as problem:
        await recommend(Ctx(interactions=False), symptoms=HEADACHE)
    assert "interactions.check" in str(problem.value)


async def test_major_interaction_excludes_the_option() -> None:
    result = await recommend(symptoms=HEADACHE, patient={"age": 60, "medications": ["warfarin"]})
    excluded = {e.id: e for e in result.excluded}
    assert excluded["ibuprofen"].kind == "interaction"
    assert "major" in excluded["ibuprofen"].reason and "warfarin" in excluded["ibuprofen"].reason
    assert "ibuprofen" not in ids(result.options)
    assert "paracetamol" in ids(result.options)


async def test_contraindicated_interaction_excludes_the_decongestant() -> None:
    result = await recommend(symptoms=COLD, patient={"age": 40, "medications": ["phenelzine"]})
    assert {e.id: e.kind for e in result.excluded}["pseudoephedrine"] == "interaction"


async def test_moderate_interaction_is_shown_with_the_option() -> None:
    result = await recommend(symptoms=HEADACHE, patient={"age": 50, "medications": ["lisinopril"]})
    option = next(o for o in result.options if o.id == "ibuprofen")
    assert option.interaction_notes and "Moderate" in option.interaction_notes[0]


async def test_unrecognised_candidate_with_other_medicines_is_excluded_as_unchecked() -> None:
    result = await recommend(symptoms=COLD, patient={"age": 40, "medications": ["lisinopril"]})
    assert {e.id: e.kind for e in result.excluded}.get("saline_nasal") == "unchecked"


async def test_unrecognised_patient_medicine_is_reported() -> None:
    result = await recommend(symptoms=HEADACHE, patient={"age": 40, "medications": ["zorblax"]})
    assert result.unrecognized_medications == ["zorblax"]
    assert "not recognised" in result.see_pharmacist_or_doctor[0]


async def test_age_limit_excludes_aspirin_for_a_child() -> None:
    result = await recommend(symptoms="My son has a headache.", patient={"age": 10})
    excluded = {e.id: e for e in result.excluded}
    assert excluded["aspirin"].kind == "age"
    assert "16" in excluded["aspirin"].reason
    paracetamol = next(o for o in result.options if o.id == "paracetamol")
    assert paracetamol.dose_for == "child"


async def test_pregnancy_excludes_nsaids() -> None:
    result = await recommend(
        symptoms="Back ache after gardening yesterday.",
        patient={"age": 30, "sex": "female", "pregnant": True},
    )
    assert result.status == "options"
    kinds = {e.id: e.kind for e in result.excluded}
    assert kinds["ibuprofen"] == "pregnancy"
    assert "paracetamol" in ids(result.options)


async def test_condition_excludes_ibuprofen_with_a_stomach_ulcer() -> None:
    result = await recommend(symptoms=HEADACHE, patient={"age": 45, "conditions": ["Peptic ulcer"]})
    excluded = {e.id: e for e in result.excluded}
    assert excluded["ibuprofen"].kind == "condition"
    assert "bleeding" in excluded["ibuprofen"].reason


async def test_allergy_to_the_group_excludes_every_nsaid() -> None:
    result = await recommend(symptoms=HEADACHE, patient={"age": 45, "allergies": ["NSAIDs"]})
    kinds = {e.id: e.kind for e in result.excluded}
    assert kinds["ibuprofen"] == kinds["aspirin"] == kinds["naproxen"] == "allergy"


async def test_symptom_rules_out_a_product() -> None:
    result = await recommend(symptoms="Chesty cough with green phlegm for 3 days.", patient={"age": 40})
    kinds = {e.id: e.kind for e in result.excluded}
    assert kinds.get("dextromethorphan") == "symptom"


async def test_a_triage_result_can_be_passed_instead_of_symptoms() -> None:
    triage = TriageIn(level="self_care", complaints=["hay_fever"])
    result = await load_otc().recommend(Ctx(), RecommendRequest(triage=triage, patient=PatientIn(age=30)))  # type: ignore[arg-type]
    assert {"cetirizine", "loratadine"} <= set(ids(result.options))


async def test_a_non_self_care_triage_result_is_referred() -> None:
    triage = TriageIn(level="emergency", complaints=["hay_fever"], advice="")
    result = await load_otc().recommend(Ctx(), RecommendRequest(triage=triage))  # type: ignore[arg-type]
    assert result.status == "refer"
    assert "emergency" in result.advice.lower()


async def test_symptoms_or_triage_not_both() -> None:
    with pytest.raises(UnprocessableEntity):
        await load_otc().recommend(Ctx(), RecommendRequest())  # type: ignore[arg-type]
    with pytest.raises(UnprocessableEntity):
        await load_otc().recommend(  # type: ignore[arg-type]
            Ctx(), RecommendRequest(symptoms="cold", triage=TriageIn(level="self_care"))
        )


def test_knowledge_entries_have_sources_and_dates() -> None:
    otc = load_otc()
    assert len(otc.products) >= 25
    for product in otc.products:
        assert product.source in otc.sources
        assert product.reviewed.isoformat() == "2026-12-01"
        assert product.max_daily
