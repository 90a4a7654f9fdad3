"""`/metrics`, `/healthz` and `/readyz` on a thread of their own.

The HTTP side is prometheus-client's: its WSGI app for `/metrics`, served by its
threading WSGI server (the standard library's wsgiref underneath). A thread,
not the event loop, so that a scrape of 20,000 per-feed series never waits
behind a busy loop, and a stuck loop can still be reported: `/healthz` asks the
loop to run one callback and answers 503 when it does not within
`HEALTH_TIMEOUT`; `/readyz` runs the daemon's readiness check on the loop (a
real query of the state store, the scheduler's state) and answers 503 with the
reason.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import socket
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
    from wsgiref.types import StartResponse, WSGIEnvironment

log = logging.getLogger(__name__)

HEALTH_TIMEOUT = 2.0


class _QuietHandler(WSGIRequestHandler):
    """No access log line per scrape on standard error (every 15 s, forever)."""

    def log_message(self, format: str, *args: Any) -> None:
        pass


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

            class Server(ThreadingWSGIServer):
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
