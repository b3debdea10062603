from __future__ import annotations

import pytest

from lumen.core.webhooks.ssrf import UnsafeURL, resolve_public


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/h",
        "https://localhost/h",
        "https://10.0.0.5/h",
        "https://192.168.1.1/h",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/h",
        "https://[::ffff:127.0.0.1]/h",
        "https://0.0.0.0/h",
        "http://example.com/h",
        "ftp://example.com/h",
        "https:///nohost",
    ],
)
async def test_production_refuses_internal_and_plain_http_targets(url: str) -> None:
    with pytest.raises(UnsafeURL):
        await resolve_public(url, allow_private=False)


async def test_development_allows_loopback_but_never_metadata() -> None:
    await resolve_public("http://127.0.0.1:9/h", allow_private=True)
    with pytest.raises(UnsafeURL):
        await resolve_public("http://169.254.169.254/latest/meta-data", allow_private=True)


async def test_the_delivery_client_never_connects_to_a_name_that_resolves_inside() -> None:
    """The connect-time check: even a URL that passed `resolve_public` earlier (DNS can change between the
    check and the connection) is refused when its name now resolves to loopback."""
    import aiohttp

    from lumen.core.settings import WebhookSettings
    from lumen.core.webhooks.service import delivery_client
    from lumen.core.webhooks.ssrf import PublicResolver

    with pytest.raises(OSError, match="non-public"):
        await PublicResolver(allow_private=False).resolve("localhost", 443)
    assert await PublicResolver(allow_private=True).resolve("localhost", 443)
    client = delivery_client(WebhookSettings(allow_private=False))
    try:
        with pytest.raises(aiohttp.ClientConnectorError, match="non-public"):
            await client.post("http://localhost:9/h", data=b"{}")
    finally:
        await client.close()
