"""One feed's trouble stays that feed's, and the store records what each poll used and what is on disk.

Issue 15, items 1, 2 and 4; each test failed before the fix.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import threading
from pathlib import Path

import pytest

from crawler import pipeline
from crawler.app import open_deps
from crawler.archive import entries as archive
from crawler.config.settings import load_settings
from crawler.errors import StateError
from crawler.models import FeedState
from crawler.pipeline import crawl_feed
from tests import faults
from tests.conftest import Item, archived_files, rss, split_document, write_config
from tests.faults import FaultServer

JPEG = b"\xff\xd8\xff\xe0" + b"3" * 200 + b"\xff\xd9"


def _state_db(config: Path) -> sqlite3.Connection:
    return sqlite3.connect(config.parent / "archive" / ".state.sqlite")


# -- item 1: no single feed can end a one-off crawl -------------------------------------------------


def test_a_feed_whose_poll_raises_anything_fails_alone_and_the_crawl_is_summarised(
    tmp_path: Path, server: FaultServer, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = server.route("/broken", faults.respond(200, rss([Item("B", server.url("/b"))]), "application/rss+xml"))
    server.route("/fine", faults.respond(200, rss([Item("Fine", server.url("/f"))]), "application/rss+xml"))
    real_parse = pipeline._parse

    async def parse_with_a_bug(result, deps):  # stands for a parser corner case nobody has met yet
        if result.url == broken:
            raise KeyError("a bug in a corner of the parser")
        return await real_parse(result, deps)

    monkeypatch.setattr(pipeline, "_parse", parse_with_a_bug)
    config = write_config(tmp_path, [
        {"name": "broken", "url": broken, "full_text": "never"},
        {"name": "fine", "url": server.url("/fine"), "full_text": "never"},
    ])

    result = cli("crawl", "--config", str(config))

    assert result.code == 1
    assert [split_document(p)[0]["title"] for p in archived_files(tmp_path / "archive")] == ["Fine"]
    rows = {line.split("\t")[0]: line for line in result.out.splitlines()}
    assert rows["fine"].endswith("\tok")
    assert "internal error: KeyError" in rows["broken"]
    assert "feed=broken" in result.err and "Traceback" not in result.err


def test_a_state_store_failing_mid_crawl_fails_the_feeds_it_hits_not_the_start(
    tmp_path: Path, server: FaultServer, cli
) -> None:
    config = write_config(tmp_path, [
        {"name": "news", "url": server.url("/news"), "full_text": "never"},
        {"name": "empty", "url": server.url("/empty")},
    ])
    feed = rss([Item("Lost", server.url("/l"))])

    def drop_the_entries_table(handler: faults.Handler) -> None:
        # The store breaks under the crawl (a disk error, an operator's mistake): here, for real.
        with _state_db(config) as db:
            db.execute("DROP TABLE entries")
        faults.respond(200, feed, "application/rss+xml")(handler)

    server.route("/news", drop_the_entries_table)
    server.route("/empty", faults.respond(200, rss([]), "application/rss+xml"))

    result = cli("crawl", "--config", str(config))

    assert result.code == 1, "a failure of the crawl, not exit 3 (cannot start)"
    rows = {line.split("\t")[0]: line for line in result.out.splitlines()}
    assert "state store: no such table: entries" in rows["news"]
    assert rows["empty"].endswith("\tok")
    assert "cannot open" not in result.err


# -- item 2: images are recorded with the poll that used them ---------------------------------------


def _refuse_saves_of(db: sqlite3.Connection, feed: str) -> None:
    """A real database refusing one feed's poll (as a full disk or a lost connection would)."""
    db.execute(f"CREATE TRIGGER refuse BEFORE INSERT ON feeds WHEN NEW.name = '{feed}' "
               "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")


def _recorded_images(config: Path) -> set[str]:
    with _state_db(config) as db:
        return {url for (url,) in db.execute("SELECT url FROM images")}


def test_an_image_is_recorded_by_every_poll_that_used_it_even_when_another_poll_fails(
    tmp_path: Path, server: FaultServer
) -> None:
    release_y = threading.Event()
    shared = server.route("/x.jpg", faults.respond(200, JPEG, "image/jpeg"))

    def held_image(handler: faults.Handler) -> None:
        release_y.wait(30)
        faults.respond(200, JPEG + b"y\xff\xd9", "image/jpeg")(handler)

    held = server.route("/y.jpg", held_image)
    server.route("/a", faults.respond(200, rss([Item("A1", server.url("/a1"), f'<img src="{shared}">')]),
                                      "application/rss+xml"))
    server.route("/b", faults.respond(200, rss([
        Item("B1", server.url("/b1"), f'<img src="{shared}">'),
        Item("B2", server.url("/b2"), f'<img src="{held}">'),
    ]), "application/rss+xml"))
    config = write_config(tmp_path, [
        {"name": "a", "url": server.url("/a"), "full_text": "never"},
        {"name": "b", "url": server.url("/b"), "full_text": "never"},
    ])
    settings = load_settings(config)
    feed_a, feed_b = settings.feeds

    async def scenario() -> None:
        async with open_deps(settings) as deps:
            with _state_db(config) as db:
                _refuse_saves_of(db, "a")
            poll_b = asyncio.create_task(crawl_feed(feed_b, deps, FeedState("b")))
            try:
                # a downloads x (b's first entry shares the download) and its save fails ...
                with pytest.raises(StateError, match="refused by the test"):
                    await crawl_feed(feed_a, deps, FeedState("a"))
            finally:
                release_y.set()  # ... and only then may b finish and save
            report = await poll_b
            assert report.archived == 2

    asyncio.run(scenario())

    assert _recorded_images(config) == {shared, held}, "b used x: b's poll records it"


def test_a_failed_save_leaves_its_images_to_be_recorded_by_the_next_poll(tmp_path: Path, server: FaultServer) -> None:
    image = server.route("/x.jpg", faults.respond(200, JPEG, "image/jpeg"))
    server.route("/a", faults.respond(200, rss([Item("A1", server.url("/a1"), f'<img src="{image}">')]),
                                      "application/rss+xml"))
    config = write_config(tmp_path, [{"name": "a", "url": server.url("/a"), "full_text": "never"}])
    settings = load_settings(config)

    async def scenario() -> None:
        async with open_deps(settings) as deps:
            with _state_db(config) as db:
                _refuse_saves_of(db, "a")
            with pytest.raises(StateError):
                await crawl_feed(settings.feeds[0], deps, FeedState("a"))
            with _state_db(config) as db:
                db.execute("DROP TRIGGER refuse")
            report = await crawl_feed(settings.feeds[0], deps, FeedState("a"))
            assert report.archived == 1

    asyncio.run(scenario())

    assert _recorded_images(config) == {image}
    assert server.paths().count("/x.jpg") == 1, "the image was downloaded once and recorded by the poll that saved"


# -- item 4: the store records what is on disk ------------------------------------------------------


def test_a_file_kept_from_a_killed_run_is_recorded_with_its_own_hash(tmp_path: Path, server: FaultServer, cli) -> None:
    server.route("/f", faults.respond(200, rss([Item("Kept", server.url("/k"), guid="urn:kept")]),
                                      "application/rss+xml"))
    config = write_config(tmp_path, [{"name": "f", "url": server.url("/f"), "full_text": "never"}])
    # What a killed run (of an older version, say) left at the entry's path: another rendering.
    relpath = archive.entry_relpath([], "Kept", "f", "urn:kept")
    kept = tmp_path / "archive" / relpath
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text("---\ntitle: 'Kept'\nguid: 'urn:kept'\n---\n\n<div>\nAn older rendering.\n</div>\n")
    kept_bytes = kept.read_bytes()

    assert cli("crawl", "--config", str(config)).code == 0

    assert kept.read_bytes() == kept_bytes, "the file is kept as it was"
    with _state_db(config) as db:
        [(path, content_hash)] = db.execute("SELECT path, content_hash FROM entries").fetchall()
    assert path == relpath
    assert content_hash == hashlib.sha256(kept_bytes).hexdigest()
