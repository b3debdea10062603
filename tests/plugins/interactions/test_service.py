"""The rule engine and name normalisation (plugins/interactions/service.py), on the packaged knowledge: one
test per rule family, the quiet cases, names, unknown drugs, patient context and hostile strings."""

from __future__ import annotations

import pytest

from lumen.plugins.interactions.schemas import SEVERITY_RANK, InteractionsSettings, Patient
from lumen.plugins.interactions.service import Checker, checker

RANK = {"none": 0, **SEVERITY_RANK}


@pytest.fixture(scope="module")
def engine() -> Checker:
    return checker()


def worst(engine: Checker, *meds: str) -> str:
    result = engine.check(list(meds))
    assert not result.unrecognized, result.unrecognized
    return max((i.severity for i in result.interactions), key=RANK.__getitem__, default="none")


def rules(engine: Checker, *meds: str) -> set[str]:
    return {i.rule_id for i in engine.check(list(meds)).interactions}


# --- mechanism-based ------------------------------------------------------------------------------------


def test_strong_cyp3a4_inhibitor_with_a_labelled_substrate_is_contraindicated(engine: Checker) -> None:
    result = engine.check(["simvastatin", "clarithromycin"])
    top = result.interactions[0]
    assert top.severity == "contraindicated"
    assert set(top.drugs) == {"simvastatin", "clarithromycin"}
    assert "CYP3A4" in top.mechanism
    assert top.evidence == "label"
    assert top.references and top.rule_id


def test_strong_inhibitor_with_a_sensitive_substrate_is_major(engine: Checker) -> None:
    assert worst(engine, "itraconazole", "felodipine") == "major"
    assert "pk-cyp3a4-strong-inhibitor-sensitive" in rules(engine, "itraconazole", "felodipine")


def test_moderate_cyp2c9_inhibitor_with_warfarin_is_major(engine: Checker) -> None:
    assert worst(engine, "warfarin", "fluconazole") == "major"
    assert worst(engine, "warfarin", "amiodarone") == "major"


def test_strong_cyp1a2_inhibitor_with_theophylline_is_major(engine: Checker) -> None:
    assert worst(engine, "theophylline", "ciprofloxacin") == "major"


def test_label_contraindication_with_cyp1a2_inhibitors(engine: Checker) -> None:
    assert worst(engine, "tizanidine", "fluvoxamine") == "contraindicated"


def test_strong_inducer_lowers_a_narrow_therapeutic_index_drug(engine: Checker) -> None:
    result = engine.check(["tacrolimus", "rifampicin"])
    assert result.interactions[0].severity == "major"
    assert "Loss" in result.interactions[0].clinical_effect


def test_pgp_inhibitor_with_digoxin_is_major(engine: Checker) -> None:
    assert worst(engine, "digoxin", "verapamil") == "major"


def test_inducer_with_hormonal_contraception_is_major(engine: Checker) -> None:
    assert worst(engine, "ethinylestradiol", "carbamazepine") == "major"


# --- pharmacodynamic --------------------------------------------------------------------------------------


def test_two_known_qt_drugs_are_major(engine: Checker) -> None:
    assert "qt-known-known" in rules(engine, "azithromycin", "citalopram")


def test_ssri_with_maoi_is_contraindicated(engine: Checker) -> None:
    assert worst(engine, "sertraline", "phenelzine") == "contraindicated"


def test_two_strong_serotonergic_drugs_are_major(engine: Checker) -> None:
    assert worst(engine, "fluoxetine", "tramadol") == "major"


def test_triptan_with_ssri_is_moderate(engine: Checker) -> None:
    assert worst(engine, "sumatriptan", "sertraline") == "moderate"


def test_opioid_with_benzodiazepine_is_major(engine: Checker) -> None:
    assert "cns-opioid-sedative" in rules(engine, "oxycodone", "alprazolam")


def test_anticoagulant_with_nsaid_is_major(engine: Checker) -> None:
    assert worst(engine, "apixaban", "naproxen") == "major"


def test_potassium_sparing_diuretic_with_potassium_is_major(engine: Checker) -> None:
    assert worst(engine, "spironolactone", "potassium chloride") == "major"


def test_ace_inhibitor_with_spironolactone_is_moderate(engine: Checker) -> None:
    assert worst(engine, "lisinopril", "spironolactone") == "moderate"


def test_lithium_with_nsaid_is_major(engine: Checker) -> None:
    assert worst(engine, "lithium", "ibuprofen") == "major"


def test_triple_whammy_names_all_three_drugs(engine: Checker) -> None:
    result = engine.check(["ramipril", "furosemide", "diclofenac"])
    [whammy] = [i for i in result.interactions if i.rule_id == "renal-triple-whammy"]
    assert whammy.severity == "major"
    assert set(whammy.drugs) == {"ramipril", "furosemide", "diclofenac"}


def test_pde5_inhibitor_with_nitrate_is_contraindicated(engine: Checker) -> None:
    assert worst(engine, "tadalafil", "glyceryl trinitrate") == "contraindicated"


def test_explicit_pair_rule_methotrexate_trimethoprim(engine: Checker) -> None:
    assert "methotrexate-antifolate" in rules(engine, "methotrexate", "trimethoprim")


def test_one_finding_per_mechanism_family(engine: Checker) -> None:
    result = engine.check(["sertraline", "phenelzine"])
    families = [i.rule_id for i in result.interactions]
    assert len(families) == 1  # the label contraindication, not three overlapping serotonin findings


# --- quiet when there is nothing to say -------------------------------------------------------------------


@pytest.mark.parametrize(
    "pair",
    [
        ("amlodipine", "metformin"),
        ("paracetamol", "amoxicillin"),
        ("atorvastatin", "lisinopril"),
        ("levothyroxine", "omeprazole"),
        ("sertraline", "amlodipine"),
        ("metformin", "empagliflozin"),
        ("cetirizine", "salbutamol"),
    ],
)
def test_common_safe_pairs_are_quiet(engine: Checker, pair: tuple[str, str]) -> None:
    assert RANK[worst(engine, *pair)] <= RANK["minor"]


# --- names ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ingredient", "matched"),
    [
        ("Zocor", "simvastatin", "brand"),
        ("LIPITOR", "atorvastatin", "brand"),
        ("atorvastatin calcium", "atorvastatin", "name"),
        ("amlodipine besilate 5mg tablets", "amlodipine", "name"),
        ("fluoxetine hydrochloride 20mg capsules", "fluoxetine", "salt"),
        ("paracetamol", "acetaminophen", "name"),
        ("salbutamol", "salbutamol", "name"),
        ("Ventolin", "salbutamol", "brand"),
        ("frusemide", "furosemide", "name"),
        ("ciclosporin", "cyclosporine", "name"),
        ("ibuprofin", "ibuprofen", "name"),
        ("Tylénol", "acetaminophen", "brand"),
    ],
)
def test_names_resolve_to_ingredients(engine: Checker, text: str, ingredient: str, matched: str) -> None:
    [hit] = engine.check([text]).recognized
    assert hit.ingredients == [ingredient]
    assert hit.matched == matched


def test_a_combination_product_maps_to_each_ingredient(engine: Checker) -> None:
    [hit] = engine.check(["Bactrim DS"]).recognized
    assert sorted(hit.ingredients) == ["sulfamethoxazole", "trimethoprim"]
    assert hit.matched == "product"


def test_a_written_combination_maps_to_each_ingredient(engine: Checker) -> None:
    [hit] = engine.check(["amlodipine/valsartan 5/160 mg"]).recognized
    assert sorted(hit.ingredients) == ["amlodipine", "valsartan"]


def test_the_same_ingredient_twice_is_a_major_duplicate(engine: Checker) -> None:
    result = engine.check(["co-codamol", "Tylenol"])
    [dup] = [w for w in result.warnings if w.rule_id == "duplicate-ingredient"]
    assert dup.severity == "major"
    assert dup.drug_ids == ["acetaminophen"]


def test_two_nsaids_are_duplicate_therapy(engine: Checker) -> None:
    result = engine.check(["ibuprofen", "naproxen"])
    assert any(w.kind == "duplicate" and w.rule_id == "duplicate-class-nsaid" for w in result.warnings)


def test_an_unknown_drug_is_reported_with_suggestions(engine: Checker) -> None:
    result = engine.check(["warfarin", "simvastatn", "xyzzyplex"])
    unknown = {u.input: u.suggestions for u in result.unrecognized}
    assert set(unknown) == {"simvastatn", "xyzzyplex"}
    assert unknown["simvastatn"][0] == "simvastatin"
    assert [r.input for r in result.recognized] == ["warfarin"]
    assert result.confidence == pytest.approx(0.33)


def test_misspellings_are_suggested_never_guessed(engine: Checker) -> None:
    # hydroxyzine and hydralazine are look-alikes: a near miss is a suggestion, not a silent correction.
    result = engine.check(["hydroxyzin"])
    assert not result.recognized
    assert "hydroxyzine" in result.unrecognized[0].suggestions


def test_nothing_recognised_abstains(engine: Checker) -> None:
    result = engine.check(["qqq", "zzz"])
    assert result.abstained is True
    assert result.abstain_reason
    assert result.confidence == 0.0


@pytest.mark.parametrize(
    "text",
    [
        "'; DROP TABLE interaction_rules; --",
        "<script>alert(1)</script>",
        "💊💊💊",
        "\u202ewarfarin",
        "a" * 200,
        "   ",
        "ibuprofen" * 20,
        "warfarin\x00",
    ],
)
def test_hostile_strings_are_reported_not_raised(engine: Checker, text: str) -> None:
    result = engine.check([text, "aspirin"])
    assert [r.input for r in result.recognized][-1] == "aspirin"
    assert len(result.recognized) + len(result.unrecognized) == 2


# --- patient context ------------------------------------------------------------------------------------


def _kinds(engine: Checker, meds: list[str], **patient: object) -> dict[str, str]:
    result = engine.check(meds, Patient(**patient))  # type: ignore[arg-type]
    found: dict[str, str] = {}
    for w in result.warnings:  # the most severe warning of each kind and drug
        key = f"{w.kind}:{w.drug_ids[0]}"
        if w.kind != "food" and RANK[w.severity] > RANK[found.get(key, "none")]:
            found[key] = w.severity
    return found


def test_aspirin_under_16_is_an_age_warning(engine: Checker) -> None:
    assert _kinds(engine, ["aspirin"], age=12)["age:aspirin"] == "major"
    assert "age:aspirin" not in _kinds(engine, ["aspirin"], age=30)


def test_older_adults_get_beers_cautions(engine: Checker) -> None:
    assert _kinds(engine, ["diphenhydramine"], age=80)["age:diphenhydramine"] == "moderate"


def test_pregnancy_warnings(engine: Checker) -> None:
    found = _kinds(engine, ["lisinopril", "paracetamol"], pregnant=True)
    assert found["pregnancy:lisinopril"] == "contraindicated"
    assert "pregnancy:acetaminophen" not in found


def test_egfr_below_the_threshold_warns(engine: Checker) -> None:
    assert _kinds(engine, ["metformin"], egfr=25)["renal:metformin"] == "contraindicated"
    assert "renal:metformin" not in _kinds(engine, ["metformin"], egfr=75)


def test_conditions_by_any_of_their_names(engine: Checker) -> None:
    found = _kinds(engine, ["propranolol", "ibuprofen"], conditions=["Asthma", "stomach ulcer"])
    assert found["condition:propranolol"] == "contraindicated"
    assert found["condition:ibuprofen"] == "contraindicated"


def test_liver_disease_warns_for_hepatotoxic_drugs(engine: Checker) -> None:
    assert (
        _kinds(engine, ["methotrexate"], conditions=["cirrhosis"])["hepatic:methotrexate"]
        == "contraindicated"
    )


def test_penicillin_allergy_blocks_penicillins_and_flags_cephalosporins(engine: Checker) -> None:
    found = _kinds(engine, ["amoxicillin", "cefalexin", "azithromycin"], allergies=["penicillin"])
    assert found["allergy:amoxicillin"] == "contraindicated"
    assert found["allergy:cefalexin"] == "moderate"
    assert "allergy:azithromycin" not in found


def test_an_allergy_named_as_a_drug_uses_its_classes(engine: Checker) -> None:
    found = _kinds(engine, ["naproxen"], allergies=["ibuprofen"])
    assert found["allergy:naproxen"] == "contraindicated"


def test_sulfa_allergy_is_low_risk_for_non_antibiotic_sulfonamides(engine: Checker) -> None:
    found = _kinds(engine, ["furosemide", "Bactrim"], allergies=["sulfa"])
    assert found["allergy:furosemide"] == "minor"
    assert found["allergy:sulfamethoxazole"] == "contraindicated"


def test_unknown_conditions_and_allergies_are_reported(engine: Checker) -> None:
    result = engine.check(["aspirin"], Patient(conditions=["zzz disease"], allergies=["unobtainium"]))
    assert result.unrecognized_patient == ["condition: zzz disease", "allergy: unobtainium"]


# --- food and burden ------------------------------------------------------------------------------------


def test_food_warnings(engine: Checker) -> None:
    foods = {
        (w.drug_ids[0], w.rule_id)
        for w in engine.check(["phenelzine", "warfarin", "metronidazole", "felodipine"]).warnings
    }
    assert {
        ("phenelzine", "food-tyramine"),
        ("warfarin", "food-vitamin-k"),
        ("metronidazole", "food-alcohol"),
        ("felodipine", "food-grapefruit"),
    } <= foods


def test_food_warnings_follow_the_tenant_setting(engine: Checker) -> None:
    result = engine.check(["phenelzine"], settings=InteractionsSettings(include_food=False))
    assert not [w for w in result.warnings if w.kind == "food"]


def test_anticholinergic_burden(engine: Checker) -> None:
    result = engine.check(["oxybutynin", "amitriptyline"])
    assert any(w.kind == "burden" for w in result.warnings)


def test_minimum_severity_setting_hides_minor_findings(engine: Checker) -> None:
    assert engine.check(["warfarin", "paracetamol"]).interactions
    hidden = engine.check(
        ["warfarin", "paracetamol"], settings=InteractionsSettings(minimum_severity="moderate")
    )
    assert not hidden.interactions


def test_interactions_are_sorted_most_severe_first(engine: Checker) -> None:
    result = engine.check(["simvastatin", "clarithromycin", "warfarin", "paracetamol", "sertraline"])
    ranks = [SEVERITY_RANK[i.severity] for i in result.interactions]
    assert ranks == sorted(ranks, reverse=True)
    assert {c.source_id for c in result.citations} >= {r for i in result.interactions for r in i.references}


def test_lookup_normalises_a_name(engine: Checker) -> None:
    found = engine.lookup("Tylenol")
    assert found is not None
    assert (found["id"], found["name"], found["uk_name"]) == ("acetaminophen", "acetaminophen", "paracetamol")
    assert engine.lookup("Bactrim") is None
    assert engine.lookup("xyzzy") is None


def test_european_inn_spellings_are_recognised_as_misspellings(engine: Checker) -> None:
    [hit] = engine.check(["simvastatine 40 mg"]).recognized
    assert (hit.ingredients, hit.matched) == (["simvastatin"], "misspelling")


def test_one_pharmacokinetic_finding_per_pair(engine: Checker) -> None:
    # Clarithromycin raises colchicine through CYP3A4 and P-gp: one finding says so, not two.
    result = engine.check(["colchicine", "clarithromycin"])
    assert [i.severity for i in result.interactions] == ["major"]
