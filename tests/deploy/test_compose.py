"""deploy/compose.yaml against the Compose Specification's JSON schema (vendored, tests/deploy/schemas/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # YAML merge keys (<<: *lumen-env) resolve here


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_the_compose_file_validates_against_the_compose_specification(
    compose: dict[str, Any], validator: jsonschema.Draft7Validator
) -> None:
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_the_schema_rejects_what_compose_would(
    compose: dict[str, Any], validator: jsonschema.Draft7Validator
) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["api"]["restart_policy"] = "always"  # not a service key
    assert not validator.is_valid(broken)


def test_every_service_of_the_issue_is_there(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) >= {
        "api",
        "worker",
        "migrate",
        "postgres",
        "redis",
        "weaviate",
        "opa",
        "vllm",
        "inference-cpu",
    }


def test_every_image_is_pinned_and_none_is_latest(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: {image}"


def test_postgres_has_pgvector(compose: dict[str, Any]) -> None:
    assert compose["services"]["postgres"]["image"].startswith("pgvector/pgvector:")


def test_migrations_run_once_before_api_and_worker(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_only_migrations_hold_the_owner_credentials(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        has_owner = "LUMEN_DATABASE_OWNER_URL" in (service.get("environment") or {})
        assert has_owner == (name == "migrate"), name


def test_vllm_serves_lora_adapters_from_the_store_on_a_gpu_profile(compose: dict[str, Any]) -> None:
    vllm = compose["services"]["vllm"]
    assert vllm["profiles"] == ["gpu"]
    assert "--enable-lora" in vllm["command"]
    assert any(v.startswith("adapters:") for v in vllm["volumes"])
    assert vllm["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]


def test_the_cpu_profile_runs_lumens_own_engine(compose: dict[str, Any]) -> None:
    engine = compose["services"]["inference-cpu"]
    assert engine["profiles"] == ["cpu"]
    assert engine["command"][:2] == ["inference", "serve"]
    assert engine["build"]["target"] == "inference"


def test_both_engines_answer_where_the_api_looks(compose: dict[str, Any]) -> None:
    url = compose["services"]["api"]["environment"]["LUMEN_INFERENCE_URLS"]
    for name in ("vllm", "inference-cpu"):
        assert "inference" in compose["services"][name]["networks"]["default"]["aliases"]
        assert url.startswith("http://inference:")


def test_opa_loads_the_bundle_the_api_serves(compose: dict[str, Any]) -> None:
    opa = compose["services"]["opa"]
    config = yaml.safe_load((ROOT / "deploy" / "opa" / "config.yaml").read_text())
    assert "--config-file=/config/opa.yaml" in opa["command"]
    assert config["bundles"]["lumen"]["resource"] == "/v1/platform/policy/bundle"
    assert config["services"]["lumen"]["url"] == "${LUMEN_API_URL}"
    assert opa["environment"]["LUMEN_API_URL"] == "http://api:8000"


def test_secrets_come_from_the_environment_never_the_file(compose: dict[str, Any]) -> None:
    text = COMPOSE.read_text()
    for variable in ("LUMEN_PLATFORM_KEY", "LUMEN_SECRET_KEY", "LUMEN_APP_DB_PASSWORD"):
        assert f"${{{variable}:?" in text
