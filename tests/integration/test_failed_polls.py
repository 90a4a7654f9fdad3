"""Any exception in a poll is a failed poll: recorded, counted, backed off (issue 21, item 3).

Before the fix a poll that raised (a feed served with `charset=undefined`, on which feedparser
raises UnicodeError) left `status` at `new` with no error and no failure, the metrics at 0, and
the daemon polling again at its interval. Each test failed before the fix.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crawler import pipeline
from crawler.models import FetchResult
from crawler.reader.parse import parse_feed
from tests import faults
from tests.conftest import Item, archived_files, http_get, rss, split_document, write_config
from tests.daemons import start, status
from tests.faults import FaultServer
from tests.integration.test_daemon import body
from tests.integration.test_metrics import samples

UNDEFINED = "application/rss+xml; charset=undefined"


def _due_in(row: dict[str, object]) -> float:
    due = datetime.fromisoformat(str(row["next_due"]).replace("Z", "+00:00"))
    return (due - datetime.now(UTC)).total_seconds()


# -- a header that lies about the charset: the feed is still a feed ---------------------------------


def test_a_feed_whose_charset_is_undefined_is_read_from_its_own_declaration() -> None:
    document = rss([Item("Café", "https://news.example/1")])

    feed = parse_feed(FetchResult("https://news.example/f", 200, document, {"content-type": UNDEFINED}))

    assert [e.title for e in feed.entries] == ["Café"]
    assert any("charset" in w for w in feed.warnings)


def test_crawl_archives_a_feed_served_with_charset_undefined(tmp_path: Path, server: FaultServer, cli) -> None:
    url = server.route("/odd", faults.respond(200, rss([Item("Café", server.url("/1"), body(1))]), UNDEFINED))
    config = write_config(tmp_path, [{"name": "odd", "url": url, "full_text": "never"}])

    result = cli("crawl", "--config", str(config))

    assert result.code == 0, result.err
    assert [split_document(p)[0]["title"] for p in archived_files(tmp_path / "archive")] == ["Café"]
    assert "ignored the server's charset" in result.err


def test_the_daemon_archives_a_feed_served_with_charset_undefined(tmp_path: Path, server: FaultServer, daemons) -> None:
    url = server.route("/odd", faults.respond(200, rss([Item("Café", server.url("/1"), body(1))]), UNDEFINED))
    config = write_config(tmp_path, [{"name": "odd", "url": url, "full_text": "never", "interval": "1s"}],
                          metrics={"listen": "127.0.0.1:0"})
    daemon = start(daemons, config)
    address = daemon.wait_for(r"metrics on http://([\d.]+:\d+)/metrics").group(1)

    daemon.wait_for(r"feed=odd status=200 new=1 ")

    values = samples(http_get(f"http://{address}/metrics")[1])
    assert values[("feed_archiver_polls_total", (("outcome", "ok"),))] >= 1
    assert status(config)["odd"]["state"] == "ok"
    assert daemon.stop() == 0


# -- a poll that raises: failed, recorded, backed off -----------------------------------------------


def test_crawl_records_a_poll_that_raised_as_failed_and_backs_it_off(
    tmp_path: Path, server: FaultServer, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = server.route("/feed", faults.respond(200, rss([Item("A", server.url("/a"), body(1))]), "application/rss+xml"))

    async def parse_with_a_bug(result, deps):  # stands for a parser corner case nobody has met yet
        raise UnicodeError("a codec nobody expected")

    monkeypatch.setattr(pipeline, "_parse", parse_with_a_bug)
    config = write_config(tmp_path, [{"name": "buggy", "url": url, "interval": "1h", "full_text": "never"}])

    first = cli("crawl", "--config", str(config))
    row = status(config)["buggy"]

    assert first.code == 1
    assert "feed=buggy" in first.err and "internal error: UnicodeError: a codec nobody expected" in first.err
    assert "Traceback" not in first.err
    assert row["state"] == "failing" and row["consecutive_failures"] == 1
    assert row["last_error"] == "internal error: UnicodeError: a codec nobody expected"
    assert 3000 < _due_in(row) <= 3600, "backed off by the interval"

    cli("crawl", "--config", str(config))
    row = status(config)["buggy"]
    assert row["consecutive_failures"] == 2 and 6600 < _due_in(row) <= 7200, "then twice the interval"
    assert not archived_files(tmp_path / "archive")

    monkeypatch.undo()
    cli("crawl", "--config", str(config))
    assert status(config)["buggy"]["state"] == "ok", "nothing of the crashed polls was kept: the next reads it all"
    assert len(archived_files(tmp_path / "archive")) == 1


def test_the_daemon_counts_and_backs_off_a_poll_it_could_not_record(
    tmp_path: Path, server: FaultServer, daemons
) -> None:
    """The state store refusing one feed's save: the daemon cannot record the poll, but counts it as
    failed in the metrics and backs it off (1 s, then 2 s) instead of polling again at its interval."""
    stamps: list[datetime] = []
    document = rss([Item("A", server.url("/a"), body(1))])

    def feed(handler) -> None:
        stamps.append(datetime.now(UTC))
        faults.respond(200, document, "application/rss+xml")(handler)

    url = server.route("/feed", feed)
    config = write_config(tmp_path, [{"name": "refused", "url": url, "interval": "1s", "full_text": "never"}],
                          metrics={"listen": "127.0.0.1:0"})
    daemon = start(daemons, config)
    address = daemon.wait_for(r"metrics on http://([\d.]+:\d+)/metrics").group(1)
    daemon.wait_for(r"daemon started")
    with sqlite3.connect(tmp_path / "archive" / ".state.sqlite") as db:
        for event in ("INSERT", "UPDATE"):
            db.execute(f"CREATE TRIGGER refuse_{event.lower()} BEFORE {event} ON feeds WHEN NEW.name = 'refused' "
                       "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")

    for _ in range(3):
        daemon.wait_for(r"feed=refused url=\S+ failed, not recorded: .*refused by the test")

    assert stamps[-1] - stamps[-2] >= timedelta(seconds=1.9), "the second retry waits twice the interval"
    values = samples(http_get(f"http://{address}/metrics")[1])
    assert values[("feed_archiver_polls_total", (("outcome", "failed"),))] >= 3
    assert values[("feed_archiver_feed_consecutive_failures", (("feed", "refused"),))] >= 3
    assert daemon.stop() == 0


def test_an_entry_whose_archiving_raises_fails_alone_and_is_tried_again(
    tmp_path: Path, server: FaultServer, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crawler.reader import article

    document = rss([Item("Boom", server.url("/1"), "<p>boom</p>" + body(1)), Item("Fine", server.url("/2"), body(2))])
    url = server.route("/feed", faults.respond(200, document, "application/rss+xml", ETag='"v1"'))
    real_finish = article.finish

    def finish_with_a_bug(html, new_sources, iframe_hosts):  # stands for a corner case nobody has met yet
        if "boom" in html:
            raise KeyError("a bug in a corner of the clean-up")
        return real_finish(html, new_sources, iframe_hosts)

    monkeypatch.setattr(article, "finish", finish_with_a_bug)
    config = write_config(tmp_path, [{"name": "news", "url": url, "full_text": "never"}])

    first = cli("crawl", "--config", str(config))

    assert first.code == 1
    assert "not archived: internal error: KeyError" in first.err and "Traceback" not in first.err
    assert [split_document(p)[0]["title"] for p in archived_files(tmp_path / "archive")] == ["Fine"]
    monkeypatch.undo()
    cli("crawl", "--config", str(config))
    assert sorted(split_document(p)[0]["title"] for p in archived_files(tmp_path / "archive")) == ["Boom", "Fine"]
