"""A fault-injecting HTTP server on 127.0.0.1 that every robustness test shares.

Each path is told how to misbehave: `server.route("/x", Fault.reset_mid_body())`.
A fault is a function that writes (or fails to write) the raw response on the
socket, so it can do what a well-behaved framework would never let it do:
lie about Content-Length, stall, trickle, or reset the connection.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Handler = BaseHTTPRequestHandler
Fault = Callable[[Handler], None]


class FaultServer:
    """`host`: any of 127.0.0.0/8 (all loopback on Linux), so that one test can have several hosts."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, sock: socket.socket | None = None) -> None:
        """`sock`: a socket bound already (`tests.ports.take_over`), to listen on instead of binding."""
        self.times: list[tuple[str, float]] = []  # (path, monotonic time) of each request, as it came
        self.routes: dict[str, Fault] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.connections = 0
        self.release = threading.Event()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                server.connections += 1
                super().setup()

            def do_GET(self) -> None:
                server.times.append((self.path, time.monotonic()))
                server.requests.append((self.path, dict(self.headers)))
                fault = server.routes.get(self.path.split("?")[0])
                if fault is None:
                    respond(404, b"not found")(self)
                else:
                    fault(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.host = host
        self.httpd = ThreadingHTTPServer((host, port), _Handler, bind_and_activate=sock is None)
        if sock is not None:
            self.httpd.socket.close()
            self.httpd.socket = sock
            self.httpd.server_address = sock.getsockname()
            self.httpd.server_activate()
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.httpd.server_address[1]}{path}"

    def route(self, path: str, fault: Fault) -> str:
        self.routes[path] = fault
        return self.url(path)

    def paths(self) -> list[str]:
        return [path for path, _ in self.requests]

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def _head(handler: Handler, status: int, headers: dict[str, str]) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()


def respond(status: int, body: bytes = b"", content_type: str = "text/plain", **headers: str) -> Fault:
    def fault(handler: Handler) -> None:
        _head(handler, status, {"Content-Type": content_type, "Content-Length": str(len(body)),
                                **{k.replace("_", "-"): v for k, v in headers.items()}})
        handler.wfile.write(body)

    return fault


def sequence(*faults: Fault) -> Fault:
    """The n-th request gets the n-th fault; the last one repeats."""
    calls = iter(faults)
    last: list[Fault] = []

    def fault(handler: Handler) -> None:
        current = next(calls, None)
        if current is not None:
            last[:] = [current]
        last[0](handler)

    return fault


def reset_mid_body(declared: int = 100_000, sent: int = 1_000) -> Fault:
    def fault(handler: Handler) -> None:
        _head(handler, 200, {"Content-Type": "application/rss+xml", "Content-Length": str(declared)})
        handler.wfile.write(b"<" * sent)
        handler.wfile.flush()
        # SO_LINGER 0 turns the close that follows into a TCP RST: a reset, not an orderly end.
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.close_connection = True

    return fault


def lying_length(declared: int = 5_000, body: bytes = b"<rss>short</rss>") -> Fault:
    def fault(handler: Handler) -> None:
        _head(handler, 200, {"Content-Type": "application/rss+xml", "Content-Length": str(declared)})
        handler.wfile.write(body)
        handler.wfile.flush()
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_WR)

    return fault


def stall(server: FaultServer, sent: bytes = b"<rss") -> Fault:
    """Headers and a few bytes, then silence with the connection open (a read timeout)."""

    def fault(handler: Handler) -> None:
        _head(handler, 200, {"Content-Type": "application/rss+xml", "Content-Length": "100000"})
        handler.wfile.write(sent)
        handler.wfile.flush()
        server.release.wait(60)

    return fault


def trickle(server: FaultServer, every: float = 0.2) -> Fault:
    """One byte at a time, each well within the read timeout, forever (only a total limit stops it)."""

    def fault(handler: Handler) -> None:
        _head(handler, 200, {"Content-Type": "application/rss+xml", "Content-Length": "1000000"})
        try:
            while not server.release.wait(every):
                handler.wfile.write(b" ")
                handler.wfile.flush()
        except OSError:
            pass

    return fault


def endless(chunk: bytes = b"\0" * 65536, declare: int | None = None) -> Fault:
    """A body that never ends (or a declared 2 GB one): only the size cap stops the reader."""

    def fault(handler: Handler) -> None:
        headers = {"Content-Type": "application/rss+xml"}
        if declare is not None:
            headers["Content-Length"] = str(declare)
        else:
            headers["Transfer-Encoding"] = "chunked"
        _head(handler, 200, headers)
        try:
            for _ in _forever():
                if declare is None:
                    handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                else:
                    handler.wfile.write(chunk)
        except OSError:
            pass

    return fault


def _forever() -> Iterator[None]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        yield


def refuses_referer(body: bytes, content_type: str) -> Fault:
    """A host that refuses any Referer (403) and serves requests that carry none."""

    def fault(handler: Handler) -> None:
        if "Referer" in handler.headers:
            respond(403, b"no referer, please")(handler)
        else:
            respond(200, body, content_type)(handler)

    return fault


def redirect(location: str, status: int = 302) -> Fault:
    return respond(status, b"", Location=location)


def needs_referer(prefix: str, body: bytes, content_type: str) -> Fault:
    """A hotlink-protected host: 403 unless the Referer is the article page."""

    def fault(handler: Handler) -> None:
        if handler.headers.get("Referer", "").startswith(prefix):
            respond(200, body, content_type)(handler)
        else:
            respond(403, b"hotlinking not allowed")(handler)

    return fault
