"""Every LUMEN_* variable the deployment files set is a setting Lumen reads (a typo would only be a warning
at start-up, and the setting would silently keep its default)."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from dockerfile_parse import DockerfileParser

from lumen.core.settings import SettingsError, load_settings, unknown_variables

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


Variable = tuple[str, str]  # name, value ("secret" where a secret store provides it)


def _dockerfile_variables() -> Iterator[Variable]:
    for instruction in DockerfileParser(path=str(DEPLOY / "docker" / "Dockerfile")).structure:
        if instruction["instruction"] == "ENV":
            for pair in shlex.split(instruction["value"]):
                name, _, value = pair.partition("=")
                yield name, value


def _compose_variables() -> Iterator[Variable]:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    for service in compose["services"].values():
        if str(service.get("image", "")).startswith("lumen"):
            yield from service.get("environment", {}).items()


def _k8s_variables() -> Iterator[Variable]:
    documents: list[dict[str, Any]] = []
    for path in sorted((DEPLOY / "k8s").rglob("*.yaml")):
        loaded = yaml.safe_load_all(path.read_text())
        documents += [d for d in loaded if isinstance(d, dict) and "kind" in d]
    for doc in documents:
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] == "lumen-config":
            yield from doc.get("data", {}).items()
        template = doc.get("spec", {}).get("template", {}).get("spec", {})
        for container in template.get("containers", []):
            if container.get("image") == "lumen":
                yield from ((v["name"], str(v.get("value", "secret"))) for v in container.get("env", []))


@pytest.mark.parametrize(
    "source",
    [_dockerfile_variables, _compose_variables, _k8s_variables],
    ids=["dockerfile", "compose", "k8s"],
)
def test_every_lumen_variable_set_for_lumen_is_a_setting(source: Any) -> None:
    variables = {name: value for name, value in source() if name.startswith("LUMEN_")}
    assert variables
    assert unknown_variables(variables) == []
    load_settings(variables)  # SettingsError names a misspelt nested setting or an ill-typed value


def test_the_check_catches_a_misspelt_nested_setting() -> None:
    with pytest.raises(SettingsError, match="LUMEN_JOBS__SHUTDOWN_GRACE"):
        load_settings({"LUMEN_JOBS__SHUTDOWN_GRACE": "25"})
