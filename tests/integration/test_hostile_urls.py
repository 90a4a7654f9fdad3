"""A hostile feed's malformed URLs and absurd fields end no crawl: the entry is archived, a warning names the URL.

Issue 15, item 0. Every test here crashed `feed-archiver crawl` with a traceback before the fix.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import faults
from tests.conftest import Item, archived_files, rss, split_document, write_config
from tests.faults import FaultServer

JPEG = b"\xff\xd8\xff\xe0" + b"7" * 200 + b"\xff\xd9"
MALFORMED = ["http://[::1", "//[", "http://127.0.0.1:99999/a.png", "https://xn--/x.png"]


def test_malformed_urls_in_an_entry_leave_the_entry_archived_and_the_crawl_going(
    tmp_path: Path, server: FaultServer, cli
) -> None:
    good = server.route("/ok.jpg", faults.respond(200, JPEG, "image/jpeg"))
    body = (
        "<p>Words of the article.</p>"
        + "".join(f'<img src="{url}" alt="picture {i}">' for i, url in enumerate(MALFORMED))
        + '<img srcset="http://[::1 2x, //[ 3x"><img src="/x.png" srcset="http://127.0.0.1:99999/l.png 2x">'
        + '<a href="http://[::1">the link text</a> <a href="//[">more</a>'
        + '<video poster="http://[::1" src="http://127.0.0.1:99999/v.mp4"></video>'
        + f'<img src="{good}">'
    )
    items = [
        Item("Hostile body", server.url("/story"), body),
        # The entry's own link (the page full_text: always fetches) with a port out of range.
        Item("Hostile link", "http://127.0.0.1:99999/story", "<p>Kept text.</p>", guid="guid-2"),
    ]
    server.route("/feed", faults.respond(200, rss(items), "application/rss+xml"))
    server.route("/story", faults.respond(200, b"<html><body><p>page</p></body></html>", "text/html"))
    server.route("/other", faults.respond(200, rss([Item("Calm", server.url("/calm"), "<p>calm</p>")]),
                                          "application/rss+xml"))
    config = write_config(tmp_path, [
        {"name": "hostile", "url": server.url("/feed"), "full_text": "always"},
        {"name": "calm", "url": server.url("/other"), "full_text": "never"},
    ])

    result = cli("crawl", "--config", str(config))

    assert result.code == 0, result.err
    documents = {split_document(p)[0]["title"]: split_document(p) for p in archived_files(tmp_path / "archive")}
    assert set(documents) == {"Hostile body", "Hostile link", "Calm"}
    front, text = documents["Hostile body"]
    assert "the link text" in text and "picture 0" in text and "picture 3" in text
    assert "[::1" not in text and "99999" not in text and "xn--" not in text
    assert f'data-original-src="{good}"' in text, "the one good image is still downloaded"
    assert front["headimg"] == server.url("/x.png"), "a broken srcset gives way to the img's own src"
    assert "Kept text." in documents["Hostile link"][1]
    assert "malformed URL 'http://[::1'" in result.err
    assert "malformed link 'http://127.0.0.1:99999/story' left out" in result.err
    assert "internal error" not in result.err


def test_redirects_to_malformed_urls_fail_one_request_each(tmp_path: Path, server: FaultServer, cli) -> None:
    bad_image = server.route("/bad.jpg", faults.redirect("https://xn--/x.png"))
    worse_image = server.route("/worse.jpg", faults.redirect("http://[::1"))
    body = f'<p>Text.</p><img src="{bad_image}"><img src="{worse_image}">'
    server.route("/feed", faults.respond(200, rss([Item("Redirected", server.url("/s"), body)]),
                                         "application/rss+xml"))
    server.route("/moved", faults.redirect("http://127.0.0.1:99999/feed"))
    config = write_config(tmp_path, [
        {"name": "images", "url": server.url("/feed"), "full_text": "never"},
        {"name": "moved", "url": server.url("/moved")},
    ])

    result = cli("crawl", "--config", str(config))

    assert result.code == 1  # the moved feed failed; the other was archived
    [path] = archived_files(tmp_path / "archive")
    assert split_document(path)[0]["headimg"] == bad_image, "the image stays remote"
    assert "redirect to a malformed URL 'https://xn--/x.png'" in result.err
    assert "redirect to a malformed URL 'http://[::1'" in result.err
    assert "redirect to a malformed URL 'http://127.0.0.1:99999/feed'" in result.out + result.err
    assert "internal error" not in result.err


def test_an_rss_ttl_of_twenty_digits_is_clamped(tmp_path: Path, server: FaultServer, cli) -> None:
    feed = rss([Item("Soon", server.url("/s"), "<p>x</p>")]).replace(
        b"<generator>", b"<ttl>99999999999999999999</ttl><generator>"
    )
    server.route("/feed", faults.respond(200, feed, "application/rss+xml"))
    config = write_config(tmp_path, [{"name": "ttl", "url": server.url("/feed")}])

    result = cli("crawl", "--config", str(config))

    assert result.code == 0, result.err
    assert len(archived_files(tmp_path / "archive")) == 1
    with sqlite3.connect(tmp_path / "archive" / ".state.sqlite") as db:
        [(next_due,)] = db.execute("SELECT next_due FROM feeds").fetchall()
    due = datetime.fromisoformat(next_due).replace(tzinfo=UTC)
    assert due <= datetime.now(UTC) + timedelta(days=7, minutes=1)


def test_a_json_feed_with_lone_surrogates_is_written_with_replacement_characters(
    tmp_path: Path, server: FaultServer, cli
) -> None:
    # Valid JSON (json.dumps escapes it as \ud800), but no UTF-8 file, path or database holds it.
    document = {
        "version": "https://jsonfeed.org/version/1.1", "title": "Feed \ud800",
        "items": [{"id": "id-\udc00", "url": server.url("/a"), "title": "Title \ud800 here",
                   "content_html": "<p>Body \udfff text</p>", "authors": [{"name": "Au\ud800thor"}]}],
    }
    server.route("/feed.json", faults.respond(200, json.dumps(document).encode(), "application/feed+json"))
    config = write_config(tmp_path, [{"name": "surrogates", "url": server.url("/feed.json"), "full_text": "never"}])

    result = cli("crawl", "--config", str(config))

    assert result.code == 0, result.err
    [path] = archived_files(tmp_path / "archive")
    front, body = split_document(path)
    assert front["title"] == "Title \ufffd here"
    assert front["guid"] == "id-\ufffd"
    assert "Body \ufffd text" in body
    assert cli("crawl", "--config", str(config)).code == 0, "the second crawl knows the entry"
    assert len(archived_files(tmp_path / "archive")) == 1


URLISH = st.one_of(
    st.text(max_size=40),
    st.sampled_from(MALFORMED + ["http://[::1]:80/x", "//", "http://", "https://a..b/", "javascript:x", "data:,x"]),
    st.builds(lambda a, b: a + b, st.sampled_from(["http://", "https://", "//", "/", ""]), st.text(max_size=30)),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(src=URLISH, srcset=URLISH, href=URLISH, link=URLISH)
def test_any_string_as_src_srcset_href_or_link_leaves_the_entry_archived(
    tmp_path_factory, server: FaultServer, cli, src: str, srcset: str, href: str, link: str
) -> None:
    directory = tmp_path_factory.mktemp("any-url")

    def attribute(value: str) -> str:
        return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")

    body = (f'<p>Text.</p><img src="{attribute(src)}" srcset="{attribute(srcset)}" alt="a">'
            f'<a href="{attribute(href)}">link</a><video poster="{attribute(src)}"></video>')
    # No request leaves the machine: images and pages are off, every URL is only parsed.
    server.route("/feed", faults.respond(200, rss([Item("Any", link, body, guid="urn:uuid:the-guid")]),
                                         "application/rss+xml"))
    config = write_config(directory, [
        {"name": "any", "url": server.url("/feed"), "images": False, "full_text": "never"}
    ])

    result = cli("crawl", "--config", str(config))

    assert result.code == 0, result.err
    [path] = archived_files(directory / "archive")
    front, text = split_document(path)
    assert front["guid"] == "urn:uuid:the-guid" and "Text." in text
