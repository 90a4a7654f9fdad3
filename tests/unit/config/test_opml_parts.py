"""The pure parts behind import/export/add: names, URL identity, OPML in and out, feed links, indentation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from crawler.config.edit import ConfigDocument, slugify, unique_name, url_key
from crawler.config.opml import ExportFeed, read_opml, write_opml
from crawler.fetch.discover import feed_links
from crawler.models import FeedReport, FeedState


@pytest.mark.parametrize(("title", "slug"), [
    ("Hacker News: Front Page", "hacker-news-front-page"),
    ("  Ars   Technica  ", "ars-technica"),
    ("Swift by Sundell's <Articles>", "swift-by-sundell-s-articles"),
    ("Le Monde.fr - Actualités", "le-monde-fr-actualités"),
    ("半岛电视台 - 新闻", "半岛电视台-新闻"),
    ("ＦＵＬＬＷＩＤＴＨ_snake_case", "fullwidth-snake-case"),
    ("!!!", ""),
    ("x" * 100, "x" * 60),
])
def test_slugify(title: str, slug: str) -> None:
    assert slugify(title) == slug


def test_unique_name_numbers_clashes_and_falls_back_to_the_host() -> None:
    taken = {"news"}
    assert [unique_name("News", taken), unique_name("news!", taken), unique_name("", taken, "feeds.example.org"),
            unique_name("?", taken, "feeds.example.org")] == ["news-2", "news-3", "feeds-example-org",
                                                              "feeds-example-org-2"]


@pytest.mark.parametrize(("a", "b"), [
    ("https://Example.COM/feed", "https://example.com/feed"),
    ("https://example.com:443/feed", "https://example.com/feed"),
    ("http://example.com:80/feed#top", "http://example.com/feed"),
    ("https://example.com", "https://example.com/"),
])
def test_url_key_same(a: str, b: str) -> None:
    assert url_key(a) == url_key(b)


@pytest.mark.parametrize(("a", "b"), [
    ("http://example.com/feed", "https://example.com/feed"),
    ("https://example.com/Feed", "https://example.com/feed"),
    ("https://example.com/feed?a=1", "https://example.com/feed?a=2"),
    ("https://example.com:8443/feed", "https://example.com/feed"),
])
def test_url_key_different(a: str, b: str) -> None:
    assert url_key(a) != url_key(b)


def test_read_opml_keeps_folders_categories_and_order() -> None:
    outlines = read_opml(
        b'\xef\xbb\xbf<?xml version="1.0"?><opml version="2.0"><body>'
        b'<outline text="A"><outline title="B"><outline text="t" XMLURL="https://x.example/1" htmlurl="https://x.example/"'
        b' category="/C/D,/A"/></outline></outline>'
        b'<outline xmlUrl="https://x.example/2"/>'
        b'<outline text="no url"/><outline text="odd" xmlUrl="javascript:alert(1)"/>'
        b'<outline text="port" xmlUrl="http://x.example:99999/feed"/>'
        b"</body></opml>")
    assert [(f.title, f.xml_url, f.html_url, f.categories) for f in outlines.feeds] == [
        ("t", "https://x.example/1", "https://x.example/", ("A", "B", "C", "D")),
        ("", "https://x.example/2", None, ()),
    ]
    assert [(u.text, u.why) for u in outlines.unusable] == [
        ("no url", "no xmlUrl"), ("odd", "xmlUrl is not an http(s) URL: javascript:alert(1)"),
        ("port", "xmlUrl is not an http(s) URL: http://x.example:99999/feed")]


def test_write_opml_nests_categories_and_reads_back() -> None:
    feeds = [
        ExportFeed("a", "https://a.example/feed", "https://a.example/", ("News", "World")),
        ExportFeed("b & c", "https://b.example/feed?x=1&y=2", None, ("News",)),
        ExportFeed("d", "https://d.example/feed", None, ()),
        ExportFeed("e", "https://e.example/feed", None, ("News", "World")),
    ]
    text = write_opml(feeds, now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert "<dateCreated>Fri, 02 Jan 2026 03:04:05 GMT</dateCreated>" in text
    assert text.count('text="News"') == 1 and text.count('text="World"') == 1
    back = read_opml(text.encode())
    assert sorted((f.title, f.xml_url, f.html_url, f.categories) for f in back.feeds) == sorted(
        (f.name, f.url, f.site, f.categories) for f in feeds)
    assert back.unusable == []


def test_feed_links_in_page_order_resolved_and_once_each() -> None:
    html = b"""<html><head>
      <link rel="alternate" type="text/html" href="/other-format">
      <LINK REL="Alternate Feed" TYPE="application/RSS+xml; charset=utf-8" HREF="rss.xml" title="RSS">
      <link rel="alternate" type="application/atom+xml" href="https://cdn.example/atom">
      <link rel="alternate" type="application/rss+xml" href="rss.xml">
      <link rel="alternate" type="application/rss+xml" href="javascript:void(0)">
      <link rel="alternate" type="application/feed+json" href="//json.example/feed.json"/>
    </head><body><link rel="alternate" type="application/rss+xml" href="/late.xml"></body></html>"""
    links = feed_links(html, "https://site.example/blog/post")
    assert [(link.url, link.type, link.title) for link in links] == [
        ("https://site.example/blog/rss.xml", "application/rss+xml", "RSS"),
        ("https://cdn.example/atom", "application/atom+xml", ""),
        ("https://json.example/feed.json", "application/feed+json", ""),
        ("https://site.example/late.xml", "application/rss+xml", ""),
    ]
    assert feed_links(b"<html><head><title>none</title></head></html>", "https://x.example/") == []


FOUR_SPACES = """\
archive_dir: archive
defaults:
    interval: 1h    # hourly
feeds:
    -   name: a
        url: https://a.example/feed
"""


def test_a_config_with_its_own_indentation_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text(FOUR_SPACES, encoding="utf-8")
    doc = ConfigDocument.open(path)
    doc.add_feed("b", url="https://b.example/feed", categories=["X"])
    assert doc.text() == FOUR_SPACES + "    -   name: b\n        url: https://b.example/feed\n        categories: [X]\n"


def test_route_of_knows_every_rsshub_instance(tmp_path: Path) -> None:
    path = tmp_path / "feeds.yaml"
    path.write_text("rsshub: [https://hub.example/, https://Hub2.example/base]\nfeeds:\n- name: a\n  url: https://a.example/\n",
                    encoding="utf-8")
    doc = ConfigDocument.open(path)
    assert doc.route_of("https://hub.example/a/b?limit=5") == "/a/b?limit=5"
    assert doc.route_of("https://hub2.example/base/x") == "/x"
    assert doc.route_of("https://hub2.example/x") is None
    assert doc.route_of("https://other.example/a/b") is None
    assert doc.routes() == {}
    doc.add_feed("r", route="/a/b")
    assert doc.routes() == {"/a/b": "r"}


def test_metrics_follow_feed_states_across_polls_and_reloads() -> None:
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    from crawler.ops.metrics import Metrics

    def values() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = generate_latest(metrics.registry).decode()
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for f in text_string_to_metric_families(text) for s in f.samples}

    metrics = Metrics()
    when = datetime(2026, 1, 1, tzinfo=UTC)
    metrics.feeds_known(["a", "b", "c"], {"b": FeedState("b", last_poll=when), "c": FeedState(
        "c", last_poll=when, consecutive_failures=3)})
    v = values()
    assert [v[("feed_archiver_feeds", (("state", s),))] for s in ("new", "ok", "failing", "dead")] == [1, 1, 1, 0]
    assert v[("feed_archiver_feed_last_success_timestamp_seconds", (("feed", "b"),))] == when.timestamp()
    assert ("feed_archiver_feed_last_success_timestamp_seconds", (("feed", "c"),)) not in v

    metrics.poll_done(FeedReport("a", "u", status="failed", seconds=0.5,
                                 state=FeedState("a", last_poll=when, consecutive_failures=1)))
    metrics.poll_done(FeedReport("c", "u", status="not_modified", seconds=0.01, state=FeedState("c", last_poll=when)))
    metrics.poll_done(FeedReport("b", "u", archived=2, updated=3, state=FeedState("b", last_poll=when)))
    v = values()
    assert [v[("feed_archiver_entries_total", (("result", r),))] for r in ("archived", "updated")] == [2, 3]
    assert [v[("feed_archiver_feeds", (("state", s),))] for s in ("new", "ok", "failing", "dead")] == [0, 2, 1, 0]
    assert v[("feed_archiver_feed_consecutive_failures", (("feed", "c"),))] == 0
    assert v[("feed_archiver_poll_duration_seconds_count", ())] == 3

    metrics.feeds_known(["a", "b"], {})  # a reload removed c
    metrics.poll_done(FeedReport("c", "u", state=FeedState("c", last_poll=when)))  # c's last poll, ending late
    v = values()
    assert not any(dict(labels).get("feed") == "c" for _, labels in v)
    assert sum(v[("feed_archiver_feeds", (("state", s),))] for s in ("new", "ok", "failing", "dead")) == 2
