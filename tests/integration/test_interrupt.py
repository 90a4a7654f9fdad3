"""Ctrl-C in `feed-archiver crawl` on a real terminal: the whole process group gets SIGINT (the crawl,
the workers' forkserver, the worker processes), as a terminal sends it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Item, archived_files, rss, write_config
from tests.faults import FaultServer, Handler, respond
from tests.terminal import TerminalProcess

EVENT_TIMEOUT = 60.0
ARTICLE = ("<html><head><title>Quay</title></head><body><article><h1>Quay</h1>"
           + "<p>The harbour authority confirmed on Tuesday that the new quay will open in the spring.</p>" * 8
           + "</article></body></html>").encode()


class Held:
    """A route that answers only once released: `arrived` is set when its request comes in."""

    def __init__(self, server: FaultServer, body: bytes) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        self._server = server
        self._body = body

    def __call__(self, handler: Handler) -> None:
        self.arrived.set()
        for event in (self.release, self._server.release):  # the server's: set when the test ends
            if event.wait(EVENT_TIMEOUT):
                break
        respond(200, self._body, "application/rss+xml")(handler)


class Seen:
    """A route that answers at once and says that it was asked."""

    def __init__(self, body: bytes, content_type: str) -> None:
        self.arrived = threading.Event()
        self._answer = respond(200, body, content_type)

    def __call__(self, handler: Handler) -> None:
        self._answer(handler)
        self.arrived.set()


@pytest.fixture
def terminals() -> Iterator[list[TerminalProcess]]:
    started: list[TerminalProcess] = []
    yield started
    for terminal in started:
        terminal.close()


def crawl_on_a_terminal(tmp_path: Path, server: FaultServer, terminals: list[TerminalProcess],
                        shutdown_timeout: str) -> tuple[Held, Seen]:
    """Two feeds: `quick` answers at once and has a page to extract (so the extraction workers are
    running), `slow` is held open until the test releases it."""
    page = Seen(ARTICLE, "text/html; charset=utf-8")
    server.route("/quick.xml", respond(200, rss([Item("Quay", server.url("/quay.html"), "<p>Teaser.</p>")]),
                                       "application/rss+xml"))
    server.route("/quay.html", page)
    slow = Held(server, rss([Item("Slow news", server.url("/slow-1.html"), "<p>" + "Slow body. " * 30 + "</p>")]))
    server.route("/slow.xml", slow)
    config = write_config(
        tmp_path,
        [{"name": "quick", "url": server.url("/quick.xml"), "full_text": "always"},
         {"name": "slow", "url": server.url("/slow.xml"), "full_text": "never"}],
        shutdown_timeout=shutdown_timeout,
    )
    terminal = TerminalProcess(["-m", "crawler", "crawl", "--config", str(config)], cwd=tmp_path)
    terminals.append(terminal)
    assert page.arrived.wait(EVENT_TIMEOUT), terminal.output
    assert slow.arrived.wait(EVENT_TIMEOUT), terminal.output
    return slow, page


def test_ctrl_c_finishes_the_polls_in_flight_prints_the_summary_and_exits_130(
    tmp_path: Path, server: FaultServer, terminals: list[TerminalProcess]
) -> None:
    slow, _ = crawl_on_a_terminal(tmp_path, server, terminals, shutdown_timeout="60s")
    [terminal] = terminals

    terminal.interrupt()
    terminal.wait_for(r"Ctrl-C again", EVENT_TIMEOUT)
    slow.release.set()  # the poll in flight gets its answer only now, after the Ctrl-C: it must be finished
    # A terminal's log line: the date as ISO 8601 (not 12/08/26), and which part of the program speaks.
    terminal.wait_for(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +WARNING +crawler\.app: interrupted", EVENT_TIMEOUT)

    assert terminal.wait(EVENT_TIMEOUT) == 130
    output = terminal.output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    summary = output[output.index("crawl interrupted"):]
    assert max(map(len, summary.splitlines())) <= 80, output
    assert "quick" in summary and "slow" in summary
    assert len(archived_files(tmp_path / "archive")) == 2, output  # the feed answered at once, and the held one


def test_a_second_ctrl_c_ends_at_once(tmp_path: Path, server: FaultServer, terminals: list[TerminalProcess]) -> None:
    crawl_on_a_terminal(tmp_path, server, terminals, shutdown_timeout="10m")  # the grace period is not waited for
    [terminal] = terminals

    terminal.interrupt()
    terminal.wait_for(r"Ctrl-C again", EVENT_TIMEOUT)
    terminal.interrupt()

    assert terminal.wait(EVENT_TIMEOUT) == 130
    output = terminal.output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    assert "crawl interrupted" in output, output
