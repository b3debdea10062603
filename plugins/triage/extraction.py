"""Text understanding for triage: which findings a description mentions (and which it denies), who the patient
is, how long it has been going on, and any numbers with units (temperature, pulse, breathing rate, blood
pressure, oxygen saturation, blood glucose).

Findings come from a rule-based spaCy pipeline: a lexicon matcher puts the knowledge's patterns (lay and
clinical words) into a span group, and medspaCy's ConText marks the ones that are negated ("no fever",
"denies chest pain") or hypothetical. It is built once per process (about a second) and needs no model
download. PyRuSH,
medspaCy's default sentence splitter, is replaced by spaCy's rule-based sentencizer: it costs ~6 ms a text
here, a third of the whole latency budget, for no gain on short patient descriptions.

Patient facts, durations and measurements are read with plain regular expressions: they are patterns of
numbers and units, not vocabulary.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from lumen.plugins.triage.schemas import Finding

if TYPE_CHECKING:
    from spacy.tokens import Doc

__all__ = ["Extraction", "Hit", "TextReader"]

SPAN_GROUP = "findings"
LEXICON = "lumen_triage_lexicon"


@dataclass(frozen=True)
class Hit:
    """One mention of a finding in the text."""

    finding: str
    start: int
    end: int
    text: str
    negated: bool
    laterality: Literal["left", "right", "both"] | None = None


@dataclass
class Extraction:
    hits: list[Hit] = field(default_factory=list)
    age: float | None = None  # years
    sex: Literal["female", "male"] | None = None
    pregnant: bool | None = None
    infant_unknown_age: bool = False  # "my baby" with no age given
    vitals: dict[str, float] = field(default_factory=dict)
    vital_spans: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    duration_days: float | None = None

    def present(self) -> dict[str, Hit]:
        """Findings mentioned without negation (the first such mention of each)."""
        found: dict[str, Hit] = {}
        for hit in self.hits:
            if not hit.negated and hit.finding not in found:
                found[hit.finding] = hit
        return found

    def negated(self) -> dict[str, Hit]:
        """Findings only ever mentioned negated."""
        positive = {h.finding for h in self.hits if not h.negated}
        found: dict[str, Hit] = {}
        for hit in self.hits:
            if hit.negated and hit.finding not in positive and hit.finding not in found:
                found[hit.finding] = hit
        return found

    def conflicting(self) -> set[str]:
        """Findings both affirmed and denied in the text."""
        positive = {h.finding for h in self.hits if not h.negated}
        return {h.finding for h in self.hits if h.negated and h.finding in positive}


# --- numbers and words --------------------------------------------------------------------------------------

_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40,
    "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "few": 3, "couple of": 2,
    "several": 4, "half an": 0.5, "a few": 3, "a couple of": 2,
}  # fmt: skip
_NUM = r"(\d+(?:\.\d+)?|a couple of|couple of|a few|half an|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|few|several)"  # noqa: E501
_UNIT_DAYS = {"minute": 1 / 1440, "min": 1 / 1440, "hour": 1 / 24, "hr": 1 / 24, "day": 1.0, "night": 1.0,
              "week": 7.0, "wk": 7.0, "month": 30.0, "mo": 30.0, "year": 365.0, "yr": 365.0}  # fmt: skip
_AGE_UNIT_YEARS = {"year": 1.0, "yr": 1.0, "month": 1 / 12, "mo": 1 / 12, "week": 1 / 52, "wk": 1 / 52,
                   "day": 1 / 365}  # fmt: skip


def _number(word: str) -> float | None:
    word = word.strip().lower()
    try:
        return float(word)
    except ValueError:
        value = _NUMBER_WORDS.get(word)
        return float(value) if value is not None else None


_AGE_PATTERNS = [
    re.compile(
        rf"\b{_NUM}[\s-]*(year|yr|month|mo|week|wk|day)s?[\s-]*old\b", re.IGNORECASE
    ),  # 48-year-old, 3 year old, six-week-old
    re.compile(r"\b(\d{1,3})\s*(?:yo|y/o|y\.o\.|yrs?\b|years?\b)(?!\s*(?:ago|history))", re.IGNORECASE),
    re.compile(r"\baged?\s*(?:of\s*)?(\d{1,3})\b", re.IGNORECASE),
    re.compile(r"\b(?:i am|i'm|im)\s+(\d{1,3})\b(?!\s*(?:weeks?|months?|days?|%|kg|lb))", re.IGNORECASE),
    re.compile(r"\b(\d{1,3})\s*(?:m|f|male|female)\b(?=[\s,.])", re.IGNORECASE),
    re.compile(r"\bin (?:his|her|their) (\d0)s\b", re.IGNORECASE),  # "in her 70s"
]
_AGE_WORDS = [
    (re.compile(r"\bnew-?born\b|\bneonate\b", re.IGNORECASE), 0.02),
    (re.compile(r"\btoddler\b", re.IGNORECASE), 2.0),
    (re.compile(r"\bteen(?:ager|age)?\b|\badolescent\b", re.IGNORECASE), 15.0),
    (re.compile(r"\belderly\b|\bpensioner\b", re.IGNORECASE), 75.0),
]
_BABY = re.compile(r"\b(?:baby|infant)\b", re.IGNORECASE)

_FEMALE = re.compile(
    r"\b(?:woman|women|female|girl|lady|mother|mum|mom|wife|daughter|sister|grandmother|grandma|granny|aunt|"
    r"niece|she|her|herself|pregnant)\b",
    re.IGNORECASE,
)
_MALE = re.compile(
    r"\b(?:man|men|male|boy|gentleman|guy|father|dad|husband|son|brother|grandfather|grandpa|uncle|nephew|"
    r"he|him|his|himself)\b",
    re.IGNORECASE,
)
# The first noun that names the patient wins over pronouns ("my son... she said" is the son).
_PATIENT_NOUN = re.compile(
    r"\b(woman|female|girl|lady|mother|mum|mom|wife|daughter|grandmother|grandma|man|male|boy|gentleman|guy|"
    r"father|dad|husband|son|grandfather|grandpa)\b",
    re.IGNORECASE,
)
_FEMALE_NOUNS = {"woman", "female", "girl", "lady", "mother", "mum", "mom", "wife", "daughter", "grandmother",
                 "grandma"}  # fmt: skip
_PREGNANT = re.compile(
    r"\b(?:pregnan(?:t|cy)|expecting (?:a baby|twins)|\d+\s*weeks? (?:gestation|along)|gravid|antenatal)\b",
    re.IGNORECASE,
)
_NOT_PREGNANT = re.compile(
    r"\b(?:not|n't|never been|no chance of being|can't be|cannot be)\s+(?:be\s+)?pregnant\b|"
    r"\bno (?:chance of )?pregnancy\b|pregnancy test (?:was |is )?negative|negative pregnancy test|"
    r"might be pregnant|could be pregnant|possibly pregnant|may be pregnant",
    re.IGNORECASE,
)

_DURATION = [
    re.compile(
        rf"\b(?:for|since|past|last|over|in the last|in the past|about|around|nearly|almost|lasted|lasting|going on for)\s+(?:the\s+)?"  # noqa: E501
        rf"(?:last\s+|past\s+)?{_NUM}\s*(minute|min|hour|hr|day|night|week|wk|month|mo|year|yr)s?\b",
        re.IGNORECASE,
    ),
    re.compile(
        rf"\b{_NUM}[\s-]*(minute|min|hour|hr|day|night|week|wk|month|year)s?[\s-]*(?:history|ago)\b",
        re.IGNORECASE,
    ),
    re.compile(
        rf"\b{_NUM}\s*(minute|min|hour|hr|day|night|week|wk|month|year)s?\s*(?:now|so far)\b", re.IGNORECASE
    ),
]
_DURATION_WORDS = [
    (re.compile(r"\bsince (?:yesterday|last night)\b", re.IGNORECASE), 1.0),
    (
        re.compile(
            r"\b(?:since|this) (?:this )?morning\b|\bearlier today\b|\bthis afternoon\b", re.IGNORECASE
        ),
        0.3,
    ),
    (re.compile(r"\bsince (?:last week|the weekend)\b", re.IGNORECASE), 5.0),
    (re.compile(r"\bsince last month\b", re.IGNORECASE), 30.0),
    (re.compile(r"\b(?:for|over|in) the (?:last|past) (?:week|fortnight)\b", re.IGNORECASE), 7.0),
    (re.compile(r"\b(?:for|over|in) the (?:last|past) month\b|\bfor a month\b", re.IGNORECASE), 30.0),
    (re.compile(r"\bfor a (?:fortnight)\b|\bfor the past fortnight\b", re.IGNORECASE), 14.0),
    (re.compile(r"\bfor (?:months|weeks)\b", re.IGNORECASE), 30.0),
    (re.compile(r"\b(?:overnight|last night)\b", re.IGNORECASE), 0.5),
]

_TEMP = re.compile(
    r"(?:(?:temp(?:erature)?|fever|febrile|pyrexial?)\D{0,15}?)?\b(\d{2,3}(?:[.,]\d{1,2})?)\s*"
    r"(°|º|˚|deg(?:rees?)?)?\s*(c|f|celsius|fahrenheit|centigrade)?\b",
    re.IGNORECASE,
)
_TEMP_CONTEXT = re.compile(r"temp|fever|febrile|pyrex|thermometer|°|º|˚|deg", re.IGNORECASE)
_HR = [
    re.compile(
        r"\b(?:heart ?rate|hr|pulse(?: rate)?)\s*(?:of|is|was|at|:|=|around|about)?\s*(\d{2,3})\b",
        re.IGNORECASE,
    ),
    re.compile(r"\b(\d{2,3})\s*(?:bpm|beats (?:per|a|/) ?min(?:ute)?)\b", re.IGNORECASE),
]
_RR = [
    re.compile(
        r"\b(?:respiratory rate|resp(?:iratory)? rate|rr|breathing rate|resps?)\s*(?:of|is|was|at|:|=)?\s*(\d{1,2})\b",  # noqa: E501
        re.IGNORECASE,
    ),
    re.compile(r"\b(\d{1,2})\s*breaths?\s*(?:per|a|/)\s*min(?:ute)?\b", re.IGNORECASE),
]
_SPO2 = [
    re.compile(
        r"\b(?:o2 sat(?:uration)?s?|spo2|sp02|sats?|oxygen(?: saturation| level| sats?)?|saturations?|pulse ox(?:imeter)?)"  # noqa: E501
        r"\s*(?:of|is|was|are|at|:|=|reading|reads|says|shows|around|about)?\s*(\d{2,3})\s*%?",
        re.IGNORECASE,
    ),
    re.compile(r"\b(\d{2,3})\s*%\s*(?:on room air|on air|ra\b|o2|oxygen|sats?|saturation)", re.IGNORECASE),
]
_BP = re.compile(
    r"\b(?:(?:bp|blood pressure)\s*(?:of|is|was|at|:|=|reading|around|about)?\s*)?(\d{2,3})\s*/\s*(\d{2,3})\s*(mm ?hg)?",  # noqa: E501
    re.IGNORECASE,
)
_BP_CONTEXT = re.compile(r"\b(?:bp|blood pressure|mm ?hg)\b", re.IGNORECASE)
_GLUCOSE = re.compile(
    r"\b(?:glucose|blood sugar|sugar(?: level)?s?|bg|bm|cbg|finger ?prick|glucometer|meter)\s*"
    r"(?:level\s*)?(?:of|is|was|at|:|=|reading|reads|says|shows|down to|up to|around|about)?\s*"
    r"(\d{1,3}(?:\.\d)?)\s*(mg/dl|mg per dl|mmol/l|mmol|mg)?",
    re.IGNORECASE,
)
_LATERAL = re.compile(r"\b(left|right|both|bilateral)\b", re.IGNORECASE)


def _age(text: str) -> tuple[float | None, bool]:
    for pattern in _AGE_PATTERNS:
        match = next(
            (
                m
                for m in pattern.finditer(text)
                if not _DURATION_BEFORE.search(text[max(0, m.start() - 20) : m.start()])
            ),
            None,
        )
        if not match:
            continue
        value = _number(match.group(1))
        if value is None:
            continue
        if pattern is _AGE_PATTERNS[0]:
            value *= _AGE_UNIT_YEARS[match.group(2).lower()]
        if 0 <= value <= 125:
            return round(value, 3), False
    for pattern, years in _AGE_WORDS:
        if pattern.search(text):
            return years, False
    return None, bool(_BABY.search(text))


_SEX_LETTER = re.compile(r"\b\d{1,3}\s*(?:yo|y/o|y\.o\.|yrs?|years?(?: old)?)?\s*-?\s*(m|f)\b", re.IGNORECASE)
_DURATION_BEFORE = re.compile(
    r"\b(?:for|since|past|last|over|about|around|nearly|almost|lasted|lasting)\s+(?:the\s+)?$", re.IGNORECASE
)


def _sex(text: str, pregnant: bool | None) -> Literal["female", "male"] | None:
    if pregnant:
        return "female"
    letter = _SEX_LETTER.search(text)
    if letter:
        return "female" if letter.group(1).lower() == "f" else "male"
    noun = _PATIENT_NOUN.search(text)
    if noun:
        return "female" if noun.group(1).lower() in _FEMALE_NOUNS else "male"
    female, male = _FEMALE.search(text), _MALE.search(text)
    if female and (not male or female.start() < male.start()):
        return "female"
    if male:
        return "male"
    return None


def _pregnant(text: str) -> bool | None:
    if _NOT_PREGNANT.search(text):
        return False if re.search(r"\bnot\s+pregnant|negative", text, re.IGNORECASE) else None
    return True if _PREGNANT.search(text) else None


def _duration(text: str) -> float | None:
    found: list[float] = []
    for pattern in _DURATION:
        for match in pattern.finditer(text):
            value = _number(match.group(1))
            unit = match.group(2).lower()
            if value is not None:
                found.append(value * _UNIT_DAYS[unit])
    for pattern, days in _DURATION_WORDS:
        if pattern.search(text):
            found.append(days)
    return round(max(found), 4) if found else None


def _vitals(text: str) -> tuple[dict[str, float], dict[str, tuple[int, int, str]]]:
    vitals: dict[str, float] = {}
    spans: dict[str, tuple[int, int, str]] = {}

    def put(name: str, value: float, match: re.Match[str]) -> None:
        if name not in vitals:
            vitals[name] = value
            spans[name] = (match.start(), match.end(), match.group(0))

    for match in _TEMP.finditer(text):
        raw, degree, unit = match.group(1), match.group(2), match.group(3)
        if not (degree or unit or _TEMP_CONTEXT.search(match.group(0))):
            continue
        value = float(raw.replace(",", "."))
        fahrenheit = (unit or "").lower().startswith("f") or (not unit and value >= 80)
        celsius = (value - 32) * 5 / 9 if fahrenheit else value
        if 30 <= celsius <= 45:
            put("temp_c", round(celsius, 1), match)
    for pattern in _HR:
        for match in pattern.finditer(text):
            value = float(match.group(1))
            if 20 <= value <= 300:
                put("hr", value, match)
    for pattern in _RR:
        for match in pattern.finditer(text):
            value = float(match.group(1))
            if 3 <= value <= 80:
                put("rr", value, match)
    for pattern in _SPO2:
        for match in pattern.finditer(text):
            value = float(match.group(1))
            if 50 <= value <= 100:
                put("spo2", value, match)
    for match in _BP.finditer(text):
        if not (match.group(3) or _BP_CONTEXT.search(text[max(0, match.start() - 25) : match.end() + 8])):
            continue
        systolic, diastolic = float(match.group(1)), float(match.group(2))
        if 50 <= systolic <= 300 and 20 <= diastolic <= 200 and systolic > diastolic:
            put("sbp", systolic, match)
            put("dbp", diastolic, match)
    for match in _GLUCOSE.finditer(text):
        value = float(match.group(1))
        unit = (match.group(2) or "").lower()
        # Without a unit, a value above 35 can only be mg/dL (35 mmol/L is already extreme).
        mmol = value / 18.0 if unit.startswith("mg") or (not unit and value > 35) else value
        if 0.5 <= mmol <= 60:
            put("glucose_mmol", round(mmol, 1), match)
    return vitals, spans


class LexiconMatcher:
    """A spaCy component that puts every lexicon match into the doc's `findings` span group (overlaps kept:
    "crushing chest pain" is both `crushing` and `chest_pain`), labelled with the finding id, for ConText.

    It does what medspaCy's TargetMatcher does with regular-expression rules, in one pass over the text:
    TargetMatcher re-renders `doc.text` for each rule, which for ~180 rules cost ~10 ms a description,
    half the latency budget, here."""

    def __init__(self, rules: Sequence[tuple[str, Sequence[str]]]) -> None:
        # Patterns are lower case and run on the lower-cased text: twice as fast as IGNORECASE. The
        # IGNORECASE set is for the rare text whose lower-casing changes its length (offsets must hold).
        self.rules: list[tuple[str, re.Pattern[str]]] = []
        self.rules_any_case: list[tuple[str, re.Pattern[str]]] = []
        for finding_id, patterns in rules:
            pattern = r"\b(?:" + "|".join(f"(?:{p})" for p in patterns) + r")\b"
            self.rules.append((finding_id, re.compile(pattern)))
            self.rules_any_case.append((finding_id, re.compile(pattern, re.IGNORECASE)))

    def __call__(self, doc: Doc) -> Doc:
        text = doc.text
        lowered = text.lower()
        rules = self.rules
        if len(lowered) == len(text):
            text = lowered
        else:
            rules = self.rules_any_case
        spans = []
        for finding_id, pattern in rules:
            # Search again from just after each match's start, not its end: two phrasings of one finding
            # may overlap ("central chest" and "chest pain"); the reader merges them into one mention.
            match = pattern.search(text)
            while match is not None:
                if match.end() > match.start():
                    span = doc.char_span(
                        match.start(), match.end(), label=finding_id, alignment_mode="expand"
                    )
                    if span is not None:
                        spans.append(span)
                match = pattern.search(text, match.start() + 1)
        doc.spans[SPAN_GROUP] = spans
        return doc


def _lexicon_matcher(nlp, name, rules):  # type: ignore[no-untyped-def]  # spaCy reads the signature: no string annotations
    return LexiconMatcher([(str(r[0]), [str(p) for p in r[1]]) for r in rules])


_SPACY_LOCK = threading.Lock()


def _blank_pipeline() -> Any:
    """spaCy and medspaCy are imported here, on first use, not when the plugin loads: with their scipy/nltk
    dependencies that is seconds of CPU and hundreds of MB, which processes that never read a description
    (the worker, CLI commands, other plugins' tests) should not pay."""
    with _SPACY_LOCK:
        # medspaCy's empty internal phrase matcher warns on every document (our rules are all regexes).
        warnings.filterwarnings("ignore", message=r"\[W036\]")
        # PyRuSH logs every token at DEBUG through loguru when imported anywhere; keep it quiet.
        try:  # pragma: no cover - depends on whether medspaCy pulled loguru in
            from loguru import logger as _loguru

            _loguru.disable("PyRuSH")
        except ImportError:  # pragma: no cover
            pass
        import spacy
        from medspacy.context import ConText  # noqa: F401  (registers the "medspacy_context" factory)
        from spacy.language import Language

        if not Language.has_factory(LEXICON):
            Language.factory(LEXICON)(_lexicon_matcher)
        return spacy.blank("en")


def _merge(hits: list[Hit], text: str) -> list[Hit]:
    """Overlapping mentions of one finding become one ("central chest" + "chest pain")."""
    merged: list[Hit] = []
    for hit in hits:
        for i, other in enumerate(merged):
            if other.finding == hit.finding and other.negated == hit.negated and hit.start <= other.end:
                start, end = min(other.start, hit.start), max(other.end, hit.end)
                merged[i] = Hit(
                    hit.finding, start, end, text[start:end], hit.negated, other.laterality or hit.laterality
                )
                break
        else:
            merged.append(hit)
    return merged


class TextReader:
    """The spaCy + medspaCy pipeline over the knowledge's lexicon, built once per process on first use
    (`warm()` builds it ahead: the API does at start-up, so that no request pays for it)."""

    def __init__(self, findings: Iterable[Finding]) -> None:
        self._rules = [[f.id, list(f.patterns)] for f in findings]
        self._nlp: Any = None
        self._lock = threading.Lock()

    def warm(self) -> None:
        self._pipeline()

    def _pipeline(self) -> Any:
        if self._nlp is None:
            with self._lock:
                if self._nlp is None:
                    self._nlp = self._build()
        return self._nlp

    def _build(self) -> Any:
        nlp = _blank_pipeline()
        nlp.add_pipe("sentencizer")
        nlp.add_pipe(LEXICON, config={"rules": self._rules})
        nlp.add_pipe(
            "medspacy_context",
            config={
                "input_span_type": "group",
                "span_group_name": SPAN_GROUP,
                # "can't lift her arm" is a finding, not a negated "lift her arm".
                "prune_on_target_overlap": True,
            },
        )
        return nlp

    def read(self, text: str) -> Extraction:
        doc = self._pipeline()(text)
        hits: list[Hit] = []
        for span in doc.spans[SPAN_GROUP]:
            if span._.is_hypothetical:
                continue  # "if she gets a rash": not reported as present or absent
            # Experiencer "family" is ignored on purpose: descriptions are often written by a relative
            # ("my mother can't lift her arm"), and the patient then is that relative.
            window = doc[max(0, span.start - 4) : span.end].text
            side = _LATERAL.findall(window)
            laterality: Literal["left", "right", "both"] | None = None
            if side:
                last = side[-1].lower()
                laterality = "both" if last in ("both", "bilateral") else last
            hits.append(
                Hit(
                    finding=span.label_,
                    start=span.start_char,
                    end=span.end_char,
                    text=span.text,
                    negated=bool(span._.is_negated),
                    laterality=laterality,
                )
            )
        hits.sort(key=lambda h: (h.start, -h.end))
        extraction = Extraction(hits=_merge(hits, text))
        extraction.pregnant = _pregnant(text)
        extraction.age, extraction.infant_unknown_age = _age(text)
        extraction.sex = _sex(text, extraction.pregnant)
        extraction.vitals, extraction.vital_spans = _vitals(text)
        extraction.duration_days = _duration(text)
        return extraction
