"""A feed item built to stall the parsers: archived in bounded time, off the event loop (issue 21, item 1).

`'<div>' * 100_000` in one item's description (500 KB) kept the daemon's /healthz at 503 for
about 50 s and every other feed waiting; the entry was recorded only afterwards, so a restart
looped on it. Both tests failed before the fix.
"""

from __future__ import annotations

import asyncio
import html
import threading
import time
from pathlib import Path

from crawler.app import open_deps
from crawler.config import load_settings
from crawler.models import FeedState
from crawler.pipeline import crawl_feed
from tests import faults
from tests.conftest import Item, archived_files, http_get, rss, split_document, write_config
from tests.daemons import start
from tests.faults import FaultServer
from tests.integration.test_daemon import body

MAX_LAG = 0.5  # the loop-lag probe's tolerance; before the fix the loop stood still for seconds


async def _max_lag(stop: asyncio.Event) -> float:
    """The longest the event loop took to come back to a task that asked for 10 ms."""
    worst = 0.0
    while not stop.is_set():
        asked = time.monotonic()
        await asyncio.sleep(0.01)
        worst = max(worst, time.monotonic() - asked - 0.01)
    return worst


def test_a_deeply_nested_item_is_archived_while_the_event_loop_stays_responsive(
    tmp_path: Path, server: FaultServer
) -> None:
    deep = server.route("/deep", faults.respond(
        200, rss([Item("Deep", server.url("/d"), "<div>" * 30_000 + "the words")]), "application/rss+xml"))
    fine = server.route("/fine", faults.respond(200, rss([Item("Fine", server.url("/f"), body(1))]),
                                               "application/rss+xml"))
    config = write_config(tmp_path, [{"name": "deep", "url": deep, "full_text": "never"},
                                     {"name": "fine", "url": fine, "full_text": "never"}])
    settings = load_settings(config)

    async def scenario() -> float:
        async with open_deps(settings) as deps:
            stop = asyncio.Event()
            probe = asyncio.create_task(_max_lag(stop))
            await asyncio.sleep(0.05)  # the probe is running before the polls start
            reports = await asyncio.gather(*(crawl_feed(f, deps, FeedState(f.name)) for f in settings.feeds))
            stop.set()
            assert [r.archived for r in reports] == [1, 1]
            return await probe

    lag = asyncio.run(scenario())

    assert lag < MAX_LAG, f"the event loop stood still for {lag:.2f} s"
    bodies = {split_document(p)[0]["title"]: split_document(p)[1] for p in archived_files(tmp_path / "archive")}
    assert "the words" in bodies["Deep"] and "Paragraph 1" in bodies["Fine"]


def test_a_feed_of_megabytes_of_escaped_html_is_parsed_off_the_event_loop(tmp_path: Path, server: FaultServer) -> None:
    """feedparser reads 1 MB of escaped HTML in about 0.2 s: a big feed is read in a thread."""
    description = html.escape("<div>" * 400_000 + "the words")
    document = rss([Item("Big", server.url("/b"))]).replace(
        b"<![CDATA[<p>Body.</p>]]>", description.encode())
    big = server.route("/big", faults.respond(200, document, "application/rss+xml"))
    config = write_config(tmp_path, [{"name": "big", "url": big, "full_text": "never"}])
    settings = load_settings(config)

    async def scenario() -> float:
        async with open_deps(settings) as deps:
            stop = asyncio.Event()
            probe = asyncio.create_task(_max_lag(stop))
            await asyncio.sleep(0.05)
            report = await crawl_feed(settings.feeds[0], deps, FeedState("big"))
            stop.set()
            assert report.archived == 1
            return await probe

    lag = asyncio.run(scenario())

    assert lag < MAX_LAG, f"the event loop stood still for {lag:.2f} s"
    assert "the words" in split_document(archived_files(tmp_path / "archive")[0])[1]


def test_the_daemon_archives_the_reported_item_in_bounded_time_and_healthz_keeps_answering(
    tmp_path: Path, server: FaultServer, daemons
) -> None:
    deep = server.route("/deep", faults.respond(
        200, rss([Item("Deep", server.url("/d"), "<div>" * 100_000 + "x")]), "application/rss+xml"))
    fine = server.route("/fine", faults.respond(200, rss([Item("Fine", server.url("/f"), body(1))]),
                                               "application/rss+xml"))
    config = write_config(tmp_path, [{"name": "deep", "url": deep, "full_text": "never", "interval": "1s"},
                                     {"name": "fine", "url": fine, "full_text": "never", "interval": "1s"}],
                          metrics={"listen": "127.0.0.1:0"})
    daemon = start(daemons, config)
    address = daemon.wait_for(r"metrics on http://([\d.]+:\d+)/metrics").group(1)
    daemon.wait_for(r"daemon started")  # /healthz is 503 until then: the loop is not known yet
    answers: list[int] = []
    done = threading.Event()

    def probe() -> None:
        while not done.is_set():
            answers.append(http_get(f"http://{address}/healthz")[0])
            done.wait(0.05)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        daemon.wait_for(r"feed=deep .*nests deeper than 200 elements", timeout=20)
        daemon.wait_for(r"feed=deep status=200 new=1 ", timeout=20)
    finally:
        done.set()
        prober.join(timeout=15)

    assert answers and set(answers) == {200}, f"/healthz answered {sorted(set(answers))}"
    titles = {split_document(p)[0]["title"] for p in archived_files(tmp_path / "archive")}
    assert titles == {"Deep", "Fine"}
    assert daemon.stop() == 0
