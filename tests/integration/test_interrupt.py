"""Ctrl-C in `feed-archiver crawl` on a real terminal: the whole process group gets SIGINT (the crawl,
the workers' forkserver, the worker processes), as a terminal sends it."""

from __future__ import annotations

import logging
import os
import signal
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


class Said(logging.Handler):
    """Sets `event` when a log line says `words`."""

    def __init__(self, event: threading.Event, words: str) -> None:
        super().__init__()
        self.event, self.words = event, words

    def emit(self, record: logging.LogRecord) -> None:
        if self.words in record.getMessage():
            self.event.set()


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


def test_ctrl_c_stops_intake_the_feeds_not_yet_started_are_not_polled(tmp_path: Path, server: FaultServer, cli) -> None:
    """In this process: 35 feeds, 30 polled at once (the crawl's gate), every one held open; the
    Ctrl-C comes once all 30 are at the server. Those 30 finish; the 5 waiting for a place never start."""
    gate, total = 30, 35
    arrived: list[str] = []
    all_in, lock = threading.Event(), threading.Lock()

    def held(handler: Handler) -> None:
        with lock:
            arrived.append(handler.path)
            if len(arrived) == gate:
                all_in.set()
        server.release.wait(EVENT_TIMEOUT)
        respond(200, rss([Item(f"News of {handler.path}", server.url(f"{handler.path}/1"), "<p>Body.</p>" * 30)]),
                "application/rss+xml")(handler)

    feeds = [{"name": f"feed{i:02}", "url": server.route(f"/f{i:02}", held), "full_text": "never", "images": False}
             for i in range(total)]
    config = write_config(tmp_path, feeds, http={"concurrency": gate, "per_host": gate})

    stopping = threading.Event()
    heard = logging.getLogger("crawler.app")
    said = Said(stopping, "interrupted: no new polls")

    def ctrl_c_once_all_are_in() -> None:
        if all_in.wait(EVENT_TIMEOUT):
            os.kill(os.getpid(), signal.SIGINT)  # to this process's main thread: the crawl's event loop
            stopping.wait(EVENT_TIMEOUT)  # the answers go out once the crawl has taken the Ctrl-C in
        server.release.set()

    heard.addHandler(said)
    try:
        threading.Thread(target=ctrl_c_once_all_are_in, daemon=True).start()
        result = cli("crawl", "--config", str(config))
    finally:
        heard.removeHandler(said)

    assert all_in.is_set(), "the 30 polls never were in flight together"
    assert stopping.is_set(), "the crawl never said it took the Ctrl-C in"
    assert result.code == 130, result.err
    assert len(arrived) == gate, "no feed started after the Ctrl-C"
    assert len(archived_files(tmp_path / "archive")) == gate, "the polls in flight were finished"
    not_polled = [line.split("\t")[0] for line in result.out.splitlines() if line.endswith("interrupted: not polled")]
    assert len(not_polled) == total - gate
    assert result.out.startswith("crawl interrupted after ")
