"""The interaction checker's shapes: its knowledge files (validated strictly at start-up, so a broken entry
stops the process naming it), its per-tenant settings, what its routes accept (bounded, unknown fields
refused) and what they answer, inside the safety envelope (ARCHITECTURE §6.2)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal

import msgspec

from lumen.plugins.sdk import Citation, SafetyEnvelope

__all__ = [
    "MAX_MEDICATIONS",
    "SEVERITY_RANK",
    "AllergyClass",
    "CheckRequest",
    "CheckResult",
    "ClassEntry",
    "ConditionEntry",
    "ConditionNote",
    "DrugHit",
    "DrugPage",
    "FoodNote",
    "GroupRule",
    "Ingredient",
    "Interaction",
    "InteractionsSettings",
    "KnowledgeHeader",
    "Monograph",
    "PairRule",
    "Patient",
    "PluginRule",
    "Product",
    "Recognized",
    "RenalNote",
    "RuleIn",
    "RuleOut",
    "RulePage",
    "Severity",
    "SourceEntry",
    "Unrecognized",
    "Warning",
]

Severity = Literal["contraindicated", "major", "moderate", "minor"]
SEVERITY_RANK: dict[str, int] = {"contraindicated": 4, "major": 3, "moderate": 2, "minor": 1}
Evidence = Literal["label", "guideline", "study", "theoretical"]

MAX_MEDICATIONS = 50
SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"
Slug = Annotated[str, msgspec.Meta(min_length=1, max_length=60, pattern=SLUG)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"\S")]
Text = Annotated[str, msgspec.Meta(min_length=3, max_length=600)]
# A property or selector token: "cyp3a4:inh-strong", "qt:known", "class:statin", "drug:warfarin";
# "+" joins tokens that must all hold ("class:doac+pgp:sub").
TOKEN = r"^[a-z0-9][a-z0-9-]*(:[a-z0-9-]+)?$"  # noqa: S105 (a pattern, not a secret)
SELECTOR = r"^[a-z0-9][a-z0-9-]*(:[a-z0-9-]+)?(\+[a-z0-9][a-z0-9-]*(:[a-z0-9-]+)?)*$"
Token = Annotated[str, msgspec.Meta(max_length=60, pattern=TOKEN)]
Selector = Annotated[str, msgspec.Meta(max_length=120, pattern=SELECTOR)]
SourceId = Annotated[str, msgspec.Meta(min_length=3, max_length=80, pattern=r"^[a-z0-9-]+:[a-z0-9._/-]+$")]
HttpsUrl = Annotated[str, msgspec.Meta(max_length=300, pattern=r"^https://[^\s/]+\.[a-z]{2,}/\S*$")]
Atc = Annotated[str, msgspec.Meta(pattern=r"^[A-Z][0-9]{2}[A-Z]{2}([0-9]{2})?$")]


# --- the knowledge files ----------------------------------------------------------------------------------


class KnowledgeHeader(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Every knowledge file starts with who wrote it, from what, and when it was last reviewed."""

    name: Name
    version: Annotated[str, msgspec.Meta(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z.+-]+$")]
    description: Annotated[str, msgspec.Meta(max_length=600)]
    provenance: Annotated[str, msgspec.Meta(max_length=1200)]
    reviewed: date
    entries: list[dict[str, Any]]  # converted one by one, so that an error names the entry


class SourceEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: SourceId
    publisher: Name
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    url: HttpsUrl


class RenalNote(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Advice below an eGFR threshold (mL/min/1.73 m²)."""

    egfr_below: Annotated[int, msgspec.Meta(ge=5, le=90)]
    severity: Severity
    advice: Text


class ConditionNote(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    condition: Slug  # an id of conditions.json
    severity: Severity
    advice: Text


class FoodNote(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    food: Literal["grapefruit", "tyramine", "vitamin-k", "alcohol", "dairy-minerals", "potassium", "caffeine"]
    severity: Severity
    advice: Text


class _Clinical(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What an ingredient or a whole class brings to a check beyond its names (classes pass it on)."""

    props: list[Token] = msgspec.field(default_factory=list)
    contra_with: list[Selector] = msgspec.field(default_factory=list)  # its label contraindicates these
    avoid_with: list[Selector] = msgspec.field(default_factory=list)  # its label says avoid / dose-cap
    pregnancy: Literal["contraindicated", "avoid", "caution"] | None = None
    pregnancy_advice: Text | None = None
    renal: RenalNote | None = None
    hepatic: ConditionNote | None = None  # condition "hepatic-impairment"
    min_age: Annotated[int, msgspec.Meta(ge=1, le=25)] | None = None
    age_advice: Text | None = None
    elderly: Text | None = None  # a caution for people aged 65 or more (AGS Beers criteria, STOPP)
    conditions: list[ConditionNote] = msgspec.field(default_factory=list)
    allergy: list[Slug] = msgspec.field(default_factory=list)  # allergy classes it belongs to
    food: list[FoodNote] = msgspec.field(default_factory=list)
    warnings: list[Text] = msgspec.field(default_factory=list)
    sources: Annotated[list[SourceId], msgspec.Meta(min_length=1)]
    reviewed: date


class ClassEntry(_Clinical, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: Slug
    name: Name
    parents: list[Slug] = msgspec.field(default_factory=list)
    # Two different members in one regimen is duplicate therapy (two NSAIDs, two SSRIs...).
    duplicate: bool = False


class Ingredient(_Clinical, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: Slug
    name: Name  # the US / INN name
    uk: Name | None = None  # the UK/EU name where it differs (paracetamol, salbutamol)
    aka: list[Name] = msgspec.field(default_factory=list)  # other names, salts, common misspellings
    brands: list[Name] = msgspec.field(default_factory=list)
    atc: list[Atc] = msgspec.field(default_factory=list)
    rxcui: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{2,8}$")] | None = None
    classes: Annotated[list[Slug], msgspec.Meta(min_length=1)]
    # What rising exposure does (for pharmacokinetic rules where this drug is the victim).
    exposure_effect: Text | None = None
    uses: Text


class Product(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A combination product: its names map to every ingredient in it."""

    id: Slug
    name: Name
    aka: list[Name] = msgspec.field(default_factory=list)
    brands: list[Name] = msgspec.field(default_factory=list)
    ingredients: Annotated[list[Slug], msgspec.Meta(min_length=2)]
    sources: Annotated[list[SourceId], msgspec.Meta(min_length=1)]
    reviewed: date


class PairRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Drug A (any of `a`) with drug B (any of `b`). Texts may name `{a}`, `{b}` and `{a_effect}` (A's
    exposure effect). Within one `family` only the strongest matching rule is reported for a pair."""

    id: Slug
    kind: Literal["pair"] = "pair"
    family: Slug
    # Instantiate once per enzyme: "cypx" in selectors, family and id becomes each of these, "CYPX" in texts.
    expand: list[Slug] = msgspec.field(default_factory=list)
    a: Annotated[list[Selector], msgspec.Meta(min_length=1)]
    b: Annotated[list[Selector], msgspec.Meta(min_length=1)]
    a_not: list[Selector] = msgspec.field(default_factory=list)
    b_not: list[Selector] = msgspec.field(default_factory=list)
    severity: Severity
    priority: Annotated[int, msgspec.Meta(ge=0, le=9)] = 1  # explicit pair rules outrank class rules
    mechanism: Text
    clinical_effect: Text
    management: Text
    evidence: Evidence
    sources: Annotated[list[SourceId], msgspec.Meta(min_length=1)]
    reviewed: date


class GroupRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Three or more drugs together (one per member selector list), e.g. the 'triple whammy'."""

    id: Slug
    kind: Literal["group"] = "group"
    family: Slug
    members: Annotated[list[list[Selector]], msgspec.Meta(min_length=3, max_length=5)]
    severity: Severity
    mechanism: Text
    clinical_effect: Text
    management: Text
    evidence: Evidence
    sources: Annotated[list[SourceId], msgspec.Meta(min_length=1)]
    reviewed: date


class ConditionEntry(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    id: Slug
    name: Name
    aka: list[Name] = msgspec.field(default_factory=list)


class AllergyClass(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An allergy class: the names a patient or record uses for it, and the classes that cross-react."""

    id: Slug
    name: Name
    aka: list[Name] = msgspec.field(default_factory=list)
    cross: list[tuple[Slug, Severity, Text]] = msgspec.field(default_factory=list)
    sources: Annotated[list[SourceId], msgspec.Meta(min_length=1)]
    reviewed: date


# --- settings -----------------------------------------------------------------------------------------------


class InteractionsSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """What a tenant chooses (PUT /v1/plugins/interactions {"settings": {...}})."""

    # Interactions below this severity are left out of answers (minor ones are noise for some prescribers).
    minimum_severity: Severity = "minor"
    # Food and alcohol advice alongside drug interactions.
    include_food: bool = True
    # The tenant's own sentence appended to Lumen's disclaimer.
    disclaimer: Annotated[str, msgspec.Meta(max_length=500)] | None = None


# --- requests ---------------------------------------------------------------------------------------------

InputName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Patient(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    age: Annotated[float, msgspec.Meta(ge=0, le=130)] | None = None
    sex: Literal["female", "male", "other", "unknown"] | None = None
    pregnant: bool | None = None
    conditions: Annotated[list[InputName], msgspec.Meta(max_length=50)] = msgspec.field(default_factory=list)
    allergies: Annotated[list[InputName], msgspec.Meta(max_length=50)] = msgspec.field(default_factory=list)
    egfr: Annotated[float, msgspec.Meta(ge=0, le=200)] | None = None


class CheckRequest(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    medications: Annotated[list[InputName], msgspec.Meta(min_length=1, max_length=MAX_MEDICATIONS)]
    patient: Patient | None = None
    # One of the tenant's patient profiles instead of `patient`: its age, sex, pregnancy, conditions,
    # allergies and eGFR, and its current medications checked together with `medications`.
    patient_id: uuid.UUID | None = None


class RuleIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A tenant's own pair rule (a formulary or local-policy rule): drug or class selectors on each side."""

    a: Annotated[list[Selector], msgspec.Meta(min_length=1, max_length=20)]
    b: Annotated[list[Selector], msgspec.Meta(min_length=1, max_length=20)]
    severity: Severity
    mechanism: Annotated[str, msgspec.Meta(min_length=3, max_length=600)]
    clinical_effect: Annotated[str, msgspec.Meta(min_length=3, max_length=600)]
    management: Annotated[str, msgspec.Meta(min_length=3, max_length=600)]
    evidence: Evidence = "guideline"
    reference: Annotated[str, msgspec.Meta(min_length=3, max_length=300)]


class PluginRule(RuleIn, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A rule another plugin returns from the `interaction_rules` hook: a RuleIn with its own id."""

    id: Slug


# --- responses --------------------------------------------------------------------------------------------


class Recognized(msgspec.Struct, kw_only=True):
    input: str
    id: str  # ingredient id, or product id for a combination product
    name: str
    ingredients: list[str]  # the ingredient ids it stands for (one, or several for a product)
    matched: Literal["id", "name", "brand", "salt", "product", "misspelling"]


class Unrecognized(msgspec.Struct, kw_only=True):
    input: str
    suggestions: list[str]


class Interaction(msgspec.Struct, kw_only=True):
    drugs: list[str]  # ingredient names
    drug_ids: list[str]
    inputs: list[str]  # the inputs they came from
    severity: Severity
    mechanism: str
    clinical_effect: str
    management: str
    evidence: Evidence
    references: list[str]  # source ids, detailed in `citations`
    reviewed: date
    rule_id: str
    source: Literal["knowledge", "tenant", "plugin"] = "knowledge"


class Warning(msgspec.Struct, kw_only=True):
    kind: Literal[
        "duplicate", "condition", "allergy", "food", "age", "pregnancy", "renal", "hepatic", "burden"
    ]
    severity: Severity
    drugs: list[str]
    drug_ids: list[str]
    message: str
    management: str
    evidence: Evidence
    references: list[str]
    reviewed: date
    rule_id: str


class CheckResult(SafetyEnvelope, kw_only=True):
    interactions: list[Interaction]
    warnings: list[Warning]
    recognized: list[Recognized]
    unrecognized: list[Unrecognized]
    # Patient conditions or allergies the checker could not map: they were NOT checked.
    unrecognized_patient: list[str] = msgspec.field(default_factory=list)


class DrugHit(msgspec.Struct, kw_only=True):
    id: str
    name: str
    uk_name: str | None
    matched: str  # the name that matched the query
    kind: Literal["ingredient", "product"]


class DrugPage(msgspec.Struct, kw_only=True):
    items: list[DrugHit]
    knowledge_version: str


class Monograph(SafetyEnvelope, kw_only=True):
    id: str
    name: str
    uk_name: str | None
    other_names: list[str]
    brands: list[str]
    classes: list[str]
    atc: list[str]
    rxcui: str | None
    uses: str
    key_warnings: list[str]
    properties: list[str]
    contraindicated_with: list[str]
    avoid_with: list[str]
    pregnancy: str | None
    renal: str | None
    hepatic: str | None
    food: list[str]
    reviewed: date


class RuleOut(msgspec.Struct, kw_only=True):
    id: str
    a: list[str]
    b: list[str]
    severity: Severity
    mechanism: str
    clinical_effect: str
    management: str
    evidence: Evidence
    reference: str
    created_at: str


class RulePage(msgspec.Struct, kw_only=True):
    items: list[RuleOut]
    next_cursor: str | None


# Citations are the SDK's; re-exported for the service.
_ = Citation
