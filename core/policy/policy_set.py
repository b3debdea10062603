"""What gets evaluated: Rego modules plus one static data document, from the kernel and from plugins.

A PolicySet is assembled once at start-up (the core's files, then each plugin's `register_policies` and
`register_actions`) and then handed to an engine, to the bundle builder and to the Rego test runner, so the
in-process engine, an OPA server and CI all see exactly the same policy. Registering the same module or the
same data twice is an error that names both registrants: two plugins claiming one action name must fail at
start-up, not shadow each other silently.

Data lives under ``data.lumen``. A data path is ``<document>`` or ``<document>.<key>``, where the key is
everything after the first dot, because action names contain dots:
``add_data("actions.keys.create", {...})`` sets ``data.lumen.actions["keys.create"]``.
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from typing import Any

import msgspec

from lumen.core.policy._regorus import error_text, new_engine
from lumen.core.policy.actions import KERNEL_ACTIONS, ActionSpec

__all__ = ["DATA_ROOT", "PolicyModule", "PolicySet", "core_policy_set"]

DATA_ROOT = "lumen"  # every package and every data document lives under data.lumen
_DOCUMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TEST_SUFFIX = "_test.rego"


class PolicyModule(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # a file name, unique in the set: "authz.rego", "interactions/authz.rego"
    source: str
    origin: str  # who registered it: "core" or a plugin's name
    package: str  # "lumen.authz"

    @property
    def is_test(self) -> bool:
        return self.name.endswith(_TEST_SUFFIX)


class _DataEntry(msgspec.Struct, frozen=True):
    value: Any
    origin: str


class PolicySet:
    """Rego modules and the data document they read; ``version`` identifies the pair."""

    def __init__(self) -> None:
        self._modules: dict[str, PolicyModule] = {}
        # document -> (None -> the whole document) | (key -> one entry of the document)
        self._data: dict[str, dict[str | None, _DataEntry]] = {}
        self._version: str | None = None

    # --- registration ---------------------------------------------------------------------------------------

    def add_module(
        self, name: str, source: str, *, origin: str = "core", package_root: str | None = None
    ) -> None:
        """Register a Rego module (``*_test.rego`` files are Rego unit tests, run by ``lumen policy test``
        and never evaluated for decisions). The module is parsed now, so a syntax error names its file.

        ``package_root``: the package a decision module must be in (or below). A plugin's modules are held to
        ``lumen.ext.<plugin>``: Rego merges every module of one package, so a module in ``lumen.authz`` could
        add grants, and one in another plugin's package would silently merge with it."""
        if not name.endswith(".rego"):
            raise ValueError(f"policy module {name!r} from {origin!r}: the name must end in .rego")
        existing = self._modules.get(name)
        if existing is not None:
            raise ValueError(
                f"policy module {name!r} from {origin!r} is already registered by {existing.origin!r}"
            )
        package = _package_of(name, source, origin)
        if package != DATA_ROOT and not package.startswith(DATA_ROOT + "."):
            raise ValueError(
                f"policy module {name!r} from {origin!r}: package {package} is outside `{DATA_ROOT}`"
            )
        if (
            package_root is not None
            and not name.endswith(_TEST_SUFFIX)
            and package != package_root
            and not package.startswith(package_root + ".")
        ):
            raise ValueError(
                f"policy module {name!r} from {origin!r}: package {package} must be {package_root} "
                "or a package below it"
            )
        document = package.split(".")[1] if "." in package else None
        if document is not None and document in self._data:
            raise ValueError(
                f"policy module {name!r} from {origin!r}: package {package} collides with the data document "
                f"{DATA_ROOT}.{document} registered by {_origin_of(self._data[document])!r}"
            )
        self._modules[name] = PolicyModule(name=name, source=source, origin=origin, package=package)
        self._version = None

    def add_data(self, path: str, value: object, *, origin: str = "core") -> None:
        """Set ``data.lumen.<document>`` (path ``document``) or one key of it (path ``document.key``)."""
        document, dot, key = path.partition(".")
        if not _DOCUMENT.match(document) or (dot and not key):
            raise ValueError(f"policy data path {path!r} from {origin!r} is not `document` or `document.key`")
        for module in self._modules.values():
            if module.package.split(".")[1:2] == [document]:
                raise ValueError(
                    f"policy data {path!r} from {origin!r} collides with package {module.package} "
                    f"(module {module.name!r} from {module.origin!r})"
                )
        try:  # a JSON round trip: what engines see is exactly what OPA's data.json would hold
            plain = msgspec.json.decode(msgspec.json.encode(value))
        except (TypeError, msgspec.EncodeError) as exc:
            raise ValueError(f"policy data {path!r} from {origin!r} is not JSON: {exc}") from exc
        entries = self._data.setdefault(document, {})
        slot: str | None = key if dot else None
        clash = entries.get(slot) or (entries.get(None) if slot is not None else None)
        if clash is None and slot is None and entries:
            clash = next(iter(entries.values()))  # the whole document over keys someone else set
        if clash is not None:
            raise ValueError(
                f"policy data {path!r} from {origin!r} is already registered by {clash.origin!r}"
            )
        entries[slot] = _DataEntry(plain, origin)
        self._version = None

    def add_action(self, name: str, spec: ActionSpec, *, origin: str = "core") -> None:
        """Add a row to the action table (``data.lumen.actions``)."""
        existing = self._data.get("actions", {}).get(name)
        if existing is not None:
            raise ValueError(f"action {name!r} from {origin!r} is already registered by {existing.origin!r}")
        self.add_data(f"actions.{name}", spec, origin=origin)

    # --- what engines read ----------------------------------------------------------------------------------

    @property
    def modules(self) -> list[PolicyModule]:
        """The modules decisions are made with (tests excluded), by name."""
        return sorted((m for m in self._modules.values() if not m.is_test), key=lambda m: m.name)

    @property
    def test_modules(self) -> list[PolicyModule]:
        return sorted((m for m in self._modules.values() if m.is_test), key=lambda m: m.name)

    @property
    def data(self) -> dict[str, Any]:
        """The whole data document, rooted at ``data`` (so ``{"lumen": {...}}``)."""
        documents: dict[str, Any] = {}
        for document, entries in sorted(self._data.items()):
            whole = entries.get(None)
            if whole is not None:
                documents[document] = whole.value
            else:
                documents[document] = {key: entry.value for key, entry in sorted(entries.items()) if key}
        return {DATA_ROOT: documents}

    @property
    def actions(self) -> dict[str, Any]:
        result: dict[str, Any] = self.data[DATA_ROOT].get("actions", {})
        return result

    @property
    def version(self) -> str:
        """A short sha256 over the decision modules and the data: the `policy_version` of a decision."""
        if self._version is None:
            canonical = msgspec.json.encode(
                {"modules": [[m.name, m.source] for m in self.modules], "data": self.data}, order="sorted"
            )
            self._version = hashlib.sha256(canonical).hexdigest()[:16]
        return self._version


def _package_of(name: str, source: str, origin: str) -> str:
    try:
        packages: list[str] = new_engine([(name, source)], {}).get_packages()
    except Exception as exc:  # regorus raises RuntimeError with the file, line and column
        raise ValueError(f"policy module {name!r} from {origin!r} does not parse: {error_text(exc)}") from exc
    return packages[0].removeprefix("data.")


def _origin_of(entries: dict[str | None, _DataEntry]) -> str:
    return next(iter(entries.values())).origin


def core_policy_set() -> PolicySet:
    """The kernel's policies (``core/policy/policies/*.rego``, with their tests) and its action table."""
    policy_set = PolicySet()
    folder = resources.files("lumen.core.policy") / "policies"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".rego"):
            policy_set.add_module(entry.name, entry.read_text(encoding="utf-8"), origin="core")
    if not policy_set.modules:  # a wheel built without its package data: refuse to run without a policy
        raise RuntimeError(f"the core policies are missing from this installation (looked in {folder})")
    for name, spec in KERNEL_ACTIONS.items():
        policy_set.add_action(name, spec, origin="core")
    return policy_set
