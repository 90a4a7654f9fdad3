from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from crawler.errors import ParseError
from crawler.models import FetchResult
from crawler.reader.parse import parse_feed


def result(body: bytes, content_type: str = "application/xml", url: str = "https://site.example/feed") -> FetchResult:
    return FetchResult(url=url, status=200, body=body, headers={"content-type": content_type})


def test_json_feed_1_1() -> None:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "JF",
        "home_page_url": "https://site.example/",
        "authors": [{"name": "Feed Author"}],
        "items": [
            {"id": 42, "url": "/posts/1", "title": "A <b>title</b> & co", "content_html": "<p>Hi</p>",
             "date_published": "2024-01-02T03:04:05-05:00"},
            {"id": "2", "title": "Text only", "content_text": "para one\n\npara <two>",
             "authors": [{"name": "Item Author"}], "date_modified": "2024-01-03T00:00:00Z"},
            {"id": "2", "title": "duplicate id is dropped"},
        ],
    }
    feed = parse_feed(result(json.dumps(doc).encode(), "application/feed+json"))
    first, second = feed.entries
    assert (first.id, first.link, first.title) == ("42", "https://site.example/posts/1", "A <b>title</b> & co")
    assert first.published == datetime(2024, 1, 2, 8, 4, 5, tzinfo=UTC)
    assert first.author == "Feed Author" and second.author == "Item Author"
    assert second.content_html == "<p>para one</p><p>para &lt;two&gt;</p>"
    assert second.published is None and second.updated == datetime(2024, 1, 3, tzinfo=UTC)


def test_json_feed_1_0_author() -> None:
    doc = {"version": "https://jsonfeed.org/version/1", "title": "x", "author": {"name": "Old Style"},
           "items": [{"id": "a", "content_text": "t"}]}
    assert parse_feed(result(json.dumps(doc).encode(), "application/json")).entries[0].author == "Old Style"


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"", "application/rss+xml", "empty response"),
        (b"   \n", "application/rss+xml", "empty response"),
        (b"<!DOCTYPE html><html><body>hi</body></html>", "text/html", "HTML page"),
        (b"{not json", "application/json", "invalid JSON"),
        (b'{"hello": "world"}', "application/json", "not a JSON Feed"),
        (b"<rss><channel><title>broken", "application/rss+xml", "not a readable feed"),
    ],
)
def test_unreadable_feeds_are_parse_errors(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse_feed(result(body, content_type))


def test_rss_entries_without_guid_link_or_date_get_stable_ids() -> None:
    body = (b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
            b"<item><title>No id</title><description>d</description></item>"
            b"<item><title>Link only</title><link>/rel</link></item></channel></rss>")
    first = parse_feed(result(body))
    again = parse_feed(result(body))
    assert [e.id for e in first.entries] == [e.id for e in again.entries]
    assert first.entries[0].id.startswith("sha1:")
    assert first.entries[1].id == "https://site.example/rel"


def test_wrong_content_type_still_parses() -> None:
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><ttl>60</ttl><item><title>x</title><link>http://a/b</link></item></channel></rss>'
    feed = parse_feed(result(body, "text/html; charset=utf-8"))
    assert [e.title for e in feed.entries] == ["x"]
    assert feed.ttl_seconds == 3600


@pytest.mark.parametrize(("author", "expected"), [
    ("editor@example.org (Ed Itor)", "Ed Itor"),
    ("Ed Itor", "Ed Itor"),
    ("editor@example.org", "editor@example.org"),  # an address is all there is
    ("   ", None),
])
def test_an_rss_author_is_the_name_not_the_address(author: str, expected: str | None) -> None:
    doc = (f"<rss version='2.0'><channel><title>t</title><item><title>x</title><link>https://e.example/1</link>"
           f"<author>{author}</author></item></channel></rss>").encode()

    [entry] = parse_feed(result(doc, "application/rss+xml")).entries

    assert entry.author == expected
