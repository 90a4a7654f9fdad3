"""The metrics endpoint's health answers, over real HTTP, against an event loop the test controls."""

from __future__ import annotations

import asyncio
import select
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from crawler.errors import StateError
from crawler.ops import ListenError, open_endpoint, readiness
from crawler.ops.http import IDLE_TIMEOUT, MAX_CONNECTIONS, MetricsEndpoint
from crawler.ops.metrics import status_class
from crawler.store.state import StateStore
from tests.conftest import http_get as get


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running on a thread of its own, as the daemon's runs beside the endpoint's."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.fixture
def endpoint() -> Iterator[MetricsEndpoint]:
    opened = open_endpoint("127.0.0.1:0")
    assert isinstance(opened, MetricsEndpoint)
    yield opened
    opened.close()


def serve(endpoint: MetricsEndpoint, loop: asyncio.AbstractEventLoop, ping: Callable, running: bool = True) -> None:
    async def started() -> None:
        endpoint.serving(ready=readiness(ping, lambda: running))

    asyncio.run_coroutine_threadsafe(started(), loop).result(10)


async def quick_ping() -> None:
    return None


def test_before_the_daemon_runs_nothing_is_healthy_or_ready(endpoint: MetricsEndpoint) -> None:
    assert get(f"http://{endpoint.address}/healthz")[0] == 503
    assert get(f"http://{endpoint.address}/readyz") == (503, "starting\n")
    assert get(f"http://{endpoint.address}/metrics")[0] == 200


def test_healthz_fails_while_the_event_loop_is_stuck_and_recovers(endpoint, loop) -> None:
    serve(endpoint, loop, quick_ping)
    assert get(f"http://{endpoint.address}/healthz") == (200, "ok\n")
    gate = threading.Event()
    loop.call_soon_threadsafe(gate.wait)  # a callback that blocks the loop until the test lets go
    try:
        status, text = get(f"http://{endpoint.address}/healthz")
        ready_status, ready_text = get(f"http://{endpoint.address}/readyz")
    finally:
        gate.set()
    assert (status, text) == (503, "the event loop did not answer within 2 s\n")
    assert ready_status == 503
    assert get(f"http://{endpoint.address}/healthz") == (200, "ok\n")


def test_readyz_names_a_store_that_does_not_answer(endpoint, loop) -> None:
    async def hanging_ping() -> None:
        await asyncio.Event().wait()

    serve(endpoint, loop, hanging_ping)
    assert get(f"http://{endpoint.address}/readyz") == (503, "the state store did not answer within 2 s\n")
    assert get(f"http://{endpoint.address}/healthz") == (200, "ok\n")  # the loop itself is fine


def test_readyz_names_a_failing_store_and_a_stopped_scheduler(endpoint, loop) -> None:
    async def failing_ping() -> None:
        raise StateError("state store: disk I/O error")

    serve(endpoint, loop, failing_ping)
    assert get(f"http://{endpoint.address}/readyz") == (
        503, "the state store failed: state store: disk I/O error\n")
    serve(endpoint, loop, quick_ping, running=False)
    assert get(f"http://{endpoint.address}/readyz") == (503, "the scheduler is not running\n")


async def test_readyz_is_ready_with_a_real_store(tmp_path: Path) -> None:
    store = await StateStore.open(f"sqlite:///{tmp_path / 'state.sqlite'}")
    endpoint = open_endpoint("127.0.0.1:0")
    try:
        endpoint.serving(ready=readiness(store.ping, lambda: True))
        assert isinstance(endpoint, MetricsEndpoint)
        assert await asyncio.to_thread(get, f"http://{endpoint.address}/readyz") == (200, "ok\n")
    finally:
        endpoint.close()
        await store.close()


def test_an_address_that_cannot_be_had_is_a_listen_error() -> None:
    with pytest.raises(ListenError, match=r"metrics.listen: cannot listen on 192\.0\.2\.1:9464"):
        open_endpoint("192.0.2.1:9464")  # TEST-NET-1: never this machine's


@pytest.mark.parametrize(("status", "expected"), [
    (200, "2xx"), (204, "2xx"), (301, "3xx"), (304, "3xx"), (404, "4xx"), (429, "4xx"), (503, "5xx"),
    (None, "error"), (101, "error"), (999, "error"),
])
def test_status_classes(status: int | None, expected: str) -> None:
    assert status_class(status) == expected


def closed_by_the_server(connections: list[socket.socket], closed: set[socket.socket], want: int,
                         within: float) -> set[socket.socket]:
    """Wait (up to `within` seconds) until the server has closed `want` of `connections`."""
    deadline = time.monotonic() + within
    while len(closed) < want and (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([c for c in connections if c not in closed], [], [], left)
        for connection in readable:
            try:
                data = connection.recv(1024)
            except ConnectionResetError:
                data = b""
            assert data == b"", "an idle connection is closed without an answer"
            closed.add(connection)
    return closed


def test_idle_connections_hold_a_bounded_number_of_threads_and_time_out(endpoint, capfd) -> None:
    host, port = endpoint.address.rsplit(":", 1)
    threads = threading.active_count()
    idle = [socket.create_connection((host, int(port)), timeout=10) for _ in range(3 * MAX_CONNECTIONS)]
    try:
        # Past the bound, a connection is closed at once; the rest hold one thread each.
        closed = closed_by_the_server(idle, set(), len(idle) - MAX_CONNECTIONS, within=IDLE_TIMEOUT - 1)
        assert len(closed) == len(idle) - MAX_CONNECTIONS
        assert threading.active_count() - threads <= MAX_CONNECTIONS

        started = time.monotonic()
        closed_by_the_server(idle, closed, len(idle), within=IDLE_TIMEOUT + 5)
        assert len(closed) == len(idle), "a silent connection is closed after IDLE_TIMEOUT"
        assert time.monotonic() - started <= IDLE_TIMEOUT + 5

        status, body = get(f"http://{endpoint.address}/metrics")
        assert status == 200 and "feed_archiver_polls_total" in body
    finally:
        for connection in idle:
            connection.close()
    assert "Traceback" not in capfd.readouterr().err


def test_a_few_idle_connections_do_not_keep_a_scrape_waiting(endpoint) -> None:
    host, port = endpoint.address.rsplit(":", 1)
    idle = [socket.create_connection((host, int(port)), timeout=10) for _ in range(MAX_CONNECTIONS // 2)]
    try:
        started = time.monotonic()
        assert get(f"http://{endpoint.address}/metrics")[0] == 200
        assert time.monotonic() - started < 1
    finally:
        for connection in idle:
            connection.close()
