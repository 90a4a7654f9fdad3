"""Servers, feeds and images that misbehave: nothing crashes, nothing good is lost."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests import faults
from tests.conftest import Item, archived_files, json_feed, rss, split_document, write_config
from tests.faults import FaultServer

FAST_HTTP = {"retries": 0, "timeout": "1s", "total_timeout": "3s", "max_body": "2MB"}
JPEG = b"\xff\xd8\xff\xe0" + b"7" * 500 + b"\xff\xd9"


def good_feed(server: FaultServer) -> dict[str, str]:
    server.route("/good.xml", faults.respond(200, rss([Item("Healthy", server.url("/h"), "<p>ok</p>" * 100)]),
                                             "application/rss+xml"))
    return {"name": "good", "url": server.url("/good.xml")}


FEED_FAULTS = {
    "500": (lambda s: faults.respond(500, b"oops"), "HTTP 500"),
    "502": (lambda s: faults.respond(502, b"bad gateway"), "HTTP 502"),
    "503-retry-after": (lambda s: faults.respond(503, b"busy", Retry_After="300"), "retry after 300s"),
    "429-retry-after": (lambda s: faults.respond(429, b"slow", Retry_After="120"), "retry after 120s"),
    "reset-mid-body": (lambda s: faults.reset_mid_body(), "connection failed"),
    "stalled-body": (lambda s: faults.stall(s), "timed out"),
    "trickle": (lambda s: faults.trickle(s), "longer than 3s in all"),
    "redirect-loop": (lambda s: faults.redirect("/bad"), "redirect loop"),
    "redirect-ftp": (lambda s: faults.redirect("ftp://127.0.0.1/feed"), "non-HTTP"),
    "html-page": (lambda s: faults.respond(200, b"<!DOCTYPE html><html><body>Home</body></html>", "text/html"),
                  "an HTML page, not a feed"),
    "empty-200": (lambda s: faults.respond(200, b"", "application/rss+xml"), "empty response"),
    "lying-length": (lambda s: faults.lying_length(), "connection failed"),
    "2gb-declared": (lambda s: faults.endless(declare=2 * 1024**3), "over the 2000000-byte cap"),
    "endless-chunked": (lambda s: faults.endless(), "over the 2000000-byte cap"),
    "malformed-xml": (lambda s: faults.respond(200, b"<rss><channel><title>x<item>", "application/rss+xml"),
                      "not a readable feed"),
}


@pytest.mark.parametrize(("make_fault", "message"), FEED_FAULTS.values(), ids=FEED_FAULTS.keys())
def test_misbehaving_feed_server_fails_that_feed_only(
    tmp_path: Path, server: FaultServer, cli, make_fault, message: str
) -> None:
    server.route("/bad", make_fault(server))
    config = write_config(tmp_path, [{"name": "bad", "url": server.url("/bad")}, good_feed(server)],
                          http=FAST_HTTP)

    result = cli("crawl", "--config", str(config))

    assert result.code == 1
    assert message in result.out + result.err
    [path] = archived_files(tmp_path / "archive")
    assert split_document(path)[0]["title"] == "Healthy"
    row = {r["name"]: r for r in json.loads(cli("status", "--config", str(config), "--json").out)}["bad"]
    assert row["state"] == "failing" and message in row["last_error"]
    if "retry-after" in message or "retry after" in message:
        wait = 300 if "300" in message else 120
        due = datetime.fromisoformat(row["next_due"].replace("Z", "+00:00"))
        assert (due - datetime.now(UTC)).total_seconds() > wait - 30


def test_valid_feed_with_wrong_content_type_is_archived(tmp_path: Path, server: FaultServer, cli) -> None:
    body = rss([Item("Mislabelled", server.url("/m"), "<p>fine</p>" * 100)])
    server.route("/feed", faults.respond(200, body, "text/html; charset=utf-8"))
    config = write_config(tmp_path, [{"name": "m", "url": server.url("/feed")}])
    assert cli("crawl", "--config", str(config)).code == 0
    assert len(archived_files(tmp_path / "archive")) == 1


def test_misbehaving_images_keep_their_remote_url_and_good_ones_are_stored_once(
    tmp_path: Path, server: FaultServer, cli
) -> None:
    article = server.url("/article")
    urls = {
        "html": server.route("/img/html.jpg", faults.respond(200, b"<html>login</html>", "image/jpeg")),
        "truncated": server.route("/img/cut.jpg", faults.respond(200, JPEG[:-2], "image/jpeg")),
        "huge": server.route("/img/huge.jpg", faults.endless(declare=50 * 1024**2)),
        "svg-script": server.route("/img/x.svg", faults.respond(200, b"<svg><script>alert(1)</script></svg>",
                                                                "image/svg+xml")),
        "hotlink": server.route("/img/hot.jpg", faults.needs_referer(article, JPEG[:-2] + b"8\xff\xd9",
                                                                     "image/jpeg")),
    }
    twenty = [server.route(f"/img/same{i}.jpg", faults.respond(200, JPEG, "image/jpeg")) for i in range(20)]
    images = "".join(f'<img src="{u}">' for u in [*urls.values(), *twenty])
    server.route("/feed", faults.respond(200, rss([Item("Pictures", article, "<p>text</p>" * 100 + images)]),
                                         "application/rss+xml"))
    config = write_config(tmp_path, [{"name": "pics", "url": server.url("/feed")}], http=FAST_HTTP)

    result = cli("crawl", "--config", str(config))

    assert result.code == 0, "image failures are warnings, not failed entries"
    [path] = archived_files(tmp_path / "archive")
    _, body = split_document(path)
    for bad in ("html", "truncated", "huge", "svg-script"):
        assert f'src="{urls[bad]}"' in body
    assert f'data-original-src="{urls["hotlink"]}"' in body
    stored = sorted(p.name for p in (tmp_path / "archive" / "images").iterdir())
    assert len(stored) == 2, stored  # the hotlinked one and the twenty copies of one picture
    for message in ("not an image", "truncated JPEG", "over the", "SVG with script"):
        assert message in result.err


def test_feeds_that_misbehave(tmp_path: Path, server: FaultServer, cli) -> None:
    long_title = "长" * 34_000  # about 100 KB of UTF-8
    items = [
        {"id": "no-title", "url": server.url("/a"), "content_html": "<p>no title</p>"},
        {"id": "no-link-no-date", "title": "Bare", "content_html": "<p>bare</p>"},
        {"id": "future", "url": server.url("/f"), "title": "Future", "content_html": "<p>f</p>",
         "date_published": "2099-01-01T00:00:00Z"},
        {"id": "epoch", "url": server.url("/e"), "title": "Epoch", "content_html": "<p>e</p>",
         "date_published": "1970-01-01T00:00:00Z"},
        {"id": "dup", "url": server.url("/d1"), "title": "Dup one", "content_html": "<p>1</p>"},
        {"id": "dup", "url": server.url("/d2"), "title": "Dup two", "content_html": "<p>2</p>"},
        {"id": "long", "url": server.url("/l"), "title": long_title, "content_html": "<p>l</p>"},
    ]
    server.route("/feed.json", faults.respond(200, json_feed(items), "application/feed+json"))
    config = write_config(tmp_path, [{"name": "odd", "url": server.url("/feed.json"), "full_text": "never"}])

    assert cli("crawl", "--config", str(config)).code == 0

    docs = {split_document(p)[0]["guid"]: (p, split_document(p)[0]) for p in archived_files(tmp_path / "archive")}
    # One id on two links identifies nothing: the two items are two articles, known by their links.
    assert sorted(docs) == sorted(["epoch", "future", "long", "no-link-no-date", "no-title", server.url("/d1"),
                                   server.url("/d2")])
    assert docs["no-title"][0].name.startswith("untitled_")
    assert docs["future"][1]["date"] == "Thu, 01 Jan 2099 00:00:00 GMT"
    assert docs["epoch"][1]["date"] == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert (docs[server.url("/d1")][1]["title"], docs[server.url("/d2")][1]["title"]) == ("Dup one", "Dup two")
    assert docs["long"][1]["title"] == long_title and len(docs["long"][0].name.encode()) <= 200


def test_guids_that_change_every_poll_archive_once(tmp_path: Path, server: FaultServer, cli) -> None:
    polls = iter(range(100))

    def feed(handler: faults.Handler) -> None:
        n = next(polls)
        item = Item("Same story", server.url("/same"), "<p>same</p>" * 100, guid=f"urn:random:{n}")
        faults.respond(200, rss([item]), "application/rss+xml")(handler)

    server.route("/feed", feed)
    config = write_config(tmp_path, [{"name": "g", "url": server.url("/feed")}])
    for _ in range(3):
        assert cli("crawl", "--config", str(config)).code == 0
    assert len(archived_files(tmp_path / "archive")) == 1


def test_same_article_in_two_feeds_and_max_items(tmp_path: Path, server: FaultServer, cli) -> None:
    shared = Item("Shared story", server.url("/shared"), "<p>shared</p>" * 100)
    many = [Item(f"Item {i}", server.url(f"/i{i}"), "<p>x</p>") for i in range(10_000)]
    server.route("/a", faults.respond(200, rss([shared]), "application/rss+xml"))
    server.route("/b", faults.respond(200, rss([shared, *many]), "application/rss+xml"))
    config = write_config(tmp_path, [
        {"name": "a", "url": server.url("/a"), "categories": ["A"]},
        {"name": "b", "url": server.url("/b"), "categories": ["B"], "max_items": 50, "full_text": "never"},
    ])

    assert cli("crawl", "--config", str(config)).code == 0

    files = archived_files(tmp_path / "archive")
    assert len([p for p in files if p.parent.name == "A"]) == 1
    assert len([p for p in files if p.parent.name == "B"]) == 50


def test_undefined_xml_entities_do_not_lose_the_feed(tmp_path: Path, server: FaultServer, cli) -> None:
    body = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T&nbsp;&bogus;</title>'
            b"<item><title>Caf&eacute; &nosuch; news</title><link>" + server.url("/x").encode() +
            b"</link><description>&lt;p&gt;" + b"Body text. " * 80 + b"&lt;/p&gt;</description></item>"
            b"</channel></rss>")
    server.route("/feed", faults.respond(200, body, "application/rss+xml"))
    config = write_config(tmp_path, [{"name": "ent", "url": server.url("/feed")}])

    assert cli("crawl", "--config", str(config)).code == 0

    [path] = archived_files(tmp_path / "archive")
    assert split_document(path)[0]["title"].startswith("Caf")


def test_names_and_errors_that_look_like_markup_are_printed_as_they_are(
    tmp_path: Path, server: FaultServer, cli
) -> None:
    # A server chooses its error texts; rich would read "[/x]" as a closing tag (and fail on it)
    # and ":fire:" as an emoji. The terminal's drawing of the same is in unit/test_console.py.
    server.route("/bad", faults.redirect("ftp://127.0.0.1/[/x]:fire:"))
    name = "[bold]odd[/bold] :fire:"
    config = write_config(tmp_path, [{"name": name, "url": server.url("/bad")}, good_feed(server)],
                          http=FAST_HTTP)

    crawl = cli("crawl", "--config", str(config))
    status = cli("status", "--config", str(config))
    check = cli("check", "--config", str(config))

    assert crawl.code == 1 and status.code == 0 and check.code == 0
    for out in (crawl.out, status.out, check.out):
        assert f"\n{name}\t" in out and "🔥" not in out
    for out in (crawl.out, status.out):
        assert "ftp://127.0.0.1/[/x]:fire:" in out
