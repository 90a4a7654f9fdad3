"""Keep URLs found inside feeds away from loopback, private, link-local and metadata addresses.

Feeds come from the trusted config; the pages and images they point at do not.
For those, `GuardedBackend` (the network backend of their pools) resolves the host itself, vets every address, and
connects only to a vetted one, so a DNS answer cannot change between the check
and the connect. Each redirect hop opens its own connection and is vetted again.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import httpcore

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedAddress(Exception):
    """Raised inside the transport; the fetcher turns it into `errors.Blocked` with the URL."""


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    # is_global is False for loopback, RFC 1918, link-local (169.254.169.254: cloud metadata),
    # shared (100.64/10), unique-local, documentation and reserved ranges.
    return address.is_global and not address.is_multicast


async def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(info[4][0]) for info in infos]


async def is_private_host(host: str, port: int = 80) -> bool:
    """True when `host` resolves to any non-public address (used to decide a feed's default)."""
    try:
        return any(not is_public(a) for a in await resolve(host, port))
    except OSError:
        return False


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects through `inner` to a vetted public address of the host, or raises `BlockedAddress`."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await resolve(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        allowed = [a for a in addresses if is_public(a)]
        if not allowed:
            raise BlockedAddress(
                f"{host} resolves to {', '.join(map(str, addresses))}, a private or local address "
                "(set allow_private_network: true for this feed to allow it)"
            )
        # TLS still verifies against `host`: httpcore passes the origin's name to start_tls.
        return await self._inner.connect_tcp(str(allowed[0]), port, timeout, local_address, socket_options)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
