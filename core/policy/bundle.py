"""OPA bundles built from a PolicySet: what production OPA serves (deploy/ points its bundle service here).

A bundle is a tar.gz with a `.manifest` (revision = the PolicySet's version, roots = ["lumen"]), the decision
modules and one `data.json`; Rego unit tests stay out. The archive is byte-for-byte reproducible (sorted
entries, zero timestamps and owners), so the same policies give the same bundle and the same ETag.
"""

from __future__ import annotations

import gzip
import io
import tarfile

import msgspec

from lumen.core.policy.policy_set import DATA_ROOT, PolicySet

__all__ = ["BUNDLE_POLICY_DIR", "build_bundle"]

BUNDLE_POLICY_DIR = "policies"


def build_bundle(policy_set: PolicySet) -> bytes:
    manifest = {
        "revision": policy_set.version,
        "roots": [DATA_ROOT],
        "metadata": {"policy_version": policy_set.version},
    }
    files: dict[str, bytes] = {
        ".manifest": msgspec.json.encode(manifest, order="sorted"),
        "data.json": msgspec.json.encode(policy_set.data, order="sorted"),
    }
    for module in policy_set.modules:
        files[f"{BUNDLE_POLICY_DIR}/{module.name}"] = module.source.encode("utf-8")

    tar_buffer = io.BytesIO()
    with tarfile.open(fileobj=tar_buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, content in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size = len(content)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(content))
    # gzip with mtime=0: the header would otherwise carry the build time.
    return gzip.compress(tar_buffer.getvalue(), mtime=0)
