"""The triage engine (plugins/triage/service.py): each red-flag family, modifiers, duration rules, erring
upward, the knowledge file's validation, and the `triage.assess` service contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lumen.plugins.triage.schemas import LEVELS, Assessment, TriageSettings
from lumen.plugins.triage.service import Triage, TriageKnowledgeError, load_triage

SETTINGS = TriageSettings()


def assess(text: str, **patient: object) -> Assessment:
    triage = load_triage()
    return triage.assess(triage.read(text, **patient), SETTINGS)  # type: ignore[arg-type]


def at_least(result: Assessment, level: str) -> bool:
    return LEVELS.index(result.level) <= LEVELS.index(level)  # type: ignore[arg-type]


# One description per red-flag family, with the flag it must raise.
FAMILIES = {
    "cardiac": ("Crushing chest pain going down my left arm, I'm sweating.", "acs"),
    "stroke": ("His face is drooping on one side and his speech is slurred.", "fast"),
    "respiratory": ("My son can't breathe and his lips are blue.", "severe_breathing"),
    "anaphylaxis": ("Ate a peanut, my tongue is swelling and I'm wheezing.", "angioedema_airway"),
    "sepsis": ("Fever and now very confused, skin looks mottled.", "fever_confusion"),
    "paediatric": ("My 5 week old baby has a temperature of 38.4.", "fever_infant"),
    "meningitis": ("Fever and a purple rash that doesn't fade when pressed with a glass.", "meningitis_rash"),
    "bleeding": ("A deep cut on my arm, blood is spurting and won't stop bleeding.", "bleeding_severe"),
    "neuro": ("My brother is unconscious and we cannot wake him.", "unconscious"),
    "mental_health": ("I want to end my life.", "suicidal"),
    "obstetric": ("I'm 12 weeks pregnant and have vaginal bleeding.", "preg_bleeding"),
    "trauma": ("Fell off a ladder, hit my head and have vomited twice.", "head_injury_red"),
    "poisoning": ("My toddler swallowed some tablets from my bag.", "poisoning"),
    "metabolic": ("Diabetic, blood sugar 2.2 mmol/L and confused.", "hypo_severe"),
    "surgical": ("Stomach pain that moved to the lower right side, hurts when I cough.", "appendicitis"),
    "urology": ("Sudden pain and swelling in my left testicle.", "testicular"),
    "eye": ("Got bleach splashed in my eye.", "eye_injury"),
    "ent": ("Very sore throat and I can't open my mouth properly.", "quinsy"),
    "skin": ("Red, hot skin on my leg that is spreading fast.", "cellulitis"),
    "vital_signs": ("Feeling unwell, oxygen saturation 86%.", "spo2_very_low"),
}


def test_every_family_has_a_case() -> None:
    assert {flag.family for flag in load_triage().red_flags.values()} == set(FAMILIES)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_each_red_flag_family_sets_at_least_its_level(family: str) -> None:
    text, flag_id = FAMILIES[family]
    result = assess(text)
    flag = load_triage().red_flags[flag_id]
    found = {f.id: f for f in result.red_flags}
    assert flag_id in found, (family, [f.id for f in result.red_flags])
    assert at_least(result, flag.level)
    assert found[flag_id].family == family


def test_negated_red_flag_does_not_fire() -> None:
    result = assess(
        "Chest pain when I press on my ribs after the gym, no sweating, no breathlessness, not spreading."
    )
    assert "acs" not in [f.id for f in result.red_flags]
    assert result.level3 == "non_emergent"
    assert any(r.text.startswith("No ") for r in result.reasons.against)


def test_red_flag_beats_a_reassuring_finding() -> None:
    result = assess("Mild rash, a bit itchy, and it does not fade under a glass.")
    assert result.level3 == "emergent"


def test_self_care_complaint_stays_self_care() -> None:
    result = assess("Runny nose and sneezing for three days, otherwise well.")
    assert result.level == "self_care"
    assert "cold" in result.complaints


def test_duration_rule_raises_a_self_care_complaint() -> None:
    result = assess("I've had a cough for 5 weeks.")
    assert result.level == "consultation"
    assert any("needs a review" in r.text for r in result.reasons.for_)


def test_age_modifier_raises_an_infant_with_vomiting() -> None:
    adult = assess("Vomiting since last night.", age=30)
    baby = assess("Vomiting since last night.", age=0.2)
    assert adult.level == "self_care"
    assert at_least(baby, "consultation_24")


def test_immunosuppression_modifier() -> None:
    assert at_least(assess("I'm on chemotherapy and have a temperature."), "emergency")


def test_anticoagulant_modifier() -> None:
    assert at_least(assess("Small cut on my hand that keeps oozing, I take apixaban."), "consultation_24")


def test_pregnancy_changes_the_level() -> None:
    assert assess("Burning when I pee.", sex="female", pregnant=False).level == "consultation"
    assert assess("Burning when I pee.", sex="female", pregnant=True).level == "consultation_24"


def test_unknown_age_of_a_baby_with_fever_errs_upward() -> None:
    result = assess("My baby has a fever.")
    assert result.level == "consultation_24"
    assert any("may apply" in r.text.lower() for r in result.reasons.for_)
    assert result.questions[0].id == "patient:age"


def test_unknown_pregnancy_in_a_woman_is_asked_about() -> None:
    result = assess("A 30-year-old woman with lower abdominal pain for a day.")
    assert result.level3 != "self_care"
    assert "patient:pregnant" in [q.id for q in result.questions]


def test_unrecognised_text_is_never_self_care() -> None:
    result = assess("I just feel off.")
    assert result.level == "consultation"
    assert result.abstained


def test_questions_are_the_ones_that_would_raise_the_level() -> None:
    result = assess("Headache since yesterday.", age=40, sex="male")
    assert result.questions
    assert all(
        q.would_raise_to and LEVELS.index(q.would_raise_to) < LEVELS.index(result.level)
        for q in result.questions
    )
    assert result.questions[0].kind == "red_flag"


def test_causes_are_possibilities_never_diagnoses() -> None:
    result = assess("Burning when passing urine and going often, with a fever and pain in my side.")
    assert result.possible_causes
    for cause in result.possible_causes:
        assert cause.label.startswith("Possibly ")
        assert "you have" not in cause.label.lower()


def test_emergency_advice_names_the_tenant_number() -> None:
    triage = load_triage()
    state = triage.read("He collapsed and is not breathing.")
    result = triage.assess(state, TriageSettings(emergency_number="112"))
    assert "call 112" in result.advice
    assert "911" not in result.advice


def test_vitals_imply_findings() -> None:
    result = assess("Cough, temperature 39.1 C.")
    assert any(f.id == "fever" and f.present and f.source == "vital" for f in result.findings)


def test_normal_measured_temperature_outweighs_the_word_temperature() -> None:
    result = assess("Checked his temperature, it was 36.9, he has a runny nose.", age=4)
    assert not any(f.id == "fever" and f.present for f in result.findings)


def test_complaint_count_and_sources() -> None:
    triage = load_triage()
    assert len(triage.complaints) >= 60
    for entry in [*triage.complaints.values(), *triage.red_flags.values(), *triage.modifiers]:
        assert entry.source in triage.sources
        assert entry.reviewed.isoformat() == "2026-12-01"


def test_broken_knowledge_names_the_entry(tmp_path: Path) -> None:
    packaged = (
        Path(__import__("lumen.plugins.triage", fromlist=["x"]).__file__).parent / "knowledge" / "triage.json"
    )
    data = json.loads(packaged.read_text())
    data["red_flags"][0]["all"] = ["no_such_finding"]
    broken = tmp_path / "triage.json"
    broken.write_text(json.dumps(data))
    with pytest.raises(TriageKnowledgeError, match=data["red_flags"][0]["id"]):
        Triage.from_json(broken.read_bytes())


def test_knowledge_with_a_wrong_level_is_refused() -> None:
    with pytest.raises(TriageKnowledgeError):
        Triage.from_json(b'{"name": "x"}')


def test_unknown_answer_to_an_emergency_red_flag_errs_upward() -> None:
    triage = load_triage()
    state = triage.read("Headache since yesterday.", age=40, sex="male")
    assert triage.assess(state, SETTINGS).level == "self_care"
    triage.answer(state, "finding:thunderclap", "unknown")
    result = triage.assess(state, SETTINGS)
    assert result.level == "consultation_24"
    assert any("cannot be ruled out" in r.text for r in result.reasons.for_)


def test_yes_and_no_answers_change_the_findings() -> None:
    triage = load_triage()
    state = triage.read("Headache since yesterday.", age=40, sex="male")
    triage.answer(state, "finding:neck_stiffness", "yes")
    triage.answer(state, "finding:fever", "yes")
    assert triage.assess(state, SETTINGS).level3 == "emergent"
    triage.answer(state, "finding:fever", "no")
    assert "fever" in state.absent and "fever" not in state.present


def test_stored_state_keeps_no_text() -> None:
    triage = load_triage()
    state = triage.read("Zebraword cough for 2 days, temperature 38.4 C.", age=30)
    stored = state.to_stored()
    assert "Zebraword" not in json.dumps(stored)
    again = type(state).from_stored(stored, age=30, sex=None, pregnant=None)
    assert triage.assess(again, SETTINGS).level == triage.assess(state, SETTINGS).level
