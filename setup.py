"""Maps the top-level source folders onto the `lumen.*` namespace (ARCHITECTURE §1).

pyproject.toml holds all metadata; this file exists only because setuptools cannot discover
packages that live under a different name than their folder without being told each one.
"""

from pathlib import Path

from setuptools import setup

ROOTS = ("core", "plugins", "tenants", "inference", "training", "migrations")
# Example partner plugins are packages of their own (pip install -e plugins/examples/<name>), not lumen's.
EXCLUDED = (Path("plugins") / "examples",)


def discover() -> tuple[list[str], dict[str, str]]:
    packages: list[str] = []
    package_dir: dict[str, str] = {}
    for root in ROOTS:
        package_dir[f"lumen.{root}"] = root
        found = {init.parent for init in Path(root).rglob("__init__.py")}
        # A package's data folders (knowledge/, policies/, templates/...) are listed too, as namespace
        # packages, as setuptools asks; their files are still chosen by package-data in pyproject.toml.
        data = {
            folder
            for folder in Path(root).rglob("*")
            if folder.is_dir() and folder.parent in found and folder not in found
        }
        for folder in sorted(found | data):
            parts = folder.parts
            if any(p.startswith(".") or p == "__pycache__" for p in parts):
                continue
            if any(folder.is_relative_to(excluded) for excluded in EXCLUDED):
                continue
            packages.append("lumen." + ".".join(parts))
    return packages, package_dir


packages, package_dir = discover()
setup(packages=packages, package_dir=package_dir)
