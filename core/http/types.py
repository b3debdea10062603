"""Input rules shared by every schema at the edge: text that PostgreSQL can store and people can read.

PostgreSQL refuses U+0000 in text, and control characters in names end up in logs and UIs; both are
refused here, at validation, with the field named, instead of surfacing as a database error. Schemas use
the patterns in their own `Annotated[str, Meta(...)]` aliases (mypy needs a literal alias per type).
"""

from __future__ import annotations

__all__ = ["NOT_BLANK_TEXT", "PATTERN_EXPLANATIONS", "TEXT"]

# Any text without NUL or control characters (tab and newlines allowed).
TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
# The same, and not empty or blank: names, titles.
NOT_BLANK_TEXT = r"^(?=[\s\S]*\S)[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"

# Shown instead of the raw regular expression when a value does not match.
PATTERN_EXPLANATIONS = {
    TEXT: "text without NUL or control characters",
    NOT_BLANK_TEXT: "non-blank text without NUL or control characters",
}
