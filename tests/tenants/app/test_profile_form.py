"""Reading the profile form back: codes kept, duplicates and blanks dropped, errors naming the field."""

from __future__ import annotations

import msgspec
import pytest

from lumen.tenants.app.profile_form import FormError, parse_profile_form
from lumen.tenants.patients.schemas import CodedEntry, PatientProfile

METFORMIN = CodedEntry(system="http://www.nlm.nih.gov/research/umls/rxnorm", code="6809", display="Metformin")


def test_a_line_naming_a_coded_entry_keeps_its_code() -> None:
    current = PatientProfile(medications=[METFORMIN, "aspirin"])
    update, changed = parse_profile_form({"medications": "metformin\nibuprofen"}, current)
    assert update.medications == [METFORMIN, "ibuprofen"] and changed == ["medications"]


def test_blank_and_repeated_lines_are_dropped() -> None:
    update, _ = parse_profile_form({"allergies": "\n latex \n\nLATEX\npenicillin\n"}, PatientProfile())
    assert update.allergies == ["latex", "penicillin"]


def test_unchanged_fields_are_not_changes() -> None:
    current = PatientProfile(sex="male", allergies=["latex"])
    update, changed = parse_profile_form({"sex": "male", "allergies": "latex"}, current)
    assert changed == [] and update.sex is msgspec.UNSET


def test_an_empty_choice_clears_it() -> None:
    update, changed = parse_profile_form({"sex": ""}, PatientProfile(sex="male"))
    assert changed == ["sex"] and update.sex is None


@pytest.mark.parametrize(
    ("form", "label"),
    [
        ({"birth_date": "05/05/1950"}, "Date of birth:"),
        ({"birth_date": "1850-01-01"}, "Date of birth:"),
        ({"pregnancy_status": "maybe"}, "Pregnancy:"),
        ({"conditions": "\n".join(f"c{i}" for i in range(101))}, "My conditions:"),
        ({"medications": "a" * 201}, "My medicines:"),
        ({"egfr": "90"}, "egfr:"),
    ],
)
def test_bad_values_name_the_field(form: dict[str, str], label: str) -> None:
    with pytest.raises(FormError) as raised:
        parse_profile_form(form, PatientProfile())
    assert str(raised.value).startswith(label)
