"""schemathesis hook (loaded by bench/fuzz_api.py through SCHEMATHESIS_HOOKS): the fuzzer's credentials.

The fuzzer calls every operation with a tenant admin key, including revoking and rotating keys; when it hits
its own key (the key id shows up in listings it has fetched) every later call is a 401 and the rest of the run
tests nothing but authentication. So the key comes from here: minted with the platform key when the run
starts, and minted again whenever a response is 401 (schemathesis drops a provider's cached credential on a
401 and asks again). The fuzzed API is not changed; only the fuzzer keeps a working key.
"""

from __future__ import annotations

import json
import os
import urllib.request
from typing import Any

import schemathesis


def mint_key(base_url: str, platform_key: str, tenant_id: str) -> str:
    request = urllib.request.Request(  # noqa: S310 - the loopback server
        f"{base_url}/v1/tenants/{tenant_id}/keys",
        data=json.dumps({"name": "fuzz", "scopes": ["admin"]}).encode(),
        method="POST",
        headers={"content-type": "application/json", "authorization": f"Bearer {platform_key}"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - the loopback server
        key: str = json.loads(response.read())["key"]
    return key


@schemathesis.auth(refresh_interval=24 * 3600)
class TenantAdminKey:
    def get(self, case: Any, context: Any) -> str:
        return mint_key(
            os.environ["LUMEN_FUZZ_BASE_URL"],
            os.environ["LUMEN_FUZZ_PLATFORM_KEY"],
            os.environ["LUMEN_FUZZ_TENANT_ID"],
        )

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}
