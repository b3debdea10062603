"""The triage engine: curated knowledge decides the level (ARCHITECTURE §6.1); no model is involved.

How a level is reached, most important first:

1. Red flags: every red flag whose findings, patient conditions and vital-sign thresholds hold sets a floor
   at its level. Nothing below can lower a level a red flag set.
2. Complaints: each recognised chief complaint has a usual level, raised by its discriminators, by symptoms
   lasting longer than its review threshold, and by modifiers (age, pregnancy, immunosuppression, blood
   thinners, diabetes, long-term conditions). A reassuring finding may lower a complaint's usual level by
   one step, never a level set by anything else.
3. Safety: the answer is the most urgent of all of these. Findings both affirmed and denied count as present;
   a red flag that may apply but whose condition is unknown (a baby's age, an unanswered question) raises the
   level towards it; a description that matches no complaint is sent to a clinician rather than self-care.
   Each of these says why in `reasons`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import msgspec

from lumen.plugins.sdk import Citation, disclaimer_for
from lumen.plugins.triage.extraction import Extraction, TextReader
from lumen.plugins.triage.schemas import (
    LEVEL3,
    LEVELS,
    Assessment,
    Cause,
    Complaint,
    FindingOut,
    Level,
    Modifier,
    PatientOut,
    Question,
    Reason,
    Reasons,
    RedFlag,
    RedFlagOut,
    SpanOut,
    TriageKnowledge,
    TriageSettings,
    VitalsOut,
)

__all__ = ["Evidence", "PatientState", "Triage", "TriageKnowledgeError", "load_triage", "more_urgent"]

KNOWLEDGE_FILE = "triage.json"
MAX_QUESTIONS = 3  # asked in a one-shot answer
TRIAGE_NOTE = (
    "Triage is based only on the description given and cannot examine anyone; if symptoms change or get "
    "worse, or you are worried, seek help sooner."
)
_LEVEL_PHRASE: dict[str, str] = {
    "emergency_ambulance": "an ambulance now",
    "emergency": "emergency care now",
    "consultation_24": "a clinician within 24 hours",
    "consultation": "a routine appointment with a doctor",
    "self_care": "self-care at home",
}


class TriageKnowledgeError(ValueError):
    """The knowledge file cannot be used; the message names the file and the entry."""


def rank(level: str) -> int:
    """0 for the most urgent level."""
    return LEVELS.index(level)


def more_urgent(a: Level, b: Level) -> Level:
    return a if rank(a) <= rank(b) else b


@dataclass(frozen=True)
class Evidence:
    source: Literal["text", "answer", "vital"]
    span: tuple[int, int, str] | None = None
    laterality: Literal["left", "right", "both"] | None = None


@dataclass
class PatientState:
    """Everything known about one presentation: the findings present and absent (from the text or from
    answers), patient facts, measurements and duration. An interview stores this (without any text)."""

    present: dict[str, Evidence] = field(default_factory=dict)
    absent: set[str] = field(default_factory=set)
    unknown: set[str] = field(default_factory=set)  # asked, and the answer was "unknown"
    conflicting: set[str] = field(default_factory=set)
    age: float | None = None
    sex: Literal["female", "male"] | None = None
    pregnant: bool | None = None
    read_from_text: list[str] = field(default_factory=list)
    infant_unknown_age: bool = False
    vitals: dict[str, float] = field(default_factory=dict)
    vital_spans: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    duration_days: float | None = None

    # --- storage (interviews keep no free text: spans are dropped) ---

    def to_stored(self) -> dict[str, Any]:
        return {
            "present": {k: v.source for k, v in self.present.items()},
            "absent": sorted(self.absent),
            "unknown": sorted(self.unknown),
            "conflicting": sorted(self.conflicting),
            "read_from_text": list(self.read_from_text),
            "infant_unknown_age": self.infant_unknown_age,
            "vitals": dict(self.vitals),
            "duration_days": self.duration_days,
        }

    @classmethod
    def from_stored(
        cls, data: Mapping[str, Any], *, age: float | None, sex: Any, pregnant: bool | None
    ) -> PatientState:
        return cls(
            present={k: Evidence(source=v) for k, v in data.get("present", {}).items()},
            absent=set(data.get("absent", [])),
            unknown=set(data.get("unknown", [])),
            conflicting=set(data.get("conflicting", [])),
            age=age,
            sex=sex,
            pregnant=pregnant,
            read_from_text=list(data.get("read_from_text", [])),
            infant_unknown_age=bool(data.get("infant_unknown_age", False)),
            vitals=dict(data.get("vitals", {})),
            duration_days=data.get("duration_days"),
        )


@dataclass(frozen=True)
class _Outcome:
    level: Level
    flags: list[tuple[RedFlag, bool]]  # (flag, certain); uncertain ones are "may apply"
    complaints: list[tuple[Complaint, Level]]
    reasons_for: list[Reason]
    reasons_against: list[Reason]
    cited: list[str]
    abstain_reason: str | None


class Triage:
    """The knowledge, indexed, with the text reader over its lexicon."""

    def __init__(self, knowledge: TriageKnowledge) -> None:
        self.knowledge = knowledge
        self.version = knowledge.version
        self.sources = {s.id: s for s in knowledge.sources}
        self.findings = {f.id: f for f in knowledge.findings}
        self.red_flags = {r.id: r for r in knowledge.red_flags}
        self.complaints = {c.id: c for c in knowledge.complaints}
        self.modifiers = list(knowledge.modifiers)
        self.reader = TextReader(knowledge.findings)

    # --- loading --------------------------------------------------------------------------------------------

    @classmethod
    def from_json(cls, data: bytes, *, origin: str = KNOWLEDGE_FILE) -> Triage:
        try:
            knowledge = msgspec.json.decode(data, type=TriageKnowledge)
        except msgspec.DecodeError as exc:
            raise TriageKnowledgeError(f"triage knowledge {origin}: {exc}") from exc
        problem = _check(knowledge)
        if problem:
            raise TriageKnowledgeError(f"triage knowledge {origin}: {problem}")
        return cls(knowledge)

    # --- reading text ---------------------------------------------------------------------------------------

    def read(
        self,
        text: str,
        *,
        age: float | None = None,
        sex: Literal["female", "male"] | None = None,
        pregnant: bool | None = None,
    ) -> PatientState:
        extraction = self.reader.read(text)
        return self.state_from(extraction, age=age, sex=sex, pregnant=pregnant)

    def state_from(
        self,
        extraction: Extraction,
        *,
        age: float | None,
        sex: Literal["female", "male"] | None,
        pregnant: bool | None,
    ) -> PatientState:
        state = PatientState(
            present={
                k: Evidence("text", (h.start, h.end, h.text), h.laterality)
                for k, h in extraction.present().items()
            },
            absent=set(extraction.negated()),
            conflicting=extraction.conflicting(),
            vitals=dict(extraction.vitals),
            vital_spans=dict(extraction.vital_spans),
            duration_days=extraction.duration_days,
        )
        state.age = age if age is not None else extraction.age
        state.sex = sex if sex is not None else extraction.sex
        state.pregnant = pregnant if pregnant is not None else extraction.pregnant
        state.read_from_text = [
            name
            for name, given, found in (
                ("age", age, extraction.age),
                ("sex", sex, extraction.sex),
                ("pregnant", pregnant, extraction.pregnant),
            )
            if given is None and found is not None
        ]
        state.infant_unknown_age = state.age is None and extraction.infant_unknown_age
        self._derive(state)
        return state

    def _derive(self, state: PatientState) -> None:
        """Findings that measurements imply: a temperature of 38 °C or more is a fever; a normal measured
        temperature outweighs a mention of "temperature"."""
        temp = state.vitals.get("temp_c")
        if temp is not None:
            if temp >= 38.0:
                state.present.setdefault("fever", Evidence("vital", state.vital_spans.get("temp_c")))
                state.absent.discard("fever")
            elif temp < 37.8:
                hit = state.present.get("fever")
                if hit and hit.span and "temp" in hit.span[2].lower():
                    del state.present["fever"]
        glucose = state.vitals.get("glucose_mmol")
        if glucose is not None and glucose < 4.0:
            state.present.setdefault(
                "hypoglycaemia_signs", Evidence("vital", state.vital_spans.get("glucose_mmol"))
            )
        elif glucose is not None and glucose >= 15.0:
            state.present.setdefault(
                "hyperglycaemia_signs", Evidence("vital", state.vital_spans.get("glucose_mmol"))
            )

    # --- answers (interviews) -------------------------------------------------------------------------------

    def answer(self, state: PatientState, question_id: str, answer: str | float) -> None:
        kind, _, name = question_id.partition(":")
        if kind == "patient":
            if name == "age" and isinstance(answer, float | int):
                state.age = float(answer)
                state.infant_unknown_age = False
            elif name == "pregnant" and answer in ("yes", "no"):
                state.pregnant = answer == "yes"
                if state.pregnant:
                    state.sex = "female"
            return
        state.unknown.discard(name)
        if answer == "yes":
            state.present[name] = Evidence("answer")
            state.absent.discard(name)
        elif answer == "no":
            state.present.pop(name, None)
            state.absent.add(name)
        else:
            state.unknown.add(name)

    # --- the level ------------------------------------------------------------------------------------------

    def _patient_ok(
        self,
        state: PatientState,
        *,
        age_min: float | None,
        age_max: float | None,
        pregnant: bool | None,
        sex: str | None = None,
    ) -> bool | None:
        """True when the patient conditions hold, False when they do not, None when unknown."""
        result: bool | None = True
        if age_min is not None or age_max is not None:
            if state.age is None:
                result = None
            elif (age_min is not None and state.age < age_min) or (
                age_max is not None and state.age >= age_max
            ):
                return False
        if pregnant is not None and state.pregnant is not pregnant:
            if state.pregnant is None and pregnant and state.sex != "male":
                result = None
            else:
                return False
        if sex is not None and state.sex != sex:
            if state.sex is None:
                result = None
            else:
                return False
        return result

    def _vitals(self, state: PatientState) -> dict[str, float]:
        vitals = dict(state.vitals)
        sbp, dbp = vitals.get("sbp"), vitals.get("dbp")
        if sbp is not None and dbp is not None:
            vitals["bp_high"] = float(sbp >= 180 or dbp >= 120)
            vitals["bp_preg"] = float(sbp >= 140 or dbp >= 90)
            vitals["bp_preg_severe"] = float(sbp >= 160 or dbp >= 110)
        return vitals

    def _flag_holds(self, flag: RedFlag, state: PatientState, vitals: Mapping[str, float]) -> bool | None:
        present = state.present
        if any(f not in present for f in flag.all):
            return False
        if flag.any and not any(f in present for f in flag.any):
            return False
        if any(f in present for f in flag.none):
            return False
        for condition in flag.vitals:
            value = vitals.get(condition.name)
            if value is None or not _compare(value, condition.op, condition.value):
                return False
        patient = self._patient_ok(
            state, age_min=flag.age_min, age_max=flag.age_max, pregnant=flag.pregnant, sex=flag.sex
        )
        if patient is None:
            # Age unknown: only a baby of unknown age makes an infant rule "may apply". Pregnancy unknown:
            # a rule for pregnancy may apply to a woman of child-bearing age.
            if flag.age_max is not None and flag.age_max <= 1 and state.age is None:
                return None if state.infant_unknown_age else False
            if flag.pregnant and state.pregnant is None and state.sex == "female":
                return None if state.age is None or 12 <= state.age < 55 else False
            return False
        return patient

    def _modifier_applies(self, modifier: Modifier, state: PatientState) -> bool:
        if modifier.findings and not any(f in state.present for f in modifier.findings):
            return False
        return bool(
            self._patient_ok(
                state, age_min=modifier.age_min, age_max=modifier.age_max, pregnant=modifier.pregnant
            )
        )

    def _outcome(self, state: PatientState) -> _Outcome:
        vitals = self._vitals(state)
        label = self._label
        reasons_for: list[Reason] = []
        against: list[Reason] = []
        cited: list[str] = []
        level: Level = "self_care"
        flags: list[tuple[RedFlag, bool]] = []

        for flag in self.red_flags.values():
            holds = self._flag_holds(flag, state, vitals)
            if holds:
                flags.append((flag, True))
                level = more_urgent(level, flag.level)
                reasons_for.append(Reason(text=f"Red flag: {flag.label}.", level=flag.level))
                cited.append(flag.source)
            elif holds is None:
                flags.append((flag, False))
                capped: Level = more_urgent("consultation_24", LEVELS[min(rank(flag.level) + 1, 4)])
                level = more_urgent(level, capped)
                missing = "age" if flag.age_max is not None else "pregnancy status"
                reasons_for.append(
                    Reason(
                        text=f"May apply: {flag.label} (the {missing} is not known, so Lumen errs upward).",
                        level=capped,
                    )
                )
                cited.append(flag.source)
        certain_flags = [f for f, certain in flags if certain]
        flag_floor: Level = "self_care"
        for flag in certain_flags:
            flag_floor = more_urgent(flag_floor, flag.level)

        complaints: list[tuple[Complaint, Level]] = []
        for complaint in self.complaints.values():
            if not any(f in state.present for f in complaint.findings):
                continue
            c_level: Level = complaint.level
            raised = False
            for disc in complaint.discriminators:
                if disc.finding in state.present and rank(disc.level) < rank(c_level):
                    c_level = disc.level
                    raised = True
                    reasons_for.append(
                        Reason(text=f"{complaint.label} with {label(disc.finding)}.", level=disc.level)
                    )
            days = state.duration_days
            for rule in complaint.duration_rules:
                if days is not None and days >= rule.min_days and rank(rule.level) < rank(c_level):
                    c_level = rule.level
                    raised = True
                    reasons_for.append(
                        Reason(
                            text=f"{complaint.label} for {_days(days)} "
                            f"(over {_days(rule.min_days)} needs a review).",
                            level=rule.level,
                        )
                    )
            if not raised and not certain_flags:
                for lower in complaint.lower_if:
                    if lower.finding in state.present and rank(lower.level) > rank(c_level):
                        against.append(
                            Reason(
                                text=f"{label(lower.finding)} points to a less urgent cause of "
                                f"{complaint.label.lower()}.",
                                level=c_level,
                            )
                        )
                        c_level = lower.level
                        break
            for modifier in self.modifiers:
                applies_to = not modifier.tags or bool(set(modifier.tags) & set(complaint.tags))
                if (
                    applies_to
                    and self._modifier_applies(modifier, state)
                    and rank(modifier.min_level) < rank(c_level)
                ):
                    c_level = modifier.min_level
                    reasons_for.append(
                        Reason(
                            text=f"{modifier.label}: {complaint.label.lower()} needs more care.",
                            level=c_level,
                        )
                    )
                    cited.append(modifier.source)
            complaints.append((complaint, c_level))
            cited.append(complaint.source)
            level = more_urgent(level, c_level)
            if c_level == complaint.level and not raised:
                reasons_for.append(
                    Reason(text=f"{complaint.label} usually needs {_LEVEL_PHRASE[c_level]}.", level=c_level)
                )
        complaints.sort(key=lambda item: rank(item[1]))

        abstain_reason = None
        if not complaints and not certain_flags:
            level = more_urgent(level, "consultation")
            abstain_reason = "The description matched no complaint in Lumen's triage knowledge."
            reasons_for.append(
                Reason(
                    text="No recognised complaint: Lumen cannot safely suggest self-care, so it suggests a "
                    "clinician looks at this.",
                    level="consultation",
                )
            )
        for finding in sorted(state.conflicting):
            if finding in state.present:
                reasons_for.append(
                    Reason(text=f"{label(finding)} is both mentioned and denied; Lumen counts it as present.")
                )
        # Unanswered red-flag questions: an emergency cannot be ruled out, so at least same-day care.
        for finding in sorted(state.unknown):
            worst = self._worst_flag_needing(finding, state, vitals)
            if worst is not None and rank(worst) <= rank("emergency"):
                level = more_urgent(level, "consultation_24")
                reasons_for.append(
                    Reason(
                        text=f"Unknown whether there is {label(finding).lower()}; it cannot be ruled out.",
                        level="consultation_24",
                    )
                )
        # Reassurance: denied findings that would have raised the level.
        for finding in sorted(state.absent):
            worst = self._worst_flag_needing(finding, state, vitals)
            if worst is not None and rank(worst) < rank(level):
                against.append(Reason(text=f"No {label(finding).lower()} reported.", level=worst))
        if "drinking_normally" in state.present:
            against.append(Reason(text="Eating, drinking or playing normally is reassuring."))
        if "mild_word" in state.present and not certain_flags:
            against.append(Reason(text="Symptoms described as mild."))
        return _Outcome(level, flags, complaints, reasons_for, against, cited, abstain_reason)

    def _worst_flag_needing(
        self, finding: str, state: PatientState, vitals: Mapping[str, float]
    ) -> Level | None:
        """The most urgent red flag that would hold if `finding` were present."""
        worst: Level | None = None
        trial = PatientState(**{**state.__dict__, "present": {**state.present, finding: Evidence("answer")}})
        for flag in self.red_flags.values():
            if finding not in flag.all and finding not in flag.any:
                continue
            if self._flag_holds(flag, trial, vitals):
                worst = flag.level if worst is None else more_urgent(worst, flag.level)
        return worst

    def _label(self, finding: str) -> str:
        entry = self.findings.get(finding)
        return entry.label if entry else finding

    # --- questions ------------------------------------------------------------------------------------------

    def questions(
        self, state: PatientState, level: Level, complaints: Sequence[Complaint], *, asked: Iterable[str] = ()
    ) -> list[Question]:
        """Questions whose answer would most change the level: red flags first, then discriminators."""
        done = set(asked)
        known = set(state.present) | state.absent | state.unknown
        out: list[Question] = []
        if state.age is None:
            out.append(
                Question(
                    id="patient:age",
                    text="How old is the person (in years; 0.5 for six months)?",
                    kind="patient",
                )
            )
        relevant_flags: list[RedFlag] = []
        for complaint in complaints:
            relevant_flags.extend(self.red_flags[r] for r in complaint.red_flags)
        if not complaints:
            relevant_flags.extend(
                self.red_flags[r]
                for r in ("acs", "fast", "severe_breathing", "sepsis", "confusion")
                if r in self.red_flags
            )
        if (
            state.pregnant is None
            and state.sex == "female"
            and (state.age is None or 12 <= state.age < 55)
            and any(f.pregnant for f in relevant_flags)
        ):
            out.append(Question(id="patient:pregnant", text="Could she be pregnant?", kind="patient"))
        vitals = self._vitals(state)
        scored: dict[str, tuple[int, Question]] = {}
        for flag in relevant_flags:
            if rank(flag.level) >= rank(level):
                continue  # would not change the result
            for finding in [*flag.all, *flag.any]:
                if finding in known:
                    continue
                if (
                    self._flag_holds(
                        flag,
                        PatientState(
                            **{**state.__dict__, "present": {**state.present, finding: Evidence("answer")}}
                        ),
                        vitals,
                    )
                    is False
                ):
                    continue
                question = self._question(finding, "red_flag", flag.level)
                if question and (finding not in scored or scored[finding][0] > rank(flag.level)):
                    scored[finding] = (rank(flag.level), question)
        for complaint in complaints:
            for disc in complaint.discriminators:
                if disc.finding in known or rank(disc.level) >= rank(level) or disc.finding in scored:
                    continue
                question = self._question(disc.finding, "discriminator", disc.level)
                if question:
                    scored[disc.finding] = (10 + rank(disc.level), question)
        out.extend(q for _, q in sorted(scored.values(), key=lambda item: item[0]))
        return [q for q in out if q.id not in done]

    def _question(
        self, finding: str, kind: Literal["red_flag", "discriminator"], level: Level
    ) -> Question | None:
        entry = self.findings.get(finding)
        if entry is None:
            return None
        text = entry.question or f"Is there any of this: {entry.label.lower()}?"
        return Question(id=f"finding:{finding}", text=text, kind=kind, would_raise_to=level)

    # --- the answer -----------------------------------------------------------------------------------------

    def assess(
        self, state: PatientState, settings: TriageSettings, *, asked: Iterable[str] = ()
    ) -> Assessment:
        outcome = self._outcome(state)
        level = outcome.level
        complaints = [c for c, _ in outcome.complaints]
        number = settings.emergency_number
        red_flags = [
            RedFlagOut(
                id=flag.id,
                label=flag.label if certain else f"May apply: {flag.label}",
                level=flag.level,
                family=flag.family,
                span=self._flag_span(flag, state),
            )
            for flag, certain in sorted(outcome.flags, key=lambda item: rank(item[0].level))
        ]
        citations = []
        for source_id in dict.fromkeys(outcome.cited):
            source = self.sources[source_id]
            citations.append(
                Citation(source_id=source.id, title=source.title, url=source.url, publisher=source.publisher)
            )
        confidence = 0.9 if complaints or red_flags else 0.3
        if state.conflicting or state.unknown or any(not certain for _, certain in outcome.flags):
            confidence = min(confidence, 0.6)
        return Assessment(
            level=level,
            level3=LEVEL3[level],
            red_flags=red_flags,
            reasons=Reasons(for_=outcome.reasons_for, against=outcome.reasons_against),
            possible_causes=self._causes(outcome.complaints, state),
            advice=self._advice(level, outcome, number),
            questions=self.questions(state, level, complaints, asked=asked)[:MAX_QUESTIONS],
            complaints=[c.id for c in complaints],
            findings=self.findings_out(state),
            patient=PatientOut(
                age=state.age,
                sex=state.sex,
                pregnant=state.pregnant,
                read_from_text=list(state.read_from_text),
            ),
            vitals=VitalsOut(**{k: v for k, v in state.vitals.items() if k in VitalsOut.__struct_fields__}),
            duration_days=state.duration_days,
            emergency_number=number,
            disclaimer=disclaimer_for(settings.disclaimer, TRIAGE_NOTE),
            citations=citations,
            confidence=confidence,
            knowledge_version=self.version,
            abstained=outcome.abstain_reason is not None,
            abstain_reason=outcome.abstain_reason,
        )

    def findings_out(self, state: PatientState) -> list[FindingOut]:
        out = [
            FindingOut(
                id=k,
                label=self._label(k),
                present=True,
                source=v.source,
                span=SpanOut(start=v.span[0], end=v.span[1], text=v.span[2]) if v.span else None,
                laterality=v.laterality,
            )
            for k, v in state.present.items()
        ]
        out.extend(
            FindingOut(id=k, label=self._label(k), present=False, source="text") for k in sorted(state.absent)
        )
        return out

    def _flag_span(self, flag: RedFlag, state: PatientState) -> SpanOut | None:
        for finding in [*flag.all, *flag.any]:
            evidence = state.present.get(finding)
            if evidence and evidence.span:
                start, end, text = evidence.span
                return SpanOut(start=start, end=end, text=text)
        for condition in flag.vitals:
            name = {"bp_high": "sbp", "bp_preg": "sbp", "bp_preg_severe": "sbp"}.get(
                condition.name, condition.name
            )
            if name in state.vital_spans:
                start, end, text = state.vital_spans[name]
                return SpanOut(start=start, end=end, text=text)
        return None

    def _causes(self, complaints: Sequence[tuple[Complaint, Level]], state: PatientState) -> list[Cause]:
        scored: list[tuple[int, int, str]] = []
        seen: set[str] = set()
        order = 0
        for complaint, _ in complaints:
            for cause in complaint.causes:
                if cause.label in seen:
                    continue
                seen.add(cause.label)
                support = sum(1 for f in cause.supported_by if f in state.present)
                scored.append((-support, order, cause.label))
                order += 1
        scored.sort()
        out = []
        for position, (support, _, text) in enumerate(scored[:5], start=1):
            likelihood: Literal["more likely", "possible", "less likely"] = (
                "more likely" if support < 0 else "possible" if position <= 2 else "less likely"
            )
            out.append(Cause(rank=position, label=f"Possibly {text}", likelihood=likelihood))
        return out

    def _advice(self, level: Level, outcome: _Outcome, number: str) -> str:
        top = [c for c, lvl in outcome.complaints if lvl == level and c.advice]
        extra = f" {top[0].advice}" if top else ""
        if level == "emergency_ambulance":
            return (
                f"This may be an emergency: call {number} for an ambulance now. Do not drive yourself. "
                f"Stay with the person and follow the call handler's instructions.{extra}"
            )
        if level == "emergency":
            return (
                f"This needs emergency care now: go to the nearest emergency department, or call {number} if "
                f"it gets worse or you cannot get there safely.{extra}"
            )
        if level == "consultation_24":
            return (
                "Speak to a doctor, urgent care service or out-of-hours service today, within 24 hours. "
                f"Call {number} if it gets much worse (for example trouble breathing, chest pain, "
                f"confusion or collapse).{extra}"
            )
        if level == "consultation":
            return (
                "Book an appointment with a doctor in the next few days. Get help sooner if it gets worse, "
                f"and call {number} in an emergency.{extra}"
            )
        return (
            "This can usually be looked after at home, and a pharmacist can advise on suitable treatment."
            f"{extra} See a doctor if it is not improving as expected or new symptoms appear, and call "
            f"{number} in an emergency."
        )


def _compare(value: float, op: str, threshold: float) -> bool:
    return {
        "<": value < threshold,
        "<=": value <= threshold,
        ">": value > threshold,
        ">=": value >= threshold,
    }[op]


def _days(days: float) -> str:
    if days < 1:
        hours = round(days * 24)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    whole = round(days)
    return f"{whole} day{'s' if whole != 1 else ''}"


def _check(knowledge: TriageKnowledge) -> str | None:
    """Cross-references: every id an entry names exists, and every entry has a known source."""
    sources = {s.id for s in knowledge.sources}
    findings = {f.id for f in knowledge.findings}
    flags = {r.id for r in knowledge.red_flags}
    groups: list[tuple[str, list[Any]]] = [
        ("findings", list(knowledge.findings)),
        ("red_flags", list(knowledge.red_flags)),
        ("complaints", list(knowledge.complaints)),
        ("modifiers", list(knowledge.modifiers)),
    ]
    for kind, entries in groups:
        seen: set[str] = set()
        for entry in entries:
            if entry.id in seen:
                return f"{kind} {entry.id!r}: the id is used twice"
            seen.add(entry.id)
    for flag in knowledge.red_flags:
        if flag.source not in sources:
            return f"red_flags {flag.id!r}: unknown source {flag.source!r}"
        names = [*flag.all, *flag.any, *flag.none]
        if not names and not flag.vitals:
            return f"red_flags {flag.id!r}: it names no finding and no vital sign"
        missing = [n for n in names if n not in findings]
        if missing:
            return f"red_flags {flag.id!r}: unknown findings {missing}"
    for complaint in knowledge.complaints:
        if complaint.source not in sources:
            return f"complaints {complaint.id!r}: unknown source {complaint.source!r}"
        names = [
            *complaint.findings,
            *(d.finding for d in complaint.discriminators),
            *(d.finding for d in complaint.lower_if),
            *(f for c in complaint.causes for f in c.supported_by),
        ]
        missing = [n for n in names if n not in findings]
        if missing:
            return f"complaints {complaint.id!r}: unknown findings {missing}"
        unknown_flags = [r for r in complaint.red_flags if r not in flags]
        if unknown_flags:
            return f"complaints {complaint.id!r}: unknown red flags {unknown_flags}"
        if "you have" in complaint.advice.lower():
            return f"complaints {complaint.id!r}: advice must inform, never diagnose"
    for modifier in knowledge.modifiers:
        if modifier.source not in sources:
            return f"modifiers {modifier.id!r}: unknown source {modifier.source!r}"
        missing = [n for n in modifier.findings if n not in findings]
        if missing:
            return f"modifiers {modifier.id!r}: unknown findings {missing}"
    if len(knowledge.complaints) < 60:
        return f"complaints: {len(knowledge.complaints)} entries, at least 60 are expected"
    return None


def load_triage(path: Path | None = None) -> Triage:
    """The triage knowledge and text reader from `path`, or the packaged file (built once per process)."""
    if path is None:
        return _packaged()
    return Triage.from_json(path.read_bytes(), origin=str(path))


@functools.cache
def _packaged() -> Triage:
    resource = resources.files("lumen.plugins.triage") / "knowledge" / KNOWLEDGE_FILE
    return Triage.from_json(resource.read_bytes(), origin=f"knowledge/{KNOWLEDGE_FILE}")
