"""httpcore over asyncio's streams (`crawler.fetch.netio`), against a real server on 127.0.0.1."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from crawler.config.settings import HttpSettings
from crawler.errors import FetchTimeout, Unreachable
from crawler.fetch.client import Clients, Fetcher

HTTP = HttpSettings(
    user_agent="feed-archiver-tests", timeout=0.5, total_timeout=10, max_body=10_000, max_redirects=3,
    concurrency=4, per_host=1, retries=0, proxy=None, http2=False,
)


class OneShotServer:
    """Answers each request on a connection, then closes it: without `Connection: close`, as
    servers do when their keep-alive timeout ends between two requests."""

    def __init__(self, *, stall: bool = False) -> None:
        self.connections = 0
        self.closed = asyncio.Event()
        self._stall = stall

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        if self._stall:
            await reader.read()  # says nothing until the client gives up
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
            await writer.drain()
        writer.close()
        await writer.wait_closed()
        self.closed.set()


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Clients(HTTP) as clients:
        yield Fetcher(clients, HTTP)


async def _serving(server: OneShotServer) -> tuple[asyncio.Server, str]:
    listening = await asyncio.start_server(server.serve, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    return listening, f"http://127.0.0.1:{port}/x"


async def test_a_connection_the_server_closed_while_idle_is_not_reused(fetcher: Fetcher) -> None:
    server = OneShotServer()
    listening, url = await _serving(server)
    async with listening:
        first, _ = await fetcher.get(url)
        await server.closed.wait()
        for _ in range(3):  # a few turns of the loop: the client's side reads the close
            await asyncio.sleep(0)
        # Reused, the closed connection would fail this request ("Server disconnected").
        second, _ = await fetcher.get(url)
    assert (first.body, second.body) == (b"ok", b"ok")
    assert server.connections == 2


async def test_a_server_that_never_answers_times_out_as_a_read(fetcher: Fetcher) -> None:
    server = OneShotServer(stall=True)
    listening, url = await _serving(server)
    async with listening:
        with pytest.raises(FetchTimeout, match="ReadTimeout"):
            await fetcher.get(url)


async def test_a_refused_connection_is_unreachable(fetcher: Fetcher) -> None:
    listening = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    listening.close()
    await listening.wait_closed()
    with pytest.raises(Unreachable, match="connection failed"):
        await fetcher.get(f"http://127.0.0.1:{port}/")
