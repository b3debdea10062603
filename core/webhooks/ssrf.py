"""Where webhooks may go: in production only https URLs whose host resolves to public addresses. Private,
loopback, link-local, multicast and cloud-metadata addresses are refused after DNS resolution (so a name that
points inside the network is caught too), at registration and again at every delivery (DNS can change)."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp.resolver import ThreadedResolver

__all__ = ["PublicResolver", "UnsafeURL", "check_url", "resolve_public"]


class UnsafeURL(ValueError):
    """The URL may not receive webhooks; the message says why."""


def check_url(url: str, *, allow_private: bool) -> tuple[str, int]:
    """Shape checks that need no DNS; returns (host, port)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise UnsafeURL("url: must be an absolute https URL")
    if parts.scheme != "https" and not allow_private:
        raise UnsafeURL("url: must use https")
    if parts.username or parts.password:
        raise UnsafeURL("url: must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise UnsafeURL("url: invalid port") from None
    host = parts.hostname
    # What needs no DNS is refused at once (registration too): loopback names and non-public literals.
    if not allow_private and (host == "localhost" or host.endswith(".localhost")):
        raise UnsafeURL(f"url: {host!r} is not a public host")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None and _forbidden(literal) and not _developer_ok(literal, allow_private):
        raise UnsafeURL(f"url: {host!r} is not a public address")
    return host, port


def _developer_ok(address: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool) -> bool:
    """Development may reach loopback and private networks, never link-local (cloud metadata lives there)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return allow_private and (address.is_private or address.is_loopback) and not address.is_link_local


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or address == ipaddress.ip_address("169.254.169.254")  # cloud metadata (also link-local)
    )


async def resolve_public(url: str, *, allow_private: bool) -> None:
    """Raise UnsafeURL unless every address the host resolves to may be called."""
    host, port = check_url(url, allow_private=allow_private)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UnsafeURL(f"url: host {host!r} does not resolve") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if _forbidden(address) and not _developer_ok(address, allow_private):
            raise UnsafeURL(f"url: {host!r} resolves to a non-public address")


class PublicResolver(ThreadedResolver):
    """The delivery client's resolver: a connection is only ever opened to an address that passed the same
    checks as `resolve_public`, on the very addresses the connection uses, so a name re-pointed inside the
    network between the check and the connect (DNS rebinding) gains nothing."""

    def __init__(self, *, allow_private: bool) -> None:
        super().__init__()
        self._allow_private = allow_private

    async def resolve(self, host: str, port: int = 0, family: Any = socket.AF_INET) -> Any:
        results = await super().resolve(host, port, family)
        for result in results:
            address = ipaddress.ip_address(result["host"])
            if _forbidden(address) and not _developer_ok(address, self._allow_private):
                # errno and strerror: aiohttp's connection error shows the strerror as its reason.
                raise OSError(errno.EACCES, f"{host!r} resolves to a non-public address")
        return results
