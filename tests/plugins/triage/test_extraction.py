"""Reading symptom descriptions (plugins/triage/extraction.py): findings and negation, patient facts,
durations, measurements with units, laterality."""

from __future__ import annotations

import pytest

from lumen.plugins.triage.extraction import Extraction
from lumen.plugins.triage.service import load_triage


def read(text: str) -> Extraction:
    return load_triage().reader.read(text)


# --- findings and negation ----------------------------------------------------------------------------------


def test_negated_findings_are_not_present() -> None:
    found = read("Cough for two days. No fever, denies chest pain, and no shortness of breath.")
    assert "cough" in found.present()
    assert {"fever", "chest_pain", "breathless"} <= set(found.negated())
    assert not {"fever", "chest_pain", "breathless"} & set(found.present())


def test_negation_ends_at_but() -> None:
    found = read("No fever, but now vomiting since this morning.")
    assert "fever" in found.negated()
    assert "vomiting" in found.present()


def test_a_negation_inside_the_finding_is_not_a_negation() -> None:
    found = read("She suddenly can't lift her right arm.")
    assert "arm_weakness" in found.present()


def test_lay_and_clinical_words_reach_the_same_finding() -> None:
    for text in (
        "I feel breathless",
        "He is short of breath",
        "dyspnoea on exertion",
        "I can't catch my breath",
    ):
        assert "breathless" in read(text).present(), text


def test_affirmed_and_denied_is_a_conflict() -> None:
    found = read("No fever. Actually she has a fever tonight.")
    assert "fever" in found.conflicting()
    assert "fever" in found.present()


def test_hypothetical_mentions_are_neither_present_nor_absent() -> None:
    found = read("Sore throat. Call back if she develops a rash.")
    assert "rash" not in found.present()


def test_spans_point_into_the_text() -> None:
    text = "Crushing central chest pain for an hour."
    hit = read(text).present()["chest_pain"]
    assert text[hit.start : hit.end] == hit.text


def test_laterality() -> None:
    found = read("Pain in my left ear and weakness in her right arm.")
    assert found.present()["earache"].laterality == "left"
    assert found.present()["arm_weakness"].laterality == "right"


# --- patient ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "age", "sex"),
    [
        ("A 48-year-old woman with a cough.", 48.0, "female"),
        ("my 3 year old son has a rash", 3.0, "male"),
        ("My six-week-old daughter is not feeding.", 6 / 52, "female"),
        ("70 yo M with chest pain", 70.0, "male"),
        ("I'm 34 and have a headache", 34.0, None),
        ("Aged 81, my grandfather fell.", 81.0, "male"),
        ("My 9 month old baby boy has diarrhoea", 0.75, "male"),
        ("She is in her 70s and confused.", 70.0, "female"),
    ],
)
def test_age_and_sex_are_read_from_the_text(text: str, age: float, sex: str | None) -> None:
    found = read(text)
    assert found.age == pytest.approx(age, abs=0.01)
    assert found.sex == sex


def test_durations_are_not_ages() -> None:
    found = read("Cough for 3 years now, I am a smoker.")
    assert found.age is None
    assert found.duration_days == pytest.approx(3 * 365)


@pytest.mark.parametrize(
    ("text", "pregnant"),
    [
        ("I'm 8 months pregnant and have a headache", True),
        ("32 weeks pregnant, baby moving less", True),
        ("Not pregnant, headache for a day", False),
        ("I might be pregnant, I missed my period", None),
        ("Headache for a day", None),
    ],
)
def test_pregnancy_is_read_from_the_text(text: str, pregnant: bool | None) -> None:
    assert read(text).pregnant is pregnant


def test_pregnancy_implies_female() -> None:
    assert read("28 weeks pregnant with swollen ankles").sex == "female"


def test_a_baby_without_an_age_is_flagged() -> None:
    found = read("My baby has a fever")
    assert found.age is None
    assert found.infant_unknown_age is True


# --- durations and measurements -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("for the last 40 minutes", 40 / 1440),
        ("for two days", 2.0),
        ("since yesterday", 1.0),
        ("a 3-week history of cough", 21.0),
        ("has lasted 6 weeks", 42.0),
        ("for the last month", 30.0),
    ],
)
def test_durations(text: str, days: float) -> None:
    assert read(text).duration_days == pytest.approx(days, rel=0.01)


@pytest.mark.parametrize(
    ("text", "celsius"),
    [
        ("temperature 38.5C", 38.5),
        ("fever of 101.3 °F", 38.5),
        ("temp 39", 39.0),
        ("a temperature of 102F", 38.9),
        ("38,2 °C", 38.2),
    ],
)
def test_temperatures_in_either_unit_are_celsius(text: str, celsius: float) -> None:
    assert read(text).vitals["temp_c"] == pytest.approx(celsius, abs=0.05)


def test_vital_signs() -> None:
    found = read("HR 128 bpm, BP 88/50 mmHg, RR 26, sats 91% on room air")
    assert found.vitals == {"hr": 128.0, "sbp": 88.0, "dbp": 50.0, "rr": 26.0, "spo2": 91.0}


@pytest.mark.parametrize(
    ("text", "mmol"),
    [
        ("blood sugar 54 mg/dL", 3.0),
        ("glucose 2.8 mmol/L", 2.8),
        ("sugar level 400", 22.2),
        ("BG of 7.1", 7.1),
    ],
)
def test_glucose_in_either_unit_is_mmol(text: str, mmol: float) -> None:
    assert read(text).vitals["glucose_mmol"] == pytest.approx(mmol, abs=0.05)


def test_a_date_or_fraction_is_not_a_blood_pressure() -> None:
    assert "sbp" not in read("Since 12/10 I have had a cough, pain 7/10").vitals


def test_numbers_out_of_range_are_ignored() -> None:
    found = read("temperature 380C, pulse 9000, sats 300%")
    assert found.vitals == {}
