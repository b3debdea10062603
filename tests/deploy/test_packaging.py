"""The wheel the container image installs (deploy/docker/Dockerfile: `pip wheel`, then `pip install` of
it) carries everything Lumen reads from its own package at run time, not only the Python modules."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_holds_the_migrations_and_every_data_file(tmp_path: Path) -> None:
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            ".",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    assert "is absent from the `packages` configuration" not in built.stderr
    [wheel] = tmp_path.glob("lumen-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {
        f"lumen/migrations/versions/{p.name}" for p in (ROOT / "migrations" / "versions").glob("*.py")
    }
    for root, pattern in [
        ("plugins", "*/knowledge/*.json"),
        ("plugins", "*/policies/*.rego"),
        ("core", "policy/policies/*.rego"),
        ("training", "knowledge/*.json"),
        ("training", "configs/*.yaml"),
        ("tenants", "app/templates/*.html"),
        ("tenants", "app/static/*"),
    ]:
        for path in (ROOT / root).glob(pattern):
            if "examples" not in path.parts:
                expected.add("lumen/" + path.relative_to(ROOT).as_posix())
    assert len(expected) > 40
    assert sorted(expected - names) == []
