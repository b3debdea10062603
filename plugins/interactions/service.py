"""The interaction checker: curated knowledge loaded and validated once per process, names normalised to
ingredients, and a deterministic rule engine (ARCHITECTURE §6.1: knowledge decides every severity).

How a check works:

1. Every input is resolved to one or more ingredients: exact names (US and UK), brands, ids, common
   misspellings listed in the knowledge, then the same after removing doses, dosage forms and salt names,
   then combinations written as "a/b" or "a + b". Anything left is reported in `unrecognized` with fuzzy
   suggestions; it is never guessed (hydroxyzine and hydralazine are one letter-swap apart).
2. Each ingredient has a profile: the union of its own properties and those of its classes (and their
   parents). Properties are tokens such as `cyp3a4:inh-strong`, `qt:known`, `sero:strong`, `class:nsaid`.
3. Every pair is checked against the pair rules (mechanism-based, pharmacodynamic and explicit), and
   against each drug's label contraindications (`contra_with`) and cautions (`avoid_with`). For one pair,
   one finding per mechanism family is kept (the most severe; explicit and label findings win ties), so a
   prescriber reads one clear reason instead of three overlapping ones. Pair results are cached: knowledge
   is immutable for the process.
4. Group rules (three drugs, e.g. the 'triple whammy'), duplicates, patient context (age, pregnancy, eGFR,
   conditions, allergies with cross-sensitivity), food and alcohol, and anticholinergic burden become
   warnings.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from typing import Any

import msgspec
import structlog
from rapidfuzz import fuzz, process

from lumen.plugins.interactions.schemas import (
    SEVERITY_RANK,
    AllergyClass,
    CheckResult,
    ClassEntry,
    ConditionEntry,
    ConditionNote,
    FoodNote,
    GroupRule,
    Ingredient,
    Interaction,
    InteractionsSettings,
    KnowledgeHeader,
    Monograph,
    PairRule,
    Patient,
    PluginRule,
    Product,
    Recognized,
    RenalNote,
    SourceEntry,
    Unrecognized,
    Warning,
)
from lumen.plugins.sdk import Citation, PluginContext, disclaimer_for

__all__ = [
    "DISCLAIMER_EXTRA",
    "Checker",
    "InteractionKnowledgeError",
    "Knowledge",
    "Profile",
    "compile_custom_rule",
    "fold",
    "load_knowledge",
]

log = structlog.get_logger()

DISCLAIMER_EXTRA = (
    "Interaction checks cover the medicines and facts in Lumen's curated knowledge only; an empty result is "
    "not proof that a combination is safe. Always confirm with a pharmacist or prescriber."
)

CYP_ENZYMES = ("cyp1a2", "cyp2b6", "cyp2c8", "cyp2c9", "cyp2c19", "cyp2d6", "cyp3a4")
CYP_ROLES = ("sub", "sens", "inh-strong", "inh-mod", "inh-weak", "ind-strong", "ind-mod")
VOCABULARY: frozenset[str] = frozenset(
    [f"{e}:{r}" for e in CYP_ENZYMES for r in CYP_ROLES]
    + ["pgp:sub", "pgp:inh", "pgp:ind", "oatp:sub", "oatp:inh"]
    + ["qt:known", "qt:possible", "qt:conditional", "sero:strong", "sero:weak"]
    + [
        "prodrug:cyp2d6",
        "prodrug:cyp2c19",
        "acb:1",
        "acb:2",
        "acb:3",
        "bleed:mild",
        "bleed:herbal",
        "margin:wide",
        "binds-drugs",
    ]
    + [
        "nti",
        "maoi",
        "maoi-antibiotic",
        "sympathomimetic",
        "cns-depressant",
        "sedative-hypnotic",
        "k-raising",
        "k-lowering",
        "nephrotoxic",
        "ototoxic",
        "raas",
        "brady",
        "chelated",
        "polyvalent-cation",
        "acid-dependent",
        "acid-suppressant",
        "hypoglycaemic",
        "dopaminergic",
        "dopamine-antagonist",
        "cholinergic",
        "vasoconstrictor",
        "nitrate",
    ]
)
KNOWLEDGE_FILES = ("sources", "classes", "ingredients", "products", "rules", "conditions", "allergies")
LABEL_PUBLISHER = "U.S. National Library of Medicine, DailyMed"


class InteractionKnowledgeError(ValueError):
    """The knowledge cannot be used; the message names the file and the entry."""


# --- names ------------------------------------------------------------------------------------------------

_APOSTROPHES = dict.fromkeys(map(ord, "'\u2019`\u00b4"), None)
_SEPARATORS = re.compile(r"[^0-9a-z]+")
_SPELLING = (("sulph", "sulf"), ("oestr", "estr"), ("aemia", "emia"), ("haem", "hem"), ("ae", "e"))
_DOSE = re.compile(
    r"\b\d+(?:[.,]\d+)?\s*(?:mg|mcg|ug|µg|g|ml|l|%|iu|units?|mmol|meq|micrograms?|milligrams?)?\b"
    r"(?:\s*/\s*\d*(?:[.,]\d+)?\s*(?:ml|h|hr|hours?|dose|actuation|spray)?)?"
)
_FORMS = frozenset(
    [
        "tablet",
        "tablets",
        "tab",
        "tabs",
        "caplet",
        "caplets",
        "capsule",
        "capsules",
        "cap",
        "caps",
        "oral",
        "solution",
        "suspension",
        "syrup",
        "elixir",
        "liquid",
        "drops",
        "injection",
        "injectable",
        "infusion",
        "iv",
        "im",
        "sc",
        "cream",
        "ointment",
        "gel",
        "patch",
        "patches",
        "transdermal",
        "inhaler",
        "inhalation",
        "nebuliser",
        "nebulizer",
        "spray",
        "nasal",
        "eye",
        "ear",
        "chewable",
        "dispersible",
        "effervescent",
        "soluble",
        "orodispersible",
        "odt",
        "er",
        "xr",
        "xl",
        "sr",
        "cr",
        "la",
        "mr",
        "dr",
        "ec",
        "ir",
        "pr",
        "extended",
        "delayed",
        "modified",
        "prolonged",
        "immediate",
        "release",
        "film",
        "coated",
        "enteric",
        "sublingual",
        "buccal",
        "lozenge",
        "powder",
        "granules",
        "sachet",
        "sachets",
        "suppository",
        "pessary",
        "vaginal",
        "topical",
        "daily",
        "once",
        "twice",
        "bd",
        "od",
        "tds",
        "qds",
        "prn",
        "mg",
        "mcg",
        "ml",
        "dose",
        "doses",
        "strength",
        "generic",
        "otc",
        "rx",
    ]
)
_SALTS = frozenset(
    [
        "hydrochloride",
        "hcl",
        "dihydrochloride",
        "hydrobromide",
        "hbr",
        "sodium",
        "potassium",
        "calcium",
        "magnesium",
        "besylate",
        "besilate",
        "maleate",
        "mesylate",
        "mesilate",
        "succinate",
        "tartrate",
        "bitartrate",
        "citrate",
        "sulfate",
        "sulphate",
        "phosphate",
        "acetate",
        "fumarate",
        "bromide",
        "chloride",
        "dihydrate",
        "monohydrate",
        "trihydrate",
        "hemihydrate",
        "anhydrous",
        "hyclate",
        "monohydrochloride",
        "disodium",
        "dipotassium",
        "lactate",
        "gluconate",
        "nitrate",
        "propionate",
        "furoate",
        "dipropionate",
        "valerate",
        "decanoate",
        "enanthate",
        "palmitate",
        "pamoate",
        "embonate",
        "tosylate",
        "napsylate",
        "xinafoate",
        "trometamol",
        "tromethamine",
        "lysine",
        "arginine",
        "erbumine",
        "cilexetil",
        "medoxomil",
        "axetil",
        "pivoxil",
        "etexilate",
        "mofetil",
        "base",
        "free",
    ]
)
_SPLIT = re.compile(r"\s*(?:/|\+|,|;|\band\b|\bwith\b|&)\s*")


def _american(word: str) -> str:
    for british, american in _SPELLING:
        if british in word:
            word = word.replace(british, american)
    return word


def fold(text: str) -> str:
    """The search form of a name: lower case, no accents or punctuation, single spaces."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES))
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()
    return " ".join(_SEPARATORS.sub(" ", bare).split())


def _fold_variants(text: str) -> list[str]:
    folded = fold(text)
    american = " ".join(_american(w) for w in folded.split())
    return [folded] if american == folded else [folded, american]


def _strip_forms(folded: str) -> str:
    without_dose = _DOSE.sub(" ", folded)
    return " ".join(w for w in without_dose.split() if w not in _FORMS)


def _strip_salts(folded: str) -> str:
    return " ".join(w for w in folded.split() if w not in _SALTS)


# --- the loaded knowledge -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    """One ingredient with everything its classes pass on, ready for matching."""

    ingredient: Ingredient
    tags: frozenset[str]
    classes: tuple[str, ...]  # all class ids, own first, then ancestors
    contra_with: tuple[tuple[str, frozenset[str]], ...]
    avoid_with: tuple[tuple[str, frozenset[str]], ...]
    pregnancy: tuple[str, str, tuple[str, ...]] | None  # level, advice, sources
    renal: tuple[RenalNote, tuple[str, ...]] | None
    hepatic: tuple[ConditionNote, tuple[str, ...]] | None
    min_age: tuple[int, str, tuple[str, ...]] | None
    elderly: tuple[str, tuple[str, ...]] | None
    conditions: tuple[tuple[ConditionNote, tuple[str, ...]], ...]
    allergy: frozenset[str]
    food: tuple[tuple[FoodNote, tuple[str, ...]], ...]
    warnings: tuple[str, ...]
    duplicate_classes: tuple[str, ...]
    acb: int

    @property
    def id(self) -> str:
        return self.ingredient.id

    @property
    def name(self) -> str:
        return self.ingredient.name

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(self.ingredient.sources)


@dataclass(frozen=True, slots=True)
class CompiledRule:
    id: str
    family: str
    a: tuple[frozenset[str], ...]
    b: tuple[frozenset[str], ...]
    a_not: tuple[frozenset[str], ...]
    b_not: tuple[frozenset[str], ...]
    severity: str
    priority: int
    mechanism: str
    clinical_effect: str
    management: str
    evidence: str
    sources: tuple[str, ...]
    reviewed: date
    origin: str = "knowledge"  # knowledge | tenant | plugin


@dataclass(frozen=True, slots=True)
class Finding:
    """One interaction between two ingredients (`a` is the drug the texts call {a})."""

    rule_id: str
    family: str
    severity: str
    priority: int
    a: str
    b: str
    mechanism: str
    clinical_effect: str
    management: str
    evidence: str
    sources: tuple[str, ...]
    reviewed: date
    origin: str = "knowledge"


def _matches(tags: frozenset[str], selectors: Iterable[frozenset[str]]) -> bool:
    return any(selector <= tags for selector in selectors)


def _selector(text: str) -> frozenset[str]:
    return frozenset(text.split("+"))


def _convert(raw: dict[str, Any], kind: type[Any], origin: str, position: int) -> Any:
    label = f"entries[{position}]" + (f" ({raw['id']!r})" if isinstance(raw.get("id"), str) else "")
    try:
        return msgspec.convert(raw, kind)
    except msgspec.ValidationError as exc:
        raise InteractionKnowledgeError(f"interaction knowledge {origin}: {label}: {exc}") from exc


class Knowledge:
    """Every knowledge file, validated and cross-checked, with the indexes a check needs."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        headers: dict[str, KnowledgeHeader] = {}
        for name in KNOWLEDGE_FILES:
            origin = f"knowledge/{name}.json"
            if name not in files:
                raise InteractionKnowledgeError(f"interaction knowledge: {origin} is missing")
            try:
                headers[name] = msgspec.json.decode(files[name], type=KnowledgeHeader)
            except msgspec.DecodeError as exc:
                raise InteractionKnowledgeError(f"interaction knowledge {origin}: {exc}") from exc
        self.version = headers["ingredients"].version
        self.reviewed = max(h.reviewed for h in headers.values())
        self.headers = headers

        def entries(name: str, kind: type[Any]) -> list[Any]:
            return [
                _convert(raw, kind, f"knowledge/{name}.json", i)
                for i, raw in enumerate(headers[name].entries)
            ]

        self.sources: dict[str, SourceEntry] = self._unique("sources", entries("sources", SourceEntry))
        self.classes: dict[str, ClassEntry] = self._unique("classes", entries("classes", ClassEntry))
        self.ingredients: dict[str, Ingredient] = self._unique(
            "ingredients", entries("ingredients", Ingredient)
        )
        self.products: dict[str, Product] = self._unique("products", entries("products", Product))
        self.conditions: dict[str, ConditionEntry] = self._unique(
            "conditions", entries("conditions", ConditionEntry)
        )
        self.allergies: dict[str, AllergyClass] = self._unique(
            "allergies", entries("allergies", AllergyClass)
        )
        pair_rules: list[PairRule] = []
        group_rules: list[GroupRule] = []
        for i, raw in enumerate(headers["rules"].entries):
            if raw.get("kind") == "group":
                group_rules.append(_convert(raw, GroupRule, "knowledge/rules.json", i))
            else:
                pair_rules.append(_convert(raw, PairRule, "knowledge/rules.json", i))
        overlap = set(self.ingredients) & set(self.products)
        if overlap:
            raise InteractionKnowledgeError(
                f"interaction knowledge: ids used by an ingredient and a product: {sorted(overlap)}"
            )
        self._check_references(pair_rules, group_rules)
        self.profiles: dict[str, Profile] = {i: self._profile(ing) for i, ing in self.ingredients.items()}
        self.rules: list[CompiledRule] = [r for rule in pair_rules for r in _expand(rule)]
        self.group_rules = group_rules
        self._index_names()

    # --- validation ---------------------------------------------------------------------------------------

    @staticmethod
    def _unique(name: str, items: Sequence[Any]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for item in items:
            if item.id in found:
                raise InteractionKnowledgeError(
                    f"interaction knowledge knowledge/{name}.json: id {item.id!r} is used twice"
                )
            found[item.id] = item
        return found

    def _check_source(self, where: str, source: str) -> None:
        if source.startswith("label:"):
            return
        if source not in self.sources:
            raise InteractionKnowledgeError(f"interaction knowledge: {where} cites unknown source {source!r}")

    def _check_selector(self, where: str, text: str) -> None:
        for token in text.split("+"):
            kind, _, value = token.partition(":")
            if kind == "drug":
                if value not in self.ingredients:
                    raise InteractionKnowledgeError(
                        f"interaction knowledge: {where}: no ingredient {value!r}"
                    )
            elif kind == "class":
                if value not in self.classes:
                    raise InteractionKnowledgeError(f"interaction knowledge: {where}: no class {value!r}")
            elif token not in VOCABULARY:
                raise InteractionKnowledgeError(f"interaction knowledge: {where}: unknown property {token!r}")

    def _check_clinical(self, where: str, entry: Any) -> None:
        for token in entry.props:
            if token not in VOCABULARY:
                raise InteractionKnowledgeError(f"interaction knowledge: {where}: unknown property {token!r}")
        for selector in [*entry.contra_with, *entry.avoid_with]:
            self._check_selector(where, selector)
        for note in [*entry.conditions, *([entry.hepatic] if entry.hepatic else [])]:
            if note.condition not in self.conditions:
                raise InteractionKnowledgeError(
                    f"interaction knowledge: {where}: no condition {note.condition!r}"
                )
        for allergy in entry.allergy:
            if allergy not in self.allergies:
                raise InteractionKnowledgeError(
                    f"interaction knowledge: {where}: no allergy class {allergy!r}"
                )
        for source in entry.sources:
            self._check_source(where, source)

    def _check_references(self, pair_rules: Sequence[PairRule], group_rules: Sequence[GroupRule]) -> None:
        for cls in self.classes.values():
            where = f"classes.json ({cls.id!r})"
            for parent in cls.parents:
                if parent not in self.classes:
                    raise InteractionKnowledgeError(
                        f"interaction knowledge: {where}: no parent class {parent!r}"
                    )
            self._check_clinical(where, cls)
            self._ancestors(cls.id)  # raises on a cycle
        for ing in self.ingredients.values():
            where = f"ingredients.json ({ing.id!r})"
            for cls_id in ing.classes:
                if cls_id not in self.classes:
                    raise InteractionKnowledgeError(f"interaction knowledge: {where}: no class {cls_id!r}")
            self._check_clinical(where, ing)
        for product in self.products.values():
            where = f"products.json ({product.id!r})"
            for ing_id in product.ingredients:
                if ing_id not in self.ingredients:
                    raise InteractionKnowledgeError(
                        f"interaction knowledge: {where}: no ingredient {ing_id!r}"
                    )
            for source in product.sources:
                self._check_source(where, source)
        every_rule: list[PairRule | GroupRule] = [*pair_rules, *group_rules]
        for rule in every_rule:
            where = f"rules.json ({rule.id!r})"
            if isinstance(rule, PairRule):
                selectors = [*rule.a, *rule.b, *rule.a_not, *rule.b_not]
                enzymes = rule.expand or [""]
                for enzyme in enzymes:
                    if enzyme and enzyme not in CYP_ENZYMES:
                        raise InteractionKnowledgeError(
                            f"interaction knowledge: {where}: unknown enzyme {enzyme!r}"
                        )
                    for selector in selectors:
                        self._check_selector(where, selector.replace("cypx", enzyme) if enzyme else selector)
            else:
                for member in rule.members:
                    for selector in member:
                        self._check_selector(where, selector)
            for source in rule.sources:
                self._check_source(where, source)
        for allergy in self.allergies.values():
            for target, _, _ in allergy.cross:
                if target not in self.allergies:
                    raise InteractionKnowledgeError(
                        f"interaction knowledge: allergies.json ({allergy.id!r}): no allergy class {target!r}"
                    )

    # --- profiles -----------------------------------------------------------------------------------------

    def _ancestors(self, class_id: str, trail: tuple[str, ...] = ()) -> list[str]:
        if class_id in trail:
            raise InteractionKnowledgeError(
                f"interaction knowledge: classes.json: cycle {' -> '.join([*trail, class_id])}"
            )
        found = [class_id]
        for parent in self.classes[class_id].parents:
            for ancestor in self._ancestors(parent, (*trail, class_id)):
                if ancestor not in found:
                    found.append(ancestor)
        return found

    def _profile(self, ing: Ingredient) -> Profile:
        class_ids: list[str] = []
        for cls_id in ing.classes:
            for ancestor in self._ancestors(cls_id):
                if ancestor not in class_ids:
                    class_ids.append(ancestor)
        layers: list[Any] = [ing, *(self.classes[c] for c in class_ids)]  # most specific first
        props = {p for layer in layers for p in layer.props}
        for enzyme in CYP_ENZYMES:
            if f"{enzyme}:sens" in props:
                props.add(f"{enzyme}:sub")
        tags = frozenset({f"drug:{ing.id}", *(f"class:{c}" for c in class_ids), *props})

        def first(attr: str) -> Any:
            return next(((getattr(layer, attr), layer) for layer in layers if getattr(layer, attr)), None)

        def gather(attr: str) -> list[tuple[Any, tuple[str, ...]]]:
            return [(item, tuple(layer.sources)) for layer in layers for item in getattr(layer, attr)]

        pregnancy = first("pregnancy")
        renal, hepatic, min_age, elderly = (
            first("renal"),
            first("hepatic"),
            first("min_age"),
            first("elderly"),
        )
        conditions: dict[str, tuple[ConditionNote, tuple[str, ...]]] = {}
        for note, sources in gather("conditions"):
            conditions.setdefault(note.condition, (note, sources))  # the most specific layer wins
        foods: dict[str, tuple[FoodNote, tuple[str, ...]]] = {}
        for note, sources in gather("food"):
            foods.setdefault(note.food, (note, sources))
        if "cyp3a4:sens" in props and "grapefruit" not in foods:
            contra = any(
                "cyp3a4:inh" in s for layer in layers for s in [*layer.contra_with, *layer.avoid_with]
            )
            foods["grapefruit"] = (
                FoodNote(
                    food="grapefruit",
                    severity="major" if contra else "moderate",
                    advice=f"Grapefruit and its juice inhibit intestinal CYP3A4 and can raise {ing.name} "
                    "levels: "
                    "avoid grapefruit (and Seville oranges, pomelo) while taking it.",
                ),
                ("fda:grapefruit",),
            )
        acb = max((int(p.split(":")[1]) for p in props if p.startswith("acb:")), default=0)
        duplicate_classes = tuple(c for c in class_ids if self.classes[c].duplicate)
        return Profile(
            ingredient=ing,
            tags=tags,
            classes=tuple(class_ids),
            contra_with=tuple((s, _selector(s)) for s, _ in gather("contra_with")),
            avoid_with=tuple((s, _selector(s)) for s, _ in gather("avoid_with")),
            pregnancy=(
                (
                    pregnancy[0],
                    first("pregnancy_advice")[0] if first("pregnancy_advice") else "",
                    tuple(pregnancy[1].sources),
                )
                if pregnancy
                else None
            ),
            renal=(renal[0], tuple(renal[1].sources)) if renal else None,
            hepatic=(hepatic[0], tuple(hepatic[1].sources)) if hepatic else None,
            min_age=(
                (min_age[0], first("age_advice")[0] if first("age_advice") else "", tuple(min_age[1].sources))
                if min_age
                else None
            ),
            elderly=(elderly[0], tuple(elderly[1].sources)) if elderly else None,
            conditions=tuple(conditions.values()),
            allergy=frozenset(a for layer in layers for a in layer.allergy),
            food=tuple(foods.values()),
            warnings=tuple(w for layer in layers for w in layer.warnings),
            duplicate_classes=duplicate_classes,
            acb=acb,
        )

    # --- names --------------------------------------------------------------------------------------------

    def _index_names(self) -> None:
        # folded name -> (ingredient ids, matched kind, display id/name)
        self.names: dict[str, tuple[tuple[str, ...], str, str, str]] = {}
        self.display: dict[str, str] = {}  # folded -> as written, for suggestions

        def add(text: str, ids: tuple[str, ...], matched: str, ident: str, display: str) -> None:
            for key in _fold_variants(text):
                if not key:
                    continue
                held = self.names.get(key)
                if held is not None and held[0] != ids:
                    raise InteractionKnowledgeError(
                        f"interaction knowledge: the name {text!r} means both {held[2]!r} and {ident!r}"
                    )
                if held is None or (matched == "name" and held[1] != "name"):
                    self.names[key] = (ids, matched, ident, display)
                self.display.setdefault(key, text)

        for ing in self.ingredients.values():
            ids: tuple[str, ...] = (ing.id,)
            add(ing.id.replace("-", " "), ids, "id", ing.id, ing.name)
            add(ing.name, ids, "name", ing.id, ing.name)
            if ing.uk:
                add(ing.uk, ids, "name", ing.id, ing.name)
            for alias in ing.aka:
                add(alias, ids, "name", ing.id, ing.name)
            for brand in ing.brands:
                add(brand, ids, "brand", ing.id, ing.name)
        for product in self.products.values():
            ids = tuple(product.ingredients)
            add(product.id.replace("-", " "), ids, "product", product.id, product.name)
            for name in [product.name, *product.aka, *product.brands]:
                add(name, ids, "product", product.id, product.name)
        self.choices = list(self.display)
        self.sorted_keys = sorted(self.names)
        self.word_index = sorted({(word, key) for key in self.names for word in key.split()})
        self.condition_index: dict[str, str] = {}
        for cond in self.conditions.values():
            for text in (cond.id, cond.name, *cond.aka):
                self.condition_index.setdefault(fold(text), cond.id)
        self.allergy_index: dict[str, tuple[str, ...]] = {}
        for allergy in self.allergies.values():
            for text in {fold(allergy.id), fold(allergy.name), *map(fold, allergy.aka)}:
                held: tuple[str, ...] = self.allergy_index.get(text, ())
                self.allergy_index[text] = (*held, allergy.id)

    def allergy_ids(self, text: str) -> set[str]:
        return set(self.allergy_index.get(fold(text), ()))

    def condition_id(self, text: str) -> str | None:
        return self.condition_index.get(fold(text))

    # --- citations ------------------------------------------------------------------------------------------

    def citation(self, source_id: str) -> Citation:
        if source_id.startswith("label:"):
            slug = source_id.split(":", 1)[1]
            ing = self.ingredients.get(slug)
            name = ing.name if ing else slug.replace("-", " ")
            query = name.replace(" ", "+")
            return Citation(
                source_id=source_id,
                title=f"{name[:1].upper()}{name[1:]}: US prescribing information",
                url=f"https://dailymed.nlm.nih.gov/dailymed/search.cfm?labeltype=all&query={query}",
                publisher=LABEL_PUBLISHER,
            )
        source = self.sources[source_id]
        return Citation(source_id=source.id, title=source.title, url=source.url, publisher=source.publisher)


def _expand(rule: PairRule) -> list[CompiledRule]:
    enzymes = rule.expand or [""]
    compiled = []
    for enzyme in enzymes:

        def sub(text: str, enzyme: str = enzyme) -> str:
            return text.replace("cypx", enzyme).replace("CYPX", enzyme.upper()) if enzyme else text

        compiled.append(
            CompiledRule(
                id=sub(rule.id),
                family=sub(rule.family),
                a=tuple(_selector(sub(s)) for s in rule.a),
                b=tuple(_selector(sub(s)) for s in rule.b),
                a_not=tuple(_selector(sub(s)) for s in rule.a_not),
                b_not=tuple(_selector(sub(s)) for s in rule.b_not),
                severity=rule.severity,
                priority=rule.priority,
                mechanism=sub(rule.mechanism),
                clinical_effect=sub(rule.clinical_effect),
                management=sub(rule.management),
                evidence=rule.evidence,
                sources=tuple(rule.sources),
                reviewed=rule.reviewed,
            )
        )
    return compiled


def compile_custom_rule(rule_id: str, raw: Mapping[str, Any], *, origin: str, reviewed: date) -> CompiledRule:
    """A tenant's or another plugin's rule (already validated as RuleIn) in the engine's form."""
    return CompiledRule(
        id=rule_id,
        family=f"{origin}-{rule_id}",
        a=tuple(_selector(s) for s in raw["a"]),
        b=tuple(_selector(s) for s in raw["b"]),
        a_not=(),
        b_not=(),
        severity=raw["severity"],
        priority=5,
        mechanism=raw["mechanism"],
        clinical_effect=raw["clinical_effect"],
        management=raw["management"],
        evidence=raw.get("evidence", "guideline"),
        sources=(),
        reviewed=reviewed,
        origin=origin,
    )


# --- label-derived findings ---------------------------------------------------------------------------------

_ROLE_WORDS = {
    "inh-strong": "a strong inhibitor",
    "inh-mod": "a moderate inhibitor",
    "inh-weak": "a weak inhibitor",
    "ind-strong": "a strong inducer",
    "ind-mod": "a moderate inducer",
    "inh": "an inhibitor",
    "ind": "an inducer",
}


def _label_texts(owner: Profile, other: Profile, selector: str) -> tuple[str, str, str]:
    """Mechanism family, mechanism and clinical effect for `owner`'s label contraindication or caution that
    `other` matches. The family lets the engine keep one finding per mechanism for a pair."""
    a, b = owner.name, other.name
    effect = owner.ingredient.exposure_effect or "more dose-related adverse effects."
    for token in selector.split("+"):
        kind, _, role = token.partition(":")
        if kind.startswith("cyp") or kind in ("pgp", "oatp"):
            target = "P-glycoprotein" if kind == "pgp" else "OATP1B1" if kind == "oatp" else kind.upper()
            words = _ROLE_WORDS.get(role, role)
            if role.startswith("ind"):
                return (
                    "pk",
                    f"{b} is {words} of {target}, which clears {a}; {a} levels fall.",
                    f"Loss of {a} effect (treatment failure).",
                )
            return (
                "pk",
                f"{b} is {words} of {target}, which clears {a}; {a} exposure rises.",
                f"Raised {a} levels: {effect}",
            )
        if kind == "qt":
            return (
                "qt",
                f"{a} and {b} both prolong the QT interval.",
                "QT prolongation, torsades de pointes and sudden cardiac death.",
            )
        if kind in ("maoi", "sympathomimetic", "maoi-antibiotic") or token == "class:maoi":  # noqa: S105
            return (
                "monoamine",
                f"{b} inhibits monoamine oxidase and {a} raises monoamine (serotonin or noradrenaline) "
                "activity.",
                "Serotonin syndrome or hypertensive crisis.",
            )
    # A named drug or class: say which way the pharmacokinetics go when the profiles show it.
    for enzyme in (*CYP_ENZYMES, "pgp"):
        if f"{enzyme}:sub" in owner.tags:
            if any(f"{enzyme}:{r}" in other.tags for r in ("inh-strong", "inh-mod", "inh")):
                return (
                    "pk",
                    f"{b} inhibits {enzyme.upper()}, which clears {a}; {a} exposure rises.",
                    f"Raised {a} levels: {effect}",
                )
            if any(f"{enzyme}:{r}" in other.tags for r in ("ind-strong", "ind-mod", "ind")):
                return (
                    "pk",
                    f"{b} induces {enzyme.upper()}, which clears {a}; {a} levels fall.",
                    f"Loss of {a} effect.",
                )
    if "qt:known" in owner.tags and other.tags & {"qt:known", "qt:possible"}:
        return (
            "qt",
            f"{a} and {b} both prolong the QT interval.",
            "QT prolongation and torsades de pointes.",
        )
    if "nitrate" in other.tags or "nitrate" in owner.tags:
        return (
            "hypotension",
            f"{a} and {b} both raise cyclic GMP and relax vascular smooth muscle.",
            "Severe, possibly fatal, low blood pressure.",
        )
    if "k-raising" in owner.tags and "k-raising" in other.tags:
        return ("potassium", f"{a} and {b} both raise blood potassium.", "Severe hyperkalaemia.")
    return (
        f"label-{owner.id}-{selector}",
        f"The prescribing information for {a} names {b} (or its class) as a combination to avoid.",
        f"Serious adverse effects of {a}: {effect}",
    )


# --- the checker --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Resolved:
    input: str
    ids: tuple[str, ...]
    matched: str
    ident: str
    display: str


@dataclass(slots=True)
class _Output:
    interactions: list[Interaction] = field(default_factory=list)
    warnings: list[Warning] = field(default_factory=list)
    sources: dict[str, None] = field(default_factory=dict)


_MISSING = object()
SEVERITY_FOR_PREGNANCY = {"contraindicated": "contraindicated", "avoid": "major", "caution": "moderate"}


class Checker:
    def __init__(self, knowledge: Knowledge) -> None:
        self.knowledge = knowledge
        self.version = knowledge.version
        self._pair_cache: dict[tuple[str, str], tuple[Finding, ...]] = {}
        self._name_cache: dict[str, Any] = {}

    # --- names ------------------------------------------------------------------------------------------

    def resolve(self, text: str) -> _Resolved | None:
        """The ingredients a name stands for, or None. Cached: the knowledge never changes in a process."""
        cached = self._name_cache.get(text, _MISSING)
        if cached is _MISSING:
            if len(self._name_cache) >= 50_000:
                self._name_cache.clear()
            cached = self._resolve(text)
            self._name_cache[text] = cached
        return (
            None
            if cached is None
            else _Resolved(text, cached.ids, cached.matched, cached.ident, cached.display)
        )

    def _resolve(self, text: str) -> _Resolved | None:
        names = self.knowledge.names
        variants = _fold_variants(text)
        for stage in range(3):
            for variant in variants:
                key = (
                    variant
                    if stage == 0
                    else _strip_forms(variant)
                    if stage == 1
                    else _strip_salts(_strip_forms(variant))
                )
                hit = names.get(key) if key else None
                if hit is not None:
                    ids, matched, ident, display = hit
                    if stage == 2 and matched == "name":
                        matched = "salt"
                    return _Resolved(text, ids, matched, ident, display)
        # European INN spellings ("simvastatine", "amoxicilline"): the name without its final e.
        for variant in variants:
            key = _strip_salts(_strip_forms(variant))
            if key.endswith("e") and len(key) > 6 and " " not in key:
                hit = names.get(key[:-1])
                if hit is not None and hit[1] in ("name", "id"):
                    return _Resolved(text, hit[0], "misspelling", hit[2], hit[3])
        # "amlodipine/benazepril", "paracetamol + codeine": every part must be known.
        parts = [p for p in _SPLIT.split(text) if p.strip()]
        if len(parts) > 1:
            resolved = [self.resolve(part) for part in parts[:6]]
            if all(r is not None for r in resolved):
                ids = tuple(dict.fromkeys(i for r in resolved if r for i in r.ids))
                display = " / ".join(r.display for r in resolved if r)
                return _Resolved(text, ids, "product", "+".join(ids), display)
        return None

    def suggest(self, text: str, limit: int = 5) -> list[str]:
        query = _strip_forms(fold(text))[:100]
        if len(query) < 2:
            return []
        hits = process.extract(
            query, self.knowledge.choices, scorer=fuzz.QRatio, limit=limit * 3, score_cutoff=70
        )
        seen: dict[str, None] = {}
        for choice, _, _ in hits:
            display = self.knowledge.names[choice][3]
            seen.setdefault(display, None)
            if len(seen) >= limit:
                break
        return list(seen)

    # --- pairs -------------------------------------------------------------------------------------------

    def pair(self, x: str, y: str) -> tuple[Finding, ...]:
        key = (x, y) if x < y else (y, x)
        cached = self._pair_cache.get(key)
        if cached is None:
            cached = self._evaluate_pair(*key)
            self._pair_cache[key] = cached
        return cached

    def _evaluate_pair(self, x: str, y: str) -> tuple[Finding, ...]:
        px, py = self.knowledge.profiles[x], self.knowledge.profiles[y]
        found: list[Finding] = []
        for rule in self.knowledge.rules:
            found.extend(_apply(rule, px, py))
        for owner, other in ((px, py), (py, px)):
            for severity, selectors in (("contraindicated", owner.contra_with), ("major", owner.avoid_with)):
                for text, selector in selectors:
                    if selector <= other.tags:
                        kind = "contra" if severity == "contraindicated" else "avoid"
                        family, mechanism, effect = _label_texts(owner, other, text)
                        found.append(
                            Finding(
                                rule_id=f"label-{owner.id}-{kind}",
                                family=family,
                                severity=severity,
                                priority=2,
                                a=owner.id,
                                b=other.id,
                                mechanism=mechanism,
                                clinical_effect=effect,
                                management=_label_management(owner, severity),
                                evidence="label",
                                sources=(
                                    *owner.sources[:2],
                                    *(("fda:ddi-table",) if text.startswith(("cyp", "pgp")) else ()),
                                ),
                                reviewed=owner.ingredient.reviewed,
                            )
                        )
                        break  # one finding per owner and severity
        return _strongest_per_family(found)

    # --- the check ---------------------------------------------------------------------------------------

    def check(
        self,
        medications: Sequence[str],
        patient: Patient | None = None,
        *,
        settings: InteractionsSettings | None = None,
        extra_rules: Sequence[CompiledRule] = (),
    ) -> CheckResult:
        settings = settings or InteractionsSettings()
        recognized: list[Recognized] = []
        unrecognized: list[Unrecognized] = []
        inputs_of: dict[str, list[str]] = {}
        for text in medications:
            hit = self.resolve(text)
            if hit is None:
                unrecognized.append(Unrecognized(input=text, suggestions=self.suggest(text)))
                continue
            recognized.append(
                Recognized(
                    input=text,
                    id=hit.ident,
                    name=hit.display,
                    ingredients=list(hit.ids),
                    matched=hit.matched,  # type: ignore[arg-type]
                )
            )
            for ing_id in hit.ids:
                inputs_of.setdefault(ing_id, []).append(text)
        out = _Output()
        ids = sorted(inputs_of)
        floor = SEVERITY_RANK[settings.minimum_severity]
        for x, y in itertools.combinations(ids, 2):
            findings = list(self.pair(x, y))
            if extra_rules:
                px, py = self.knowledge.profiles[x], self.knowledge.profiles[y]
                for rule in extra_rules:
                    findings.extend(_apply(rule, px, py))
            for finding in findings:
                if SEVERITY_RANK[finding.severity] >= floor:
                    self._add_interaction(out, finding, inputs_of)
        self._groups(out, ids, inputs_of, floor)
        self._duplicates(out, recognized, inputs_of)
        self._burden(out, ids)
        unknown_patient = self._patient(out, ids, patient) if patient else []
        if settings.include_food:
            self._food(out, ids)
        out.interactions.sort(key=lambda i: (-SEVERITY_RANK[i.severity], i.drugs))
        out.warnings.sort(key=lambda w: (-SEVERITY_RANK[w.severity], w.kind, w.drugs))
        total = len(medications)
        return CheckResult(
            interactions=out.interactions,
            warnings=out.warnings,
            recognized=recognized,
            unrecognized=unrecognized,
            unrecognized_patient=unknown_patient,
            disclaimer=disclaimer_for(settings.disclaimer, DISCLAIMER_EXTRA),
            citations=[self.knowledge.citation(s) for s in out.sources],
            confidence=round(len(recognized) / total, 2) if total else 0.0,
            knowledge_version=self.version,
            abstained=not recognized,
            abstain_reason=None
            if recognized
            else "None of the medications was recognised; nothing was checked.",
        )

    # --- pieces of a check ---------------------------------------------------------------------------------

    def _names(self, ids: Iterable[str]) -> list[str]:
        return [self.knowledge.profiles[i].name for i in ids]

    def _add_interaction(self, out: _Output, finding: Finding, inputs_of: Mapping[str, list[str]]) -> None:
        pa, pb = self.knowledge.profiles[finding.a], self.knowledge.profiles[finding.b]
        values = {
            "a": pa.name,
            "b": pb.name,
            "a_effect": pa.ingredient.exposure_effect or "more dose-related side effects.",
        }
        out.interactions.append(
            Interaction(
                drugs=[pa.name, pb.name],
                drug_ids=[pa.id, pb.id],
                inputs=list(dict.fromkeys([*inputs_of[pa.id], *inputs_of[pb.id]])),
                severity=finding.severity,  # type: ignore[arg-type]
                mechanism=_fill(finding.mechanism, values),
                clinical_effect=_fill(finding.clinical_effect, values),
                management=_fill(finding.management, values),
                evidence=finding.evidence,  # type: ignore[arg-type]
                references=list(finding.sources),
                reviewed=finding.reviewed,
                rule_id=finding.rule_id,
                source=finding.origin,  # type: ignore[arg-type]
            )
        )
        out.sources.update(dict.fromkeys(finding.sources))

    def _warn(
        self,
        out: _Output,
        kind: str,
        severity: str,
        ids: Sequence[str],
        message: str,
        management: str,
        sources: Sequence[str],
        rule_id: str,
        evidence: str = "label",
        reviewed: date | None = None,
    ) -> None:
        out.warnings.append(
            Warning(
                kind=kind,  # type: ignore[arg-type]
                severity=severity,  # type: ignore[arg-type]
                drugs=self._names(ids),
                drug_ids=list(ids),
                message=message,
                management=management,
                evidence=evidence,  # type: ignore[arg-type]
                references=list(sources),
                reviewed=reviewed or self.knowledge.reviewed,
                rule_id=rule_id,
            )
        )
        out.sources.update(dict.fromkeys(sources))

    def _groups(
        self, out: _Output, ids: Sequence[str], inputs_of: Mapping[str, list[str]], floor: int
    ) -> None:
        profiles = [self.knowledge.profiles[i] for i in ids]
        for rule in self.knowledge.group_rules:
            if SEVERITY_RANK[rule.severity] < floor:
                continue
            members = [tuple(_selector(s) for s in member) for member in rule.members]
            chosen = _assign(members, profiles)
            if chosen is None:
                continue
            values = {k: p.name for k, p in zip("abcde", chosen, strict=False)}
            out.interactions.append(
                Interaction(
                    drugs=[p.name for p in chosen],
                    drug_ids=[p.id for p in chosen],
                    inputs=list(dict.fromkeys(t for p in chosen for t in inputs_of[p.id])),
                    severity=rule.severity,
                    mechanism=_fill(rule.mechanism, values),
                    clinical_effect=_fill(rule.clinical_effect, values),
                    management=_fill(rule.management, values),
                    evidence=rule.evidence,
                    references=list(rule.sources),
                    reviewed=rule.reviewed,
                    rule_id=rule.id,
                )
            )
            out.sources.update(dict.fromkeys(rule.sources))

    def _duplicates(
        self, out: _Output, recognized: Sequence[Recognized], inputs_of: Mapping[str, list[str]]
    ) -> None:
        for ing_id, inputs in inputs_of.items():
            if len(inputs) > 1:
                name = self.knowledge.profiles[ing_id].name
                self._warn(
                    out,
                    "duplicate",
                    "major",
                    [ing_id],
                    f"{name} appears in more than one of the medicines entered ({', '.join(inputs)}): "
                    "the doses add up.",
                    f"Take {name} from one product only, and keep the total within its maximum daily dose.",
                    self.knowledge.profiles[ing_id].sources[:1],
                    "duplicate-ingredient",
                )
        by_class: dict[str, list[str]] = {}
        for ing_id in inputs_of:
            for cls in self.knowledge.profiles[ing_id].duplicate_classes[
                :1
            ]:  # its most specific duplicate class
                by_class.setdefault(cls, []).append(ing_id)
        for cls, members in by_class.items():
            if len(members) > 1:
                entry = self.knowledge.classes[cls]
                self._warn(
                    out,
                    "duplicate",
                    "moderate",
                    sorted(members),
                    f"Duplicate therapy: {', '.join(self._names(sorted(members)))} are all "
                    f"{entry.name.lower()}.",
                    "Check that more than one drug of this class is intended; usually one is enough and side "
                    "effects add up.",
                    entry.sources[:1],
                    f"duplicate-class-{cls}",
                    evidence="guideline",
                )

    def _burden(self, out: _Output, ids: Sequence[str]) -> None:
        contributors = [i for i in ids if self.knowledge.profiles[i].acb]
        total = sum(self.knowledge.profiles[i].acb for i in contributors)
        if len(contributors) > 1 and total >= 3:
            self._warn(
                out,
                "burden",
                "moderate",
                contributors,
                f"Anticholinergic burden score {total} (3 or more): higher risk of confusion, falls, "
                "constipation and urinary retention, especially in older people.",
                "Review whether each anticholinergic drug is needed; prefer alternatives with less "
                "anticholinergic activity.",
                ["ags:beers-2023"],
                "anticholinergic-burden",
                evidence="guideline",
            )

    def _patient(self, out: _Output, ids: Sequence[str], patient: Patient) -> list[str]:
        knowledge = self.knowledge
        unknown: list[str] = []
        conditions: set[str] = set()
        for text in patient.conditions:
            found = knowledge.condition_id(text)
            if found is None:
                unknown.append(f"condition: {text}")
            else:
                conditions.add(found)
        if patient.egfr is not None and patient.egfr < 60:
            conditions.add("renal-impairment")
        for ing_id in ids:
            profile = knowledge.profiles[ing_id]
            for note, sources in profile.conditions:
                if note.condition in conditions:
                    kind = "renal" if note.condition == "renal-impairment" else "condition"
                    self._warn(
                        out,
                        kind,
                        note.severity,
                        [ing_id],
                        f"{profile.name} and {knowledge.conditions[note.condition].name.lower()}: "
                        f"{note.advice}",
                        note.advice,
                        sources,
                        f"condition-{note.condition}",
                    )
            if profile.hepatic and "hepatic-impairment" in conditions:
                note, sources = profile.hepatic
                self._warn(
                    out,
                    "hepatic",
                    note.severity,
                    [ing_id],
                    f"{profile.name} in liver disease: {note.advice}",
                    note.advice,
                    sources,
                    "hepatic",
                )
            if profile.renal and patient.egfr is not None and patient.egfr < profile.renal[0].egfr_below:
                renal, sources = profile.renal
                self._warn(
                    out,
                    "renal",
                    renal.severity,
                    [ing_id],
                    f"{profile.name} with eGFR {patient.egfr:g} (below {renal.egfr_below}): {renal.advice}",
                    renal.advice,
                    sources,
                    "renal-egfr",
                )
            elif profile.renal and patient.egfr is None and "renal-impairment" in conditions:
                renal, sources = profile.renal
                self._warn(
                    out,
                    "renal",
                    "moderate",
                    [ing_id],
                    f"{profile.name} in kidney disease: {renal.advice}",
                    "Check the eGFR and adjust as advised.",
                    sources,
                    "renal-condition",
                )
            if patient.pregnant and profile.pregnancy:
                level, advice, sources = profile.pregnancy
                self._warn(
                    out,
                    "pregnancy",
                    SEVERITY_FOR_PREGNANCY[level],
                    [ing_id],
                    f"{profile.name} in pregnancy: {advice}",
                    advice or "Review the need in pregnancy.",
                    sources,
                    f"pregnancy-{level}",
                )
            if patient.age is not None:
                if profile.min_age and patient.age < profile.min_age[0]:
                    limit, advice, sources = profile.min_age
                    self._warn(
                        out,
                        "age",
                        "major",
                        [ing_id],
                        f"{profile.name} under {limit} years: {advice}",
                        advice or f"Not for people under {limit}.",
                        sources,
                        "age-minimum",
                    )
                if profile.elderly and patient.age >= 65:
                    advice, sources = profile.elderly
                    self._warn(
                        out,
                        "age",
                        "moderate",
                        [ing_id],
                        f"{profile.name} at 65 or over: {advice}",
                        advice,
                        sources,
                        "age-older-adult",
                        evidence="guideline",
                    )
        self._allergies(out, ids, patient.allergies, unknown)
        return unknown

    def _allergies(
        self, out: _Output, ids: Sequence[str], allergies: Sequence[str], unknown: list[str]
    ) -> None:
        knowledge = self.knowledge
        for text in allergies:
            classes = knowledge.allergy_ids(text)
            drug = self.resolve(text) if not classes else None
            drug_ids = set(drug.ids) if drug else set()
            for ing_id in drug_ids:
                classes |= knowledge.profiles[ing_id].allergy
            if not classes and not drug_ids:
                unknown.append(f"allergy: {text}")
                continue
            for ing_id in ids:
                profile = knowledge.profiles[ing_id]
                if ing_id in drug_ids:
                    self._warn(
                        out,
                        "allergy",
                        "contraindicated",
                        [ing_id],
                        f"Recorded allergy to {text}: {profile.name} is the same medicine.",
                        "Do not give; choose an alternative from another class.",
                        profile.sources[:1],
                        "allergy-same-drug",
                    )
                    continue
                shared = classes & profile.allergy
                if shared:
                    names = ", ".join(knowledge.allergies[c].name.lower() for c in sorted(shared))
                    severity = "major" if shared <= {"sulfonamide-nonantibiotic"} else "contraindicated"
                    self._warn(
                        out,
                        "allergy",
                        severity,
                        [ing_id],
                        f"Recorded allergy to {text}: {profile.name} belongs to the same allergy class "
                        f"({names}).",
                        "Avoid unless an allergist has confirmed tolerance; choose an alternative.",
                        ["aaaai:drug-allergy-2022"],
                        "allergy-same-class",
                    )
                    continue
                for cls in sorted(classes):
                    for target, severity, advice in knowledge.allergies[cls].cross:
                        if target in profile.allergy:
                            self._warn(
                                out,
                                "allergy",
                                severity,
                                [ing_id],
                                f"Recorded allergy to {text}: possible cross-sensitivity with {profile.name} "
                                f"({knowledge.allergies[target].name.lower()}). {advice}",
                                advice,
                                knowledge.allergies[cls].sources,
                                f"allergy-cross-{cls}-{target}",
                            )
                            break

    def _food(self, out: _Output, ids: Sequence[str]) -> None:
        for ing_id in ids:
            profile = self.knowledge.profiles[ing_id]
            for note, sources in profile.food:
                self._warn(
                    out,
                    "food",
                    note.severity,
                    [ing_id],
                    f"{profile.name} and {note.food.replace('-', ' ')}: {note.advice}",
                    note.advice,
                    sources,
                    f"food-{note.food}",
                )

    # --- reading -----------------------------------------------------------------------------------------

    def search(self, query: str, limit: int) -> list[tuple[str, str, str]]:
        """(id, matched name, kind) best first: exact, then prefix, then word prefix, then (only when nothing
        starts with the query) fuzzy. Prefix lookups are binary searches over sorted names."""
        q = fold(query)
        if not q:
            return []
        knowledge = self.knowledge
        scored: dict[str, tuple[float, str, str]] = {}

        def offer(key: str, score: float) -> None:
            _, matched, ident, _ = knowledge.names[key]
            score += 2 if matched == "name" else 0
            kind = "product" if ident in knowledge.products else "ingredient"
            if ident not in scored or scored[ident][0] < score:
                scored[ident] = (score, knowledge.display.get(key, key), kind)

        keys = knowledge.sorted_keys
        for key in keys[bisect.bisect_left(keys, q) :]:
            if not key.startswith(q):
                break
            offer(key, 100 if key == q else 80 - min(len(key) - len(q), 20) / 2)
        words = knowledge.word_index
        for word, key in words[bisect.bisect_left(words, (q, "")) :]:
            if not word.startswith(q):
                break
            if not key.startswith(q):
                offer(key, 60)
        if not scored and len(q) >= 3:
            for choice, score, _ in process.extract(
                q, knowledge.choices, scorer=fuzz.QRatio, limit=limit * 2, score_cutoff=70
            ):
                offer(choice, score - 50)
        ranked = sorted(scored.items(), key=lambda item: (-item[1][0], item[0]))
        return [(ident, matched, kind) for ident, (_, matched, kind) in ranked[:limit]]

    def monograph(self, ident: str, tenant_disclaimer: str | None = None) -> Monograph | None:
        knowledge = self.knowledge
        profile = knowledge.profiles.get(ident)
        if profile is None:
            return None
        ing = profile.ingredient
        sources = list(
            dict.fromkeys([*ing.sources, *(s for c in profile.classes for s in knowledge.classes[c].sources)])
        )
        return Monograph(
            id=ing.id,
            name=ing.name,
            uk_name=ing.uk,
            other_names=list(ing.aka),
            brands=list(ing.brands),
            classes=[knowledge.classes[c].name for c in profile.classes],
            atc=list(ing.atc),
            rxcui=ing.rxcui,
            uses=ing.uses,
            key_warnings=list(profile.warnings),
            properties=sorted(t for t in profile.tags if not t.startswith(("drug:", "class:"))),
            contraindicated_with=[_describe(knowledge, s) for s, _ in profile.contra_with],
            avoid_with=[_describe(knowledge, s) for s, _ in profile.avoid_with],
            pregnancy=f"{profile.pregnancy[0]}: {profile.pregnancy[1]}" if profile.pregnancy else None,
            renal=f"eGFR under {profile.renal[0].egfr_below}: {profile.renal[0].advice}"
            if profile.renal
            else None,
            hepatic=profile.hepatic[0].advice if profile.hepatic else None,
            food=[f"{n.food}: {n.advice}" for n, _ in profile.food],
            reviewed=ing.reviewed,
            disclaimer=disclaimer_for(tenant_disclaimer, DISCLAIMER_EXTRA),
            citations=[knowledge.citation(s) for s in sources],
            confidence=1.0,
            knowledge_version=self.version,
        )

    def lookup(self, name: str) -> dict[str, Any] | None:
        hit = self.resolve(name)
        if hit is None or len(hit.ids) != 1:
            return None
        profile = self.knowledge.profiles[hit.ids[0]]
        return {
            "id": profile.id,
            "name": profile.name,
            "uk_name": profile.ingredient.uk,
            "classes": list(profile.classes),
            "properties": sorted(t for t in profile.tags if not t.startswith(("drug:", "class:"))),
            "atc": list(profile.ingredient.atc),
            "rxcui": profile.ingredient.rxcui,
            "knowledge_version": self.version,
        }


def _describe(knowledge: Knowledge, selector: str) -> str:
    words = []
    for token in selector.split("+"):
        kind, _, value = token.partition(":")
        if kind == "drug":
            words.append(knowledge.ingredients[value].name)
        elif kind == "class":
            words.append(knowledge.classes[value].name)
        elif kind.startswith("cyp") or kind in ("pgp", "oatp"):
            target = "P-gp" if kind == "pgp" else "OATP1B1" if kind == "oatp" else kind.upper()
            words.append(
                f"{_ROLE_WORDS.get(value, value)} of {target}s".replace("a strong", "strong")
                .replace("a moderate", "moderate")
                .replace("a weak", "weak")
                .replace("an ", "")
            )
        elif kind == "qt":
            words.append(f"drugs with {value} QT risk")
        elif kind == "maoi":
            words.append("monoamine oxidase inhibitors")
        else:
            words.append(token)
    return " that are ".join(words)


def _label_management(owner: Profile, severity: str) -> str:
    if severity == "contraindicated":
        return (
            f"The {owner.name} label contraindicates this combination: use an alternative to one of the "
            "drugs."
        )
    return (
        f"The {owner.name} label advises avoiding (or strictly limiting the dose of) this combination: "
        "use an alternative to one of the drugs, or follow the label's dose limit and monitor closely."
    )


def _fill(template: str, values: Mapping[str, str]) -> str:
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


def _apply(rule: CompiledRule, px: Profile, py: Profile) -> list[Finding]:
    found = []
    for a, b in ((px, py), (py, px)):
        if (
            _matches(a.tags, rule.a)
            and _matches(b.tags, rule.b)
            and not _matches(a.tags, rule.a_not)
            and not _matches(b.tags, rule.b_not)
        ):
            found.append(
                Finding(
                    rule_id=rule.id,
                    family=rule.family,
                    severity=rule.severity,
                    priority=rule.priority,
                    a=a.id,
                    b=b.id,
                    mechanism=rule.mechanism,
                    clinical_effect=rule.clinical_effect,
                    management=rule.management,
                    evidence=rule.evidence,
                    sources=rule.sources,
                    reviewed=rule.reviewed,
                    origin=rule.origin,
                )
            )
            if rule.a == rule.b:
                break  # symmetric rule: one finding is enough
    return found


def _mechanism_group(family: str) -> str:
    # Every pharmacokinetic route (CYP enzymes, transporters, antibiotic effects on the INR) is one reason
    # "levels change": one finding, the strongest, explains it for a pair.
    return "pk" if family.startswith("pk") or family == "anticoagulation" else family


def _strongest_per_family(found: Sequence[Finding]) -> tuple[Finding, ...]:
    best: dict[str, Finding] = {}
    for finding in found:
        key = _mechanism_group(finding.family)
        held = best.get(key)
        if held is None or (SEVERITY_RANK[finding.severity], finding.priority) > (
            SEVERITY_RANK[held.severity],
            held.priority,
        ):
            best[key] = finding
    return tuple(sorted(best.values(), key=lambda f: (-SEVERITY_RANK[f.severity], f.family)))


def _assign(
    members: Sequence[tuple[frozenset[str], ...]], profiles: Sequence[Profile]
) -> list[Profile] | None:
    """Distinct drugs, one per member of a group rule, or None."""

    def walk(index: int, used: tuple[str, ...]) -> list[Profile] | None:
        if index == len(members):
            return []
        for profile in profiles:
            if profile.id not in used and _matches(profile.tags, members[index]):
                rest = walk(index + 1, (*used, profile.id))
                if rest is not None:
                    return [profile, *rest]
        return None

    return walk(0, ())


# --- rules from tenants and other plugins ----------------------------------------------------------------


def selector_problem(knowledge: Knowledge, field: str, selectors: Sequence[str]) -> str | None:
    """Why a custom rule's selectors cannot be used (naming the field), or None."""
    for position, text in enumerate(selectors):
        for token in text.split("+"):
            kind, _, value = token.partition(":")
            if kind == "drug" and value not in knowledge.ingredients:
                return (
                    f"{field}[{position}]: no ingredient with id {value!r} (look it up with GET /v1/drugs?q=)"
                )
            if kind == "class" and value not in knowledge.classes:
                return f"{field}[{position}]: no drug class {value!r}"
            if kind not in ("drug", "class") and token not in VOCABULARY:
                return (
                    f"{field}[{position}]: {token!r} is not a drug:<id>, class:<id> or known property token"
                )
    return None


TENANT_RULES = "rules"


async def custom_rules(ctx: PluginContext) -> list[CompiledRule]:
    """The tenant's own rules and those other plugins add for it through the `interaction_rules` hook."""
    from lumen.plugins.interactions.repository import InteractionRuleRepository

    knowledge = _packaged()

    async def load() -> list[CompiledRule]:
        return [
            compile_custom_rule(str(row.id), row.rule, origin="tenant", reviewed=row.created_at.date())
            for row in await ctx.repository(InteractionRuleRepository).all()
        ]

    # Read on every check, changed only through the rules routes (which call ctx.forget(TENANT_RULES)).
    rules = list(await ctx.cached(TENANT_RULES, load))
    hook = getattr(ctx.hooks, "interaction_rules", None) if ctx.hooks is not None else None
    if hook is None:
        return rules
    for plugin_rules in hook(tenant_id=ctx.tenant_id) or ():
        for raw in plugin_rules or ():
            try:
                rule = msgspec.convert(raw, PluginRule)
            except (msgspec.ValidationError, TypeError) as exc:
                log.warning("interactions.plugin_rule_invalid", error=str(exc)[:200])
                continue
            problem = selector_problem(knowledge, "a", rule.a) or selector_problem(knowledge, "b", rule.b)
            if problem:
                log.warning("interactions.plugin_rule_invalid", rule_id=rule.id, error=problem)
                continue
            rules.append(
                compile_custom_rule(
                    rule.id, msgspec.to_builtins(rule), origin="plugin", reviewed=knowledge.reviewed
                )
            )
    return rules


def settings_of(ctx: PluginContext) -> InteractionsSettings:
    return ctx.settings if isinstance(ctx.settings, InteractionsSettings) else InteractionsSettings()


async def check_for(ctx: PluginContext, medications: Sequence[str], patient: Patient | None) -> CheckResult:
    """A check for the caller's tenant: curated knowledge, then its own and other plugins' rules."""
    return checker().check(
        medications, patient, settings=settings_of(ctx), extra_rules=await custom_rules(ctx)
    )


# --- loading ------------------------------------------------------------------------------------------------


def load_knowledge(files: Mapping[str, bytes] | None = None) -> Knowledge:
    """The packaged knowledge (read once per process), or the given file contents (for tests)."""
    if files is None:
        return _packaged()
    return Knowledge(files)


@functools.cache
def _packaged() -> Knowledge:
    root = resources.files("lumen.plugins.interactions") / "knowledge"
    knowledge = Knowledge({name: (root / f"{name}.json").read_bytes() for name in KNOWLEDGE_FILES})
    log.info(
        "interactions.knowledge_loaded", version=knowledge.version, ingredients=len(knowledge.ingredients)
    )
    return knowledge


@functools.cache
def checker() -> Checker:
    return Checker(_packaged())
