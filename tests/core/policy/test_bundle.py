"""OPA bundles: the decision modules, the data and a manifest whose revision is the policy version."""

from __future__ import annotations

import gzip
import io
import json
import tarfile

from lumen.core.policy import PolicySet, build_bundle, core_policy_set


def _read(bundle: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(bundle), mode="r:gz") as tar:
        files: dict[str, bytes] = {}
        for member in tar.getmembers():
            extracted = tar.extractfile(member)
            assert member.isfile() and extracted is not None
            files[member.name] = extracted.read()
        return files


def _plugin_set() -> PolicySet:
    policy_set = core_policy_set()
    policy_set.add_module(
        "interactions/authz.rego",
        'package lumen.ext.interactions\n\nimport rego.v1\n\ndeny contains "x" if input.action == "x"\n',
        origin="interactions",
    )
    return policy_set


def test_bundle_holds_the_manifest_the_modules_and_the_data() -> None:
    policy_set = _plugin_set()
    files = _read(build_bundle(policy_set))
    assert sorted(files) == [
        ".manifest",
        "data.json",
        "policies/authz.rego",
        "policies/interactions/authz.rego",
    ]
    manifest = json.loads(files[".manifest"])
    assert manifest["revision"] == policy_set.version and manifest["roots"] == ["lumen"]
    assert json.loads(files["data.json"]) == policy_set.data
    for module in policy_set.modules:
        assert files[f"policies/{module.name}"].decode() == module.source


def test_bundle_leaves_the_rego_tests_out() -> None:
    assert not any(name.endswith("_test.rego") for name in _read(build_bundle(core_policy_set())))


def test_bundle_is_reproducible() -> None:
    first, second = build_bundle(_plugin_set()), build_bundle(_plugin_set())
    assert first == second
    assert gzip.decompress(first)  # a plain gzip stream, as OPA's bundle loader expects


def test_a_policy_change_changes_the_bundle() -> None:
    changed = _plugin_set()
    changed.add_data("limits", {"max": 1})
    assert build_bundle(changed) != build_bundle(_plugin_set())
