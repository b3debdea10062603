"""deploy/k8s: every overlay renders with `kubectl kustomize` and validates against the Kubernetes schemas
(kubernetes-validate, strict: unknown fields are errors); then what the issue asks of the rendered objects."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OVERLAYS = sorted(p.name for p in (ROOT / "deploy" / "k8s" / "overlays").iterdir() if p.is_dir())
# The oldest Kubernetes the manifests promise to work on (autoscaling/v2, policy/v1, preStop exec probes)
# and the newest the validator knows.
VERSIONS = ("1.30.0", kubernetes_validate.latest_version())

Objects = list[dict[str, Any]]


def _render(overlay: str) -> Objects:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (Debian: apt-get install kubernetes-client; .ci/run does it)")
    done = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy" / "k8s" / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, Objects]:
    return request.param, _render(request.param)


def _one(objects: Objects, kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def _pod_templates(objects: Objects) -> Iterator[tuple[str, dict[str, Any]]]:
    for o in objects:
        if o["kind"] in {"Deployment", "StatefulSet", "Job"}:
            yield f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]["spec"]


def test_there_are_dev_and_production_overlays() -> None:
    assert {"dev", "production"} <= set(OVERLAYS)


@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_validates_against_the_kubernetes_schema(
    rendered: tuple[str, Objects], version: str
) -> None:
    _, objects = rendered
    for obj in objects:
        kubernetes_validate.validate(obj, version, strict=True)  # raises, naming the field


def test_the_validator_catches_a_misspelt_field(rendered: tuple[str, Objects]) -> None:
    deployment = dict(_one(rendered[1], "Deployment", "lumen-api"))
    deployment["spec"] = {**deployment["spec"], "replica": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[0], strict=True)


def test_everything_lands_in_the_overlays_namespace(rendered: tuple[str, Objects]) -> None:
    _, objects = rendered
    namespace = _one(
        objects, "Namespace", next(o for o in objects if o["kind"] == "Namespace")["metadata"]["name"]
    )
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == namespace["metadata"]["name"], obj["metadata"]["name"]


def test_api_and_worker_are_autoscaled_and_protected_by_disruption_budgets(
    rendered: tuple[str, Objects],
) -> None:
    _, objects = rendered
    for name in ("lumen-api", "lumen-worker"):
        hpa = _one(objects, "HorizontalPodAutoscaler", name)
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    selectors = [o["spec"]["selector"]["matchLabels"] for o in objects if o["kind"] == "PodDisruptionBudget"]
    for obj in objects:
        if obj["kind"] in {"Deployment", "StatefulSet"}:
            assert obj["spec"]["selector"]["matchLabels"] in selectors, obj["metadata"]["name"]


def test_every_long_running_container_has_readiness_and_liveness_probes(
    rendered: tuple[str, Objects],
) -> None:
    _, objects = rendered
    for obj in objects:
        if obj["kind"] not in {"Deployment", "StatefulSet"}:
            continue
        main = obj["spec"]["template"]["spec"]["containers"][0]
        assert "livenessProbe" in main, obj["metadata"]["name"]
        if obj["metadata"]["name"] != "lumen-worker":  # no traffic to be ready for: liveness only
            assert "readinessProbe" in main, obj["metadata"]["name"]


def test_the_api_drains_before_it_stops(rendered: tuple[str, Objects]) -> None:
    pod = _one(rendered[1], "Deployment", "lumen-api")["spec"]["template"]["spec"]
    api = pod["containers"][0]
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] >= 20


def test_the_worker_grace_period_outlasts_its_job_drain(rendered: tuple[str, Objects]) -> None:
    _, objects = rendered
    pod = _one(objects, "Deployment", "lumen-worker")["spec"]["template"]["spec"]
    config = _one(objects, "ConfigMap", "lumen-config")["data"]
    assert pod["terminationGracePeriodSeconds"] > int(config["LUMEN_JOBS__SHUTDOWN_GRACE_SECONDS"])


SECRET_VARIABLES = {
    "LUMEN_DATABASE_URL",
    "LUMEN_DATABASE_OWNER_URL",
    "LUMEN_REDIS_URL",
    "LUMEN_PLATFORM_KEY",
    "LUMEN_SECRET_KEY",
    "LUMEN_AUDIT_SIGNING_KEY",
}


def test_secrets_are_referenced_never_shipped(rendered: tuple[str, Objects]) -> None:
    _, objects = rendered
    assert not [o for o in objects if o["kind"] == "Secret"]
    for obj in objects:
        if obj["kind"] == "ConfigMap":
            assert not SECRET_VARIABLES & set(obj["data"]), obj["metadata"]["name"]
    referenced = 0
    for where, pod in _pod_templates(objects):
        for container in pod["containers"]:
            for variable in container.get("env", []):
                if variable["name"] in SECRET_VARIABLES:
                    assert "value" not in variable, f"{where}: {variable['name']} inline"
                    assert variable["valueFrom"]["secretKeyRef"]["name"] == "lumen-secrets"
                    referenced += 1
    assert referenced


def test_only_the_migration_job_holds_the_owner_credentials(rendered: tuple[str, Objects]) -> None:
    for where, pod in _pod_templates(rendered[1]):
        names = {v["name"] for c in pod["containers"] for v in c.get("env", [])}
        assert ("LUMEN_DATABASE_OWNER_URL" in names) == (where == "Job/lumen-migrate"), where


def test_migrations_run_as_a_job_before_the_rollout(rendered: tuple[str, Objects]) -> None:
    job = _one(rendered[1], "Job", "lumen-migrate")
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PreSync"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["db", "upgrade"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_pods_run_as_non_root_and_every_image_is_pinned(rendered: tuple[str, Objects]) -> None:
    for where, pod in _pod_templates(rendered[1]):
        for container in pod["containers"]:
            image = container["image"]
            assert ":" in image.rsplit("/", 1)[-1] and not image.endswith(":latest"), f"{where}: {image}"
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
        if not where.startswith("StatefulSet/vllm"):
            assert pod["securityContext"]["runAsNonRoot"] is True, where


def test_lumens_own_pods_meet_the_restricted_pod_security_standard(rendered: tuple[str, Objects]) -> None:
    for where, pod in _pod_templates(rendered[1]):
        if where.startswith("StatefulSet/vllm"):
            continue  # the upstream image runs as root (namespace.yaml: baseline enforced)
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", where
        for container in pod["containers"]:
            assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], where
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, where


def test_opa_runs_beside_the_api_and_loads_the_bundle_the_api_serves(rendered: tuple[str, Objects]) -> None:
    _, objects = rendered
    containers = _one(objects, "Deployment", "lumen-api")["spec"]["template"]["spec"]["containers"]
    opa = next(c for c in containers if c["name"] == "opa")
    assert opa["args"][:2] == ["run", "--server"]
    config = yaml.safe_load(_one(objects, "ConfigMap", "lumen-opa-config")["data"]["config.yaml"])
    assert config["bundles"]["lumen"]["resource"] == "/v1/platform/policy/bundle"
    assert config["services"]["lumen"]["url"] == "http://127.0.0.1:8000"
    assert _one(objects, "ConfigMap", "lumen-config")["data"]["LUMEN_OPA_URL"] == "http://127.0.0.1:8181"


def test_the_inference_replicas_serve_lora_from_the_adapter_store(rendered: tuple[str, Objects]) -> None:
    overlay, objects = rendered
    engine = _one(objects, "StatefulSet", "vllm")
    container = engine["spec"]["template"]["spec"]["containers"][0]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["adapters"]["readOnly"] is True
    volumes = {v["name"]: v for v in engine["spec"]["template"]["spec"]["volumes"]}
    assert volumes["adapters"]["persistentVolumeClaim"]["claimName"] == "lumen-adapters"
    if overlay == "dev":  # no GPU: Lumen's CPU engine speaks the same protocol
        assert container["args"][:2] == ["inference", "serve"]
    else:
        assert "--enable-lora" in container["args"]
        assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    urls = _one(objects, "ConfigMap", "lumen-config")["data"]["LUMEN_INFERENCE_URLS"].split(",")
    assert urls == [f"http://vllm-{i}.vllm:8001" for i in range(engine["spec"]["replicas"])]


def test_weaviate_is_the_official_charts_service(rendered: tuple[str, Objects]) -> None:
    url = _one(rendered[1], "ConfigMap", "lumen-config")["data"]["LUMEN_WEAVIATE_URL"]
    assert url == "http://weaviate.weaviate.svc.cluster.local:80"


def test_network_policies_deny_by_default_and_open_the_api_port(rendered: tuple[str, Objects]) -> None:
    _, objects = rendered
    deny = _one(objects, "NetworkPolicy", "lumen-default-deny")
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    api = _one(objects, "NetworkPolicy", "lumen-api-ingress")
    assert api["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 8000}]
