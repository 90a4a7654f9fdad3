"""Articles that change, guids that lie, feeds that are loose: `crawl` against a local server whose
documents change between polls (DESIGN.md, "Revisions and identity")."""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import faults
from tests.conftest import CliResult, Item, archived_files, rss, split_document, write_config
from tests.faults import FaultServer

BODY = "<p>The council approved the budget on Tuesday after a long debate about the harbour.</p>" * 3
Cli = Callable[..., CliResult]


class ChangingFeed:
    """A feed document the test rewrites between polls, served with an ETag of its bytes."""

    def __init__(self, server: FaultServer, path: str = "/feed.xml") -> None:
        self.body = b""
        self.lock = threading.Lock()
        self.answers: list[int] = []
        self.url = server.route(path, self._serve)

    def set(self, body: bytes) -> None:
        with self.lock:
            self.body = body

    def _serve(self, handler: faults.Handler) -> None:
        with self.lock:
            body = self.body
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        status = 304 if handler.headers.get("If-None-Match") == etag else 200
        self.answers.append(status)
        faults.respond(status, body if status == 200 else b"", "application/rss+xml", ETag=etag)(handler)


entries = archived_files  # the `.md` files outside dot folders


def revisions(archive: Path) -> list[Path]:
    return sorted((archive / ".revisions").rglob("*.md")) if (archive / ".revisions").exists() else []


def setup(tmp_path: Path, server: FaultServer, items: list[Item], **feed: object) -> tuple[ChangingFeed, Path, Path]:
    changing = ChangingFeed(server)
    changing.set(rss(items))
    config = write_config(tmp_path, [{"name": "gazette", "url": changing.url, "full_text": "never", **feed}])
    return changing, config, tmp_path / "archive"


def crawl(cli: Cli, config: Path, code: int = 0) -> CliResult:
    result = cli("crawl", "--config", str(config))
    assert result.code == code, result.err
    return result


def test_a_body_edit_makes_one_revision_holding_the_old_bytes(tmp_path: Path, server: FaultServer, cli: Cli) -> None:
    item = Item("Budget approved", server.url("/a/1"), BODY)
    feed, config, archive = setup(tmp_path, server, [item])
    crawl(cli, config)
    [path] = entries(archive)
    first = path.read_bytes()

    feed.set(rss([replace(item, description=BODY + "<p>Correction: the vote was 7 to 4.</p>")]))
    result = crawl(cli, config)

    assert entries(archive) == [path]
    front, body = split_document(path)
    assert "Correction: the vote was 7 to 4." in body
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[lines.index("date: " + front["date"]) + 1].startswith("updated: "), "updated: right after date:"
    assert re.fullmatch(r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT", front["updated"])
    assert front["guid"] == item.link and front["date"] == "Tue, 02 Jan 2024 03:04:05 GMT"
    [kept] = revisions(archive)
    assert kept.read_bytes() == first
    relative = path.relative_to(archive).with_suffix("")
    assert kept.parent == archive / ".revisions" / relative and re.fullmatch(r"\d{8}T\d{6}Z", kept.stem)
    assert re.search(r"gazette\s+0\s+1\s+0\s+0", result.out), result.out  # new 0, updated 1
    status = json.loads(cli("status", "--config", str(config), "--json").out)
    assert (status[0]["entries_archived"], status[0]["entries_updated"]) == (1, 1)

    again = path.read_bytes()
    feed.set(rss([replace(item, description=BODY + "<p>Correction: the vote was 7 to 4.</p>")]))
    crawl(cli, config)
    assert path.read_bytes() == again and len(revisions(archive)) == 1


def test_a_title_edit_rewrites_the_file_at_the_same_path(tmp_path: Path, server: FaultServer, cli: Cli) -> None:
    item = Item("Budget approved", server.url("/a/1"), BODY)
    feed, config, archive = setup(tmp_path, server, [item])
    crawl(cli, config)
    [path] = entries(archive)

    feed.set(rss([replace(item, title="Budget approved after all-night session")]))
    crawl(cli, config)

    assert entries(archive) == [path], "the path never moves, even when the title changes"
    assert split_document(path)[0]["title"] == "Budget approved after all-night session"
    assert len(revisions(archive)) == 1


def test_whitespace_attribute_order_and_tracking_parameters_make_no_revision(
    tmp_path: Path, server: FaultServer, cli: Cli
) -> None:
    body = '<p>Read <a href="https://example.org/report?id=7" title="t" rel="x">the report</a>.</p>' + BODY
    item = Item("Budget approved", server.url("/a/1"), body)
    feed, config, archive = setup(tmp_path, server, [item])
    crawl(cli, config)
    [path] = entries(archive)
    before = (path.read_bytes(), path.stat().st_mtime_ns)

    loose = body.replace("</p>", "</p>\n\n   ").replace(" the budget ", "  the\n budget ")
    loose = loose.replace('href="https://example.org/report?id=7" title="t" rel="x"',
                          'rel="x" title="t" href="https://EXAMPLE.org:443/report?id=7&utm_source=rss&fbclid=1#top"')
    feed.set(rss([replace(item, description=loose, link=item.link + "?utm_medium=feed&gclid=2")]))
    crawl(cli, config)

    assert entries(archive) == [path] and (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert revisions(archive) == []


def test_a_new_guid_on_the_same_canonical_link_is_the_same_entry(tmp_path: Path, server: FaultServer, cli: Cli) -> None:
    link = server.url("/a/1")
    item = Item("Budget approved", link, BODY, guid="urn:cms:1")
    feed, config, archive = setup(tmp_path, server, [item])
    crawl(cli, config)
    [path] = entries(archive)
    before = path.read_bytes()

    moved = link.replace("http://127.0.0.1", "HTTP://127.0.0.1") + "?utm_campaign=x#comments"
    for guid in ("urn:cms:2", "urn:cms:3", "urn:cms:2"):
        feed.set(rss([replace(item, guid=guid, link=moved)]))
        crawl(cli, config)

    assert entries(archive) == [path] and path.read_bytes() == before and revisions(archive) == []


def test_items_sharing_one_guid_are_each_archived_once(tmp_path: Path, server: FaultServer, cli: Cli) -> None:
    items = [Item(f"Story {n}", server.url(f"/a/{n}"), BODY, guid="https://example.com/") for n in range(3)]
    _, config, archive = setup(tmp_path, server, items)

    crawl(cli, config)
    crawl(cli, config)

    files = entries(archive)
    assert sorted(split_document(p)[0]["title"] for p in files) == ["Story 0", "Story 1", "Story 2"]
    assert revisions(archive) == []


def test_updates_ignore_leaves_the_file_alone(tmp_path: Path, server: FaultServer, cli: Cli) -> None:
    item = Item("Budget approved", server.url("/a/1"), BODY)
    feed, config, archive = setup(tmp_path, server, [item], updates="ignore")
    crawl(cli, config)
    [path] = entries(archive)
    before = (path.read_bytes(), path.stat().st_mtime_ns)

    feed.set(rss([replace(item, title="Budget rejected", description="<p>Everything changed.</p>")]))
    crawl(cli, config)

    assert entries(archive) == [path] and (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert revisions(archive) == []


def test_a_feed_that_flips_back_and_forth_makes_one_revision_per_change(
    tmp_path: Path, server: FaultServer, cli: Cli
) -> None:
    item = Item("Budget approved", server.url("/a/1"), BODY)
    versions = [BODY, "<p>Budget approved, with a correction.</p>" + BODY]
    feed, config, archive = setup(tmp_path, server, [item])
    crawl(cli, config)

    for poll in range(1, 5):
        feed.set(rss([replace(item, description=versions[poll % 2])]))
        crawl(cli, config)
        assert len(entries(archive)) == 1 and len(revisions(archive)) == poll

    bodies = {split_document(p)[1] for p in revisions(archive)}
    assert len(bodies) == 2, "each kept file holds one of the two versions"


@pytest.mark.parametrize("plant", ["symlink", "file-in-the-way"])
def test_a_revision_that_cannot_be_kept_leaves_the_file_and_is_retried(
    tmp_path: Path, server: FaultServer, cli: Cli, plant: str
) -> None:
    item = Item("Budget approved", server.url("/a/1"), BODY)
    feed, config, archive = setup(tmp_path, server, [item])
    crawl(cli, config)
    [path] = entries(archive)
    before = path.read_bytes()
    outside = tmp_path / "outside"
    outside.mkdir()
    if plant == "symlink":
        (archive / ".revisions").symlink_to(outside, target_is_directory=True)
    else:  # a file where the revision's folder must go: the write fails as on a full disk
        (archive / ".revisions").write_bytes(b"")

    feed.set(rss([replace(item, description="<p>Corrected.</p>" + BODY)]))
    failed = crawl(cli, config, code=1)

    assert "not archived" in failed.err and "Traceback" not in failed.err
    assert path.read_bytes() == before and list(outside.iterdir()) == []
    (archive / ".revisions").unlink()
    crawl(cli, config)
    assert "Corrected." in split_document(path)[1]
    [kept] = revisions(archive)
    assert kept.read_bytes() == before


# -- loose documents and HTML titles ---------------------------------------------------------------

LOOSE_EMPTY = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>Caf&eacute; news</title>'
               b"<link>http://example.com/</link></channel></rss>")


def test_a_loose_feed_with_no_items_is_an_ok_poll_and_gets_a_304_next_time(
    tmp_path: Path, server: FaultServer, cli: Cli
) -> None:
    feed = ChangingFeed(server)
    feed.set(LOOSE_EMPTY)
    config = write_config(tmp_path, [{"name": "loose", "url": feed.url}])

    crawl(cli, config)
    crawl(cli, config)

    assert feed.answers == [200, 304]
    [row] = json.loads(cli("status", "--config", str(config), "--json").out)
    assert (row["state"], row["consecutive_failures"], row["last_error"]) == ("ok", 0, None)


def test_a_loose_feed_with_items_is_archived(tmp_path: Path, server: FaultServer, cli: Cli) -> None:
    body = rss([Item("Caf&eacute; opens", server.url("/a/1"), BODY)]).replace(b"Caf&amp;eacute;", b"Caf&eacute;")
    feed = ChangingFeed(server)
    feed.set(body)
    config = write_config(tmp_path, [{"name": "loose", "url": feed.url, "full_text": "never"}])

    crawl(cli, config)

    [path] = entries(tmp_path / "archive")
    assert split_document(path)[0]["title"] in ("Café opens", "Caf opens", "Cafeacute; opens", "Caf&eacute; opens")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<!DOCTYPE html><html><head><title>Home</title></head><body><p>Welcome</p></body></html>", "text/html"),
        (b"", "application/rss+xml"),
        (b'{"items": []}', "application/json"),
    ],
    ids=["html-page", "empty-body", "json-not-json-feed"],
)
def test_what_is_not_a_feed_still_fails(tmp_path: Path, server: FaultServer, cli: Cli, body: bytes,
                                        content_type: str) -> None:
    server.route("/feed", faults.respond(200, body, content_type))
    config = write_config(tmp_path, [{"name": "nofeed", "url": server.url("/feed")}])

    crawl(cli, config, code=1)

    [row] = json.loads(cli("status", "--config", str(config), "--json").out)
    assert row["consecutive_failures"] == 1


HTML_TITLES = {
    "markup-and-entities": ("<![CDATA[<b>Breaking</b>:   markets &amp; <em>bonds</em>\n fall]]>",
                            "Breaking: markets & bonds fall"),
    "script-and-style": ("Budget&lt;script&gt;alert(1)&lt;/script&gt; vote &lt;style&gt;p {color: red}&lt;/style&gt;"
                         "&lt;i&gt;delayed&lt;/i&gt;", "Budget vote delayed"),
}


@pytest.mark.parametrize(("raw", "shown"), HTML_TITLES.values(), ids=HTML_TITLES.keys())
def test_html_titles_become_the_text_a_browser_shows(
    tmp_path: Path, server: FaultServer, cli: Cli, raw: str, shown: str
) -> None:
    document = rss([Item("TITLE", server.url("/a/1"), BODY)]).replace(b"<title>TITLE</title>",
                                                                      f"<title>{raw}</title>".encode())
    server.route("/feed.xml", faults.respond(200, document, "application/rss+xml"))
    config = write_config(tmp_path, [{"name": "titles", "url": server.url("/feed.xml"), "full_text": "never"}])

    crawl(cli, config)

    [path] = entries(tmp_path / "archive")
    assert split_document(path)[0]["title"] == shown
    assert "<" not in path.name and "script" not in path.name


# -- any sequence of edits ---------------------------------------------------------------------------

EDITS = ("body", "title", "whitespace", "tracking", "guid", "nothing")
REAL = {"body", "title"}


@dataclass
class Article:
    """One article of the generated feed, and how the feed currently writes it."""

    n: int
    title: str
    sentences: list[str]
    spaced: bool = False
    campaign: int = 0
    guid: int = 0

    def item(self, server: FaultServer) -> Item:
        joiner = "\n\n  " if self.spaced else ""
        link = server.url(f"/story/{self.n}") + (f"?utm_source=feed{self.campaign}" if self.campaign else "")
        body = joiner.join(f"<p>{s}</p>" for s in self.sentences)
        return Item(self.title, link, body, guid=f"urn:story:{self.n}:{self.guid}" if self.guid else link)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(polls=st.lists(st.lists(st.tuples(st.integers(0, 2), st.sampled_from(EDITS)), max_size=3),
                      min_size=1, max_size=4))
def test_any_sequence_of_edits_keeps_one_file_per_article_and_one_revision_per_real_change(
    server: FaultServer, cli: Cli, polls: list[list[tuple[int, str]]]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        tmp_path = Path(folder)
        articles = [Article(n, f"Story {n}", [f"Sentence one of story {n}, long enough to read."]) for n in range(3)]
        feed, config, archive = setup(tmp_path, server, [a.item(server) for a in articles])
        crawl(cli, config)
        real_changes = 0
        for number, edits in enumerate(polls):
            changed: set[int] = set()
            for which, edit in edits:
                article = articles[which]
                if edit == "body":
                    article.sentences.append(f"Added in poll {number}.")
                elif edit == "title":
                    article.title = f"Story {which}, retitled in poll {number}"
                elif edit == "whitespace":
                    article.spaced = not article.spaced
                elif edit == "tracking":
                    article.campaign += 1
                elif edit == "guid":
                    article.guid += 1
                if edit in REAL:
                    changed.add(which)
            real_changes += len(changed)
            feed.set(rss([a.item(server) for a in articles]))
            crawl(cli, config)

            files = archived_files(archive)
            assert len(files) == len(articles), "exactly one current file per article"
            assert len(revisions(archive)) == real_changes, "one revision per real change"
            titles = sorted(split_document(p)[0]["title"] for p in files)
            assert titles == sorted(a.title for a in articles)


def test_a_full_text_page_is_fetched_again_only_when_the_item_changed(
    tmp_path: Path, server: FaultServer, cli: Cli
) -> None:
    page = ("<html><head><title>Quay</title></head><body><article><h1>Quay</h1>"
            + "<p>The harbour authority confirmed on Tuesday that the new quay will open in the spring.</p>" * 12
            + "</article></body></html>").encode()
    server.route("/a/1", faults.respond(200, page, "text/html; charset=utf-8"))
    item = Item("New quay opens", server.url("/a/1"), "<p>The harbour authority confirmed…</p>")
    feed = ChangingFeed(server)
    feed.set(rss([item]))
    config = write_config(tmp_path, [{"name": "teasers", "url": feed.url}])
    crawl(cli, config)

    feed.set(rss([item], title="Test feed, renamed"))  # a new document (200), the same item
    crawl(cli, config)
    assert feed.answers == [200, 200] and server.paths().count("/a/1") == 1

    feed.set(rss([replace(item, description="<p>The harbour authority confirmed the date…</p>")]))
    crawl(cli, config)
    assert server.paths().count("/a/1") == 2, "the item changed: its page is read again"
    assert revisions(tmp_path / "archive") == [], "the page says what it said: no revision"
