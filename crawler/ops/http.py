"""`/metrics`, `/healthz` and `/readyz` on a thread of their own.

The HTTP side is prometheus-client's: its WSGI app for `/metrics`, served by its
threading WSGI server (the standard library's wsgiref underneath). A thread,
not the event loop, so that a scrape of 20,000 per-feed series never waits
behind a busy loop, and a stuck loop can still be reported: `/healthz` asks the
loop to run one callback and answers 503 when it does not within
`HEALTH_TIMEOUT`; `/readyz` runs the daemon's readiness check on the loop (a
real query of the state store, the scheduler's state) and answers 503 with the
reason.

A thread per connection, but never more than `MAX_CONNECTIONS` of them: a
connection past that is closed at once, and one silent for `IDLE_TIMEOUT`
(reading its request, or not reading our answer) is closed, so that 6,000 idle
sockets cost 32 threads for 5 s, not 6,000 threads (245 MB) for ever.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
import socketserver
import sys
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from crawler.config import split_listen
from crawler.ops import READY_TIMEOUT, Endpoint, ListenError, Readiness
from crawler.ops.metrics import Metrics

if TYPE_CHECKING:
    from wsgiref.types import ErrorStream, StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)

HEALTH_TIMEOUT = 2.0
IDLE_TIMEOUT = 5.0  # seconds a connection may stay silent
MAX_CONNECTIONS = 32  # handler threads at most


class _QuietHandler(WSGIRequestHandler):
    """No access log line per scrape on standard error (every 15 s, forever); a connection
    silent for `IDLE_TIMEOUT` is closed, and what goes wrong on one is a debug line."""

    timeout = IDLE_TIMEOUT  # set on the socket by StreamRequestHandler.setup

    def handle(self) -> None:
        try:
            super().handle()
        except TimeoutError:
            log.debug("metrics endpoint: %s silent for %g s; closed", self.client_address[0], IDLE_TIMEOUT)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def get_stderr(self) -> ErrorStream:  # wsgiref's report of an answer that could not be sent
        return _DebugLog()


class _DebugLog:
    """A stream that writes to this module's debug log, not to standard error."""

    def write(self, text: str) -> None:
        if text.strip():
            log.debug("metrics endpoint: %s", text.rstrip())

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass


class _BoundedServer(ThreadingWSGIServer):
    """prometheus-client's thread-per-connection server, holding at most `MAX_CONNECTIONS` threads."""

    request_queue_size = 128  # the listen backlog: a burst of connections waits to be refused or served

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self._full = False  # said so once, until a connection is served again
        super().__init__(*args, **kwargs)

    def process_request(self, request: socketserver._RequestType, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            if not self._full:
                log.warning("metrics endpoint: %d connections open; closing new ones until one ends",
                            MAX_CONNECTIONS)
                self._full = True
            self.shutdown_request(request)
            return
        self._full = False
        try:
            super().process_request(request, client_address)  # starts the thread
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: socketserver._RequestType, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self._slots.release()  # before the close: a client that sees it closed may connect again
            self.shutdown_request(request)

    def handle_error(self, request: socketserver._RequestType, client_address: Any) -> None:
        log.debug("metrics endpoint: connection from %s failed: %r", client_address, sys.exc_info()[1])


class MetricsEndpoint(Endpoint):
    """Bound on creation (`ListenError` if it cannot be), serving from then until `close`.

    Until the daemon calls `serving`, `/healthz` answers (the loop is not known yet: 503)
    and `/readyz` says it is starting.
    """

    def __init__(self, listen: str) -> None:
        host, port = split_listen(listen)
        self.observer = metrics = Metrics()
        self._metrics_app = make_wsgi_app(metrics.registry)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: Readiness | None = None
        self._why_not = "starting"
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]

            class Server(_BoundedServer):
                address_family = family

            self._server = make_server(host, port, self._app, Server, handler_class=_QuietHandler)
        except OSError as exc:
            raise ListenError(f"metrics.listen: cannot listen on {listen}: {exc.strerror or exc}") from None
        bound_host, bound_port = str(self._server.server_address[0]), self._server.server_address[1]
        self.address = f"[{bound_host}]:{bound_port}" if ":" in bound_host else f"{bound_host}:{bound_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-endpoint", daemon=True)
        self._thread.start()
        log.info("metrics on http://%s/metrics (health: /healthz, /readyz)", self.address)

    def serving(self, *, ready: Readiness | None) -> None:
        self._loop = asyncio.get_running_loop()
        self._ready = ready
        self._why_not = "stopping"  # once the daemon no longer offers a check

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    # -- on the endpoint's threads -------------------------------------------------------------

    def _app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/metrics":
            return self._metrics_app(environ, start_response)  # type: ignore[no-any-return]
        if path == "/healthz":
            return _answer(start_response, self._loop_answers())
        if path == "/readyz":
            return _answer(start_response, self._readiness())
        start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
        return [b"not found: try /metrics, /healthz or /readyz\n"]

    def _loop_answers(self) -> str | None:
        loop = self._loop
        if loop is None:
            return "the event loop is not running yet"
        answered = threading.Event()
        try:
            loop.call_soon_threadsafe(answered.set)
        except RuntimeError:  # closed
            return "the event loop has stopped"
        if not answered.wait(HEALTH_TIMEOUT):
            return f"the event loop did not answer within {HEALTH_TIMEOUT:g} s"
        return None

    def _readiness(self) -> str | None:
        loop, check = self._loop, self._ready
        if loop is None or check is None:
            return self._why_not
        try:
            future = asyncio.run_coroutine_threadsafe(_run(check), loop)
        except RuntimeError:
            return "the event loop has stopped"
        try:
            # The check bounds the store's query itself; this bounds a loop that never runs it.
            return future.result(READY_TIMEOUT + HEALTH_TIMEOUT)
        except concurrent.futures.TimeoutError:
            future.cancel()
            return "the event loop did not answer"
        except concurrent.futures.CancelledError:
            return "stopping"


async def _run(check: Readiness) -> str | None:
    return await check()


def _answer(start_response: Callable[..., Any], problem: str | None) -> list[bytes]:
    status = "200 OK" if problem is None else "503 Service Unavailable"
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")])
    return [(problem or "ok").encode() + b"\n"]
