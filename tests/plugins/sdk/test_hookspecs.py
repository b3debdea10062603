"""Every hookspec is documented, explained and exercised (ARCHITECTURE §5): docs/plugins.md has a
"### `<hook>`" section showing its signature, the spec has a docstring, and some test plugin implements it.
A new hook fails here until all three exist; a hook renamed or removed fails here until its section goes."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pluggy
import pytest

from lumen.plugins.sdk import hookspecs

ROOT = Path(__file__).resolve().parents[3]
GUIDE = ROOT / "docs" / "plugins.md"
MARKER = f"{hookspecs.PROJECT}_spec"  # the attribute pluggy's HookspecMarker sets on each spec


def _specs() -> dict[str, Callable[..., Any]]:
    return {
        name: value
        for name, value in vars(hookspecs).items()
        if inspect.isfunction(value) and hasattr(value, MARKER)
    }


SPECS = _specs()
# Where hook implementations in tests live: the kernel's tests, and each plugin's own tests.
TEST_FILES = sorted(
    {
        *ROOT.glob("tests/**/*.py"),
        *ROOT.glob("plugins/*/tests/**/*.py"),
        *ROOT.glob("plugins/examples/*/tests/**/*.py"),
    }
)
HOOKIMPL = re.compile(r"@hookimpl(?:\([^)]*\))?\s*\n\s*(?:async\s+)?def (\w+)\(")


def _sections() -> dict[str, str]:
    """'### `name`' heading -> the text up to the next heading of level 1-3 (code blocks are not headings:
    a `# comment` inside one is a comment)."""
    sections: dict[str, str] = {}
    current: str | None = None
    fenced = False
    for line in GUIDE.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,3} ", line):
            found = re.fullmatch(r"### `(\w+)`", line.strip())
            current = found.group(1) if found else None
            if current is not None:
                assert current not in sections, f"docs/plugins.md has two sections for {current}"
                sections[current] = ""
            continue
        if current is not None:
            sections[current] += line + "\n"
    return sections


def _implemented() -> set[str]:
    names: set[str] = set()
    for path in TEST_FILES:
        names.update(HOOKIMPL.findall(path.read_text(encoding="utf-8")))
    return names


def test_the_specs_are_the_ones_pluggy_sees() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    assert set(SPECS) == {name for name in vars(pm.hook) if not name.startswith("_")}
    assert {"lumen_plugin_info", "register_routes", "startup", "tenant_provisioned"} <= set(SPECS)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hook_is_documented_in_the_guide(name: str) -> None:
    sections = _sections()
    assert name in sections, f'docs/plugins.md needs a "### `{name}`" section'
    assert f"def {name}(" in sections[name], f"the {name} section should show its signature"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hook_has_a_docstring(name: str) -> None:
    doc = inspect.getdoc(SPECS[name])
    assert doc and len(doc) > 20, f"hookspec {name} needs a docstring saying what it is for"


@pytest.mark.parametrize("name", sorted(SPECS))
def test_hook_is_exercised_by_a_test(name: str) -> None:
    assert name in _implemented(), (
        f"no test implements hook {name!r}: add a test plugin with `@hookimpl def {name}(...)` "
        "and assert what the hook does"
    )


def test_the_guide_documents_no_hook_that_does_not_exist() -> None:
    stale = sorted(set(_sections()) - set(SPECS))
    assert stale == [], f"docs/plugins.md has sections for hooks that are not in hookspecs.py: {stale}"
