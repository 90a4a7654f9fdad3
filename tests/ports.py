"""Ports that refuse connections, held for the whole test run.

A port found free, released, then used is a race: another process (a parallel test run, a
server starting) may take it in between, and the test then talks to a stranger. These stay
bound, without listening and without SO_REUSEADDR, until the run ends: connecting is refused
(nobody listens), and no other socket can bind them meanwhile.
"""

from __future__ import annotations

import atexit
import socket

_held: dict[tuple[str, int], socket.socket] = {}


def refused_port(address: str = "127.0.0.1") -> int:
    """A port of `address` on which every connection is refused, for as long as the tests run."""
    sock = socket.socket()
    sock.bind((address, 0))
    port = int(sock.getsockname()[1])
    _held[address, port] = sock
    return port


def take_over(address: str, port: int) -> socket.socket:
    """The bound socket of a held port, for a server that starts listening on it (a host that
    comes back): handed over, never released, so nobody else can take the port in between."""
    return _held.pop((address, port))


def refused_url(address: str = "127.0.0.1", path: str = "/feed.xml") -> str:
    return f"http://{address}:{refused_port(address)}{path}"


@atexit.register
def _release() -> None:
    for sock in _held.values():
        sock.close()
