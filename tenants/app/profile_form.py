"""The patient's own profile as an HTML form: what they may change, how the form reads back into a
`PatientUpdate`, and error messages that name the field (never echo the value).

A patient edits their birth date, sex, pregnancy status, conditions, medicines and allergies. The tenant's
reference, eGFR (a lab value) and consents stay the tenant's to set. Lists are one entry per line; a line
that still names a coded entry (RxNorm, SNOMED CT...) keeps its code, so editing a list in the app does not
strip the codes the tenant's systems put there.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import msgspec

from lumen.tenants.patients.schemas import CodedEntry, PatientProfile, PatientUpdate
from lumen.tenants.patients.service import entry_name

__all__ = [
    "LISTS",
    "PREGNANCIES",
    "SEXES",
    "FormError",
    "form_values",
    "parse_profile_form",
    "profile_view",
]

LISTS: list[tuple[str, str]] = [
    ("conditions", "My conditions"),
    ("medications", "My medicines"),
    ("allergies", "My allergies"),
]
SEXES = {"female": "Female", "male": "Male", "other": "Other", "unknown": "Prefer not to say"}
PREGNANCIES = {
    "pregnant": "Pregnant",
    "not_pregnant": "Not pregnant",
    "breastfeeding": "Breastfeeding",
    "unknown": "Prefer not to say",
}
LABELS = {"birth_date": "Date of birth", "sex": "Sex", "pregnancy_status": "Pregnancy", **dict(LISTS)}
EDITABLE = ("birth_date", "sex", "pregnancy_status", *(f for f, _ in LISTS))
MAX_ENTRIES = 100


class FormError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{LABELS.get(field, field)}: {message}")
        self.field = field


def profile_view(profile: PatientProfile) -> dict[str, Any]:
    """What the profile page shows: names, not codes."""
    return {
        "birth_date": profile.birth_date.isoformat() if profile.birth_date else None,
        "sex": profile.sex,
        "pregnancy_status": profile.pregnancy_status,
        "egfr": profile.egfr,
        **{f: [entry_name(e) for e in getattr(profile, f)] for f, _ in LISTS},
    }


def form_values(profile: PatientProfile) -> dict[str, str]:
    """The edit form filled with the stored profile."""
    return {
        "birth_date": profile.birth_date.isoformat() if profile.birth_date else "",
        "sex": profile.sex or "",
        "pregnancy_status": profile.pregnancy_status or "",
        **{f: "\n".join(entry_name(e) for e in getattr(profile, f)) for f, _ in LISTS},
    }


def _entries(field: str, text: str, current: list[str | CodedEntry]) -> list[str | CodedEntry]:
    coded = {entry_name(e).casefold(): e for e in current if isinstance(e, CodedEntry)}
    out: list[str | CodedEntry] = []
    seen: set[str] = set()
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if not line or line.casefold() in seen:
            continue
        seen.add(line.casefold())
        out.append(coded.get(line.casefold(), line))
    if len(out) > MAX_ENTRIES:
        raise FormError(field, f"at most {MAX_ENTRIES} entries")
    return out


def _birth_date(text: str) -> date | None:
    if not text:
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise FormError("birth_date", "give a date as YYYY-MM-DD") from None
    if value > date.today() or value.year < 1900:
        raise FormError("birth_date", "give a date between 1900 and today")
    return value


def _choice(field: str, text: str, allowed: dict[str, str]) -> str | None:
    if not text:
        return None
    if text not in allowed:
        raise FormError(field, "choose one of the options")
    return text


def parse_profile_form(form: dict[str, str], current: PatientProfile) -> tuple[PatientUpdate, list[str]]:
    """The change the form asks for and the names of the fields it really changes. Fields the form does not
    carry are left alone; an unknown field is refused (the form never sends one)."""
    unknown = sorted(set(form) - {*EDITABLE, "csrf"})
    if unknown:
        raise FormError(unknown[0], "this field cannot be changed here")
    values: dict[str, Any] = {}
    if "birth_date" in form:
        values["birth_date"] = _birth_date(form["birth_date"].strip())
    if "sex" in form:
        values["sex"] = _choice("sex", form["sex"].strip(), SEXES)
    if "pregnancy_status" in form:
        values["pregnancy_status"] = _choice(
            "pregnancy_status", form["pregnancy_status"].strip(), PREGNANCIES
        )
    for field, _ in LISTS:
        if field in form:
            values[field] = _entries(field, form[field], list(getattr(current, field)))
    changed = [f for f, v in values.items() if v != getattr(current, f)]
    try:
        update = msgspec.convert({f: values[f] for f in changed}, PatientUpdate)
    except msgspec.ValidationError as exc:
        # "... - at `$.medications[3]`": name the field, keep msgspec's rule, drop nothing the patient typed
        # into the message (msgspec never echoes values).
        message, _, where = str(exc).partition(" - at `$.")
        field = where.split("[", 1)[0].rstrip("`") or "profile"
        line = where.split("[", 1)[1].split("]", 1)[0] if "[" in where else None
        detail = "each entry must be 1-200 characters of text" if field in dict(LISTS) else message
        if line is not None and line.isdigit():
            detail += f" (entry {int(line) + 1})"
        raise FormError(field, detail) from None
    return update, changed
