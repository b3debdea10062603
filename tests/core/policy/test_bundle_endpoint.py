"""GET /v1/platform/policy/bundle: what OPA sidecars poll; the platform key only, ETag-conditional."""

from __future__ import annotations

import io
import json
import tarfile

import httpx

from lumen.core.policy import build_bundle
from tests.conftest import TenantHandle, assert_problem, platform_headers

BUNDLE = "/v1/platform/policy/bundle"


async def test_the_platform_gets_the_bundle_of_the_installed_policies(
    client: httpx.AsyncClient, app: object
) -> None:
    r = await client.get(BUNDLE, headers=platform_headers())
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/gzip")
    assert r.content == build_bundle(app.state.policy_set)  # type: ignore[attr-defined]
    with tarfile.open(fileobj=io.BytesIO(r.content), mode="r:gz") as tar:
        manifest = json.loads(tar.extractfile(".manifest").read())  # type: ignore[union-attr]
    assert r.headers["etag"] == f'"{manifest["revision"]}"'


async def test_an_unchanged_bundle_is_a_304(client: httpx.AsyncClient) -> None:
    etag = (await client.get(BUNDLE, headers=platform_headers())).headers["etag"]
    r = await client.get(BUNDLE, headers={**platform_headers(), "If-None-Match": etag})
    assert r.status_code == 304
    assert r.content == b""
    stale = await client.get(BUNDLE, headers={**platform_headers(), "If-None-Match": '"an-old-revision"'})
    assert stale.status_code == 200


async def test_a_tenant_key_cannot_download_the_bundle(
    client: httpx.AsyncClient, tenant_a: TenantHandle
) -> None:
    r = await client.get(BUNDLE, headers=tenant_a.headers)
    assert_problem(r, 403, "platform-key-required")


async def test_no_key_no_bundle(client: httpx.AsyncClient) -> None:
    r = await client.get(BUNDLE)
    assert_problem(r, 401)
