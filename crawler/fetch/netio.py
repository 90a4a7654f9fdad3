"""The connection pools `fetch` sends its GETs through: httpcore's, on asyncio's own streams.

httpcore talks to sockets through a pluggable network backend; its default on
asyncio is anyio's, which opens a cancel scope for every read and write and
rebuilds a dict of socket attributes (with a `getpeername` system call) each
time the pool asks whether an idle connection is still open. For an image
download, a few reads of a loopback socket, that was about a fifth of the
CPU. This backend does the same work with `asyncio.open_connection`, the
timeouts with `asyncio.timeout`, and errors mapped to httpcore's exceptions as
its own backends map them; `guard.GuardedBackend` wraps the backend for URLs
found inside feeds. `HttpcorePool` sends a GET to that pool without building an
`httpx.Request` (whose headers and URL handling cost 57 µs, a tenth of the
image worker's CPU per image); `HttpxPool` gives any httpx transport (a
proxy's) the same `get`.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Protocol

import httpcore
import httpx


class AsyncioStream(httpcore.AsyncNetworkStream):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            async with asyncio.timeout(timeout):
                return await self._reader.read(max_bytes)
        except TimeoutError as exc:
            raise httpcore.ReadTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.ReadError(str(exc) or type(exc).__name__) from exc

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        try:
            async with asyncio.timeout(timeout):
                self._writer.write(buffer)
                await self._writer.drain()
        except TimeoutError as exc:
            raise httpcore.WriteTimeout(str(exc)) from exc
        except (OSError, RuntimeError) as exc:  # RuntimeError: written after the transport closed
            raise httpcore.WriteError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        self._writer.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        try:
            await self._writer.start_tls(
                ssl_context, server_hostname=server_hostname, ssl_handshake_timeout=timeout
            )
        except TimeoutError as exc:
            self._writer.close()
            raise httpcore.ConnectTimeout(str(exc)) from exc
        except OSError as exc:  # ssl.SSLError and ConnectionError are OSErrors
            self._writer.close()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        return self

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # Asked of an idle connection: anything arriving on it, even its end, means it is
            # no longer usable. The loop reads every socket it watches, so what arrived is in
            # the reader already: its end, an error, or bytes no request asked for.
            reader = self._reader
            return reader.at_eof() or reader.exception() is not None or self._writer.is_closing()
        if info in ("ssl_object", "socket"):
            return self._writer.get_extra_info(info)
        if info == "client_addr":
            return self._writer.get_extra_info("sockname")
        if info == "server_addr":
            return self._writer.get_extra_info("peername")
        return None


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host, port, local_addr=(local_address, 0) if local_address else None
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        sock = writer.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(reader, writer)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError(f"unix sockets are not used here ({path})")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        if hasattr(self._stream, "aclose"):
            await self._stream.aclose()


class Tap(httpx.AsyncByteStream):
    """A response's stream that keeps each chunk as it came (before httpx decodes it), for capture."""

    def __init__(self, stream: Any) -> None:  # an httpx.AsyncByteStream: a transport's answer
        self._stream = stream
        self.chunks: list[bytes] = []
        self.complete = False  # read to its end

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            self.chunks.append(chunk)
            yield chunk
        self.complete = True

    async def aclose(self) -> None:
        await self._stream.aclose()


def _raw(headers: Mapping[str, str]) -> list[tuple[bytes, bytes]]:
    """Header values as bytes: ASCII as a rule (the config's are checked), but a validator a server
    sent in UTF-8 goes back as it came, where httpx would raise `UnicodeEncodeError` mid-poll."""
    return [(name.encode("ascii"), value.encode()) for name, value in headers.items()]


class Pool(Protocol):
    """Where `fetch.Fetcher` sends a GET: one host's connections."""

    async def get(self, url: str, headers: Mapping[str, str], extensions: dict[str, Any]) -> httpx.Response:
        """The answer to `GET url`, its body still to be read; raises httpx's or httpcore's errors."""
        ...

    async def aclose(self) -> None: ...


class HttpxPool:
    """An httpx transport (a proxy's) as a `Pool`."""

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    async def get(self, url: str, headers: Mapping[str, str], extensions: dict[str, Any]) -> httpx.Response:
        request = httpx.Request("GET", url, headers=_raw(headers), extensions=extensions)
        response = await self._transport.handle_async_request(request)
        response.request = request
        return response

    async def aclose(self) -> None:
        await self._transport.aclose()


class HttpcorePool:
    """What `httpx.AsyncHTTPTransport` does for a GET without a proxy, over `backend`
    (`AsyncioBackend`, or the guard's around it). httpcore's exceptions come through as they
    are: `fetch` maps them."""

    def __init__(
        self, limits: httpx.Limits, http2: bool, ssl_context: ssl.SSLContext, backend: httpcore.AsyncNetworkBackend
    ) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=backend,
        )

    async def get(self, url: str, headers: Mapping[str, str], extensions: dict[str, Any]) -> httpx.Response:
        # The request line and Host header that httpx.Request would make, by its URL parser
        # (IDNA, percent-encoding, dot segments).
        target = httpx.URL(url)
        core_request = httpcore.Request(
            method=b"GET",
            url=httpcore.URL(
                scheme=target.raw_scheme, host=target.raw_host, port=target.port, target=target.raw_path
            ),
            headers=[(b"Host", target.netloc), *_raw(headers)],
            extensions=extensions,
        )
        response = await self._pool.handle_async_request(core_request)
        # For capture: the request line and Host sent, from the URL parsed once.
        extensions = {**response.extensions, "request_line": (target.raw_path, target.netloc)}
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
