"""Malformed URLs and absurd feed fields, stage by stage: one URL parser, nothing raises (issue 15, item 0)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from xml.sax.saxutils import escape

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.archive import entries as archive
from crawler.errors import MalformedURL, ParseError
from crawler.fetch.client import Clients, Fetcher
from crawler.fetch.urls import absolute
from crawler.models import FeedReport, FeedSource, FeedState, FetchResult, HttpSettings
from crawler.reader import article
from crawler.reader.parse import MAX_TTL_SECONDS, parse_feed
from crawler.runtime.schedule import MAX_HINT, next_state

NOW = datetime(2024, 1, 1, tzinfo=UTC)
BASE = "https://news.example/a/story.html"
HTTP = HttpSettings(user_agent="t", timeout=5, total_timeout=10, max_body=10_000, max_redirects=3,
                    concurrency=4, per_host=2, retries=0, proxy=None, http2=False)


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("http://[::1", None), ("//[", None), ("http://127.0.0.1:99999/a.png", None), ("https://xn--/x.png", None),
        ("http://xn--ls8h.la/", None), ("http://ex\u2100.com/", None), ("http://:80/", None), ("http://\ud800/", None),
        ("/img/a.png", "https://news.example/img/a.png"), ("b.png", "https://news.example/a/b.png"),
        ("//cdn.example/x", "https://cdn.example/x"), ("http://[::1]:8080/x", "http://[::1]:8080/x"),
        ("mailto:someone@example.com", "mailto:someone@example.com"), ("javascript:alert(1)", "javascript:alert(1)"),
    ],
)
def test_absolute_turns_malformed_urls_into_none(ref: str, expected: str | None) -> None:
    assert absolute(ref, BASE) == expected


def test_a_malformed_base_does_not_spoil_an_absolute_reference() -> None:
    assert absolute("https://ok.example/x", "http://[::1") == "https://ok.example/x"
    assert absolute("relative", "http://[::1") is None


@pytest.mark.parametrize("url", ["http://[::1", "http://127.0.0.1:99999/a.png", "https://xn--/x.png"])
async def test_the_fetcher_refuses_a_malformed_url_as_malformed(url: str) -> None:
    async with Clients(HTTP) as clients:
        fetcher = Fetcher(clients, HTTP)
        with pytest.raises(MalformedURL, match="malformed URL"):
            await fetcher.get(url)
        assert await fetcher.is_private(url) is False


ANY_URL = st.one_of(
    st.text(max_size=40),
    st.builds(lambda a, b: a + b, st.sampled_from(["http://", "https://", "//", "http://[", "https://xn--", "/"]),
              st.text(max_size=30)),
)


def _attr(value: str) -> str:
    return escape(value, {'"': "&quot;"})


@settings(max_examples=300, deadline=None)
@given(src=ANY_URL, srcset=ANY_URL, lazy=ANY_URL, href=ANY_URL, poster=ANY_URL, base=ANY_URL)
def test_any_string_as_an_image_or_link_url_prepares_and_finishes(
    src: str, srcset: str, lazy: str, href: str, poster: str, base: str
) -> None:
    html = (f'<p>t</p><img src="{_attr(src)}" srcset="{_attr(srcset)} 2x, {_attr(lazy)}" alt="alt">'
            f'<img src="data:image/gif;base64,R0l" data-src="{_attr(lazy)}"><a href="{_attr(href)}">x</a>'
            f'<picture><source srcset="{_attr(srcset)}"><img src="{_attr(src)}"></picture>'
            f'<video poster="{_attr(poster)}" src="{_attr(src)}"></video><iframe src="{_attr(src)}"></iframe>')

    prepared = article.prepare(html, base)
    body, headimg = article.finish(prepared.html, {}, frozenset({"www.youtube.com"}))

    for url in prepared.image_urls:
        assert httpx.URL(url).host, "every image URL handed to the fetcher parses"
    assert isinstance(body, str) and isinstance(headimg, str)


TEXT = st.text(max_size=30)
NUMBERISH = st.one_of(TEXT, st.integers().map(str), st.floats().map(str),
                      st.sampled_from(["99999999999999999999", "-1", "1e400", "nan", "inf", "0x10"]))
DATEISH = st.one_of(TEXT, st.datetimes().map(lambda d: d.isoformat()),
                    st.sampled_from(["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00",
                                     "Fri, 31 Dec 9999 23:59:59 -0500", "Mon, 01 Jan 0001 00:00:00 +0500"]))


def _check(feed_bytes: bytes, content_type: str) -> None:
    """Parses or is refused as a feed; what comes out can be scheduled, rendered and written."""
    try:
        feed = parse_feed(FetchResult("https://feed.example/f", 200, feed_bytes, {"content-type": content_type}))
    except ParseError:
        return
    if feed.ttl_seconds is not None:
        assert 0 < feed.ttl_seconds <= MAX_TTL_SECONDS
    report = FeedReport("f", "https://feed.example/f", http_status=200, ttl_seconds=feed.ttl_seconds)
    state = next_state(FeedSource("f", "https://feed.example/f"), FeedState("f"), report, NOW)
    assert state.next_due is not None and state.next_due <= NOW + MAX_HINT
    for entry in feed.entries:
        relpath = archive.entry_relpath(["c"], entry.title, "f", entry.id)
        doc = archive.render(relpath=relpath, title=entry.title, categories=["c"], headimg="",
                             author=entry.author or feed.title, date=entry.published or entry.updated or NOW,
                             link=entry.link, guid=entry.id, body_html=entry.best_html)
        doc.text.encode("utf-8")
        relpath.encode("utf-8")
        assert entry.link == "" or absolute(entry.link) == entry.link


@settings(max_examples=200, deadline=None)
@given(title=TEXT, ttl=NUMBERISH, date=DATEISH, link=ANY_URL, guid=TEXT, item_title=TEXT)
def test_any_rss_feed_level_fields(title: str, ttl: str, date: str, link: str, guid: str, item_title: str) -> None:
    body = (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{escape(title)}</title>'
            f"<link>{escape(link)}</link><ttl>{escape(ttl)}</ttl><pubDate>{escape(date)}</pubDate>"
            f"<item><title>{escape(item_title)}</title><link>{escape(link)}</link>"
            f'<guid isPermaLink="true">{escape(guid or link)}</guid><pubDate>{escape(date)}</pubDate>'
            f"<description>d</description></item></channel></rss>")
    _check(body.encode("utf-8", "replace"), "application/rss+xml")


@settings(max_examples=200, deadline=None)
@given(title=TEXT, date=DATEISH, link=ANY_URL, guid=TEXT)
def test_any_atom_feed_level_fields(title: str, date: str, link: str, guid: str) -> None:
    body = (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f'<title type="html">{escape(title)}</title><link href="{_attr(link)}"/><updated>{escape(date)}</updated>'
            f'<entry><id>{escape(guid)}</id><title>{escape(title)}</title><link href="{_attr(link)}"/>'
            f"<updated>{escape(date)}</updated><published>{escape(date)}</published><content>c</content></entry></feed>")
    _check(body.encode("utf-8", "replace"), "application/atom+xml")


JSON_VALUE = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), TEXT,
                       st.text(alphabet=st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=3))


@settings(max_examples=200, deadline=None)
@given(title=JSON_VALUE, home=st.one_of(JSON_VALUE, ANY_URL), url=st.one_of(JSON_VALUE, ANY_URL),
       item_id=JSON_VALUE, date=st.one_of(JSON_VALUE, DATEISH), item_title=JSON_VALUE, author=JSON_VALUE)
def test_any_json_feed_level_fields(
    title: object, home: object, url: object, item_id: object, date: object, item_title: object, author: object
) -> None:
    document = {
        "version": "https://jsonfeed.org/version/1.1", "title": title, "home_page_url": home,
        "authors": [{"name": author}],
        "items": [{"id": item_id, "url": url, "title": item_title, "date_published": date, "date_modified": date,
                   "content_html": title, "summary": item_title, "authors": [{"name": author}]}],
    }
    # json.dumps escapes lone surrogates as \ud800: valid JSON, as a hostile feed would send it.
    _check(json.dumps(document, allow_nan=True).encode("utf-8"), "application/feed+json")
